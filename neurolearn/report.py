"""A results tree (:func:`neurolearn.pipeline.analyze`) as figures and one self-contained HTML page.

:func:`make_figures` draws one PNG per analysis; :func:`render_report`
writes ``report.html`` with the figures embedded (base64), and per section a
table and one sentence that states the result with its numbers; then the
parameters, versions, dropped units, trials and sessions, and the run time.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurolearn import plotting

__all__ = ["make_figures", "render_report", "trend_sentence", "FIGURES"]

#: Figure file stem -> title of its report section.
FIGURES = {
    "behaviour": "Behaviour",
    "decoding": "Decoding",
    "margins": "Margins",
    "separation": "Separation and similarity",
    "flips": "Stimulus flips",
    "across_days": "Tracked cells across days",
    "trends": "Trends through overtraining",
}

_PHASES = ("training", "overtraining")


def _node(results: xr.DataTree, path: str) -> xr.Dataset | None:
    try:
        return results[path].to_dataset(inherit=False)
    except KeyError:
        return None


def _fig_behaviour(results: xr.DataTree, plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
    plotting.plot_behavior(_node(results, "behaviour"), ax=ax)
    return fig


def _fig_decoding(results: xr.DataTree, plt: Any) -> Any:
    by_day = _node(results, "summary/by_day")
    decoding = _node(results, "decoding")
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2), layout="constrained",
                             width_ratios=(1.2, 1, 1))
    chance = decoding.attrs.get("chance", 0.5)
    plotting.plot_measures(by_day, {"accuracy": "CV accuracy (trained odours)",
                                    "heldout_accuracy": "generalisation (held-out odours)"},
                           ax=axes[0], ylabel="decoding accuracy",
                           reference=chance if np.isfinite(chance) else None,
                           title="Population decoding (mean ± SE across mice)")
    plotting.plot_significant_sessions(decoding, ax=axes[1])
    plotting.plot_confusion(decoding, ax=axes[2])
    return fig


def _fig_margins(results: xr.DataTree, plt: Any) -> Any:
    by_day = _node(results, "summary/by_day")
    config = json.loads(results.attrs.get("config", "{}"))
    n_units = config.get("margins", {}).get("n_units", "?")
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), layout="constrained")
    plotting.plot_measures(by_day, {"heldout_margin": f"held-out margin ({n_units} units)"},
                           ax=axes[0], ylabel="mean distance / within-class SD",
                           title="Held-out margin")
    plotting.plot_measures(by_day, {"margin_mean": "hard margin (all units)"}, ax=axes[1],
                           ylabel="1/‖w‖ (z-score units)",
                           title="Hard SVM margin, separable sessions")
    plotting.plot_measures(by_day, {"fraction_separable": "separable (all units)"},
                           ax=axes[2], ylabel="fraction of sessions",
                           title="Linear separability")
    return fig


def _fig_separation(results: xr.DataTree, plt: Any) -> Any:
    by_day = _node(results, "summary/by_day")
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), layout="constrained")
    plotting.plot_measures(by_day, {"fisher_J": "Fisher J"}, ax=axes[0],
                           ylabel="Δμᵀ S_w⁻¹ Δμ", title="Fisher discriminant")
    plotting.plot_measures(by_day, {"dprime": "d′ (CV decision values)"}, ax=axes[1],
                           ylabel="d′", title="d′ along the decoder axis")
    plotting.plot_measures(by_day, {"between": "target–non-target",
                                    "separation": "within − between"}, ax=axes[2],
                           ylabel="Pearson r", reference=0.0,
                           title="Trial-by-trial similarity")
    return fig


def _fig_flips(results: xr.DataTree, plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(4.8, 4.2), layout="constrained")
    plotting.plot_flips(_node(results, "flips"), ax=ax)
    return fig


def _fig_across_days(results: xr.DataTree, plt: Any) -> Any:
    from neurolearn.across_days import transfer_by_lag

    node = _node(results, "across_days")
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2), layout="constrained")
    plotting.plot_transfer_matrix(node["transfer_accuracy"], ax=axes[0])
    split = {"along day d's axis": transfer_by_lag(node["along"]),
             "orthogonal (√ bias-corrected)": transfer_by_lag(node["orthogonal"])}
    plotting.plot_by_lag(split, ax=axes[1], ylabel="change of the class difference",
                         title="Learning vs drift", reference=0.0)
    code = {"population-vector r": transfer_by_lag(node["pv_correlation"]),
            "linear CKA": transfer_by_lag(node["cka"]),
            "fixed / re-fit separation": transfer_by_lag(
                node["separation_fixed"] / node["separation_refit"])}
    plotting.plot_by_lag(code, ax=axes[2], ylabel="similarity to day d",
                         title="Representational drift")
    return fig


def _fig_trends(results: xr.DataTree, plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    plotting.plot_trends(_node(results, "trends"), _node(results, "summary/by_day"), ax=ax)
    return fig


_DRAW: dict[str, Callable[[xr.DataTree, Any], Any]] = {
    "behaviour": _fig_behaviour, "decoding": _fig_decoding, "margins": _fig_margins,
    "separation": _fig_separation, "flips": _fig_flips, "across_days": _fig_across_days,
    "trends": _fig_trends,
}


def make_figures(results: xr.DataTree, directory: str | Path, *, dpi: int = 110
                 ) -> dict[str, Path]:
    """Draw one PNG per analysis of ``results`` into ``directory``.

    Parameters
    ----------
    results : DataTree
        From :func:`neurolearn.pipeline.analyze`.
    directory : path
        Created if missing.
    dpi : int, default 110

    Returns
    -------
    dict
        Figure name (a key of :data:`FIGURES`) -> path of its PNG; analyses
        missing from ``results`` (e.g. behaviour without outcomes) have none.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, draw in _DRAW.items():
        if name not in results.children and name != "trends":
            continue
        fig = draw(results, plt)
        paths[name] = directory / f"{name}.png"
        fig.savefig(paths[name], dpi=dpi)
        plt.close(fig)
    return paths


# ---------------------------------------------------------------- sentences


def _fmt(value: float, digits: int = 3) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def _p(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2g}"


def trend_sentence(trends: xr.Dataset, measure: str, label: str) -> str:
    """One sentence stating a measure's trend with its numbers.

    For example "held-out margin rose 0.029/day through overtraining, 95 % CI
    [0.024, 0.034], p = 0.0005, 4 mice (71 sessions)" — the mice are named
    where they are the test's unit (``trends.attrs["unit"] == "mice"``).

    Parameters
    ----------
    trends : Dataset with dim ``measure``
        ``/trends`` of :func:`neurolearn.pipeline.analyze`.
    measure : str
        A ``measure`` coordinate value.
    label : str
        How to name the measure in the sentence.

    Returns
    -------
    str
    """
    if measure not in trends["measure"].values:
        return f"{label}: not computed."
    row = trends.sel(measure=measure)
    slope, lo, hi = (float(row[k]) for k in ("slope", "ci_low", "ci_high"))
    if not np.isfinite(slope):
        reason = json.loads(trends.attrs.get("not_computed", "{}")).get(measure, "")
        return f"{label}: no trend computed ({reason})." if reason else f"{label}: no trend."
    phase = trends.attrs.get("phase", "all")
    span = "across all days" if phase == "all" else f"through {phase}"
    level = round(100 * float(trends.attrs.get("confidence", 0.95)))
    verb = "rose" if lo > 0 else "fell" if hi < 0 else "showed no clear trend:"
    amount = _fmt(abs(slope)) if verb != "showed no clear trend:" else f"{_fmt(slope)}"
    n = f"{int(row['n_sessions'])} sessions"
    if trends.attrs.get("unit") == "mice" and "n_mice" in row:
        n = f"{int(row['n_mice'])} mice ({n})"
    return (f"{label} {verb} {amount}/day {span}, {level} % CI [{_fmt(lo)}, {_fmt(hi)}], "
            f"p = {_p(float(row['pvalue']))}, {n}.")


def _phase_value(results: xr.DataTree, measure: str, phase: str) -> tuple[float, float]:
    by_phase = _node(results, "summary/by_phase")
    if (by_phase is None or measure not in by_phase["measure"].values
            or phase not in by_phase["phase"].values):
        return np.nan, np.nan
    row = by_phase.sel(measure=measure, phase=phase)
    return float(row["mean"]), float(row["sem"])


def _mean_se(results: xr.DataTree, measure: str, phase: str) -> str:
    mean, sem = _phase_value(results, measure, phase)
    if not np.isfinite(mean):
        return "–"
    return f"{_fmt(mean)} ± {_fmt(sem, 2)}" if np.isfinite(sem) else _fmt(mean)


def _sentences(results: xr.DataTree) -> dict[str, list[str]]:
    """The report's findings in words: section name → its sentences, each with
    the numbers it rests on (from :func:`neurolearn.pipeline.analyze`'s tree).

    Parameters
    ----------
    results : DataTree
        From :func:`neurolearn.pipeline.analyze`.

    Returns
    -------
    dict
    """
    trends = _node(results, "trends")
    s: dict[str, list[str]] = {}
    s["behaviour"] = [
        f"Mice were {_mean_se(results, 'fraction_correct', 'overtraining')} correct during "
        f"overtraining (mean ± SE across mice) against "
        f"{_mean_se(results, 'fraction_correct', 'training')} during training.",
        trend_sentence(trends, "fraction_correct", "Behaviour (fraction correct)")]
    decoding = _node(results, "decoding")
    over = np.asarray(decoding["phase"].values).astype(str) == "overtraining"
    n_sig = int(np.sum(decoding["pvalue"].values[over] < 0.05))
    s["decoding"] = [
        trend_sentence(trends, "accuracy", "Decoding accuracy"),
        trend_sentence(trends, "heldout_accuracy", "Generalisation to held-out odours"),
        f"{n_sig} of {int(over.sum())} overtraining sessions decoded above their permutation "
        f"null (p < 0.05; {decoding.attrs.get('n_permutations', '?')} permutations each)."]
    s["margins"] = [
        trend_sentence(trends, "heldout_margin", "The held-out margin"),
        trend_sentence(trends, "margin_mean", "The hard margin of separable sessions"),
        f"{_mean_se(results, 'fraction_separable', 'overtraining')} of overtraining sessions "
        f"were linearly separable with all their units, against "
        f"{_mean_se(results, 'fraction_separable', 'training')} in training."]
    margins = _node(results, "margins")
    left_out = {name: int(margins[name].sum()) for name in
                ("n_unconverged", "n_no_direction", "svm_n_unconverged") if name in margins}
    if any(left_out.values()):
        s["margins"].append(
            f"Left out, never averaged in: {left_out.get('n_unconverged', 0)} held-out-margin "
            f"unit subsets whose SVM did not converge, {left_out.get('n_no_direction', 0)} "
            f"with constant units, and {left_out.get('svm_n_unconverged', 0)} hard-margin "
            "problems that did not converge.")
    s["separation"] = [
        trend_sentence(trends, "fisher_J", "Fisher's J"),
        trend_sentence(trends, "between", "Target–non-target similarity")]
    separation = _node(results, "separation")
    for var, label in (("fisher_status", "Fisher's J"), ("dprime_status", "d′")):
        if separation is not None and var in separation:
            reasons = [str(r) for r in separation[var].values if str(r) != "ok"]
            if reasons:
                counts = ", ".join(f"{n} {why}" for why, n in
                                   zip(*np.unique(reasons, return_counts=True), strict=True))
                s["separation"].append(f"{label} is NaN, and left out, for {len(reasons)} "
                                       f"sessions: {counts}.")
    change = _node(results, "separation/first_vs_last")
    if change is not None:
        s["separation"].append(
            f"Per mouse, target–non-target similarity changed by "
            f"{_fmt(float(change['change'].mean()))} on average from its first to its last "
            f"{change.attrs.get('n_days', '?')} {change.attrs.get('phase', '')} days "
            f"({int((change['change'] < 0).sum())} of {change.sizes['mouse']} mice fell).")
    flips = _node(results, "flips")
    held = flips.isel(stimulus=np.flatnonzero(flips["heldout"].values)) if (
        "heldout" in flips.coords) else flips
    s["flips"] = [f"{int(held['flipped'].sum())} of {int(np.isfinite(held['early']).sum())} "
                  f"held-out (mouse, stimulus) pairs flipped from wrong (accuracy < "
                  f"{flips.attrs.get('threshold', 0.5)}) on the first days to right on the last."]
    across = _node(results, "across_days")
    if across is not None:
        s["across_days"] = _across_days_sentences(across)
    level = round(100 * trends.attrs.get("confidence", 0.95))
    desc = [str(d) for d in trends["description"].values]
    rising = [d for d, lo in zip(desc, trends["ci_low"].values, strict=True) if lo > 0]
    falling = [d for d, hi in zip(desc, trends["ci_high"].values, strict=True) if hi < 0]
    s["trends"] = [f"Measures whose {level} % CI lies above zero: "
                   f"{', '.join(rising) if rising else 'none'}; below zero: "
                   f"{', '.join(falling) if falling else 'none'}.",
                   f"Statistical unit: {trends.attrs.get('unit', 'sessions')} "
                   f"({trends.attrs.get('method', '')})." + _power_note(trends)]
    return s


def _across_days_sentences(node: xr.Dataset) -> list[str]:
    """The tracked-cell findings: transfer near and far, drift and growth rates."""
    by_lag = node["transfer_by_lag"].mean("mouse")
    lags = by_lag["lag"].values
    forward = lags[(lags > 0) & np.isfinite(by_lag.values)]
    near_lag = int(forward.min()) if forward.size else 0
    far_lag = int(forward.max()) if forward.size else 0
    near = float(by_lag.sel(lag=near_lag)) if forward.size else np.nan
    far = float(by_lag.sel(lag=far_lag)) if far_lag > near_lag else np.nan
    diag = np.diagonal(node["transfer_accuracy"].values, axis1=1, axis2=2)
    diag = float(np.nanmean(diag)) if np.isfinite(diag).any() else np.nan
    skipped = json.loads(node.attrs.get("skipped", "[]"))
    ratio = (node["separation_fixed"] / node["separation_refit"]).values
    lag = node["day_to"].values[None, :] - node["day_from"].values[:, None]

    def mean_at(k: int) -> float:
        chosen = np.where(lag[None] == k, ratio, np.nan)
        return float(np.nanmean(chosen)) if np.isfinite(chosen).any() else np.nan

    near_ratio, far_ratio = mean_at(near_lag), mean_at(far_lag)
    return [
        f"A decoder trained on one day and tested {near_lag} day(s) later scored {_fmt(near)} "
        f"(mean over mice and days, cells present on both days), and {_fmt(far)} {far_lag} "
        f"days later; "
        f"cross-validated on its own day {_fmt(diag)} (chance 0.5; "
        f"{node.attrs.get('n_permutations', '?')} permutations per pair).",
        f"Along day d's coding axis the class difference grew by "
        f"{_fmt(float(node['along_per_day'].mean()))} per day; orthogonal to it it drifted by "
        f"{_fmt(float(node['drift_per_day'].mean()))} per √day "
        f"({_fmt(float(node['drift_per_day_per_cell'].mean()))} per cell; pairs ≤ 3 days "
        f"apart, noise-bias corrected).",
        f"Day d's axis kept {_fmt(near_ratio)} of a re-fit axis's separation {near_lag} "
        f"day(s) later and {_fmt(far_ratio)} after {far_lag} days: "
        + ("the code rotates as it grows." if far_ratio < 0.9 * near_ratio else
           "the axis holds, so growth is separation along it." if far_ratio >= 0.9 * near_ratio
           else "too few days to tell."),
        f"{len(skipped)} pairs of days had fewer than {node.attrs.get('min_cells', '?')} cells "
        "in common and were left out." if skipped else
        "Every pair of days shared enough cells."]


def _power_note(trends: xr.Dataset) -> str:
    if trends.attrs.get("unit") != "mice" or "detectable_slope" not in trends:
        return ""
    row = trends.sel(measure="heldout_margin") if "heldout_margin" in trends["measure"] else None
    if row is None or not np.isfinite(float(row["detectable_slope"])):
        return ""
    return (f" With {int(row['n_mice'])} mice, a mean held-out-margin slope of "
            f"{_fmt(float(row['detectable_slope']))}/day (≈ "
            f"{_fmt(float(row['detectable_slope']) / float(row['slope_sd']), 2)} × the SD of the "
            f"per-mouse slopes) is detected with 80 % power; a non-significant trend is not "
            f"evidence of a plateau.")


# ---------------------------------------------------------------- tables


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _phase_table(results: xr.DataTree, measures: dict[str, str]) -> str:
    rows = [[label] + [_mean_se(results, m, p) for p in _PHASES] for m, label in measures.items()]
    return _table(["measure", "training (mean ± SE)", "overtraining (mean ± SE)"], rows)


def _tables(results: xr.DataTree) -> dict[str, str]:
    t: dict[str, str] = {}
    t["behaviour"] = _phase_table(results, {"fraction_correct": "fraction correct"})
    crit = _node(results, "behaviour/criterion")
    if crit is not None:
        t["behaviour"] += _table(["mouse", "first day of 2 days ≥ criterion"],
                                 [[m, _fmt(float(v))] for m, v in zip(
                                     crit["mouse"].values, crit["days_to_criterion"].values,
                                     strict=True)])
    t["decoding"] = _phase_table(results, {"accuracy": "CV accuracy",
                                           "heldout_accuracy": "generalisation"})
    protocol = _node(results, "bernerslee2023")
    if protocol is not None:
        t["decoding"] += ("<p>The original study's protocol (<code>bernerslee2023</code>): "
                          "accuracy pooled over all trials of all sessions, group-level "
                          "shuffle p.</p>" + _table(
                              ["probe / repeat type", "identity accuracy", "identity p",
                               "categorical accuracy", "categorical p"],
                              [[str(g), _fmt(float(protocol["identity_accuracy"][i])),
                                _p(float(protocol["identity_pvalue"][i])),
                                _fmt(float(protocol["categorical_accuracy"][i])),
                                _p(float(protocol["categorical_pvalue"][i]))]
                               for i, g in enumerate(protocol["group"].values)]))
    t["margins"] = _phase_table(results, {"heldout_margin": "held-out margin",
                                          "margin_mean": "hard margin (separable)",
                                          "fraction_separable": "fraction separable"})
    t["separation"] = _phase_table(results, {"fisher_J": "Fisher J", "dprime": "d′",
                                             "between": "between-class r",
                                             "separation": "within − between r"})
    flips = _node(results, "flips")
    rows = [[m, st, _fmt(float(flips["early"].sel(mouse=m, stimulus=st))),
             _fmt(float(flips["late"].sel(mouse=m, stimulus=st))),
             _fmt(float(flips["flip_day"].sel(mouse=m, stimulus=st)))]
            for m in flips["mouse"].values for st in flips["stimulus"].values
            if bool(flips["flipped"].sel(mouse=m, stimulus=st))]
    t["flips"] = _table(["mouse", "stimulus", "early accuracy", "late accuracy", "flip day"],
                        rows) if rows else "<p>No stimulus flipped.</p>"
    trends = _node(results, "trends")
    t["trends"] = _table(
        ["measure", "slope / day", "CI low", "CI high", "p", "Spearman ρ", "mice",
         "sessions", "detectable slope (80 %)"],
        [[str(d), _fmt(float(r["slope"])), _fmt(float(r["ci_low"])), _fmt(float(r["ci_high"])),
          _p(float(r["pvalue"])), _fmt(float(r["spearman_rho"]), 2), int(r["n_mice"]),
          int(r["n_sessions"]),
          _fmt(float(r["detectable_slope"])) if "detectable_slope" in r else "–"]
         for d, r in ((trends["description"].values[i], trends.isel(measure=i))
                      for i in range(trends.sizes["measure"]))])
    return t


def _appendix(results: xr.DataTree) -> str:
    a = results.attrs
    config = json.loads(a.get("config", "{}"))
    rows = []
    for section, values in config.items():
        if isinstance(values, dict):
            rows += [[f"{section}.{k}", json.dumps(v)] for k, v in values.items()]
        else:
            rows.append([section, json.dumps(values)])
    parts = ["<h2>Parameters</h2>", _table(["parameter", "value"], rows),
             "<h3>Preprocessing</h3>", _preprocessing_table(a.get("preprocessing")),
             "<h2>Versions</h2>",
             _table(["package", "version"], [[k, v] for k, v in
                                              json.loads(a.get("versions", "{}")).items()])]
    units = json.loads(a.get("dropped_units", "[]"))
    sessions = json.loads(a.get("dropped_sessions", "[]"))
    trials = json.loads(a.get("dropped_trials", "[]"))
    skipped = json.loads(a.get("skipped", "{}"))
    n_trials = sum(t["n_trials"] for t in trials)
    parts += ["<h2>Dropped units, trials and sessions</h2>",
              f"<p>{_plural(len(units), 'unit')}, {_plural(n_trials, 'trial')} and "
              f"{_plural(len(sessions), 'session')} were left out, each for the reason "
              "listed.</p>"]
    if sessions:
        parts.append(_table(["session", "reason"], [[d["path"], d["reason"]] for d in sessions]))
    if trials:
        parts.append(_table(["session", "trials dropped", "reason"],
                            [[d["session"], d["n_trials"], d["reason"]] for d in trials]))
    if units:
        parts.append("<details><summary>Dropped units</summary>" + _table(
            ["session", "unit", "reason"], [[d["session"], d["unit_id"], d["reason"]]
                                            for d in units]) + "</details>")
    if skipped:
        parts.append("<h3>Analyses not run</h3>" + _table(
            ["analysis", "reason"], [[k, v] for k, v in skipped.items()]))
    timings = json.loads(a.get("timings", "{}"))
    parts += ["<h2>Run time</h2>",
              f"<p>Analysis took {float(a.get('run_time_s', np.nan)):.1f} s (started "
              f"{html.escape(str(a.get('started')))}, device {html.escape(str(a.get('device')))}, "
              f"scheduler {html.escape(str(a.get('scheduler')))}).</p>",
              _table(["step", "seconds"], [[k, f"{v:.2f}"] for k, v in timings.items()])]
    return "\n".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _preprocessing_table(record: Any) -> str:
    try:
        params = json.loads(str(record))
    except (TypeError, ValueError):
        return f"<p>{html.escape(str(record))}</p>"
    if not isinstance(params, dict):
        return f"<p>{html.escape(str(record))}</p>"
    return _table(["parameter", "value"], [[k, json.dumps(v)] for k, v in params.items()])


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.meta{color:#555} .finding{background:#f4f7fb;border-left:4px solid #3b6ea5;padding:.6em 1em}
.finding li{margin:.25em 0} img{max-width:100%;border:1px solid #eee}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left} th{background:#f6f6f6}
td{white-space:nowrap} td:first-child{white-space:normal}
pre{background:#f8f8f8;padding:.6em;overflow-x:auto;font-size:.85em} .result{font-weight:600}
"""


def render_report(results: xr.DataTree, path: str | Path, *,
                  figures: dict[str, Path] | None = None) -> Path:
    """Write ``results`` as one self-contained HTML page (figures embedded as base64 PNG).

    Parameters
    ----------
    results : DataTree
        From :func:`neurolearn.pipeline.analyze`.
    path : path
        The HTML file to write.
    figures : dict, optional
        Figure name -> PNG path from :func:`make_figures`; drawn into a
        folder beside ``path`` when omitted.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if figures is None:
        figures = make_figures(results, path.parent / "figures")
    sentences, tables = _sentences(results), _tables(results)
    a = results.attrs
    key = [sentences["behaviour"][0]] + [sentences[k][0] for k in ("decoding", "margins")] + [
        sentences["decoding"][1]]
    parts = [f"<h1>{html.escape(str(a.get('title', 'neurolearn analysis')))}</h1>",
             f"<p class='meta'>{a.get('n_sessions')} sessions from {a.get('n_mice')} mice; "
             f"source <code>{html.escape(str(a.get('source')))}</code> "
             f"(format {html.escape(str(a.get('format')))}); finished "
             f"{html.escape(str(a.get('finished')))}.</p>",
             "<div class='finding'><b>Does the population keep learning after behaviour "
             "saturates?</b><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in key)
             + "</ul></div>"]
    for name, title in FIGURES.items():
        if name not in figures:
            continue
        img = base64.b64encode(Path(figures[name]).read_bytes()).decode("ascii")
        parts += [f"<h2 id='{name}'>{html.escape(title)}</h2>"]
        parts += [f"<p class='result'>{html.escape(x)}</p>" for x in sentences.get(name, [])]
        parts += [f"<img alt='{html.escape(title)}' src='data:image/png;base64,{img}'>",
                  tables.get(name, "")]
    parts.append(_appendix(results))
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(str(a.get('title', 'neurolearn analysis')))}</title>"
            f"<style>{_CSS}</style></head><body>" + "\n".join(parts) + "</body></html>")
    path.write_text(page, encoding="utf-8")
    return path
