from pathlib import Path

from neurolearn.cli import main


def test_formats(capsys):
    assert main(["formats"]) == 0
    assert "bernerslee" in capsys.readouterr().out


def test_demo_small(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path), "--n-mice", "1", "--training-days", "2",
                 "--overtraining-days", "2", "--no-progress",
                 "--permutations", "50"])
    assert code == 0
    out = capsys.readouterr().out
    assert "loaded and validated 4 sessions" in out and "Behaviour per day" in out
    assert "Decoding target vs non-target" in out and "By phase" in out
    assert Path(tmp_path, "behavior.png").stat().st_size > 10_000
    assert Path(tmp_path, "decoding.png").stat().st_size > 10_000
    assert Path(tmp_path, "margins.png").stat().st_size > 10_000 and "held-out margin" in out


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
    assert Path(tmp_path, "fit", "fit.png").stat().st_size > 10_000
    assert main(["fit", str(path), "--free", "speed", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
