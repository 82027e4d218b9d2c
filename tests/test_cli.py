"""The command line: outputs, one-line errors with exit codes, and never a lost or half file."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurolearn.cli import main
from neurolearn.pipeline.output import MANIFEST

FAST = ["--permutations", "20", "--no-progress"]


def _small_config(tmp_path):
    path = tmp_path / "fast.toml"
    path.write_text("[margins]\nn_subsamples = 2\n[trends]\nn_boot = 100\nn_permutations = 100\n"
                    "[separation]\nn_days = 1\n")
    return str(path)


def _files(directory):
    return sorted(str(p.relative_to(directory)) for p in Path(directory).rglob("*")
                  if p.is_file())


def test_formats(capsys):
    assert main(["formats"]) == 0
    assert "bernerslee" in capsys.readouterr().out


def test_demo_writes_results_figures_and_report(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--n-mice", "2", "--training-days", "2",
                 "--overtraining-days", "3", "--config", _small_config(tmp_path),
                 "--timings", *FAST])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"report: {(out / 'report.html').resolve()}" in printed
    assert "held-out margin" in printed and "total" in printed
    assert _files(out) == [MANIFEST, "figures/behaviour.png", "figures/decoding.png",
                           "figures/flips.png", "figures/margins.png", "figures/separation.png",
                           "figures/trends.png", "report.html", "results.nc"]
    with xr.open_datatree(out / "results.nc") as results:
        assert results.attrs["n_sessions"] == 10
        assert json.loads(results.attrs["config"])["decoding"]["n_permutations"] == 20
        assert results["decoding"]["null_accuracy"].shape == (10, 20)
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 6
    # A second run into its own earlier output is allowed and keeps the user's files.
    (out / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(out), "--n-mice", "2", "--training-days", "2",
                 "--overtraining-days", "3", "--config", _small_config(tmp_path), *FAST]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p for p in out.iterdir() if p.name.startswith(".neurolearn-staging")]


def _bernerslee_study(directory, raster_writer):
    written = []
    for mouse in ("Q", "R"):
        for day in (1, 2):
            written += raster_writer(directory, mouse=mouse, day=day, n_units=5,
                                     silent_units=1 if day == 1 else 0, seed=ord(mouse))
        for day in (3, 4, 5):
            written += raster_writer(directory, mouse=mouse, day=day, n_units=6, probes=True,
                                     seed=ord(mouse))
    return written


def test_analyze_files_from_an_independent_writer(tmp_path, raster_writer, capsys):
    raw = tmp_path / "rasters"
    written = _bernerslee_study(raw, raster_writer)
    out = tmp_path / "out"
    assert main(["analyze", str(raw), "--out", str(out), "--config", _small_config(tmp_path),
                 "--workers", "2", *FAST]) == 0  # (two reader processes)
    assert "loaded 10 sessions" in capsys.readouterr().out
    with xr.open_datatree(out / "results.nc") as results:
        assert results.attrs["format"] == "bernerslee"
        assert results.attrs["source"] == str(raw)
        dropped = json.loads(results.attrs["dropped_units"])
        # The one-spike units fail the original inclusion rule, with the reason.
        assert sorted(d["unit_id"] for d in dropped) == ["Q_d01_unit05", "R_d01_unit05"]
        assert all(d["reason"].startswith("sum over trials of pre-onset + response rate")
                   for d in dropped)
        np.testing.assert_array_equal(results["decoding"]["n_units"].values,
                                      [5, 5, 6, 6, 6, 5, 5, 6, 6, 6])
        assert (results["decoding"]["accuracy"].values > 0.8).all()
        assert np.isfinite(results["decoding"]["heldout_accuracy"].values[2:5]).all()
    # The rates the analyses used are the original rule's, computed here by hand.
    from data_loaders import load_bernerslee

    tree = load_bernerslee(raw, progress=False)
    session = tree["Q/Q-d03"].to_dataset()
    rasters = [r for p, r in written if p.name.startswith("Q_d03")]
    counts = np.stack([r[:, 5100:5600].sum(axis=1) for r in rasters], axis=1) / 0.5
    expected = (counts - counts.mean(0)) / counts.std(0, ddof=1)
    np.testing.assert_allclose(session["rates"].values, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(session["first_lick_time"].values[:2], [0.7, 0.8])


def _error(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("neurolearn: error: ")
    return err


def test_missing_path_and_unknown_format(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "nowhere"), "--out", str(out), *FAST]) == 1
    assert "nowhere: no such file or directory" in _error(capsys)
    text = tmp_path / "recording.txt"
    text.write_text("not a recording")
    assert main(["analyze", str(text), "--out", str(out), *FAST]) == 1
    assert "recording.txt: cannot tell the format" in _error(capsys)
    assert main(["analyze", str(text), "--format", "netcdf", "--out", str(out), *FAST]) == 1
    assert "recording.txt: cannot read as a netCDF-4 DataTree" in _error(capsys)
    assert not out.exists()


def test_one_class_session(tmp_path, raster_writer, capsys):
    raw = tmp_path / "rasters"
    raster_writer(raw, mouse="Q", day=1, n_units=5)
    raster_writer(raw, mouse="Q", day=2, n_units=5, one_class=True)
    out = tmp_path / "out"
    assert main(["analyze", str(raw), "--out", str(out), *FAST]) == 1
    err = _error(capsys)
    assert "Q-d02" in err and "single class" in err
    assert not out.exists()


def test_foreign_output_folder_is_refused_and_untouched(tmp_path, capsys):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "report.html").write_text("my own report")
    before = (out / "report.html").stat().st_mtime_ns
    args = ["demo", "--out", str(out), "--n-mice", "1", "--training-days", "1",
            "--overtraining-days", "2", "--config", _small_config(tmp_path), *FAST]
    assert main(args) == 2
    assert "not empty and is not an earlier neurolearn output" in _error(capsys)
    assert _files(out) == ["report.html"]
    assert (out / "report.html").read_text() == "my own report"
    assert (out / "report.html").stat().st_mtime_ns == before
    assert main([*args, "--overwrite"]) == 0
    assert (out / "report.html").read_text() != "my own report"


@pytest.mark.parametrize("args, message", [
    (["demo", "--permutations", "-3"], "`n_permutations` must be an integer in [0, inf]"),
    (["demo", "--folds", "1"], "`n_folds` must be an integer in [2, inf]"),
    (["demo", "--n-mice", "0"], "demo: `n_mice` must be an integer in [1, inf]"),
    (["demo", "--workers", "0"], "demo: `workers` must be an integer in [1, inf]"),
    (["analyze", "nowhere", "--workers", "0"], "analyze: `workers` must be an integer"),
    (["demo", "--bogus"], "unrecognized arguments: --bogus"),
    (["analyze"], "the following arguments are required: path"),
    ([], "the following arguments are required: command"),
    (["simulate", "--gamma", "0"], "--gamma must be > 0"),
    (["fit", "--free", "speed"], "--free: unknown parameter(s) ['speed']"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    full = args + (["--out", str(out)] if args and args[0] != "analyze" else [])
    assert main(full) == 2
    assert message in _error(capsys)
    assert not out.exists()


def test_interrupt_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    import neurolearn.pipeline.jobs as jobs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs, "write_outputs", interrupted)
    out = tmp_path / "out"
    code = main(["demo", "--out", str(out), "--n-mice", "1", "--training-days", "1",
                 "--overtraining-days", "2", "--config", _small_config(tmp_path), *FAST])
    assert code == 130
    assert "interrupted" in _error(capsys)
    assert not out.exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="no such file"):
        main(["analyze", str(tmp_path / "nowhere"), "--debug", *FAST])


def test_simulate_writes_curves(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--epochs", "100", "--width", "300", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "trained gamma=1 (ce) for 100 epochs" in printed
    with xr.open_dataset(out / "curves.nc") as curves:
        assert curves.attrs["gamma"] == 1.0 and curves["epoch"].values[-1] == 100
        assert float(curves["train_accuracy"][-1]) == 1.0
    assert (out / "figures" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_fit_command(tmp_path, capsys):
    from data_loaders import save_netcdf
    from neurolearn.fit import ModelSetup, simulate_sessions

    tree = simulate_sessions({"epochs_per_day": 10.0}, days=[1, 2, 3],
                             setup=ModelSetup(n_replicates=2, width=60), seed=1)
    path = tmp_path / "model.nc"
    save_netcdf(tree, path)
    code = main(["fit", str(path), "--free", "readout_noise", "--bootstrap", "3", "--maxfev",
                 "4", "--out", str(tmp_path / "fit"), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "readout_noise" in out and "fixed" in out and "[" in out
    assert Path(tmp_path, "fit", "fit.png").read_bytes()[:4] == b"\x89PNG"
    with xr.open_dataset(tmp_path / "fit" / "fit.nc") as fitted:
        assert "readout_noise" in fitted["parameter"].values


def test_scheduler_without_dask_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask", None)  # `import dask` now fails
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--scheduler", "threads", *FAST]) == 2
    assert "needs Dask: pip install 'neurolearn[dist]'" in _error(capsys)
    assert not out.exists()


def test_skip_insufficient_leaves_the_session_out_with_its_reason(tmp_path, raster_writer):
    raw = tmp_path / "rasters"
    for day in (1, 2, 3):
        raster_writer(raw, mouse="Q", day=day, n_units=5, one_class=day == 2)
    config = tmp_path / "skip.toml"
    config.write_text("skip_insufficient = true\n[margins]\nn_subsamples = 2\n"
                      "[trends]\nphase = \"all\"\nn_boot = 50\nn_permutations = 50\n")
    out = tmp_path / "out"
    assert main(["analyze", str(raw), "--out", str(out), "--config", str(config), *FAST]) == 0
    with xr.open_datatree(out / "results.nc") as results:
        assert list(results["decoding"]["session"].values) == ["Q-d01", "Q-d03"]
        dropped = json.loads(results.attrs["dropped_sessions"])
        assert dropped[0]["path"] == "/Q/Q-d02" and "single class" in dropped[0]["reason"]
    assert "/Q/Q-d02" in (out / "report.html").read_text()


def test_cuda_without_cupy_is_a_clear_error(tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here")
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--device", "cuda", *FAST]) == 2
    assert "device='cuda' needs CuPy: pip install 'neurolearn[gpu]'" in _error(capsys)
    assert not out.exists()


def test_events_and_reader_options_are_checked(tmp_path, capsys, small_tree):
    from data_loaders import save_netcdf

    save_netcdf(small_tree, tmp_path / "study.nc")
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "study.nc"), "--events", "e.csv", "--out",
                 str(out), *FAST]) == 2
    assert "--events is for suite2p, caiman, phy recordings" in _error(capsys)
    assert main(["analyze", str(tmp_path / "study.nc"), "--columns", "odor", "--out",
                 str(out), *FAST]) == 2
    assert "--columns takes name=value pairs" in _error(capsys)
    assert not out.exists()


def test_reader_options_parse_json_values():
    import argparse

    from neurolearn.cli import _reader_options

    args = argparse.Namespace(columns="odor_on=time, odor=stimulus", label_field="stim",
                              reader_option="signal=spks,iscell_threshold=0.5,groups=null")
    assert _reader_options(args) == {
        "columns": {"odor_on": "time", "odor": "stimulus"}, "label_field": "stim",
        "signal": "spks", "iscell_threshold": 0.5, "groups": None}
