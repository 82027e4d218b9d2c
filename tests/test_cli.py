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
