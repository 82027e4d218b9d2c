import array_api_compat.numpy as xnp
import numpy as np

from neurolearn.svm.retiring import RetiringBatch


def test_rows_retired_in_any_order_come_back_in_input_order():
    # Rows leave at different steps, some through retire (taken from the
    # batch's arrays) and some through keep (results computed on a subset)
    # then one drop; collect puts every row back where it started.
    N = 7
    values = np.arange(N, dtype=float) * 10.0  # row i's final value is 10 i
    batch = RetiringBatch(N)
    cur = values.copy()
    keep = batch.retire(xnp, np.isin(np.arange(N), [1, 4]), (cur,))
    cur = cur[keep]  # rows 0, 2, 3, 5, 6
    np.testing.assert_array_equal(batch.ids, [0, 2, 3, 5, 6])
    # A solver finishes rows 3 and 6 on its own copy (positions 2 and 4 now),
    # and row 0 converged in the batch itself.
    batch.keep(np.array([4, 2]), (np.array([60.0, 30.0]),))
    finished = np.array([True, False, False, False, False])
    batch.keep(np.flatnonzero(finished), (cur[finished],))
    keep = batch.drop(xnp, finished | np.isin(np.arange(5), [2, 4]))
    cur = cur[keep]
    np.testing.assert_array_equal(batch.ids, [2, 5])
    (out,) = batch.collect(xnp, (cur,))
    np.testing.assert_array_equal(out, values)
