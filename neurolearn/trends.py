"""Is a per-session measure still changing across days? Slopes with uncertainty, about mice.

The original study showed curves; it did not test whether post-plateau change
differed from zero. The question is about mice, and studies have few of them
(the original: 4), so :func:`day_trend` by default makes the mouse the unit
of inference: an OLS slope against day per mouse, then a one-sample t-test of
those slopes across mice with M − 1 degrees of freedom (the "two-stage"
summary-statistics approach). Measured on simulated studies (DESIGN §5: 4
mice over days 9–26, per-mouse slope SD 0.02/day around a true 0, intercept
SD 0.3, session noise 0.1; 1000 studies) its false-positive rate at α = 0.05
is 0.047 and its 95 % CI covers the truth in 0.953 of studies, where treating
sessions as independent gives 0.21 and 0.79 and a hierarchical bootstrap 0.16
and 0.84 (4 clusters are too few for it). The session-level analysis is kept
as ``method="sessions"``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import optimize, stats

from neurolearn._version import __version__
from neurolearn.backend import make_rng
from neurolearn.errors import InsufficientDataError, SchemaError
from neurolearn.params import Interval, Options, check_params

__all__ = ["day_trend", "detectable_slope", "METHODS"]

METHODS = ("two_stage", "sessions", "ancova")

#: The ANCOVA's terms: continuous covariates, then factors (trial coords).
ANCOVA_COVARIATES = ("trial", "day")
ANCOVA_FACTORS = ("mouse", "rewarded")

_CONSTRAINTS = {
    "method": [Options(METHODS)],
    "phase": [str, None],
    "n_boot": [Interval("int", 1, None)],
    "n_permutations": [Interval("int", 1, None)],
    "confidence": [Interval("real", 0, 1, closed="neither")],
    "power": [Interval("real", 0, 1, closed="neither")],
}


def _slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slope of each row of y on each row of x (rows are resamples)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denom = np.sum(xc * xc, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(xc * yc, axis=-1) / denom


def detectable_slope(sd: float, n_mice: int, *, confidence: float = 0.95,
                     power: float = 0.8) -> float:
    """Mean slope a two-sided one-sample t-test over ``n_mice`` detects with ``power``.

    Parameters
    ----------
    sd : float
        SD of the per-mouse slopes (units of the measure per day).
    n_mice : int
        Mice (the test's n; df = n_mice − 1).
    confidence : float, default 0.95
        1 − α of the test.
    power : float, default 0.8

    Returns
    -------
    float
        The slope δ with P(reject | mean slope δ) = ``power``, from the
        noncentral t distribution; NaN for fewer than 2 mice or sd = 0.

    Examples
    --------
    >>> round(detectable_slope(1.0, 4), 1)  # 4 mice: ≈ 2.1 per-mouse SDs
    2.1
    """
    if n_mice < 2 or not np.isfinite(sd) or sd <= 0:
        return np.nan
    df = n_mice - 1
    crit = stats.t.ppf(1 - (1 - confidence) / 2, df)

    def shortfall(nc: float) -> float:
        return stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc) - power

    # Bracket the noncentrality: few mice (heavy-tailed t) need a large one,
    # and SciPy's noncentral t turns NaN far out in the tail.
    hi = 8.0
    while shortfall(hi) < 0 and hi < 256:
        hi *= 2
    if not shortfall(hi) >= 0:
        return np.nan
    nc = optimize.brentq(shortfall, 0.0, hi)
    return float(nc * sd / np.sqrt(n_mice))


def _select(per_session: xr.DataArray, phase: str | None) -> tuple[np.ndarray, ...]:
    if per_session.dims != ("session",):
        raise SchemaError(f"day_trend needs a 1-D DataArray over 'session'; got dims "
                          f"{per_session.dims}.")
    sel = per_session
    if phase is not None:
        if "phase" not in per_session.coords:
            raise SchemaError("per_session has no `phase` coordinate; pass phase=None.")
        sel = per_session.where(per_session["phase"] == phase, drop=True)
    y = np.asarray(sel.values, dtype=float)
    x = np.asarray(sel["day"].values, dtype=float)
    mouse = (np.asarray(sel["mouse"].values).astype(str) if "mouse" in sel.coords
             else np.full(y.size, "?"))
    ok = np.isfinite(y)
    return x[ok], y[ok], mouse[ok]


def _two_stage(x: np.ndarray, y: np.ndarray, mouse: np.ndarray, confidence: float,
               power: float) -> dict:
    """Per-mouse OLS slopes, then a one-sample t-test across mice (df = M − 1)."""
    mice = np.unique(mouse)
    slopes = np.full(mice.size, np.nan)
    for i, m in enumerate(mice):
        sel = mouse == m
        if np.unique(x[sel]).size >= 2:
            slopes[i] = float(_slopes(x[sel], y[sel]))
    used = np.isfinite(slopes)
    M = int(used.sum())
    if M < 2:
        raise InsufficientDataError(
            f"day_trend (two_stage) needs at least 2 mice with sessions on 2 or more days; got "
            f"{M} ({', '.join(mice[used]) or 'none'}). With one mouse use method='sessions', "
            "whose inference is about that mouse's sessions only.")
    mean = float(slopes[used].mean())
    sd = float(slopes[used].std(ddof=1))
    se = sd / np.sqrt(M)
    half = stats.t.ppf(1 - (1 - confidence) / 2, M - 1) * se
    if se > 0:
        pvalue = float(2 * stats.t.sf(abs(mean) / se, M - 1))
    else:  # every mouse has the same slope: no spread to test against
        pvalue = 0.0 if mean != 0 else 1.0
    return {"slope": mean, "ci_low": mean - half, "ci_high": mean + half, "pvalue": pvalue,
            "n_mice": M, "mouse_slope": (mice, slopes), "slope_sd": sd,
            "detectable_slope": detectable_slope(sd, M, confidence=confidence, power=power)}


def _session_level(x: np.ndarray, y: np.ndarray, mouse: np.ndarray, confidence: float,
                   n_boot: int, n_permutations: int, seed: int) -> dict:
    """Pooled OLS slope; bootstrap over sessions; permutation of day labels."""
    rng = make_rng(seed)
    slope = float(_slopes(x, y))
    idx = rng.integers(0, y.size, size=(n_boot, y.size))
    boot = _slopes(x[idx], y[idx])
    boot = boot[np.isfinite(boot)]
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(boot, [tail, 100 - tail])
    perm_x = x[np.argsort(rng.random((n_permutations, x.size)), axis=1)]
    null = _slopes(perm_x, np.broadcast_to(y, perm_x.shape))
    pvalue = (np.sum(np.abs(null) >= abs(slope) - 1e-15) + 1.0) / (n_permutations + 1.0)
    return {"slope": slope, "ci_low": float(lo), "ci_high": float(hi), "pvalue": float(pvalue),
            "n_mice": int(np.unique(mouse).size)}


def _effects(values: np.ndarray) -> np.ndarray:
    """Sum-to-zero (effects) coding of a factor: (n, levels − 1), as MATLAB's anovan."""
    levels, index = np.unique(values, return_inverse=True)
    coded = np.zeros((values.size, max(levels.size - 1, 0)))
    for j in range(levels.size - 1):
        coded[:, j] = (index == j).astype(float) - (index == levels.size - 1)
    return coded


def _ancova(per_trial: xr.DataArray, phase: str | None, confidence: float) -> dict:
    """Per-trial outcome ~ trial + day (continuous) + mouse + rewarded (factors), OLS.

    Each term's F-test compares the model with and without it (for a
    main-effects model these are the type II and type III sums of squares
    alike); the day slope's CI is t-based on the residual df.
    """
    if per_trial.ndim != 1:
        raise SchemaError(f"day_trend(method='ancova') needs a 1-D DataArray of per-trial "
                          f"outcomes; got dims {per_trial.dims}.")
    missing = [c for c in (*ANCOVA_COVARIATES, *ANCOVA_FACTORS) if c not in per_trial.coords]
    if missing:
        raise SchemaError(f"day_trend(method='ancova') needs trial coords {missing} (e.g. "
                          "decode(tree, protocol='bernerslee2023')'s per-trial outcomes).")
    sel = per_trial
    if phase is not None and "phase" in per_trial.coords:
        sel = per_trial.where(per_trial["phase"] == phase, drop=True)
    y = np.asarray(sel.values, dtype=float)
    ok = np.isfinite(y)
    y = y[ok]
    columns = {"trial": np.asarray(sel["trial"].values, float)[ok][:, None],
               "day": np.asarray(sel["day"].values, float)[ok][:, None]}
    for factor in ANCOVA_FACTORS:
        columns[factor] = _effects(np.asarray(sel[factor].values).astype(str)[ok])
    design = np.column_stack([np.ones(y.size), *columns.values()])
    if y.size <= design.shape[1] or np.linalg.matrix_rank(design) < design.shape[1]:
        raise InsufficientDataError(
            f"day_trend(method='ancova') needs more trials than parameters and covariates "
            f"that vary; got {y.size} trials for {design.shape[1]} parameters.")

    def sse(X: np.ndarray) -> tuple[float, np.ndarray]:
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ coef
        return float(resid @ resid), coef

    full, coef = sse(design)
    df_error = y.size - design.shape[1]
    mse = full / df_error
    terms, start = {}, 1
    for name, block in columns.items():
        width = block.shape[1]
        reduced, _ = sse(np.delete(design, np.s_[start:start + width], axis=1))
        F = ((reduced - full) / width) / mse if width else np.nan
        terms[name] = (float(F), width, float(stats.f.sf(F, width, df_error)) if width
                       else np.nan)
        if name == "day":
            day_col = start
        start += width
    cov = mse * np.linalg.inv(design.T @ design)
    slope = float(coef[day_col])
    se = float(np.sqrt(cov[day_col, day_col]))
    half = stats.t.ppf(1 - (1 - confidence) / 2, df_error) * se
    mouse = np.asarray(sel["mouse"].values).astype(str)[ok]
    return {"slope": slope, "ci_low": slope - half, "ci_high": slope + half,
            "pvalue": terms["day"][2], "n_mice": int(np.unique(mouse).size),
            "terms": terms, "df_error": df_error, "n_trials": int(y.size),
            "x": columns["day"][:, 0], "y": y,
            "n_sessions": int(np.unique(np.asarray(sel["session"].values)[ok]).size
                              if "session" in sel.coords else 0)}


def day_trend(per_session: xr.DataArray, *, method: str = "two_stage",
              phase: str | None = "overtraining", n_boot: int = 2000,
              n_permutations: int = 2000, confidence: float = 0.95, power: float = 0.8,
              seed: int = 0) -> xr.Dataset:
    """Slope of a per-session measure against day, with a CI and a p-value about mice.

    Parameters
    ----------
    per_session : DataArray with dim ``session``
        E.g. ``heldout_margin(tree)["heldout_margin"]``; needs ``day`` and
        ``mouse`` coordinates (and ``phase`` when ``phase`` is given). NaN
        sessions are left out (``n_sessions`` counts the rest).
    method : {"two_stage", "sessions", "ancova"}, default "two_stage"
        ``"two_stage"``: an OLS slope per mouse, then a one-sample t-test of
        the slopes across mice (df = M − 1); the CI is mean ± t·SD/√M.
        Mice count equally whatever their number of sessions. ``"sessions"``:
        one OLS slope over all sessions pooled, a percentile bootstrap over
        sessions and a permutation test of day labels — inference about these
        sessions, anti-conservative about mice when mice differ (false
        positives 0.21 at α = 0.05 in the simulation of the module notes).
        ``"ancova"``: the original study's ANCOVA (MATLAB ``anovan``) of a
        *per-trial* outcome — a 1-D DataArray with trial coords ``trial``
        (index in its session) and ``day`` as continuous covariates and
        ``mouse`` and ``rewarded`` as factors, e.g. ``identity_correct`` of
        ``decode(tree, protocol="bernerslee2023")``; ``slope`` is the day
        coefficient and ``pvalue`` its F-test, with every term's F-test in
        ``term_F``, ``term_df`` and ``term_pvalue`` (dim ``term``). It gives
        every mouse one common day slope, ignoring slope differences between
        mice, and treats trials as independent: its inference is about these
        trials, not about mice. The default, ``"two_stage"``, is the
        hierarchical (summary-statistics) analysis and the one to report.
    phase : str or None, default "overtraining"
        Use only sessions of this phase; None uses all.
    n_boot, n_permutations : int, default 2000
        Bootstrap resamples and day-label permutations (``"sessions"`` only).
    confidence : float, default 0.95
    power : float, default 0.8
        For ``detectable_slope`` (``"two_stage"``).
    seed : int, default 0
        Seeds the bootstrap and permutations.

    Returns
    -------
    Dataset
        Scalars ``slope`` (units of the measure per day), ``ci_low``,
        ``ci_high``, ``pvalue`` (two-sided), ``spearman_rho`` (sessions
        pooled; NaN for a constant measure), ``n_sessions``, ``n_mice`` (the
        test's n for ``"two_stage"``), and for ``"two_stage"`` also
        ``mouse_slope`` (dim ``mouse``), ``slope_sd`` (SD of the per-mouse
        slopes) and ``detectable_slope`` (the mean slope this many mice would
        detect with ``power``; with 4 mice ≈ 2.1 × ``slope_sd``, so a
        non-significant trend is not evidence of a plateau). Parameters in
        ``attrs``.

    Raises
    ------
    InsufficientDataError
        Fewer than 3 finite sessions on 2 days, or (``"two_stage"``) fewer
        than 2 mice with sessions on 2 days.
    ParameterError
        For an unknown ``method`` or a value out of range.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> days = np.tile(np.arange(10, 16), 3)
    >>> y = xr.DataArray(0.1 * days + np.repeat([0.0, 1.0, 2.0], 6), dims="session",
    ...                  coords={"day": ("session", days),
    ...                          "mouse": ("session", np.repeat(["a", "b", "c"], 6))})
    >>> trend = day_trend(y, phase=None)
    >>> round(float(trend["slope"]), 3), int(trend["n_mice"])
    (0.1, 3)

    The original study's ANCOVA takes per-trial outcomes:

    >>> rng = np.random.default_rng(0)
    >>> n = 400
    >>> day = rng.integers(10, 16, n)
    >>> trials = xr.DataArray(0.02 * day + rng.normal(0, 0.1, n), dims="decoded", coords={
    ...     "day": ("decoded", day), "trial": ("decoded", rng.integers(0, 150, n)),
    ...     "mouse": ("decoded", rng.choice(["a", "b"], n)),
    ...     "rewarded": ("decoded", rng.random(n) < 0.5)})
    >>> ancova = day_trend(trials, method="ancova", phase=None)
    >>> ancova["term"].values.tolist(), bool(ancova["pvalue"] < 0.001)
    (['trial', 'day', 'mouse', 'rewarded'], True)
    """
    check_params({"method": method, "phase": phase, "n_boot": n_boot,
                  "n_permutations": n_permutations, "confidence": confidence, "power": power},
                 _CONSTRAINTS, where="day_trend")
    if method == "ancova":
        return _ancova_result(per_session, phase, confidence)
    x, y, mouse = _select(per_session, phase)
    if y.size < 3 or np.unique(x).size < 2:
        raise InsufficientDataError(f"day_trend needs at least 3 sessions on 2 days with "
                                    f"finite values; got {y.size}.")
    if method == "two_stage":
        res = _two_stage(x, y, mouse, confidence, power)
    else:
        res = _session_level(x, y, mouse, confidence, n_boot, n_permutations, seed)
    # Spearman's ρ is undefined for a constant measure (e.g. every session
    # separable): NaN, stated in attrs, rather than SciPy's warning.
    constant = np.ptp(y) == 0
    data = {k: res[k] for k in ("slope", "ci_low", "ci_high", "pvalue")}
    data.update(spearman_rho=np.nan if constant else float(stats.spearmanr(x, y).statistic),
                n_sessions=int(y.size), n_mice=res["n_mice"])
    out = xr.Dataset(data)
    if method == "two_stage":
        mice, slopes = res["mouse_slope"]
        out["mouse_slope"] = xr.DataArray(slopes, dims="mouse", coords={"mouse": mice})
        out["slope_sd"] = res["slope_sd"]
        out["detectable_slope"] = res["detectable_slope"]
    out.attrs = {"method": method, "unit": "mice" if method == "two_stage" else "sessions",
                 "phase": phase or "all", "confidence": confidence, "seed": seed,
                 "measure": str(per_session.name),
                 "note": "constant measure: Spearman rho undefined" if constant else "",
                 "neurolearn_version": __version__}
    if method == "two_stage":
        out.attrs.update(test="one-sample t-test of per-mouse OLS slopes, df = n_mice - 1",
                         power=power)
    else:
        out.attrs.update(test="pooled OLS slope; percentile bootstrap over sessions; "
                              "permutation of day labels", n_boot=n_boot,
                         n_permutations=n_permutations)
    return out


def _ancova_result(per_trial: xr.DataArray, phase: str | None, confidence: float
                   ) -> xr.Dataset:
    res = _ancova(per_trial, phase, confidence)
    names = list(res["terms"])
    constant = np.ptp(res["y"]) == 0
    out = xr.Dataset(
        {k: res[k] for k in ("slope", "ci_low", "ci_high", "pvalue")}
        | {"spearman_rho": np.nan if constant else
           float(stats.spearmanr(res["x"], res["y"]).statistic),
           "n_sessions": res["n_sessions"], "n_mice": res["n_mice"],
           "n_trials": res["n_trials"],
           "term_F": ("term", [res["terms"][t][0] for t in names]),
           "term_df": ("term", [res["terms"][t][1] for t in names]),
           "term_pvalue": ("term", [res["terms"][t][2] for t in names])},
        coords={"term": names})
    out.attrs = {"method": "ancova", "unit": "trials", "phase": phase or "all",
                 "confidence": confidence, "measure": str(per_trial.name),
                 "df_error": res["df_error"],
                 "test": "OLS ANCOVA, outcome ~ trial + day + mouse + rewarded (effects "
                         "coding); F-test of each term against the model without it",
                 "note": "one common day slope for every mouse: slope differences between "
                         "mice are ignored; the default two_stage method is the "
                         "hierarchical one",
                 "neurolearn_version": __version__}
    return out
