"""Spike counts to per-trial response rates, with the original study's rules as the default.

The default preset, ``"bernerslee2023"``, is the preprocessing of the original
analysis code of Berners-Lee et al. (2023) (``calculate_plot_PVcorr.m``), read
from that code:

1. (option, off) drop trials with a lick before the end of the response window;
2. response rate = spikes in [onset + 100 ms, onset + 600 ms) / 0.5 s, and
   pre-onset rate = spikes in the 500 ms before onset / 0.5 s. **No baseline is
   subtracted**: the pre-onset rate only enters the inclusion rule;
3. keep a unit when Σ_trials (pre-onset rate + response rate) > 5 (a sum of
   rates, in Hz);
4. then drop a unit when Σ_trials response rate < 5 (Hz);
5. z-score each unit within its session with the sample SD (ddof = 1);
6. skip a session with fewer than 4 units.

``"baseline_subtracted"`` is neurolearn's earlier default (response minus
pre-onset baseline, spike-count thresholds, population SD), kept by name.
:func:`preprocess_session` and :func:`preprocess` take a preset and any
parameter of it as an override, and record every dropped trial, unit and
session (in ``attrs`` as JSON, and in the ``neurolearn`` log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import array_api_compat.numpy as xnp
import numpy as np
import xarray as xr

from neurolearn._version import __version__
from neurolearn.errors import InsufficientDataError, ParameterError, SchemaError
from neurolearn.schema import iter_sessions, session_info, to_tree, validate_session
from neurolearn.zscore import standardize

__all__ = [
    "PRESETS",
    "DEFAULT_PRESET",
    "STUDY_DEFAULTS",
    "resolve_preset",
    "check_window",
    "window_counts",
    "window_rates",
    "zscore_units",
    "preprocess_session",
    "filter_sessions",
    "gather_preprocessed",
    "preprocess",
]

logger = logging.getLogger("neurolearn")

#: Named preprocessing presets; every preset sets every parameter.
#:
#: ``response_window``, ``baseline_window``
#:     (start, stop) in s from stimulus onset.
#: ``subtract_baseline``
#:     Subtract each trial's pre-onset rate from its response rate.
#: ``min_inclusion_rate``
#:     Keep a unit only when Σ_trials (baseline rate + response rate) exceeds
#:     this (Hz, strictly greater); None: off.
#: ``min_response_rate``
#:     Drop a unit when Σ_trials response rate is below this (Hz); None: off.
#: ``min_total_spikes``
#:     Drop a unit with fewer spikes over its whole recording; None: off.
#: ``min_response_spikes``
#:     Drop a unit with fewer spikes summed over the response windows; None: off.
#: ``zscore``, ``zscore_ddof``
#:     Z-score each unit over the session's trials, with SD(ddof).
#: ``min_units``
#:     Skip a session with fewer units left.
#: ``exclude_lick_trials``
#:     Drop trials whose first lick (``first_lick_time``, s) comes before the
#:     end of the response window.
#: ``exclude_units``
#:     Unit ids to drop before the rules above (e.g. lick-responsive units,
#:     which the original classified in a separate selectivity analysis).
PRESETS: dict[str, dict[str, Any]] = {
    "bernerslee2023": {
        "response_window": (0.1, 0.6),
        "baseline_window": (-0.5, 0.0),
        "subtract_baseline": False,
        "min_inclusion_rate": 5.0,
        "min_response_rate": 5.0,
        "min_total_spikes": None,
        "min_response_spikes": None,
        "zscore": True,
        "zscore_ddof": 1,
        "min_units": 4,
        "exclude_lick_trials": False,
        "exclude_units": (),
    },
    "baseline_subtracted": {
        "response_window": (0.1, 0.6),
        "baseline_window": (-0.5, 0.0),
        "subtract_baseline": True,
        "min_inclusion_rate": None,
        "min_response_rate": None,
        "min_total_spikes": 6,
        "min_response_spikes": 5,
        "zscore": True,
        "zscore_ddof": 0,
        "min_units": 4,
        "exclude_lick_trials": False,
        "exclude_units": (),
    },
}

DEFAULT_PRESET = "bernerslee2023"

#: The default preset's parameters (the original study's preprocessing).
STUDY_DEFAULTS: dict[str, Any] = PRESETS[DEFAULT_PRESET]


def check_window(name: str, value: Any) -> tuple[float, float]:
    """``(start, stop)`` in s from onset as floats, checked: stop > start.

    Raises
    ------
    ParameterError
        Naming the parameter ``name`` when ``value`` is not two numbers in
        increasing order.

    Examples
    --------
    >>> check_window("response_window", [0.1, 0.6])
    (0.1, 0.6)
    """
    try:
        start, stop = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"`{name}` must be (start, stop) in s from onset; got "
                             f"{value!r}.") from exc
    if not stop > start:
        raise ParameterError(f"`{name}` must have stop > start; got {value!r}.")
    return start, stop


def resolve_preset(preset: str = DEFAULT_PRESET, **overrides: Any) -> dict[str, Any]:
    """The parameters of a preprocessing preset, with overrides applied and checked.

    Parameters
    ----------
    preset : str, default "bernerslee2023"
        A key of :data:`PRESETS`.
    **overrides
        Any parameter of the preset (see :data:`PRESETS`).

    Returns
    -------
    dict
        Every parameter, plus ``"preset"``.

    Raises
    ------
    ParameterError
        For an unknown preset or parameter, or a value out of range.

    Examples
    --------
    >>> resolve_preset("bernerslee2023", zscore=False)["zscore"]
    False
    """
    if preset not in PRESETS:
        raise ParameterError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}.")
    params = dict(PRESETS[preset])
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ParameterError(f"unknown preprocessing parameter(s) {unknown}; allowed: "
                             f"{sorted(params)}.")
    params.update(overrides)
    params["response_window"] = check_window("response_window", params["response_window"])
    if params["baseline_window"] is not None:
        params["baseline_window"] = check_window("baseline_window", params["baseline_window"])
    needs_baseline = params["subtract_baseline"] or params["min_inclusion_rate"] is not None
    if needs_baseline and params["baseline_window"] is None:
        raise ParameterError("`baseline_window` is None, but subtract_baseline or "
                             "min_inclusion_rate needs it; give (start, stop) in s.")
    for key in ("min_inclusion_rate", "min_response_rate", "min_total_spikes",
                "min_response_spikes"):
        value = params[key]
        if value is not None and (not np.isscalar(value) or not float(value) >= 0):
            raise ParameterError(f"`{key}` must be None or a number >= 0; got {value!r}.")
    if params["zscore_ddof"] not in (0, 1):
        raise ParameterError(f"`zscore_ddof` must be 0 or 1; got {params['zscore_ddof']!r}.")
    if int(params["min_units"]) < 1:
        raise ParameterError(f"`min_units` must be >= 1; got {params['min_units']!r}.")
    if isinstance(params["exclude_units"], str) or not isinstance(
            params["exclude_units"], Collection):
        raise ParameterError("`exclude_units` must be a collection of unit ids; got "
                             f"{params['exclude_units']!r}.")
    params["exclude_units"] = tuple(str(u) for u in params["exclude_units"])
    return {"preset": preset, **params}


def _bin_mask(time: np.ndarray, bin_size: float, window: tuple[float, float]) -> np.ndarray:
    start, stop = (float(w) for w in window)
    if not stop > start:
        raise ParameterError(f"window must be (start, stop) with stop > start; got {window}.")
    # Bins are [t, t + bin_size); tolerance absorbs float error in the edges.
    tol = 1e-6 * bin_size
    inside = (time >= start - tol) & (time + bin_size <= stop + tol)
    covered = inside.sum() * bin_size
    if not np.isclose(covered, stop - start, rtol=0, atol=tol * 10):
        raise SchemaError(
            f"window {window} s is not a whole number of {bin_size:g} s bins within the "
            f"`time` coordinate ({time[0]:g} to {time[-1] + bin_size:g} s); choose edges on "
            "bin boundaries or re-bin the data.")
    return inside


def window_counts(binned: xr.DataArray, window: tuple[float, float]) -> xr.DataArray:
    """Spike count of each unit on each trial within a time window.

    Parameters
    ----------
    binned : DataArray with dims (trial, neuron, time)
        Spike counts; ``time`` holds bin left edges (s from onset) and
        ``attrs["bin_size"]`` the bin width (s).
    window : (float, float)
        Start and stop in seconds from stimulus onset; both must fall on bin
        edges.

    Returns
    -------
    DataArray with dims (trial, neuron)
        Spike counts (float).

    Raises
    ------
    SchemaError
        If ``bin_size`` is missing or the window does not fall on bin edges.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> ds = tree["A/A-d04"].to_dataset()
    >>> counts = window_counts(ds["binned"], (0.0, 2.0))
    >>> counts.dims, bool((counts >= 0).all())
    (('trial', 'neuron'), True)
    """
    if "bin_size" not in binned.attrs:
        raise SchemaError("`binned.attrs['bin_size']` (bin width in s) is missing.")
    mask = _bin_mask(np.asarray(binned["time"].values, dtype=float),
                     float(binned.attrs["bin_size"]), window)
    return binned.isel(time=mask).sum("time", dtype=float)


def window_rates(binned: xr.DataArray, window: tuple[float, float]) -> xr.DataArray:
    """Firing rate (spikes/s) of each unit on each trial within a time window.

    Equal to :func:`window_counts` divided by the window length in seconds.

    Parameters
    ----------
    binned : DataArray with dims (trial, neuron, time)
        Spike counts (see :func:`window_counts`).
    window : (float, float)
        Start and stop in s from onset.

    Returns
    -------
    DataArray with dims (trial, neuron)
        Rates in Hz.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> ds = tree["A/A-d04"].to_dataset()
    >>> rates = window_rates(ds["binned"], (0.0, 2.0))
    >>> bool((rates * 2.0 == window_counts(ds["binned"], (0.0, 2.0))).all())  # Hz over 2 s
    True
    """
    rates = window_counts(binned, window) / (float(window[1]) - float(window[0]))
    rates.attrs["units"] = "Hz"
    return rates


def zscore_units(rates: xr.DataArray, *, ddof: int = 1) -> xr.DataArray:
    """Z-score each unit over trials: (x − mean) / SD with ``ddof``.

    Parameters
    ----------
    rates : DataArray with dims (trial, neuron)
        Response rates (Hz).
    ddof : {0, 1}, default 1
        1: sample SD (the original study's ``zscore(ns, [], 1)``); 0:
        population SD.

    Returns
    -------
    DataArray with dims (trial, neuron)
        Unit-free z-scores, same coords.

    Raises
    ------
    InsufficientDataError
        For a unit with a constant response: drop it first (see
        :func:`preprocess_session`, which does so and records it).

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> ds = tree["A/A-d04"].to_dataset()
    >>> z = zscore_units(ds["rates"])
    >>> bool(abs(z.mean("trial")).max() < 1e-12)
    True
    >>> bool(abs(z.std("trial", ddof=1) - 1).max() < 1e-12)  # ddof = 1 by default
    True
    """
    values = np.asarray(rates.transpose("trial", "neuron").values, dtype=float)
    Z, *_, constant = standardize(xnp, values[None], np.ones((1, values.shape[0])), ddof=ddof)
    constant = constant[0, 0]
    if constant.any():
        bad = (rates["unit_id"].values[constant] if "unit_id" in rates.coords
               else np.flatnonzero(constant))
        raise InsufficientDataError(f"cannot z-score units with constant response: "
                                    f"{list(bad)}.")
    out = rates.transpose("trial", "neuron").copy(data=Z[0, 0])
    out.attrs = {**rates.attrs, "units": "z-score", "zscore_ddof": ddof}
    return out


def _lick_trials(ds: xr.Dataset, params: dict[str, Any]) -> np.ndarray:
    """Boolean mask of trials to drop for an early lick (first lick before the window ends)."""
    if not params["exclude_lick_trials"]:
        return np.zeros(ds.sizes["trial"], bool)
    if "first_lick_time" not in ds.coords:
        raise SchemaError(f"{session_info(ds)['session']}: exclude_lick_trials needs the trial "
                          "coordinate `first_lick_time` (s from onset; NaN for no lick).")
    lick = np.asarray(ds["first_lick_time"].values, dtype=float)
    with np.errstate(invalid="ignore"):
        return lick < params["response_window"][1]


def _unit_reasons(ds: xr.Dataset, counts: np.ndarray, rates: np.ndarray,
                  baseline: np.ndarray | None, params: dict[str, Any]) -> list[str | None]:
    """Why each unit is dropped (None: kept), rules in the order the original applies them."""
    window = params["response_window"][1] - params["response_window"][0]
    unit_ids = np.asarray(ds["unit_id"].values).astype(str)
    if "total_spikes" in ds.data_vars:
        total = np.asarray(ds["total_spikes"].values, dtype=float)
    else:
        total = np.asarray(ds["binned"].sum(("trial", "time")).values, dtype=float)
    in_window = counts.sum(axis=0)
    response_sum = in_window / window
    inclusion_sum = response_sum + (baseline.sum(axis=0) if baseline is not None else 0.0)
    sd = rates.std(axis=0)
    excluded = set(params["exclude_units"])
    reasons: list[str | None] = []
    for i, unit in enumerate(unit_ids):
        if unit in excluded:
            reasons.append("listed in exclude_units")
        elif (params["min_inclusion_rate"] is not None
              and not inclusion_sum[i] > params["min_inclusion_rate"]):
            reasons.append(f"sum over trials of pre-onset + response rate is "
                           f"{inclusion_sum[i]:.4g} Hz (must exceed "
                           f"{params['min_inclusion_rate']:g} Hz)")
        elif (params["min_response_rate"] is not None
              and response_sum[i] < params["min_response_rate"]):
            reasons.append(f"sum over trials of response rate is {response_sum[i]:.4g} Hz "
                           f"(< {params['min_response_rate']:g} Hz)")
        elif params["min_total_spikes"] is not None and total[i] < params["min_total_spikes"]:
            reasons.append(f"{int(total[i])} spikes in total (< {params['min_total_spikes']})")
        elif (params["min_response_spikes"] is not None
              and in_window[i] < params["min_response_spikes"]):
            reasons.append(f"{int(in_window[i])} spikes in the response window "
                           f"(< {params['min_response_spikes']})")
        elif params["zscore"] and (rates.shape[0] < 2 or sd[i] == 0.0):
            reasons.append("constant response across trials (cannot z-score)")
        else:
            reasons.append(None)
    return reasons


def preprocess_session(ds: xr.Dataset, *, preset: str = DEFAULT_PRESET, **params: Any
                       ) -> xr.Dataset:
    """Turn one session's binned spike counts into per-trial response rates.

    Parameters
    ----------
    ds : Dataset
        A session with ``binned`` (trial, neuron, time) spike counts. An
        optional ``total_spikes`` (neuron) variable gives each unit's spike
        count over its whole recording (e.g. a full 17 s raster); otherwise the
        sum of ``binned`` is used. ``exclude_lick_trials`` needs a
        ``first_lick_time`` trial coordinate (s from onset).
    preset : str, default "bernerslee2023"
        The original study's rules (see the module docstring); or
        ``"baseline_subtracted"``. See :data:`PRESETS`.
    **params
        Overrides of any preset parameter (windows in s, rate sums in Hz,
        spike counts, ``zscore``, ``zscore_ddof``, ``exclude_lick_trials``,
        ``exclude_units``).

    Returns
    -------
    Dataset
        The session with ``rates`` (trial, neuron) for the kept units and
        trials (``binned`` and ``total_spikes`` restricted to them).
        ``attrs["preprocessing"]`` holds the preset and every parameter
        (JSON), ``attrs["dropped_units"]`` a JSON list of ``{"unit_id",
        "reason"}`` and ``attrs["dropped_trials"]`` a JSON list of
        ``{"trial", "reason"}`` (0-based trial index in the recording).

    Raises
    ------
    SchemaError
        If ``binned`` is missing or a window does not fall on bin edges.
    ParameterError
        For an unknown preset or parameter.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> raw = make_overtraining_dataset(n_mice=1, n_training_days=1,
    ...                                 n_overtraining_days=0, preprocess=False)
    >>> ds = preprocess_session(raw["A/A-d01"].to_dataset())
    >>> ds["rates"].attrs["units"], json.loads(ds.attrs["preprocessing"])["preset"]
    ('z-score', 'bernerslee2023')
    """
    p = resolve_preset(preset, **params)
    validate_session(ds, require_rates=False)
    info = session_info(ds)
    if "binned" not in ds.data_vars:
        raise SchemaError(f"{info['session']}: preprocess_session needs `binned` "
                          "(trial, neuron, time) spike counts.")
    early_lick = _lick_trials(ds, p)
    dropped_trials = [{"trial": int(t), "reason": f"first lick before "
                       f"{p['response_window'][1]:g} s (exclude_lick_trials)"}
                      for t in np.flatnonzero(early_lick)]
    if early_lick.all():
        raise InsufficientDataError(f"{info['session']}: every trial has a lick before "
                                    f"{p['response_window'][1]:g} s; exclude_lick_trials "
                                    "leaves none.")
    ds = ds.isel(trial=np.flatnonzero(~early_lick))
    binned = ds["binned"]
    counts = window_counts(binned, p["response_window"])
    rates = counts / (p["response_window"][1] - p["response_window"][0])
    baseline = (window_rates(binned, p["baseline_window"])
                if p["baseline_window"] is not None else None)
    if p["subtract_baseline"]:
        rates = rates - baseline
    rate_values = np.asarray(rates.transpose("trial", "neuron").values, dtype=float)
    reasons = _unit_reasons(ds, np.asarray(counts.transpose("trial", "neuron").values),
                            rate_values,
                            None if baseline is None else
                            np.asarray(baseline.transpose("trial", "neuron").values), p)
    unit_ids = np.asarray(ds["unit_id"].values).astype(str)
    keep = np.flatnonzero([r is None for r in reasons])
    dropped = [{"unit_id": u, "reason": r} for u, r in zip(unit_ids, reasons, strict=True)
               if r is not None]
    for d in dropped:
        logger.info("session %s: dropped unit %s: %s", info["session"], d["unit_id"], d["reason"])
    if dropped_trials:
        logger.info("session %s: dropped %d trials with an early lick", info["session"],
                    len(dropped_trials))
    out = ds.isel(neuron=keep)
    rates = rates.isel(neuron=keep).transpose("trial", "neuron")
    rates.attrs = {"units": "Hz", "long_name": "baseline-subtracted response rate"
                   if p["subtract_baseline"] else "response rate"}
    if p["zscore"] and keep.size:
        rates = zscore_units(rates, ddof=p["zscore_ddof"])
    out = out.assign(rates=rates)
    recorded = {k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}
    recorded["neurolearn_version"] = __version__
    out.attrs = {**ds.attrs, "preprocessing": json.dumps(recorded),
                 "dropped_units": json.dumps(dropped),
                 "dropped_trials": json.dumps(dropped_trials)}
    return out


def filter_sessions(sessions: xr.DataTree | Iterable[xr.Dataset], *,
                    min_units: int = STUDY_DEFAULTS["min_units"],
                    attrs: Mapping[str, Any] | None = None) -> xr.DataTree:
    """Drop sessions with fewer than ``min_units`` units, recording each one.

    Parameters
    ----------
    sessions : DataTree or iterable of Dataset
        Sessions after unit filtering (a session may have no unit left).
    min_units : int, default 4
        Fewest units a session must keep.
    attrs : mapping, optional
        Root attributes of the result (default: those of a DataTree input).

    Returns
    -------
    DataTree
        The kept sessions; root ``attrs["dropped_sessions"]`` is a JSON list of
        ``{"path", "reason"}`` (appended to any earlier record).

    Raises
    ------
    InsufficientDataError
        If no session keeps enough units.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> kept = filter_sessions(tree, min_units=1000)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InsufficientDataError: no session keeps at least 1000 units
    >>> len(filter_sessions(tree, min_units=4).leaves)
    8
    """
    if isinstance(sessions, xr.DataTree):
        attrs = dict(sessions.attrs) if attrs is None else attrs
        sessions = [ds for _, ds in iter_sessions(sessions)]
    kept, dropped = [], []
    for ds in sessions:
        info = session_info(ds)
        path = f"/{info['mouse']}/{info['session']}"
        n = ds.sizes.get("neuron", 0)
        if n < min_units:
            dropped.append({"path": path, "reason": f"{n} units (< {min_units})"})
            logger.info("dropped session %s: %d units (< %d)", path, n, min_units)
        else:
            kept.append(ds)
    if not kept:
        raise InsufficientDataError(f"no session has at least {min_units} units; dropped: "
                                    f"{[d['path'] for d in dropped][:10]}.")
    attrs = dict(attrs or {})
    attrs["dropped_sessions"] = json.dumps(json.loads(attrs.get("dropped_sessions", "[]"))
                                           + dropped)
    return to_tree(kept, attrs=attrs)


def preprocess(sessions: xr.DataTree | Iterable[xr.Dataset], *, preset: str = DEFAULT_PRESET,
               attrs: Mapping[str, Any] | None = None, **params: Any) -> xr.DataTree:
    """Apply :func:`preprocess_session` to every session, then :func:`filter_sessions`.

    Parameters
    ----------
    sessions : DataTree or iterable of Dataset
        Sessions with ``binned`` spike counts.
    preset : str, default "bernerslee2023"
        See :data:`PRESETS`; its ``min_units`` (4) decides which sessions are
        skipped.
    attrs : mapping, optional
        Root attributes of the result (default: those of a DataTree input);
        ``preprocessing`` (the preset and parameters, JSON) is added.
    **params
        Overrides of any preset parameter.

    Returns
    -------
    DataTree
        Sessions with ``rates``; root ``attrs["dropped_sessions"]`` lists the
        skipped ones.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> raw = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=2,
    ...                                 preprocess=False)  # binned spike counts only
    >>> tree = preprocess(raw)  # the original study's preset
    >>> ds = tree["A/A-d01"].to_dataset()
    >>> ds["rates"].dims, "dropped_sessions" in tree.attrs
    (('trial', 'neuron'), True)
    """
    resolve_preset(preset, **params)  # bad options fail before any session is touched
    if isinstance(sessions, xr.DataTree):
        attrs = dict(sessions.attrs) if attrs is None else attrs
        sessions = [ds for _, ds in iter_sessions(sessions)]
    done = [preprocess_session(ds, preset=preset, **params) for ds in sessions]
    return gather_preprocessed(done, preset=preset, attrs=attrs, **params)


def gather_preprocessed(done: Iterable[xr.Dataset], *, preset: str = DEFAULT_PRESET,
                        attrs: Mapping[str, Any] | None = None, **params: Any) -> xr.DataTree:
    """Gather sessions already passed one by one through :func:`preprocess_session`.

    :func:`preprocess` is ``gather_preprocessed`` of every session's
    ``preprocess_session``; a loader that assembles sessions while it still
    reads files preprocesses each one as it is built and gathers them here.

    Parameters
    ----------
    done : iterable of Dataset
        Sessions returned by :func:`preprocess_session` with this ``preset``
        and ``params``.
    preset : str, default "bernerslee2023"
        The preset they were preprocessed with (see :data:`PRESETS`).
    attrs : mapping, optional
        Root attributes of the result; ``preprocessing`` (the preset and
        parameters, JSON) is added.
    **params
        The preset overrides they were preprocessed with.

    Returns
    -------
    DataTree
        As :func:`preprocess`: the sessions with at least ``min_units`` units;
        root ``attrs["dropped_sessions"]`` lists the skipped ones.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> raw = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
    ...                                 preprocess=False)
    >>> done = [preprocess_session(node.to_dataset()) for node in raw.leaves]
    >>> gather_preprocessed(done).identical(preprocess(raw, attrs={}))
    True
    """
    p = resolve_preset(preset, **params)
    attrs = dict(attrs or {})
    attrs["preprocessing"] = json.dumps({k: list(v) if isinstance(v, tuple) else v
                                         for k, v in p.items()})
    return filter_sessions(done, min_units=int(p["min_units"]), attrs=attrs)
