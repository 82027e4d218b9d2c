"""Bad inputs, one table: each raises its typed error, and the message names the culprit.

Every row is (what is wrong, a call that must fail, the error class, a
pattern the message must contain: the parameter, file, path or session).
"""

import os

import numpy as np
import pytest
import xarray as xr

import neurolearn as nl
from data_loaders import (
    load,
    load_bernerslee,
    load_netcdf,
    make_overtraining_dataset,
    save_netcdf,
    save_npz,
)
from data_loaders._matfile import write_mat
from neurolearn import geometry, margins, models, separation, summary, trends
from neurolearn.decoding import LDADecoder, decode_time
from neurolearn.errors import (
    DependencyError,
    InsufficientDataError,
    LoaderError,
    NeurolearnError,
    ParameterError,
    SchemaError,
)
from neurolearn.parallel import map_items
from neurolearn.pipeline import AnalysisConfig
from neurolearn.preprocess import preprocess_session, resolve_preset
from neurolearn.schema import iter_sessions, make_session, to_tree


@pytest.fixture(scope="module")
def tree():
    return make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=2,
                                     units_per_session=(6, 8), trials_per_session=60, seed=4)


def _session(label=None, rates=None, n=40, name="S1"):
    rng = np.random.default_rng(0)
    label = np.arange(n) % 2 if label is None else np.asarray(label)
    rates = rng.normal(size=(label.size, 5)) if rates is None else rates
    return make_session(rates, stimulus=np.where(label == 1, "t", "n"), label=label,
                        session=name, mouse="m", day=1, phase="training")


def _unit_file(path, n_trials=10, stim=None, columns=17000):
    stim = stim or ["target", "nontarget"] * (n_trials // 2)
    raster = (np.random.default_rng(len(str(path))).random((n_trials, columns)) < 0.01)
    write_mat(path, raster.astype(np.uint8), {"stimulus_category_with_probes": stim,
                                              "mouse_name": "Q", "day_of_behavior": 1.0})


def _nan_rates():
    ds = _session()
    return ds.assign(rates=ds["rates"].where(ds["trial"] != 3))


def _cases(tree, tmp):
    ds = next(iter_sessions(tree))[1]
    hm = margins.heldout_margin(tree, n_units=4, n_subsamples=2, progress=False)
    (tmp / "empty").mkdir()
    (tmp / "zero").mkdir()
    (tmp / "zero" / "u1.mat").write_bytes(b"")
    (tmp / "text").mkdir()
    (tmp / "text" / "u1.mat").write_text("this is not MATLAB")
    (tmp / "short").mkdir()
    _unit_file(tmp / "short" / "u1.mat", columns=1000)
    (tmp / "disagree").mkdir()
    _unit_file(tmp / "disagree" / "a.mat")
    _unit_file(tmp / "disagree" / "b.mat", stim=["target"] * 9 + ["nontarget"])
    (tmp / "garbage.nc").write_bytes(b"not netCDF")
    (tmp / "rec.xyz").write_text("?")
    return [
        # parameters
        ("decode shrinkage", lambda: nl.decode(tree, shrinkage=1.7, progress=False),
         ParameterError, r"decode: `shrinkage` must be a number in \[0, 1\] or 'auto'; got 1.7"),
        ("logistic C", lambda: nl.decode(tree, "logistic", C=-1, progress=False),
         ParameterError, r"`C` must be a number in \(0, inf\); got -1"),
        ("unknown method", lambda: nl.decode(tree, "svm", progress=False),
         ParameterError, r"`method` must be one of 'lda', 'ridge', 'lstsq', 'logistic'; got 'svm'"),
        ("negative permutations", lambda: nl.decode(tree, n_permutations=-3, progress=False),
         ParameterError, r"`n_permutations` must be an integer in \[0, inf\]; got -3"),
        ("one fold", lambda: nl.decode(tree, n_folds=1, progress=False),
         ParameterError, r"`n_folds` must be an integer in \[2, inf\]; got 1"),
        ("negative seed", lambda: nl.decode(tree, seed=-1, progress=False),
         ParameterError, r"`seed` must be an integer in \[0, inf\]; got -1"),
        ("held-out margin of 0 units",
         lambda: margins.heldout_margin(tree, n_units=0, progress=False),
         ParameterError, r"heldout_margin: `n_units` must be an integer in \[1, inf\] or None"),
        ("held-out margin C", lambda: margins.heldout_margin(tree, C=0.0, progress=False),
         ParameterError, r"heldout_margin: `C`"),
        ("no SVM subsets", lambda: margins.svm_margin(tree, n_units=4, n_subsamples=0,
                                                      progress=False),
         ParameterError, r"svm_margin: `n_subsamples`"),
        ("Fisher shrinkage", lambda: separation.fisher_separation(tree, shrinkage=2.0),
         ParameterError, r"fisher_separation: `shrinkage`"),
        ("d′ with an unknown option", lambda: separation.dprime(tree, foo=1),
         ParameterError, r"dprime: unknown decoder parameter\(s\) \['foo'\]"),
        ("time window of 0 bins", lambda: decode_time(tree, window=0, progress=False),
         ParameterError, r"decode_time: `window` must be an integer in \[1, inf\]; got 0"),
        ("trend method", lambda: trends.day_trend(hm["heldout_margin"], method="bootstrap"),
         ParameterError, r"day_trend: `method` must be one of 'two_stage', 'sessions'"),
        ("trend confidence", lambda: trends.day_trend(hm["heldout_margin"], confidence=1.5),
         ParameterError, r"day_trend: `confidence`"),
        ("normalise by", lambda: summary.normalize_per_mouse(hm["heldout_margin"], by="max"),
         ParameterError, r"normalize_per_mouse: `by` must be one of 'first_overtraining'"),
        ("flip threshold", lambda: summary.stimulus_flips(
            nl.decode(tree, n_permutations=0, progress=False)["stimulus_accuracy"],
            threshold=2.0), ParameterError, r"stimulus_flips: `threshold`"),
        ("model loss", lambda: models.train(models.make_odour_task(n_train=10, n_test=10),
                                            loss="l1", progress=False),
         ParameterError, r"train: `loss` must be one of 'ce', 'hinge', 'mse'; got 'l1'"),
        ("model width", lambda: models.train(models.make_odour_task(n_train=10, n_test=10),
                                             width=0, progress=False),
         ParameterError, r"train: `width`"),
        ("estimator shrinkage", lambda: LDADecoder(shrinkage=2.0).fit(
            np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2),
         ParameterError, r"LDADecoder: `shrinkage`"),
        ("unknown device", lambda: nl.decode(tree, device="tpu", progress=False),
         ParameterError, r"`device` must be 'cpu' or 'cuda'; got 'tpu'"),
        ("config key", lambda: AnalysisConfig.from_mapping({"margins": {"units": 4}}),
         ParameterError, r"\[margins\]: unknown key\(s\) \['units'\]"),
        ("preprocessing preset", lambda: resolve_preset("bernerslee2022"),
         ParameterError, r"preset must be one of \['baseline_subtracted', 'bernerslee2023'\]"),
        ("scheduler type", lambda: map_items(len, [[1]], scheduler=3),
         ParameterError, r"scheduler must be None, 'auto', a Dask scheduler name"),
        ("synthetic trials", lambda: make_overtraining_dataset(trials_per_session=2),
         ParameterError, r"trials_per_session must be at least 8; got 2"),
        ("MAT version", lambda: write_mat(tmp / "v.mat", np.zeros((2, 2)), {}, version="v6"),
         ParameterError, r"`version` must be 'v5' or 'v7.3'; got 'v6'"),
        ("misaligned time window", lambda: load_bernerslee(tmp / "short", bin_size=0.05,
                                                           time_window=(-1.0, 0.03)),
         ParameterError, r"time_window \(-1.0, 0.03\) s must be a whole number of bin_size"),
        # data
        ("NaN rates", lambda: nl.decode(_nan_rates(), progress=False),
         SchemaError, r"`rates` holds 5 non-finite values .* first at trial 3"),
        ("label 2, hard margin", lambda: margins.svm_margin(
            _session(label=np.arange(40) % 3), progress=False),
         SchemaError, r"S1: coordinate `label` must be 0 \(non-target\) or 1 \(target\); "
                      r"got values \[0, 1, 2\]"),
        ("label 2, Fisher", lambda: separation.fisher_separation(_session(label=np.arange(40) % 3)),
         SchemaError, r"S1: coordinate `label` must be 0"),
        ("label -1, d'", lambda: separation.dprime(
            _session(label=np.where(np.arange(40) % 2, 1, -1))),
         SchemaError, r"S1: coordinate `label` must be 0 .*got values \[-1, 1\]"),
        ("unknown target", lambda: nl.decode(_session(), target="odour", progress=False),
         SchemaError, r"S1: `target='odour'` names no trial coordinate"),
        ("one class", lambda: nl.decode(_session(label=[1] * 40), progress=False),
         InsufficientDataError, r"S1: coordinate `label` has a single class"),
        ("too few trials per fold", lambda: nl.decode(_session(n=12), progress=False),
         InsufficientDataError, r"S1: too few trials per class \(label 0: 6, label 1: 6\)"),
        ("missing coordinate", lambda: nl.validate(_session().drop_vars("label")),
         SchemaError, r"missing coordinate `label` on dim 'trial'"),
        ("empty tree", lambda: nl.validate(xr.DataTree()),
         SchemaError, r"the DataTree holds no session"),
        ("lick exclusion without lick times",
         lambda: preprocess_session(ds.drop_vars("rates"), exclude_lick_trials=True),
         SchemaError, r"A-d01: exclude_lick_trials needs the trial coordinate `first_lick_time`"),
        # files
        ("empty folder", lambda: load_bernerslee(tmp / "empty", progress=False),
         LoaderError, r"empty: no .mat files found"),
        ("zero-byte file", lambda: load_bernerslee(tmp / "zero", progress=False),
         LoaderError, r"u1.mat: cannot read as a MATLAB v5 or v7.3 file"),
        ("not a MATLAB file", lambda: load_bernerslee(tmp / "text", progress=False),
         LoaderError, r"u1.mat: cannot read as a MATLAB"),
        ("raster too short", lambda: load_bernerslee(tmp / "short", progress=False),
         LoaderError, r"u1.mat: `raster_data` has 1000 columns; .* needs 7500"),
        ("labels disagree", lambda: load_bernerslee(tmp / "disagree", progress=False),
         LoaderError, r"disagrees between a.mat and b.mat at trial 2"),
        ("missing path", lambda: load(tmp / "nowhere.nc"),
         LoaderError, r"nowhere.nc: no such file or directory"),
        ("unknown suffix", lambda: load(tmp / "rec.xyz"),
         LoaderError, r"rec.xyz: cannot tell the format from the name"),
        ("corrupt netCDF", lambda: load_netcdf(tmp / "garbage.nc"),
         LoaderError, r"garbage.nc: cannot read as a netCDF-4 DataTree"),
        ("save onto a folder", lambda: save_netcdf(tree, tmp / "empty"),
         LoaderError, r"empty: is a folder; give a file name"),
        ("save into a missing folder", lambda: save_netcdf(tree, tmp / "no" / "r.nc"),
         LoaderError, r"r.nc: its folder .*no does not exist"),
        ("npz into a missing folder", lambda: save_npz(tree, tmp / "no" / "r.npz"),
         LoaderError, r"r.npz: its folder .*no does not exist"),
    ]


def test_every_bad_input_gets_its_typed_error(tree, tmp_path):
    cases = _cases(tree, tmp_path)
    assert len(cases) >= 30
    for name, call, error, pattern in cases:
        with pytest.raises(error, match=pattern) as info:
            call()
        assert isinstance(info.value, NeurolearnError), name
        if error is ParameterError:
            assert isinstance(info.value, ValueError), name


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tree, tmp_path, monkeypatch):
    path = tmp_path / "study.nc"
    save_netcdf(tree, path)
    before = path.read_bytes()

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.DataTree, "to_netcdf", broken)
    with pytest.raises(LoaderError, match="study.nc: cannot write"):
        save_netcdf(tree, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.nc"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_unwritable_folder(tree, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(LoaderError, match="r.nc: cannot write there"):
            save_netcdf(tree, locked / "r.nc")
    finally:
        locked.chmod(0o700)


def test_nan_accuracy_gets_a_nan_pvalue():
    from neurolearn.decoding import permutation_pvalue

    p = permutation_pvalue(np.array([0.7, np.nan, 0.9]),
                           np.array([[0.5, 0.8], [0.5, 0.6], [np.nan, np.nan]]))
    assert p[0] == pytest.approx(2 / 3)
    assert np.isnan(p[1]) and np.isnan(p[2])


def test_dask_scheduler_without_dask(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(DependencyError, match="scheduler='threads' needs Dask"):
        map_items(len, [[1]], scheduler="threads")


def test_labels_outside_the_tree_layout():
    with pytest.raises(SchemaError, match="two sessions share the path /m/S1"):
        to_tree([_session(), _session()])


def _normalised_with_a_zero_reference():
    per = xr.DataArray([0.0, 2.0, 1.0, 3.0], dims="session", coords={
        "mouse": ("session", ["a", "a", "b", "b"]), "day": ("session", [1, 2, 1, 2]),
        "phase": ("session", ["overtraining"] * 4)})
    out = summary.normalize_per_mouse(per)
    assert out.values[2:].tolist() == [1.0, 3.0]  # mouse b is fine
    return out.values[:2]


def _dprime_of_a_constant_decoder():
    label = np.arange(40) % 2
    rates = np.repeat(label[:, None], 2, axis=1).astype(float)  # no spread within classes
    return separation.dprime(_session(label=label, rates=rates), n_folds=4).values


@pytest.mark.parametrize("call, where", [
    (lambda: geometry.kernel_target_alignment(np.ones((4, 4)), [1, 1, -1, -1]),
     "kernel_target_alignment"),
    (lambda: geometry.kernel_target_alignment(np.eye(4), [1, 1, 1, 1]),
     "kernel_target_alignment"),
    (lambda: geometry.kernel_distance(np.eye(3), np.zeros((3, 3))), "kernel_distance"),
    (lambda: geometry.participation_ratio(np.ones((5, 3))), "participation_ratio"),
    (lambda: geometry.linear_cka(np.ones((6, 2)), np.random.default_rng(0).normal(size=(6, 3))),
     "linear_cka"),
    (_normalised_with_a_zero_reference, "normalize_per_mouse, mouse a"),
    (_dprime_of_a_constant_decoder, "dprime, session S1"),
])
def test_degenerate_results_are_nan_with_one_warning(call, where):
    from neurolearn.errors import NeurolearnWarning

    with pytest.warns(NeurolearnWarning, match=f"{where}: result is NaN: ") as record:
        value = call()
    assert np.all(np.isnan(value))
    assert len([w for w in record if issubclass(w.category, NeurolearnWarning)]) == 1


def _constant_session():
    label = np.arange(40) % 2
    return _session(label=label, rates=np.ones((40, 3)))


@pytest.mark.parametrize("call, reason", [
    (lambda: separation.fisher_separation(_constant_session()),
     "every unit is constant over the trained trials (S_w = 0, Δμ = 0)"),
    (lambda: separation.fisher_separation(_session(), n_units=9),
     "too few units (5 < n_units = 9)"),
    (lambda: separation.dprime(_session(label=np.arange(40) % 2, rates=np.repeat(
        (np.arange(40) % 2)[:, None], 2, axis=1).astype(float)), n_folds=4),
     "the decision values do not vary within the classes"),
])
def test_degenerate_sessions_record_their_reason(call, reason):
    """The NaN, the reason in the result's per-session `status`, and one warning."""
    from neurolearn.errors import NeurolearnWarning

    with pytest.warns(NeurolearnWarning, match="session S1: result is NaN: ") as record:
        out = call()
    assert len([w for w in record if issubclass(w.category, NeurolearnWarning)]) == 1
    assert np.isnan(out.values).all()
    assert out["status"].values.tolist() == [reason]


def test_healthy_sessions_are_ok_and_warning_free(recwarn):
    out = separation.fisher_separation(_session())
    assert np.isfinite(out.values).all() and out["status"].values.tolist() == ["ok"]
    assert out.values[0] > 0
    assert not recwarn.list


def test_normalisation_records_the_mouse_without_a_reference():
    import json

    from neurolearn.errors import NeurolearnWarning

    with pytest.warns(NeurolearnWarning):
        per = xr.DataArray([0.0, 2.0, 1.0, 3.0], dims="session", coords={
            "mouse": ("session", ["a", "a", "b", "b"]), "day": ("session", [1, 2, 1, 2]),
            "phase": ("session", ["overtraining"] * 4)})
        out = summary.normalize_per_mouse(per)
    assert json.loads(out.attrs["degenerate"]) == {
        "a": "its reference value (first_overtraining) is 0.0"}


def test_a_silent_network_warns_once_and_records_why():
    """All-zero inputs leave every ReLU silent: the hidden kernel is 0 at every
    recorded epoch, so its alignment, distance and margin are NaN."""
    import dataclasses

    from neurolearn.errors import NeurolearnWarning

    task = models.make_odour_task(n_odorants=12, n_hot=3, n_train=20, n_test=40, seed=0)
    dead = dataclasses.replace(task, X_train=np.zeros_like(task.X_train))
    with pytest.warns(NeurolearnWarning, match=r"train \(gamma=1.0, seed=0\): \d+ results "
                                               r"are NaN") as record:
        hist = models.train(dead, gamma=1.0, width=16, n_epochs=5, n_records=3, progress=False)
    assert len([w for w in record if issubclass(w.category, NeurolearnWarning)]) == 1
    assert np.isnan(hist["kernel_alignment"]).all() and np.isnan(hist["kernel_distance"]).all()
    assert "every hidden unit is silent" in hist.attrs["degenerate"]
    assert "kernel_target_alignment" in hist.attrs["degenerate"]
    healthy = models.train(task, gamma=1.0, width=16, n_epochs=5, n_records=3, progress=False)
    assert healthy.attrs["degenerate"] == "none"


def test_losses_do_not_overflow_far_from_the_boundary():
    """Outputs of ±1000 (a long-overtrained network, a separable logistic fit)."""
    import array_api_compat.numpy as xp

    from neurolearn.decoding import LogisticDecoder
    from neurolearn.models.network import output_loss

    f = xp.asarray([[-1000.0, 1000.0, 0.0]])
    value, grad = output_loss(xp, f, xp.asarray([[0.0, 1.0, 1.0]]), "ce")
    assert float(value[0]) == pytest.approx(np.log(2) / 3)
    np.testing.assert_allclose(grad[0], [0.0, 0.0, -0.5 / 3])
    # A perfectly separable logistic fit drives |η| far out; no overflow.
    X = np.r_[np.linspace(-3, -1, 20), np.linspace(1, 3, 20)][:, None] * 1e3
    model = LogisticDecoder(C=1e6).fit(X, np.repeat([0, 1], 20))
    assert (model.predict(X) == np.repeat([0, 1], 20)).all()


def test_flat_trials_are_left_out_of_the_similarity_with_one_warning():
    """Every unit constant but one, and that one constant on trial 0 too: trial
    0's population vector is flat, so it has no correlation with any trial."""
    from neurolearn.errors import NeurolearnWarning

    rng = np.random.default_rng(1)
    label = np.arange(40) % 2
    rates = rng.normal(size=(40, 4))
    rates[0] = rates[1:].mean(axis=0)  # z = 0 on every unit
    ds = _session(label=label, rates=rates)
    with pytest.warns(NeurolearnWarning, match="rsm, session S1: result is NaN: 1 of 40 trials "
                                               "have a flat population vector") as record:
        sim = geometry.class_similarity(ds)
    assert len([w for w in record if issubclass(w.category, NeurolearnWarning)]) == 1
    assert sim["n_flat_trials"].values.tolist() == [1]
    # The other 39 trials give exactly the similarity computed without trial 0.
    Z = (rates - rates.mean(axis=0)) / rates.std(axis=0)
    R = np.corrcoef(Z[1:])
    t, n = label[1:] == 1, label[1:] == 0
    assert sim["between"].values[0] == pytest.approx(R[np.ix_(t, n)].mean(), rel=1e-12)
