"""Aggregate per-session results across sessions and mice, day by day."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from neurolearn.errors import SchemaError, warn_degenerate
from neurolearn.params import Interval, Options, check_params

__all__ = ["across_mice", "phase_summary", "normalize_per_mouse", "stimulus_flips",
           "SUMMARY_PARAMETERS"]

#: The summaries' parameters, declared once (see :mod:`neurolearn.params`).
SUMMARY_PARAMETERS = {
    "by": [Options(("first_overtraining", "mean"))],
    "n_days": [Interval("int", 1, None)],
    "threshold": [Interval("real", 0, 1)],
}


def across_mice(per_session: xr.DataArray) -> xr.Dataset:
    """Mean ± standard error across mice for each day.

    Sessions of the same mouse and day are averaged first, so each mouse
    counts once per day; the SE is the SD across mice (ddof=1) / √n_mice.

    Parameters
    ----------
    per_session : DataArray with dim ``session``
        Coordinates ``mouse``, ``day`` and ``phase`` on ``session`` (as
        returned by every per-session analysis). Further dims are kept.
        NaN sessions are left out of that day's mean.

    Returns
    -------
    Dataset with dim ``day``
        ``mean``, ``sem`` and ``n_mice`` (mice with a value that day), plus a
        ``phase`` coordinate per day (the most common phase that day).

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> from neurolearn import behavior
    >>> by_day = across_mice(behavior.performance(tree)["fraction_correct"])
    >>> by_day["mean"].dims, by_day["n_mice"].values.tolist()
    (('day',), [2, 2, 2, 2])
    """
    for name in ("mouse", "day", "phase"):
        if name not in per_session.coords or per_session[name].dims != ("session",):
            raise SchemaError(f"per-session results need coordinate `{name}` on dim "
                              "'session'; use neurolearn.schema.stack_sessions.")
    # Two grouped means as sums over group codes along the session axis (not
    # xarray's groupby, which without flox makes a DataArray per group: 0.13 s
    # for the 1,040 mouse-days of a 40-mouse study, per measure).
    data = per_session.drop_vars([c for c in per_session.coords if c != "session"
                                  and "session" in per_session[c].dims])
    axis = data.get_axis_num("session")
    values = np.moveaxis(np.asarray(data.values, dtype=float), axis, 0)
    mouse = np.asarray(per_session["mouse"].values).astype(str)
    days = np.asarray(per_session["day"].values)
    _, first, mouse_day = np.unique(np.char.add(np.char.add(mouse, "\x00"), days.astype(str)),
                                    return_index=True, return_inverse=True)
    per_mouse_day, _ = _nan_group_means(values, mouse_day.reshape(-1), first.size)
    day_values, day_of = np.unique(days[first], return_inverse=True)
    day_of = day_of.reshape(-1)
    mean_values, counts = _nan_group_means(per_mouse_day, day_of, day_values.size)
    deviation = per_mouse_day - mean_values[day_of]
    squares = _group_sums(np.where(np.isnan(deviation), 0.0, deviation ** 2), day_of,
                          day_values.size)
    with np.errstate(invalid="ignore", divide="ignore"):  # (fewer than two mice: NaN)
        sd = np.sqrt(squares / (counts - 1))
        sem_values = sd / np.sqrt(np.where(counts > 0, counts, np.nan))

    def by_day(array: np.ndarray) -> xr.DataArray:
        dims = list(data.dims)
        dims[axis] = "day"
        coords = {name: c for name, c in data.coords.items() if "session" not in c.dims}
        return xr.DataArray(np.moveaxis(array, 0, axis), dims=dims,
                            coords={**coords, "day": day_values}, attrs=dict(per_session.attrs))

    mean, sem, n = by_day(mean_values), by_day(sem_values), by_day(counts)
    phases = []
    for d in mean["day"].values:
        vals, how_many = np.unique(per_session["phase"].values[per_session["day"].values == d],
                                   return_counts=True)
        phases.append(vals[np.argmax(how_many)])
    out = xr.Dataset({"mean": mean, "sem": sem, "n_mice": n})
    out = out.assign_coords(phase=("day", np.array(phases, dtype=object)))
    out.attrs = {"aggregation": "mean over sessions per mouse-day, then mean ± SE across mice",
                 **{k: v for k, v in per_session.attrs.items()}}
    if per_session.name is not None:
        out.attrs["variable"] = str(per_session.name)
    return out


def _group_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sums of the rows of ``values`` (n, ...) by group code (n,): (n_groups, ...)."""
    sums = np.zeros((n_groups, *values.shape[1:]), dtype=values.dtype)
    np.add.at(sums, codes, values)
    return sums


def _nan_group_means(values: np.ndarray, codes: np.ndarray, n_groups: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """NaN-skipping means of the rows of ``values`` by group code, and the
    number of non-NaN rows each (a group with none: NaN)."""
    present = ~np.isnan(values)
    counts = _group_sums(present.astype(np.int64), codes, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = _group_sums(np.where(present, values, 0.0), codes, n_groups) / counts
    return means, counts


def phase_summary(per_session: xr.DataArray) -> xr.Dataset:
    """Mean ± standard error across mice for each phase (training, overtraining).

    Each mouse's sessions within a phase are averaged first, so a mouse counts
    once per phase.

    Parameters
    ----------
    per_session : DataArray with dim ``session``
        With ``mouse`` and ``phase`` coordinates on ``session``.

    Returns
    -------
    Dataset with dim ``phase``
        ``mean``, ``sem`` (SD across mice, ddof=1, / √n) and ``n_mice``.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> from neurolearn import behavior
    >>> table = phase_summary(behavior.performance(tree)["fraction_correct"])
    >>> sorted(table["phase"].values.tolist())
    ['overtraining', 'training']
    """
    for name in ("mouse", "phase"):
        if name not in per_session.coords:
            raise SchemaError(f"per-session results need coordinate `{name}` on dim 'session'.")
    keys = xr.DataArray([f"{m}\x00{p}" for m, p in zip(
        per_session["mouse"].values, per_session["phase"].values, strict=True)], dims="session")
    data = per_session.drop_vars([c for c in per_session.coords if c != "session"
                                  and "session" in per_session[c].dims]).assign_coords(
        mouse_phase=keys)
    per_mouse = data.groupby("mouse_phase").mean("session", skipna=True)
    phase = [k.split("\x00")[1] for k in per_mouse["mouse_phase"].values]
    per_mouse = per_mouse.assign_coords(phase=("mouse_phase", np.array(phase, dtype=object)))
    grouped = per_mouse.groupby("phase")
    n = per_mouse.notnull().groupby("phase").sum("mouse_phase")
    out = xr.Dataset({"mean": grouped.mean("mouse_phase", skipna=True),
                      "sem": grouped.std("mouse_phase", ddof=1, skipna=True)
                      / np.sqrt(n.where(n > 0)),
                      "n_mice": n})
    out.attrs = {"aggregation": "mean over sessions per mouse and phase, then mean ± SE "
                                "across mice"}
    return out


def normalize_per_mouse(per_session: xr.DataArray, *, by: str = "first_overtraining"
                        ) -> xr.DataArray:
    """Divide each mouse's values by its reference value.

    Parameters
    ----------
    per_session : DataArray with dim ``session``
        With ``mouse``, ``day`` and ``phase`` coordinates.
    by : {"first_overtraining", "mean"}
        The mouse's value on its first overtraining day (mean over that day's
        sessions), or its mean over all sessions.

    Returns
    -------
    DataArray with dim ``session``
        The values divided by their mouse's reference; NaN for a mouse whose
        reference is 0 or NaN (with a ``NeurolearnWarning`` naming it, and the
        mouse and reason in ``attrs["degenerate"]``, a JSON object; "{}" when
        every mouse had a reference).

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> from neurolearn.separation import fisher_separation
    >>> J = normalize_per_mouse(fisher_separation(tree))
    >>> first = (J["phase"] == "overtraining") & (J["day"] == 2)
    >>> J.where(first, drop=True).values.tolist()  # each mouse's reference day is 1
    [1.0, 1.0]
    """
    check_params({"by": by}, SUMMARY_PARAMETERS, where="normalize_per_mouse")
    out = per_session.copy()
    degenerate: dict[str, str] = {}
    for mouse in np.unique(per_session["mouse"].values.astype(str)):
        sel = per_session["mouse"].values.astype(str) == mouse
        values = per_session.values[sel]
        if by == "mean":
            ref = np.nanmean(values)
        else:
            over = per_session["phase"].values[sel] == "overtraining"
            if not over.any():
                raise SchemaError(f"mouse {mouse} has no overtraining session to normalise by.")
            days = per_session["day"].values[sel]
            ref = np.nanmean(values[over & (days == days[over].min())])
        if not np.isfinite(ref) or ref == 0:
            degenerate[mouse] = f"its reference value ({by}) is {ref}"
            warn_degenerate(f"normalize_per_mouse, mouse {mouse}", degenerate[mouse])
            out.values[sel] = np.nan
            continue
        out.values[sel] = values / ref
    out.attrs = {**per_session.attrs, "normalized_by": by,
                 "degenerate": json.dumps(degenerate)}
    return out


def stimulus_flips(stimulus_accuracy: xr.DataArray, *, n_days: int = 3,
                   threshold: float = 0.5) -> xr.Dataset:
    """Stimuli decoded wrongly on a mouse's first days and correctly on its last.

    Parameters
    ----------
    stimulus_accuracy : DataArray with dims (session, stimulus)
        E.g. ``decode(tree)["stimulus_accuracy"]``; needs ``mouse`` and
        ``day`` coordinates on ``session``.
    n_days : int, default 3
        Days (with data for that stimulus) averaged at each end.
    threshold : float, default 0.5
        Accuracy separating wrong from right.

    Returns
    -------
    Dataset with dims (mouse, stimulus)
        ``early`` and ``late`` mean accuracy, ``flipped`` (early < threshold ≤
        late) and ``flip_day``: the first day from which accuracy stays at or
        above ``threshold`` (NaN unless flipped).

    Examples
    --------
    >>> import xarray as xr
    >>> acc = xr.DataArray([[0.2, 0.9], [0.3, 0.9], [0.8, 0.9], [0.9, 0.8]],
    ...                    dims=("session", "stimulus"),
    ...                    coords={"stimulus": ["odour1", "odour2"],
    ...                            "mouse": ("session", ["A"] * 4),
    ...                            "day": ("session", [1, 2, 3, 4])})
    >>> flips = stimulus_flips(acc, n_days=2)
    >>> flips["flipped"].values.tolist(), flips["flip_day"].values.tolist()
    ([[True, False]], [[3.0, nan]])
    """
    check_params({"n_days": n_days, "threshold": threshold}, SUMMARY_PARAMETERS,
                 where="stimulus_flips")
    mice = np.unique(stimulus_accuracy["mouse"].values.astype(str))
    stimuli = stimulus_accuracy["stimulus"].values
    early = np.full((mice.size, stimuli.size), np.nan)
    late, flip_day = early.copy(), early.copy()
    for i, mouse in enumerate(mice):
        sel = stimulus_accuracy.where(stimulus_accuracy["mouse"] == mouse, drop=True)
        by_day = sel.groupby("day").mean()
        for j in range(stimuli.size):
            series = by_day.isel(stimulus=j)
            days, acc = series["day"].values, series.values
            ok = ~np.isnan(acc)
            days, acc = days[ok], acc[ok]
            if acc.size < 2:
                continue
            k = min(n_days, acc.size // 2)
            early[i, j], late[i, j] = acc[:k].mean(), acc[-k:].mean()
            if early[i, j] < threshold <= late[i, j]:
                below = np.flatnonzero(acc < threshold)
                flip_day[i, j] = days[below[-1] + 1] if below[-1] + 1 < days.size else np.nan
    flipped = (early < threshold) & (late >= threshold)
    return xr.Dataset(
        {"early": (("mouse", "stimulus"), early), "late": (("mouse", "stimulus"), late),
         "flipped": (("mouse", "stimulus"), flipped),
         "flip_day": (("mouse", "stimulus"), flip_day)},
        coords={"mouse": mice, "stimulus": stimuli},
        attrs={"n_days": n_days, "threshold": threshold})
