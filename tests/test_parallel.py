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


def test_client_tasks_are_named_after_the_function(client):
    """The dashboard's task stream says which function (which step) a task runs."""
    with distributed.get_task_stream(client) as stream:
        map_items(_scaled, list(range(8)), scheduler=client, progress=False, factor=2)
        map_items(_scaled, list(range(8)), scheduler=client, progress=False, factor=2)
    keys = [task["key"] for task in stream.data]
    assert keys and all(str(key).startswith("_scaled-") for key in keys)
    assert len(set(keys)) == len(keys)  # a call's tasks never reuse another's results


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


def test_analyze_through_a_client_runs_the_session_steps_at_once(client):
    """With a Client, behaviour, decoding, the protocol, margins and separation run from
    threads of their own at once; every node equals the in-process analysis
    (the held-out margin to the soft-margin solver's tolerance), and their
    overlapping times are filed apart from ``timings`` (whose sum stays the run's)."""
    import json

    import xarray as xr

    from data_loaders import make_overtraining_dataset
    from neurolearn.pipeline import analyze

    study = make_overtraining_dataset(n_mice=2, n_training_days=2, n_overtraining_days=2,
                                      trials_per_session=160, seed=4)
    config = {"decoding": {"n_permutations": 30, "n_folds": 4, "protocol": "bernerslee2023"},
              "margins": {"n_subsamples": 3, "n_folds": 4},
              "trends": {"n_boot": 50, "n_permutations": 50}}
    a = analyze(study, config=config, progress=False)
    b = analyze(study, config=config, progress=False, scheduler=client)
    steps = ["behaviour", "decoding", "protocol", "margins", "separation"]
    assert ", ".join(steps) in json.loads(b.attrs["timings"])
    assert sorted(json.loads(b.attrs["concurrent_timings"])) == sorted(steps)
    assert "concurrent_timings" not in a.attrs
    for node in ("decoding", "bernerslee2023", "separation", "flips", "behaviour"):
        xr.testing.assert_identical(a[node].to_dataset(), b[node].to_dataset())
    np.testing.assert_allclose(b["margins"]["heldout_margin"].values,
                               a["margins"]["heldout_margin"].values, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(b["margins"]["margin"].values, a["margins"]["margin"].values)


@pytest.mark.parametrize("at_once", [False, True])
def test_independent_steps_file_skips_and_raise_other_errors(at_once):
    """A step allowed to be skipped gives back its InsufficientDataError; any
    other step's error reaches the caller, in turn or at once."""
    from tqdm.auto import tqdm

    from neurolearn.errors import InsufficientDataError
    from neurolearn.pipeline.analyze import _independent_steps

    def short():
        raise InsufficientDataError("no probe trials")

    timings, overlapping = {}, {}
    with tqdm(disable=True) as bar:
        done = _independent_steps({"a": lambda: 1, "p": short}, timings, overlapping, bar,
                                  at_once=at_once, may_skip={"p": InsufficientDataError})
        assert done["a"] == 1 and isinstance(done["p"], InsufficientDataError)
        assert set(timings) == ({"a, p"} if at_once else {"a", "p"})
        assert set(overlapping) == ({"a", "p"} if at_once else set())
        with pytest.raises(InsufficientDataError, match="no probe"):
            _independent_steps({"a": lambda: 1, "b": short}, {}, {}, bar, at_once=at_once,
                               may_skip={"a": InsufficientDataError})
