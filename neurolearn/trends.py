"""Is a per-session measure still changing across days? Slopes with uncertainty.

The original study showed curves; it did not test whether post-plateau
change was different from zero. :func:`day_trend` fits the least-squares
slope of a per-session measure against day, with a bootstrap confidence
interval over sessions and a permutation test over day labels.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

from neurolearn._version import __version__
from neurolearn.backend import make_rng
from neurolearn.errors import InsufficientDataError, SchemaError

__all__ = ["day_trend"]


def _slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slope of each row of y on each row of x (rows are resamples)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denom = np.sum(xc * xc, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(xc * yc, axis=-1) / denom


def day_trend(per_session: xr.DataArray, *, phase: str | None = "overtraining",
              n_boot: int = 2000, n_permutations: int = 2000, confidence: float = 0.95,
              seed: int = 0) -> xr.Dataset:
    """Slope of a per-session measure against day, with bootstrap CI and permutation p.

    Parameters
    ----------
    per_session : DataArray with dim ``session``
        E.g. ``heldout_margin(tree)["heldout_margin"]``; needs ``day`` (and
        ``phase`` when ``phase`` is given) coordinates. NaN sessions are left
        out (and counted in ``n_sessions``).
    phase : str or None, default "overtraining"
        Use only sessions of this phase; None uses all.
    n_boot : int, default 2000
        Bootstrap resamples of sessions (with replacement) for the percentile
        CI of the slope.
    n_permutations : int, default 2000
        Shuffles of day labels among sessions for the two-sided p-value
        (k + 1)/(n + 1) of |slope|.
    confidence : float, default 0.95
    seed : int, default 0

    Returns
    -------
    Dataset (scalars)
        ``slope`` (units of the measure per day), ``ci_low``, ``ci_high``,
        ``pvalue``, ``spearman_rho``, ``n_sessions``; parameters in attrs.
    """
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
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    if y.size < 3 or np.unique(x).size < 2:
        raise InsufficientDataError(f"day_trend needs at least 3 sessions on 2 days with "
                                    f"finite values; got {y.size}.")
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
    # Spearman's ρ is undefined for a constant measure (e.g. every session
    # separable): NaN, stated in attrs, rather than SciPy's warning.
    constant = np.ptp(y) == 0
    rho = np.nan if constant else float(stats.spearmanr(x, y).statistic)
    return xr.Dataset(
        {"slope": slope, "ci_low": float(lo), "ci_high": float(hi), "pvalue": float(pvalue),
         "spearman_rho": rho, "n_sessions": int(y.size)},
        attrs={"phase": phase or "all", "n_boot": n_boot, "n_permutations": n_permutations,
               "confidence": confidence, "seed": seed, "measure": str(per_session.name),
               "note": "constant measure: Spearman rho undefined" if constant else "",
               "neurolearn_version": __version__})
