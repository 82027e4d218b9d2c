"""The canonical data layout: one session is an ``xarray.Dataset``, a study an
``xarray.DataTree`` with one node per session at ``/<mouse>/<session>``.

A session Dataset holds

``rates`` : float, dims ``(trial, neuron)``
    Response of each unit on each trial (spikes/s, or z-scored spikes/s after
    :func:`neurolearn.preprocess.preprocess_session`; ``rates.attrs["units"]``
    says which).
``binned`` : optional, dims ``(trial, neuron, time)``
    Spike counts in time bins; ``time`` holds each bin's left edge in seconds
    relative to stimulus onset and ``binned.attrs["bin_size"]`` its width (s).

with coordinates on ``trial``: ``session`` (str), the animal — ``mouse``
(str), or ``subject`` for a study of other animals —, ``stimulus`` (str),
``label`` (int class, 1 target / 0 non-target), and optionally ``day``
(int, 1-based day of training), ``phase`` (str, ``"training"`` or
``"overtraining"``), ``choice`` (str), ``correct`` (float 1/0, NaN where the
trial has no outcome) and ``heldout`` (bool: probe or repeated stimulus,
never used to train a decoder); on ``neuron``: ``unit_id`` (str, unique
within the session) and, for cells tracked across sessions, ``track`` (see
:mod:`neurolearn.tracking`).

Sessions are never padded into one array: every analysis works within a
session, and per-session results are stacked over a ``session`` dimension
with :func:`stack_sessions`; tracked cells are stacked over days on demand
(:func:`neurolearn.tracking.stack_tracks`), missing cells as NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import xarray as xr

from neurolearn.errors import InsufficientDataError, SchemaError

__all__ = [
    "REQUIRED_TRIAL_COORDS",
    "ANIMAL_COORDS",
    "OPTIONAL_TRIAL_COORDS",
    "animal_coord",
    "session_coord_names",
    "PHASES",
    "SESSION_KEYS",
    "make_session",
    "validate",
    "checked_sessions",
    "session_coords",
    "validate_session",
    "session_info",
    "iter_sessions",
    "to_tree",
    "session_table",
    "stack_sessions",
    "check_classes",
]

REQUIRED_TRIAL_COORDS = ("session", "stimulus", "label")
#: The animal's coordinate: ``mouse``, or ``subject`` (the NWB name) for a
#: study of other animals; every session has exactly one of them.
ANIMAL_COORDS = ("mouse", "subject")
OPTIONAL_TRIAL_COORDS = ("day", "phase", "choice", "correct", "heldout")
PHASES = ("training", "overtraining")
#: Coordinates that identify the session: constant over its trials.
SESSION_KEYS = ("session", "mouse", "subject", "day", "phase")


def _session_data(rates: Any, binned: Any, time: Any, bin_size: float | None,
                  binned_units: str = "spike count") -> tuple[dict[str, Any], tuple[int, int]]:
    """make_session's data variables (``rates`` and/or ``binned``), checked, and
    the session's (n_trials, n_units)."""
    data_vars: dict[str, Any] = {}
    if rates is not None:
        rates = np.asarray(rates, dtype=float)
        if rates.ndim != 2:
            raise SchemaError(f"`rates` must be 2-D (trial, neuron); got shape {rates.shape}. "
                              "Reshape a single unit with rates[:, None].")
        data_vars["rates"] = (("trial", "neuron"), rates, {"units": "Hz"})
    if binned is not None:
        binned = np.asarray(binned)
        if binned.ndim != 3:
            raise SchemaError("`binned` must be 3-D (trial, neuron, time); got shape "
                              f"{binned.shape}.")
        if time is None:
            raise SchemaError("`binned` needs `time`: the left edge of each bin in seconds "
                              "relative to stimulus onset.")
        time = np.asarray(time, dtype=float)
        if bin_size is None:
            if time.size < 2:
                raise SchemaError("Give `bin_size` (s) when `binned` has a single time bin.")
            bin_size = float(np.round(np.median(np.diff(time)), 9))
        data_vars["binned"] = (("trial", "neuron", "time"), binned,
                               {"units": binned_units, "bin_size": float(bin_size)})
        if rates is not None and binned.shape[:2] != rates.shape:
            raise SchemaError(f"`binned` has (trial, neuron) shape {binned.shape[:2]} but "
                              f"`rates` has {rates.shape}.")
    shape = rates.shape if rates is not None else binned.shape[:2]
    return data_vars, (int(shape[0]), int(shape[1]))


def make_session(
    rates: Any = None,
    *,
    stimulus: Any,
    label: Any,
    session: str,
    mouse: str | None = None,
    day: int | None = None,
    phase: str | None = None,
    subject: str | None = None,
    binned: Any = None,
    time: Any = None,
    bin_size: float | None = None,
    binned_units: str = "spike count",
    choice: Any = None,
    correct: Any = None,
    heldout: Any = None,
    unit_id: Any = None,
    trial_coords: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build one session in the canonical layout from plain arrays.

    Parameters
    ----------
    rates : array of shape (n_trials, n_units), optional
        Response of each unit on each trial (spikes/s). Required unless
        ``binned`` is given (rates can then be computed with
        :func:`neurolearn.preprocess.preprocess_session`).
    stimulus : array of str, shape (n_trials,)
        Stimulus (odour) identity of each trial.
    label : array of int, shape (n_trials,)
        Class of each trial (1 target, 0 non-target).
    session : str
        Session identifier.
    mouse : str, optional
        The animal. Give ``subject`` instead for a study of other animals
        (the coordinate is then named ``subject``); one of the two is
        required.
    day : int, optional
        Day of training, 1-based; leave out for a study without days.
    phase : {"training", "overtraining"} or str, optional
        Phase of the experiment the session belongs to; optional.
    subject : str, optional
        The animal, for a study that names it so (NWB's ``subject_id``).
    binned : array of shape (n_trials, n_units, n_bins), optional
        Spike counts per time bin.
    time : array of shape (n_bins,), optional
        Left edge of each bin in seconds relative to stimulus onset.
    bin_size : float, optional
        Bin width in seconds; defaults to the spacing of ``time``.
    binned_units : str, default "spike count"
        What ``binned`` holds: spike counts (checked non-negative), or a
        trace's per-bin mean such as "dF/F" (any real value).
    choice : array of str, shape (n_trials,), optional
        The animal's response on each trial ("" where none was recorded).
    correct : array of bool or float, shape (n_trials,), optional
        Whether the response was correct (NaN where there is no outcome).
    heldout : array of bool, shape (n_trials,), optional
        Trials never used for training a decoder (probes, repeats). Defaults to
        all False.
    unit_id : array of str, shape (n_units,), optional
        Unit identifiers; defaults to ``"<session>-u<index>"``.
    trial_coords : mapping, optional
        Further per-trial coordinates (name -> array of shape (n_trials,)).
    attrs : mapping, optional
        Dataset attributes (source, preprocessing, ...).

    Returns
    -------
    Dataset
        A validated session Dataset.

    Raises
    ------
    SchemaError
        If the arrays disagree in shape or hold invalid values.

    Examples
    --------
    >>> import numpy as np
    >>> ds = make_session(np.random.default_rng(0).poisson(5.0, (40, 3)).astype(float),
    ...                   stimulus=["A", "B"] * 20, label=[1, 0] * 20, session="m1-d01",
    ...                   mouse="m1", day=1, phase="training")
    >>> ds["rates"].dims, ds.sizes["trial"], ds["unit_id"].values.tolist()
    (('trial', 'neuron'), 40, ['m1-d01-u000', 'm1-d01-u001', 'm1-d01-u002'])
    """
    if rates is None and binned is None:
        raise SchemaError("make_session needs `rates` (trial, neuron) or `binned` "
                          "(trial, neuron, time); got neither.")
    data_vars, (n_trials, n_units) = _session_data(rates, binned, time, bin_size,
                                                     binned_units)

    def per_trial(name, values, dtype=None):
        arr = np.asarray(values, dtype=dtype)
        if arr.ndim == 0:
            arr = np.full(n_trials, arr.item(), dtype=arr.dtype if dtype is None else dtype)
        if arr.shape != (n_trials,):
            raise SchemaError(f"Coordinate `{name}` must have one value per trial "
                              f"({n_trials}); got shape {arr.shape}.")
        return ("trial", arr)

    if (mouse is None) == (subject is None):
        raise SchemaError("make_session needs the animal as `mouse=` or as `subject=` (one of "
                          "the two).")
    animal = "mouse" if mouse is not None else "subject"
    coords: dict[str, Any] = {
        "session": per_trial("session", str(session), dtype=object),
        animal: per_trial(animal, str(mouse if mouse is not None else subject), dtype=object),
    }
    if day is not None:
        coords["day"] = per_trial("day", int(day), dtype=np.int64)
    if phase is not None:
        coords["phase"] = per_trial("phase", str(phase), dtype=object)
    coords |= {
        "stimulus": per_trial("stimulus", np.asarray(stimulus).astype(str), dtype=object),
        "label": per_trial("label", label),
        "heldout": per_trial("heldout", False if heldout is None else heldout, dtype=bool),
    }
    if choice is not None:
        coords["choice"] = per_trial("choice", np.asarray(choice).astype(str), dtype=object)
    if correct is not None:
        coords["correct"] = per_trial("correct", correct, dtype=float)
    for name, values in (trial_coords or {}).items():
        coords[name] = per_trial(name, values)
    if unit_id is None:
        unit_id = [f"{session}-u{i:03d}" for i in range(n_units)]
    unit_id = np.asarray(unit_id).astype(str).astype(object)
    if unit_id.shape != (n_units,):
        raise SchemaError(f"Coordinate `unit_id` must have one value per unit ({n_units}); "
                          f"got shape {unit_id.shape}.")
    coords["unit_id"] = ("neuron", unit_id)
    if time is not None:
        coords["time"] = ("time", np.asarray(time, dtype=float), {"units": "s"})
    ds = xr.Dataset(data_vars, coords=coords, attrs=dict(attrs or {}))
    validate_session(ds, require_rates=rates is not None)
    return ds


def _fail(where: str, message: str) -> None:
    raise SchemaError(f"{where}: {message}" if where else message)


def validate_session(ds: Any, *, where: str = "", require_rates: bool = True) -> None:
    """Check that one session Dataset follows the canonical layout.

    Parameters
    ----------
    ds : Dataset
        The session to check.
    where : str, optional
        Prefix for error messages (e.g. the DataTree path of the session).
    require_rates : bool, default True
        Whether ``rates`` must be present (``binned`` alone is enough when
        False).

    Raises
    ------
    SchemaError
        Naming the first variable, coordinate or value that is wrong.
    """
    if not isinstance(ds, xr.Dataset):
        _fail(where, f"expected an xarray.Dataset for one session, got {type(ds).__name__}.")
    if "rates" not in ds.data_vars:
        if require_rates or "binned" not in ds.data_vars:
            hint = (" It has `binned` spike counts: compute rates with "
                    "neurolearn.preprocess.preprocess_session(ds)."
                    if "binned" in ds.data_vars else "")
            _fail(where, "missing data variable `rates` with dims (trial, neuron)." + hint)
    if "rates" in ds.data_vars:
        rates = ds.variables["rates"]
        if rates.dims != ("trial", "neuron"):
            _fail(where, f"`rates` must have dims ('trial', 'neuron'); got {rates.dims}. "
                  "Use .transpose('trial', 'neuron') or rename the dims.")
        if rates.dtype.kind not in "biuf":
            _fail(where, f"`rates` must be real numbers; got dtype {rates.dtype}.")
        values = np.asarray(rates.values, dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            t, n = np.argwhere(bad)[0]
            _fail(where, f"`rates` holds {int(bad.sum())} non-finite values (NaN or inf), "
                  f"first at trial {t}, neuron {n}. Remove or impute them first; "
                  "neurolearn never drops data silently.")
    if "binned" in ds.data_vars:
        binned = ds.variables["binned"]
        if binned.dims != ("trial", "neuron", "time"):
            _fail(where, f"`binned` must have dims ('trial', 'neuron', 'time'); got {binned.dims}.")
        if "time" not in ds.coords:
            _fail(where, "`binned` needs a `time` coordinate (bin left edges, s from onset).")
        if "bin_size" not in binned.attrs:
            _fail(where, "`binned.attrs['bin_size']` (bin width in s) is missing.")
        values = np.asarray(binned.values)
        if values.dtype.kind not in "iubf":
            values = values.astype(float)
        counts = binned.attrs.get("units", "spike count") == "spike count"
        # (Integer counts are finite: no float copy of the study's largest array.)
        finite = values.dtype.kind in "iub" or bool(np.isfinite(values).all())
        if not finite or (counts and values.dtype.kind != "u" and bool((values < 0).any())):
            _fail(where, "`binned` must hold finite values, non-negative where they are "
                  "spike counts (`binned.attrs['units']`).")
    if ds.sizes.get("trial", 0) < 1:
        _fail(where, "the session has no trials.")
    if ds.sizes.get("neuron", 0) < 1:
        _fail(where, "the session has no units (dim `neuron` is empty).")
    for name in REQUIRED_TRIAL_COORDS:
        if name not in ds.coords:
            _fail(where, f"missing coordinate `{name}` on dim 'trial' "
                  f"(required: {', '.join(REQUIRED_TRIAL_COORDS)}, and `mouse` or `subject`).")
    animals = [a for a in ANIMAL_COORDS if a in ds.coords]
    if len(animals) != 1:
        _fail(where, "the animal must be one coordinate on dim 'trial', `mouse` or `subject`; "
              + ("found neither." if not animals else "found both."))
    for name in REQUIRED_TRIAL_COORDS + ANIMAL_COORDS + OPTIONAL_TRIAL_COORDS:
        if name in ds.coords and ds.variables[name].dims != ("trial",):
            _fail(where, f"coordinate `{name}` must lie on dim 'trial'; got dims "
                  f"{ds.variables[name].dims}.")
    for name in SESSION_KEYS:
        if name not in ds.variables:
            continue
        values = np.asarray(ds.variables[name].values)
        if values.size and (values == values[0]).all():
            continue  # constant: the common case, without sorting strings
        uniq = np.unique(values.astype(str))
        if uniq.size != 1:
            _fail(where, f"coordinate `{name}` must be constant within a session; found "
                  f"{uniq.size} values ({', '.join(uniq[:5])}). Split the Dataset into one per "
                  "session and combine them with neurolearn.schema.to_tree.")
    day = ds.variables["day"] if "day" in ds.variables else None
    if day is not None and (not np.issubdtype(day.dtype, np.integer) or int(day.values[0]) < 1):
        _fail(where, f"coordinate `day` must be a positive integer (1-based day of training); "
              f"got {day.values[0]!r} of dtype {day.dtype}.")
    if not np.issubdtype(ds.variables["label"].dtype, np.integer):
        _fail(where, f"coordinate `label` must hold integer classes (1 target, 0 non-target); "
              f"got dtype {ds['label'].dtype}.")
    if "heldout" in ds.coords and ds.variables["heldout"].dtype != bool:
        _fail(where, f"coordinate `heldout` must be bool; got dtype {ds['heldout'].dtype}.")
    if "correct" in ds.coords:
        c = np.asarray(ds.variables["correct"].values, dtype=float)
        if not np.all(np.isnan(c) | (c == 0) | (c == 1)):
            _fail(where, "coordinate `correct` must hold 1, 0 or NaN (no outcome).")
    if "unit_id" not in ds.coords or ds.variables["unit_id"].dims != ("neuron",):
        _fail(where, "missing coordinate `unit_id` on dim 'neuron'.")
    ids = np.asarray(ds.variables["unit_id"].values).tolist()
    if len(set(ids)) != len(ids):
        _fail(where, "coordinate `unit_id` has repeated values; unit ids must be unique "
              "within a session.")


def session_info(ds: xr.Dataset) -> dict[str, Any]:
    """Return ``{"session", "mouse", "day", "phase"}`` of one session Dataset.

    ``mouse`` holds the animal whatever its coordinate is called (``mouse`` or
    ``subject``); ``day`` and ``phase`` are None where the session has none.

    Parameters
    ----------
    ds : Dataset
        One session.

    Returns
    -------
    dict

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1)
    >>> session_info(tree["A/A-d02"].to_dataset())
    {'session': 'A-d02', 'mouse': 'A', 'day': 2, 'phase': 'overtraining'}
    """
    # Variables, not DataArrays: building a DataArray per lookup dominates
    # the cost of walking a study of many sessions.
    v = ds.variables
    animal = "mouse" if "mouse" in v else "subject"
    return {"session": str(v["session"].values[0]), "mouse": str(v[animal].values[0]),
            "day": int(v["day"].values[0]) if "day" in v else None,
            "phase": str(v["phase"].values[0]) if "phase" in v else None}


def animal_coord(obj: Any) -> str:
    """The name of a session's (or a study's, or a result's) animal coordinate.

    ``"subject"`` where the data name the animal so, else ``"mouse"``.

    Examples
    --------
    >>> import numpy as np
    >>> ds = make_session(np.eye(4), stimulus=list("abab"), label=[1, 0, 1, 0], session="s1",
    ...                   subject="monkey-K")
    >>> animal_coord(ds), session_info(ds)["day"] is None
    ('subject', True)
    """
    if isinstance(obj, xr.DataTree):
        nodes = _session_nodes(obj)
        return animal_coord(nodes[0][1]) if nodes else "mouse"
    return "subject" if "subject" in obj.coords and "mouse" not in obj.coords else "mouse"


def session_coord_names(table: xr.Dataset) -> tuple[str, ...]:
    """The session-identifying coordinates a session table holds, in order
    (``session``, the animal, and ``day``/``phase`` where the study has them).

    Parameters
    ----------
    table : Dataset
        From :func:`session_table` (or any result with those coordinates).

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> import numpy as np
    >>> ds = make_session(np.eye(4), stimulus=list("abab"), label=[1, 0, 1, 0], session="s1",
    ...                   subject="monkey-K")
    >>> session_coord_names(session_table(ds))
    ('session', 'subject')
    """
    return tuple(k for k in ("session",) + ANIMAL_COORDS + ("day", "phase") if k in table.coords)


def _session_nodes(tree: xr.DataTree) -> list[tuple[str, xr.Dataset]]:
    """(path, Dataset) of every node holding ``rates`` or ``binned``, in tree order.

    (Each node's Dataset is made once: ``DataTree.data_vars`` builds one on
    every access, 60 µs a node.)"""
    nodes = []
    for node in tree.subtree:
        ds = node.to_dataset(inherit=False)
        if "rates" in ds.data_vars or "binned" in ds.data_vars:
            nodes.append((node.path, ds))
    return nodes


def validate(obj: Any, *, require_rates: bool = True) -> None:
    """Check a session Dataset or a study DataTree against the canonical layout.

    Parameters
    ----------
    obj : Dataset or DataTree
        One session, or a tree with one session per node at
        ``/<mouse>/<session>``.
    require_rates : bool, default True
        Whether every session must hold ``rates`` (``binned`` alone suffices
        when False).

    Raises
    ------
    SchemaError
        Naming the session path and the field at fault.

    Examples
    --------
    >>> from data_loaders.synthetic import make_overtraining_dataset
    >>> validate(make_overtraining_dataset(n_mice=1, n_training_days=1,
    ...                                    n_overtraining_days=1))
    """
    checked_sessions(obj, require_rates=require_rates)


def checked_sessions(obj: Any, *, require_rates: bool = True) -> list[tuple[str, xr.Dataset]]:
    """:func:`validate` and :func:`iter_sessions` in one walk of the tree.

    Parameters
    ----------
    obj : Dataset or DataTree
        One session, or a study tree.
    require_rates : bool, default True
        As in :func:`validate`.

    Returns
    -------
    list of (path, session Dataset)
        Ordered by mouse and day, as :func:`iter_sessions` yields them.

    Raises
    ------
    SchemaError
        As :func:`validate`.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> sessions = checked_sessions(tree)
    >>> [path for path, _ in sessions][:2]
    ['/A/A-d01', '/A/A-d02']
    """
    if isinstance(obj, xr.Dataset):
        validate_session(obj, require_rates=require_rates)
        return list(iter_sessions(obj))
    if not isinstance(obj, xr.DataTree):
        raise SchemaError(f"expected an xarray.Dataset (one session) or xarray.DataTree "
                          f"(a study); got {type(obj).__name__}.")
    nodes = _session_nodes(obj)
    if not nodes:
        raise SchemaError("the DataTree holds no session: no node has `rates` or `binned`. "
                          "Sessions live at /<mouse>/<session>.")
    seen: dict[str, str] = {}
    items = []
    for path, ds in nodes:
        validate_session(ds, where=path, require_rates=require_rates)
        info = session_info(ds)
        expected = f"/{info['mouse']}/{info['session']}"
        if path != expected:
            raise SchemaError(f"{path}: a session must sit at /<mouse>/<session>, i.e. "
                              f"{expected} for this one (coords mouse={info['mouse']!r}, "
                              f"session={info['session']!r}).")
        if info["session"] in seen:
            raise SchemaError(f"{path}: session name {info['session']!r} is also used at "
                              f"{seen[info['session']]}; session names must be unique.")
        seen[info["session"]] = path
        items.append(((info["mouse"], info["day"] or 0, path), ds))
    items.sort(key=lambda item: item[0])
    return [(path, ds) for (_, _, path), ds in items]


def session_coords(sessions: Iterable[tuple[str, xr.Dataset]]) -> dict[str, Any]:
    """``session``, ``mouse``, ``day`` and ``phase`` coordinates (dim ``session``) of
    the (path, Dataset) pairs, in their order: those of :func:`session_table`,
    without walking the tree again.

    Parameters
    ----------
    sessions : iterable of (str, Dataset)
        As from :func:`checked_sessions` or :func:`iter_sessions`.

    Returns
    -------
    dict
        name → ("session", values), ready for ``xr.Dataset(coords=...)``.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> coords = session_coords(iter_sessions(tree))
    >>> sorted(coords), coords["day"][1].tolist()
    (['day', 'mouse', 'phase', 'session'], [1, 2, 3, 4, 1, 2, 3, 4])
    """
    sessions = list(sessions)
    rows = [session_info(ds) for _, ds in sessions]
    animal = "subject" if sessions and all(animal_coord(ds) == "subject"
                                           for _, ds in sessions) else "mouse"
    coords = {"session": ("session", np.array([r["session"] for r in rows], dtype=object)),
              animal: ("session", np.array([r["mouse"] for r in rows], dtype=object))}
    for key, dtype in (("day", np.int64), ("phase", object)):
        given = [r[key] is not None for r in rows]
        if all(given):
            coords[key] = ("session", np.array([r[key] for r in rows], dtype=dtype))
        elif any(given):
            missing = [r["session"] for r in rows if r[key] is None]
            raise SchemaError(f"coordinate `{key}` is given for some sessions but not for "
                              f"{', '.join(missing[:5])}; give it for all or none.")
    return coords


def iter_sessions(tree: xr.DataTree | xr.Dataset) -> Iterator[tuple[str, xr.Dataset]]:
    """Yield ``(path, session Dataset)`` for every session, ordered by mouse and day.

    A single Dataset is yielded as ``("/<mouse>/<session>", ds)``.

    Parameters
    ----------
    tree : DataTree or Dataset

    Yields
    ------
    (str, Dataset)

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> [path for path, _ in iter_sessions(tree)][:3]
    ['/A/A-d01', '/A/A-d02', '/A/A-d03']
    """
    if isinstance(tree, xr.Dataset):
        info = session_info(tree)
        yield f"/{info['mouse']}/{info['session']}", tree
        return
    if not isinstance(tree, xr.DataTree):
        raise SchemaError(f"expected an xarray.DataTree or Dataset; got {type(tree).__name__}.")
    items = []
    for path, ds in _session_nodes(tree):
        info = session_info(ds)
        items.append(((info["mouse"], info["day"] or 0, path), ds))
    items.sort(key=lambda item: item[0])
    for (_, _, path), ds in items:
        yield path, ds


def to_tree(sessions: Iterable[xr.Dataset], *, attrs: Mapping[str, Any] | None = None
            ) -> xr.DataTree:
    """Gather session Datasets into a study DataTree at ``/<mouse>/<session>``.

    Parameters
    ----------
    sessions : iterable of Dataset
        Validated session Datasets with distinct session names.
    attrs : mapping, optional
        Attributes of the root node (source, generator parameters, ...).

    Returns
    -------
    DataTree

    Examples
    --------
    >>> import numpy as np
    >>> rates = np.arange(8.0).reshape(4, 2)
    >>> sessions = [make_session(rates, stimulus=list("ABAB"), label=[1, 0, 1, 0],
    ...                          session=f"m1-d0{d}", mouse="m1", day=d, phase="training")
    ...             for d in (1, 2)]
    >>> [node.path for node in to_tree(sessions).leaves]
    ['/m1/m1-d01', '/m1/m1-d02']
    """
    nodes: dict[str, xr.Dataset] = {}
    for ds in sessions:
        validate_session(ds, require_rates=False)
        info = session_info(ds)
        path = f"/{info['mouse']}/{info['session']}"
        if path in nodes:
            raise SchemaError(f"two sessions share the path {path}; session names must be "
                              "unique within a mouse.")
        nodes[path] = ds
    if not nodes:
        raise InsufficientDataError("to_tree got no sessions.")
    tree = xr.DataTree.from_dict(nodes)
    tree.attrs.update(attrs or {})
    return tree


def session_table(tree: xr.DataTree | xr.Dataset) -> xr.Dataset:
    """One row per session: ``path``, ``mouse``, ``day``, ``phase``, ``n_trials``, ``n_units``.

    Parameters
    ----------
    tree : DataTree or Dataset

    Returns
    -------
    Dataset with dim ``session``
        Ordered by mouse, then day.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> table = session_table(tree)
    >>> table["mouse"].values.tolist()
    ['A', 'A', 'A', 'A', 'B', 'B', 'B', 'B']
    >>> table["phase"].values.tolist()[:2]
    ['training', 'overtraining']
    """
    sessions = list(iter_sessions(tree))
    return xr.Dataset(
        coords=session_coords(sessions),
        data_vars={
            "path": ("session", np.array([path for path, _ in sessions], dtype=object)),
            "n_trials": ("session", np.array([ds.sizes["trial"] for _, ds in sessions],
                                             dtype=np.int64)),
            "n_units": ("session", np.array([ds.sizes["neuron"] for _, ds in sessions],
                                            dtype=np.int64)),
        },
    )


def stack_sessions(results: Mapping[str, Any], tree: xr.DataTree | xr.Dataset, *,
                   name: str | None = None) -> xr.DataArray:
    """Stack per-session results into one DataArray over a ``session`` dim.

    Parameters
    ----------
    results : mapping
        Session name or tree path -> scalar or DataArray (all with the same
        dims, e.g. ``fold`` or ``permutation``).
    tree : DataTree or Dataset
        The study the results came from; supplies the ``mouse``, ``day`` and
        ``phase`` coordinates.
    name : str, optional
        Name of the returned DataArray.

    Returns
    -------
    DataArray with leading dim ``session``
        Coordinates ``session``, ``mouse``, ``day``, ``phase``, in the order of
        :func:`session_table`.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=2)
    >>> n_trials = {path: ds.sizes["trial"] for path, ds in iter_sessions(tree)}
    >>> stacked = stack_sessions(n_trials, tree, name="n_trials")
    >>> stacked.dims, stacked["day"].values.tolist()
    (('session',), [1, 2, 3])
    """
    table = session_table(tree)
    by_path = dict(zip(table["path"].values, table["session"].values, strict=True))
    keyed = {by_path.get(k, k): v for k, v in results.items()}
    missing = [s for s in keyed if s not in set(table["session"].values)]
    if missing:
        raise SchemaError(f"results name sessions not in the tree: {missing[:5]}.")
    table = table.sel(session=[s for s in table["session"].values if s in keyed])
    arrays = [v if isinstance(v, xr.DataArray) else xr.DataArray(v)
              for v in (keyed[s] for s in table["session"].values)]
    stacked = xr.concat(arrays, dim="session", coords="minimal", compat="override",
                        join="outer")
    stacked = stacked.assign_coords(
        session=table["session"].values,
        **{k: ("session", table[k].values) for k in session_coord_names(table)
           if k != "session"})
    return stacked.rename(name) if name is not None else stacked


def check_classes(ds: xr.Dataset, *, min_per_class: int = 2, use_heldout: bool = False) -> None:
    """Check that a session has two classes with enough trials each.

    Parameters
    ----------
    ds : Dataset
        A session Dataset.
    min_per_class : int, default 2
        Trials required in each class (e.g. the number of CV folds).
    use_heldout : bool, default False
        Whether held-out trials count (they never train a decoder).

    Raises
    ------
    SchemaError
        If a label is not 0 or 1.
    InsufficientDataError
        If there is only one class or a class has too few trials.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> ds = tree["A/A-d04"].to_dataset()
    >>> check_classes(ds, min_per_class=10)  # passes silently
    >>> check_classes(ds.isel(trial=ds["label"].values == 1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    neurolearn.errors.InsufficientDataError: A-d04: coordinate `label` has a single class ...
    """
    label = np.asarray(ds.variables["label"].values)
    if not use_heldout and "heldout" in ds.coords:
        label = label[~np.asarray(ds.variables["heldout"].values, dtype=bool)]
    where = ds.variables["session"].values[0] if "session" in ds.coords else "session"
    binary = (label == 0) | (label == 1)
    if binary.all():  # the common case, without sorting the labels
        ones = int(np.count_nonzero(label == 1))
        present = [(c, n) for c, n in ((0, label.size - ones), (1, ones)) if n]
        classes = np.array([c for c, _ in present])
        counts = np.array([n for _, n in present])
    else:
        classes, counts = np.unique(label, return_counts=True)
    if not set(classes.tolist()) <= {0, 1}:
        raise SchemaError(
            f"{where}: coordinate `label` must be 0 (non-target) or 1 (target); got values "
            f"{classes.tolist()}. Analyses here are binary: recode the labels, or select "
            "two classes.")
    if classes.size < 2:
        raise InsufficientDataError(
            f"{where}: coordinate `label` has a single class ({classes.tolist()}) among "
            f"{label.size} training trials; decoding needs two.")
    if counts.min() < min_per_class:
        detail = ", ".join(f"label {c}: {n}" for c, n in zip(classes, counts, strict=True))
        raise InsufficientDataError(
            f"{where}: too few trials per class ({detail}); need at least {min_per_class} "
            "per class (e.g. one per cross-validation fold). Use fewer folds or drop the session.")
