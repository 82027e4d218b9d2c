"""The composition layer: configuration, the result tree, and its agreement with direct calls."""

import json

import numpy as np
import pytest
import xarray as xr

import neurolearn as nl
from data_loaders import make_overtraining_dataset
from neurolearn import geometry, margins, separation, trends
from neurolearn.errors import ParameterError
from neurolearn.pipeline import AnalysisConfig, analyze, load_config

FAST = {"decoding": {"n_permutations": 50},
        "margins": {"n_subsamples": 3},
        "separation": {"n_days": 2},
        "trends": {"n_boot": 300, "n_permutations": 300}}


@pytest.fixture(scope="module")
def study():
    return make_overtraining_dataset(n_mice=2, n_training_days=2, n_overtraining_days=4,
                                     units_per_session=(6, 12), trials_per_session=80, seed=3)


@pytest.fixture(scope="module")
def results(study):
    return analyze(study, config=FAST, progress=False)


def test_config_defaults_and_sources(tmp_path):
    cfg = AnalysisConfig()
    assert cfg.decoding.n_permutations == 1000 and cfg.decoding.n_folds == 10
    assert cfg.preprocessing.preset == "bernerslee2023" and cfg.margins.n_units == 4
    toml = tmp_path / "cfg.toml"
    toml.write_text('seed = 4\n[decoding]\nn_permutations = 7\nmethod = "ridge"\n'
                    '[margins]\nsvm_n_units = "all"\nn_units = 6\n'
                    '[preprocessing]\npreset = "baseline_subtracted"\nzscore = false\n')
    from_file = load_config(toml)
    assert from_file.seed == 4 and from_file.decoding.n_permutations == 7
    assert from_file.decoding.method == "ridge" and from_file.margins.svm_n_units is None
    assert from_file.preprocessing.parameters()["zscore"] is False
    assert from_file.preprocessing.parameters()["subtract_baseline"] is True
    # The JSON form rebuilds the same configuration.
    assert AnalysisConfig.from_mapping(json.loads(from_file.to_json())) == from_file
    assert cfg.replace(decoding__n_folds=5, seed=2).decoding.n_folds == 5


@pytest.mark.parametrize("mapping, message", [
    ({"decodng": {}}, r"unknown config section\(s\) \['decodng'\]"),
    ({"decoding": {"n_perms": 3}}, r"\[decoding\]: unknown key\(s\) \['n_perms'\]"),
    ({"decoding": {"n_permutations": -3}}, r"`n_permutations` must be an integer in \[0, inf\]; "
                                           r"got -3"),
    ({"decoding": {"shrinkage": 1.7}},
     r"`shrinkage` must be a number in \[0, 1\] or 'auto'; got 1.7"),
    ({"decoding": {"C": -1.0}}, r"`C` must be a number in \(0, inf\)"),
    ({"decoding": {"method": "svm"}}, r"`method` must be one of 'lda'"),
    ({"margins": {"n_units": 0}}, r"`n_units` must be an integer in \[1, inf\] or None"),
    ({"preprocessing": {"zcore": False}}, r"unknown preprocessing parameter"),
    ({"seed": -1}, r"`seed` must be an integer"),
])
def test_bad_configs_name_the_parameter(mapping, message):
    with pytest.raises(ParameterError, match=message):
        AnalysisConfig.from_mapping(mapping)


def test_bad_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[decoding\n")
    with pytest.raises(ParameterError, match="bad.toml: cannot read as TOML"):
        load_config(bad)
    with pytest.raises(ParameterError, match="missing.toml: config file not found"):
        load_config(tmp_path / "missing.toml")


def test_result_tree_layout(results, study):
    assert set(results.children) == {"sessions", "behaviour", "decoding", "margins",
                                     "separation", "flips", "trends", "summary"}
    assert set(results["summary"].children) == {"by_day", "by_phase"}
    table = nl.schema.session_table(study)
    for node in ("behaviour", "decoding", "margins", "separation"):
        ds = results[node].to_dataset()
        np.testing.assert_array_equal(ds["session"].values, table["session"].values)
        for coord in ("mouse", "day", "phase"):
            np.testing.assert_array_equal(ds[coord].values, table[coord].values)
    assert results["decoding"]["null_accuracy"].shape == (table.sizes["session"], 50)
    assert results["behaviour/criterion"]["days_to_criterion"].dims == ("mouse",)
    a = results.attrs
    assert AnalysisConfig.from_mapping(json.loads(a["config"])) == load_config(FAST)
    assert set(json.loads(a["versions"])) >= {"neurolearn", "numpy", "scipy", "sklearn",
                                              "xarray"}
    assert json.loads(a["preprocessing"])["preset"] == "bernerslee2023"
    assert set(json.loads(a["timings"])) == {"validate", "behaviour", "decoding", "margins",
                                             "separation", "flips", "trends", "summary"}
    assert a["n_sessions"] == table.sizes["session"] and a["n_mice"] == 2
    # Every unit dropped in preprocessing is listed with its session and reason.
    expected = sum(len(json.loads(ds.attrs["dropped_units"])) for _, ds in
                   nl.iter_sessions(study))
    listed = json.loads(a["dropped_units"])
    assert len(listed) == expected and all({"session", "unit_id", "reason"} <= set(d)
                                           for d in listed)


def test_nodes_equal_the_functions_they_compose(results, study):
    """analyze only composes: each node equals a direct call with the same parameters."""
    direct = nl.decode(study, n_permutations=50, progress=False)
    xr.testing.assert_identical(results["decoding"].to_dataset().drop_attrs(),
                                direct.drop_attrs())
    held = margins.heldout_margin(study, n_units=4, n_subsamples=3, progress=False)
    np.testing.assert_array_equal(results["margins"]["heldout_margin"].values,
                                  held["heldout_margin"].values)
    hard = margins.svm_margin(study, progress=False)
    np.testing.assert_array_equal(results["margins"]["separable"].values,
                                  hard["separable"].values)
    sim = geometry.class_similarity(study)
    np.testing.assert_array_equal(results["separation"]["between"].values, sim["between"].values)
    fisher = separation.fisher_separation(study)
    np.testing.assert_array_equal(results["separation"]["fisher_J"].values, fisher.values)
    np.testing.assert_array_equal(results["separation"]["fisher_status"].values,
                                  fisher["status"].values)
    assert set(results["separation"]["dprime_status"].values) == {"ok"}
    trend = trends.day_trend(held["heldout_margin"], n_boot=300, n_permutations=300)
    row = results["trends"].to_dataset().sel(measure="heldout_margin")
    for key in ("slope", "ci_low", "ci_high", "pvalue", "spearman_rho", "detectable_slope"):
        assert float(row[key]) == pytest.approx(float(trend[key]), abs=1e-12, nan_ok=True)
    np.testing.assert_array_equal(row["mouse_slope"].values, trend["mouse_slope"].values)
    by_day = results["summary/by_day"].to_dataset().sel(measure="accuracy")
    mice = nl.across_mice(direct["accuracy"])
    np.testing.assert_allclose(by_day["mean"].sel(day=mice["day"]).values, mice["mean"].values)


def test_results_file_round_trip_is_identical(results, tmp_path):
    path = tmp_path / "results.nc"
    results.to_netcdf(path, engine="h5netcdf")
    with xr.open_datatree(path) as back:
        xr.testing.assert_identical(back.load(), results)


def test_binned_only_sessions_get_the_configured_preset(study):
    raw = make_overtraining_dataset(n_mice=2, n_training_days=2, n_overtraining_days=4,
                                    units_per_session=(6, 12), trials_per_session=80, seed=3,
                                    preprocess=False)
    out = analyze(raw, config=FAST, progress=False)
    np.testing.assert_array_equal(out["decoding"]["accuracy"].values,
                                  analyze(study, config=FAST,
                                          progress=False)["decoding"]["accuracy"].values)
    other = analyze(raw, config={**FAST, "preprocessing": {"preset": "baseline_subtracted"}},
                    progress=False)
    assert json.loads(other.attrs["preprocessing"])["preset"] == "baseline_subtracted"


def test_missing_behaviour_is_reported_not_fatal(study):
    from neurolearn.schema import iter_sessions, to_tree

    no_outcome = to_tree([ds.drop_vars("correct") for _, ds in iter_sessions(study)])
    out = analyze(no_outcome, config=FAST, progress=False)
    assert "behaviour" not in out.children
    assert "correct" in json.loads(out.attrs["skipped"])["behaviour"]


def test_trends_recover_the_planted_phenomenon():
    """Behaviour at ceiling while the held-out margin keeps growing (planted truth)."""
    tree = make_overtraining_dataset(n_mice=4, n_training_days=3, n_overtraining_days=8,
                                     seed=5)
    out = analyze(tree, config=FAST, progress=False)
    t = out["trends"].to_dataset()
    margin = t.sel(measure="heldout_margin")
    # Inference about the 4 mice (two-stage t-test, df = 3).
    assert int(margin["n_mice"]) == 4 and out["trends"].attrs["unit"] == "mice"
    assert float(margin["ci_low"]) > 0 and float(margin["pvalue"]) < 0.05
    assert (t["mouse_slope"].sel(measure="heldout_margin") > 0).all()
    behaviour = t.sel(measure="fraction_correct")
    assert float(behaviour["ci_low"]) < 0 < float(behaviour["ci_high"])
    phase = out["summary/by_phase"].to_dataset().sel(measure="fraction_correct")
    assert float(phase["mean"].sel(phase="overtraining")) > 0.9


def test_a_dask_scheduler_gives_the_same_results(study, results):
    pytest.importorskip("dask")
    threaded = analyze(study, config=FAST, scheduler="threads", progress=False)
    for node, var in (("decoding", "accuracy"), ("decoding", "pvalue"),
                      ("margins", "separable"), ("separation", "fisher_J")):
        np.testing.assert_array_equal(threaded[node][var].values, results[node][var].values)
    # SVM batches split per core pad differently: equal to the solver's tolerance.
    np.testing.assert_allclose(threaded["margins"]["heldout_margin"].values,
                               results["margins"]["heldout_margin"].values, rtol=0, atol=1e-5)


def test_protocol_and_k_class_decoding_from_the_config(tmp_path):
    study = make_overtraining_dataset(n_mice=2, n_training_days=2, n_overtraining_days=2,
                                      trials_per_session=160, seed=4)
    config = {**FAST, "decoding": {"n_permutations": 30, "n_folds": 4, "target": "stimulus",
                                   "heldout": "train", "protocol": "bernerslee2023"}}
    res = analyze(study, config=config, progress=False)
    assert "bernerslee2023" in res.children and "protocol" in json.loads(res.attrs["timings"])
    protocol = nl.decode(study, protocol="bernerslee2023", n_folds=4, n_permutations=30,
                         seed=0, progress=False)
    xr.testing.assert_identical(res["bernerslee2023"].to_dataset(), protocol)
    decoding = res["decoding"].to_dataset()
    assert decoding.attrs["target"] == "stimulus" and decoding["n_classes"].max() == 8
    path = tmp_path / "results.nc"
    res.to_netcdf(path, engine="h5netcdf")
    with xr.open_datatree(path) as back:
        xr.testing.assert_identical(back.load(), res)
    from neurolearn.report import render_report
    page = render_report(res, tmp_path / "report.html").read_text()
    assert "The original study's protocol" in page and "probes_comp_1" in page


def test_analyze_keeps_a_subject_named_animal(rng):
    from neurolearn.errors import SchemaError
    from neurolearn.pipeline import analyze
    from neurolearn.schema import make_session, to_tree

    sessions = []
    for animal in ("K", "L"):
        for day in range(1, 5):
            y = np.arange(60) % 2
            sessions.append(make_session(
                rng.normal(size=(60, 8)) + 0.3 * day * y[:, None],
                stimulus=np.where(y, "face", "house"), label=y, session=f"{animal}-s{day}",
                subject=animal, day=day, phase="training" if day < 3 else "overtraining",
                correct=np.ones(60)))
    results = analyze(to_tree(sessions), config={"decoding": {"n_permutations": 20},
                                                 "margins": {"n_subsamples": 2}},
                      progress=False)
    assert results.attrs["animal"] == "subject"
    assert results["decoding"]["subject"].values.tolist() == ["K"] * 4 + ["L"] * 4
    assert "mouse" not in results["decoding"].coords
    assert "subject" in results["trends"].to_dataset().dims
    single_day = to_tree([make_session(rng.normal(size=(20, 3)), stimulus=["a", "b"] * 10,
                                       label=[0, 1] * 10, session="x", subject="K")])
    with pytest.raises(SchemaError, match="has no `day` or `phase`.*neurolearn.decode"):
        analyze(single_day, progress=False)
