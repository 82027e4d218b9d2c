"""map_items on a dask.distributed Client: chunked tasks, order, and the workers' heap."""

import operator
import sys

import numpy as np
import pytest

from neurolearn.margins import svm_margin
from neurolearn.parallel import keep_arrays_on_heap, map_items

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client():
    # In-process workers (threads): seconds to start, the same Client API.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.mark.parametrize("n_items", [1, 3, 8, 37])
def test_client_results_come_back_in_order(client, n_items):
    """Items are sent in a few chunks per worker thread; the results are still
    one per item, in the items' order, with the keyword arguments applied."""
    items = list(range(n_items))
    assert map_items(operator.neg, items, scheduler=client, progress=False) == [-i for i in items]
    out = map_items(_scaled, items, scheduler=client, progress=True, factor=3)
    assert out == [3 * i for i in items]


def _scaled(x, *, factor):
    return factor * x


def test_svm_margins_through_a_client_equal_one_process(small_tree, client):
    """The SVM blocks travel to the workers padded; the exact hard margins are
    the same as in this process."""
    a = svm_margin(small_tree, progress=False)
    b = svm_margin(small_tree, progress=False, scheduler=client)
    np.testing.assert_allclose(b["margin"].values, a["margin"].values, rtol=1e-12)
    np.testing.assert_array_equal(b["status"].values, a["status"].values)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_arrays_on_heap_sets_glibc_thresholds():
    assert keep_arrays_on_heap() is True


def test_heldout_margins_by_session_group_equal_one_process(small_tree, client):
    """Through a Client, groups of sessions are built, solved and scored on the
    workers; the held-out margins equal one process's to the soft-margin
    solver's tolerance (its stopping point depends on the batch)."""
    from neurolearn.margins import heldout_margin

    kw = dict(n_units=4, n_subsamples=3, n_folds=4, progress=False)
    a = heldout_margin(small_tree, **kw)
    b = heldout_margin(small_tree, scheduler=client, **kw)
    assert np.isfinite(a["heldout_margin"].values).all()
    np.testing.assert_allclose(b["heldout_margin"].values, a["heldout_margin"].values,
                               rtol=1e-4)


def test_separation_by_session_group_equal_one_process(small_tree, client):
    """analyze's separation step runs by groups of sessions on the workers and
    gives the same Dataset (values, statuses, order and attrs) as in this process."""
    import xarray as xr

    from neurolearn.pipeline.analyze import _separation
    from neurolearn.pipeline.config import load_config

    config = load_config(None)
    a = _separation(small_tree, config, device="cpu", scheduler=None)
    b = _separation(small_tree, config, device="cpu", scheduler=client)
    assert a.sizes["session"] > 2  # (more sessions than workers: several groups)
    xr.testing.assert_identical(a, b)
