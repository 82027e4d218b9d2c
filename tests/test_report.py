"""The HTML report: self-contained, one section per analysis, sentences that state the numbers."""

import base64
import json
import re

import numpy as np
import pytest
import xarray as xr

from data_loaders import make_overtraining_dataset
from neurolearn.pipeline import analyze
from neurolearn.report import FIGURES, make_figures, render_report, trend_sentence


@pytest.fixture(scope="module")
def results():
    tree = make_overtraining_dataset(n_mice=2, n_training_days=2, n_overtraining_days=6,
                                     units_per_session=(6, 12), trials_per_session=80, seed=2)
    return analyze(tree, config={"decoding": {"n_permutations": 30},
                                 "margins": {"n_subsamples": 2},
                                 "trends": {"n_boot": 200, "n_permutations": 200}},
                   progress=False)


def _trends(slope, lo, hi, p, n):
    return xr.Dataset({"slope": ("measure", [slope]), "ci_low": ("measure", [lo]),
                       "ci_high": ("measure", [hi]), "pvalue": ("measure", [p]),
                       "n_sessions": ("measure", [n])},
                      coords={"measure": ["heldout_margin"]},
                      attrs={"phase": "overtraining", "confidence": 0.95})


def test_trend_sentence_states_the_numbers():
    assert trend_sentence(_trends(0.029, 0.024, 0.034, 0.0005, 71), "heldout_margin",
                          "held-out margin") == (
        "held-out margin rose 0.029/day through overtraining, 95 % CI [0.024, 0.034], "
        "p = 0.0005, 71 sessions.")
    assert trend_sentence(_trends(-0.01, -0.02, -0.004, 0.01, 30), "heldout_margin",
                          "x").startswith("x fell 0.01/day")
    assert "showed no clear trend: -0.001/day" in trend_sentence(
        _trends(-0.001, -0.02, 0.01, 0.6, 30), "heldout_margin", "x")
    assert trend_sentence(_trends(1, 0, 2, 0.1, 5), "absent", "y") == "y: not computed."


def test_report_is_self_contained_and_complete(results, tmp_path):
    figures = make_figures(results, tmp_path / "figures")
    # Every section but the tracked cells' (this study's units are not tracked).
    expected = {k: v for k, v in FIGURES.items() if k != "across_days"}
    assert set(figures) == set(expected)
    for png in figures.values():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = render_report(results, tmp_path / "report.html", figures=figures).read_text()
    # Every image is embedded; nothing is fetched from elsewhere.
    sources = re.findall(r"src='([^']*)'", page)
    assert len(sources) == len(expected)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert base64.b64decode(sources[0].split(",", 1)[1])[:4] == b"\x89PNG"
    assert not re.search(r"(href|src)=['\"]https?://", page)
    for title in expected.values():
        assert f">{title}<" in page
    assert FIGURES["across_days"] not in page
    # The headline sentence carries the trend's own numbers.
    trends = results["trends"].to_dataset()
    sentence = trend_sentence(trends, "heldout_margin", "The held-out margin")
    assert sentence in page
    row = trends.sel(measure="heldout_margin")
    assert f"{int(row['n_sessions'])} sessions" in sentence
    for key in ("ci_low", "ci_high"):
        assert f"{float(row[key]):.3g}" in sentence
    config = json.loads(results.attrs["config"])
    assert f"<td>decoding.n_permutations</td><td>{config['decoding']['n_permutations']}</td>" \
        in page
    for package in json.loads(results.attrs["versions"]):
        assert f"<td>{package}</td>" in page
    assert "Dropped units, trials and sessions" in page and "Run time" in page
    n_units = len(json.loads(results.attrs["dropped_units"]))
    assert f"<p>{n_units} unit{'' if n_units == 1 else 's'}, " in page


def test_report_without_overtraining_phase(tmp_path):
    tree = make_overtraining_dataset(n_mice=2, n_training_days=4, n_overtraining_days=0,
                                     units_per_session=(6, 8), trials_per_session=60, seed=1)
    out = analyze(tree, config={"decoding": {"n_permutations": 10},
                                "margins": {"n_subsamples": 2},
                                "trends": {"phase": None, "n_boot": 50,
                                           "n_permutations": 50}}, progress=False)
    page = render_report(out, tmp_path / "r.html").read_text()
    assert "across all days" in page
    assert np.isnan(out["decoding"]["heldout_accuracy"].values).all()


def test_report_states_why_separation_measures_are_missing(results, tmp_path):
    """A session whose Fisher J is NaN is named in the report with its reason."""
    from neurolearn.report import _sentences

    assert not any("is NaN" in line for line in _sentences(results)["separation"])
    tree = results.copy()
    sep = tree["separation"].to_dataset(inherit=False)
    status = sep["fisher_status"].values.copy()
    status[[0, 3]] = "every unit is constant over the trained trials (S_w = 0, Δμ = 0)"
    tree["separation"] = xr.DataTree(sep.assign(fisher_status=("session", status)))
    lines = _sentences(tree)["separation"]
    assert ("Fisher's J is NaN, and left out, for 2 sessions: 2 every unit is constant over the "
            "trained trials (S_w = 0, Δμ = 0).") in lines


def test_report_has_a_tracked_cells_section(tmp_path):
    from data_loaders.synthetic_tracked import make_tracked_dataset
    from neurolearn.pipeline import analyze

    tree = make_tracked_dataset(n_mice=2, n_training_days=2, n_overtraining_days=3,
                                n_cells=40, trials_per_session=80, seed=1)
    results = analyze(tree, config={"decoding": {"n_permutations": 20},
                                    "margins": {"n_subsamples": 2},
                                    "across_days": {"n_permutations": 10}}, progress=False)
    across = results["across_days"].to_dataset()
    assert across.sizes["train_day"] == 5 and across.sizes["mouse"] == 2
    figures = make_figures(results, tmp_path / "figures")
    assert "across_days" in figures
    page = render_report(results, tmp_path / "report.html", figures=figures).read_text()
    assert ">Tracked cells across days<" in page
    lag = float(across["transfer_by_lag"].mean("mouse").sel(lag=1))
    assert f"tested 1 day(s) later scored {lag:.3g}" in page
