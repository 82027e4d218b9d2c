"""Behaviour per session and per day: fraction correct, days to criterion."""

from __future__ import annotations

import numpy as np
import xarray as xr

from neurolearn._version import __version__
from neurolearn.errors import ParameterError, SchemaError
from neurolearn.schema import iter_sessions, session_table, validate

__all__ = ["performance", "days_to_criterion"]


def performance(data: xr.DataTree | xr.Dataset, *, include_heldout: bool = False) -> xr.Dataset:
    """Fraction of correct choices per session, overall and per class.

    Parameters
    ----------
    data : DataTree or Dataset
        Sessions with a ``correct`` coordinate (1, 0 or NaN for no outcome).
    include_heldout : bool, default False
        Count held-out trials (probes, repeats), which are often unrewarded.

    Returns
    -------
    Dataset with dim ``session``
        ``fraction_correct``, ``fraction_correct_target`` (label 1),
        ``fraction_correct_nontarget`` (label 0), ``n_trials`` (trials with an
        outcome) and ``n_no_outcome`` (trials left out because ``correct`` is
        NaN); coordinates ``mouse``, ``day``, ``phase``.

    Raises
    ------
    SchemaError
        If a session has no ``correct`` coordinate.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> perf = performance(tree)
    >>> perf["fraction_correct"].dims
    ('session',)
    >>> bool(perf["fraction_correct"].where(perf["phase"] == "overtraining", drop=True).min() > 0.8)
    True
    """
    validate(data, require_rates=False)
    rows = []
    for path, ds in iter_sessions(data):
        if "correct" not in ds.coords:
            raise SchemaError(f"{path}: behaviour needs the `correct` coordinate on 'trial'.")
        correct = np.asarray(ds["correct"].values, dtype=float)
        label = np.asarray(ds["label"].values)
        use = np.ones(correct.size, bool)
        if not include_heldout and "heldout" in ds.coords:
            use &= ~np.asarray(ds["heldout"].values, dtype=bool)
        known = use & ~np.isnan(correct)

        def frac(mask: np.ndarray, correct: np.ndarray = correct) -> float:
            return float(correct[mask].mean()) if mask.any() else np.nan

        rows.append((frac(known), frac(known & (label == 1)), frac(known & (label == 0)),
                     int(known.sum()), int((use & np.isnan(correct)).sum())))
    table = session_table(data)
    values = np.array(rows, dtype=float).T
    out = xr.Dataset(
        {
            "fraction_correct": ("session", values[0]),
            "fraction_correct_target": ("session", values[1]),
            "fraction_correct_nontarget": ("session", values[2]),
            "n_trials": ("session", values[3].astype(np.int64)),
            "n_no_outcome": ("session", values[4].astype(np.int64)),
        },
        coords={k: table[k] for k in ("session", "mouse", "day", "phase")},
        attrs={"include_heldout": int(include_heldout), "neurolearn_version": __version__},
    )
    out["fraction_correct"].attrs["long_name"] = "fraction correct"
    return out


def days_to_criterion(fraction_correct: xr.DataArray, *, criterion: float = 0.8,
                      n_consecutive: int = 2) -> xr.DataArray:
    """First day from which a mouse stays at or above ``criterion`` for ``n_consecutive`` days.

    Parameters
    ----------
    fraction_correct : DataArray with dim ``session``
        E.g. ``performance(tree)["fraction_correct"]``; needs ``mouse`` and
        ``day`` coordinates. Days with several sessions are averaged.
    criterion : float, default 0.8
        Fraction correct to reach.
    n_consecutive : int, default 2
        Days in a row that must reach it.

    Returns
    -------
    DataArray with dim ``mouse``
        The first day of the first qualifying run; NaN if never reached.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> days = days_to_criterion(performance(tree)["fraction_correct"], criterion=0.8)
    >>> days.dims, days.values.tolist()
    (('mouse',), [2.0, 2.0])
    """
    if not 0 < criterion <= 1 or n_consecutive < 1:
        raise ParameterError("criterion must be in (0, 1] and n_consecutive >= 1.")
    mice = np.unique(fraction_correct["mouse"].values.astype(str))
    first = []
    for mouse in mice:
        sel = fraction_correct.where(fraction_correct["mouse"] == mouse, drop=True)
        by_day = sel.groupby("day").mean()
        days, vals = by_day["day"].values, by_day.values
        hit = np.nan
        for i in range(len(days) - n_consecutive + 1):
            window = days[i:i + n_consecutive]
            contiguous = np.all(np.diff(window) == 1)
            if contiguous and np.all(vals[i:i + n_consecutive] >= criterion):
                hit = float(days[i])
                break
        first.append(hit)
    return xr.DataArray(np.array(first), dims="mouse", coords={"mouse": mice},
                        name="days_to_criterion",
                        attrs={"criterion": criterion, "n_consecutive": n_consecutive})
