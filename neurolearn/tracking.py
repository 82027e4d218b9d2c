"""Cells tracked across sessions: the ``track`` coordinate and stacking over days.

A tracked study gives each unit a study-wide identity in the ``track``
coordinate on ``neuron`` (from ROICaT, CellReg, UnitMatch or a table; see
:mod:`data_loaders.tracks`). Identities are per animal: the same track name
in two mice is two cells. A unit no tracker matched has ``track == ""``: it
belongs to its session only.

Sessions still hold only the cells recorded that day. Stacking them over
days (:func:`stack_tracks`) puts every tracked cell of an animal on one
``track`` axis, with NaN where a cell was not recorded and a ``present``
mask saying so; missing cells are never dropped from the stack and never
filled with zeros. Analyses that need complete cells take the cells present
on the days compared (:func:`common_tracks`) and report how many.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import xarray as xr

from neurolearn.errors import InsufficientDataError, SchemaError
from neurolearn.schema import iter_sessions, session_info

__all__ = ["TRACK", "has_tracks", "tracked_sessions", "session_tracks", "common_tracks",
           "select_tracks", "condition_means", "stack_tracks"]

#: Name of the cross-session identity coordinate on ``neuron``.
TRACK = "track"


def session_tracks(ds: xr.Dataset, *, where: str = "") -> np.ndarray:
    """The session's track ids (str; "" for untracked units), checked unique.

    Parameters
    ----------
    ds : Dataset
        One session.
    where : str, optional
        Prefix for error messages (the session's path).

    Returns
    -------
    ndarray of str, shape (n_units,)

    Raises
    ------
    SchemaError
        If ``track`` is missing or repeats a non-empty id within the session.
    """
    if TRACK not in ds.coords or ds[TRACK].dims != ("neuron",):
        raise SchemaError(f"{where or 'session'}: no `track` coordinate on dim 'neuron'; "
                          "assign one with data_loaders.tracks.assign_tracks.")
    tracks = np.asarray(ds[TRACK].values).astype(str)
    named = tracks[tracks != ""]
    if np.unique(named).size != named.size:
        values, counts = np.unique(named, return_counts=True)
        raise SchemaError(f"{where or 'session'}: track ids repeat within the session "
                          f"({', '.join(values[counts > 1][:5])}); one cell per track per day.")
    return tracks


def has_tracks(tree: xr.DataTree | xr.Dataset) -> bool:
    """Whether any session carries a ``track`` coordinate with at least one tracked cell.

    Parameters
    ----------
    tree : DataTree or Dataset

    Returns
    -------
    bool

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> from data_loaders.synthetic_tracked import make_tracked_dataset
    >>> has_tracks(make_tracked_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
    ...                                 n_cells=10, trials_per_session=20))
    True
    >>> has_tracks(make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1))
    False
    """
    for _, ds in iter_sessions(tree):
        if TRACK in ds.coords and (np.asarray(ds[TRACK].values).astype(str) != "").any():
            return True
    return False


def tracked_sessions(tree: xr.DataTree | xr.Dataset) -> dict[str, list[tuple[str, xr.Dataset]]]:
    """Each animal's tracked sessions, in day order: ``{mouse: [(path, Dataset), ...]}``.

    Sessions without a ``track`` coordinate are left out.

    Parameters
    ----------
    tree : DataTree or Dataset

    Returns
    -------
    dict
        Animal → its (path, session) pairs, ordered by day.

    Raises
    ------
    SchemaError
        If a session repeats a track id (:func:`session_tracks`).

    Examples
    --------
    >>> from data_loaders.synthetic_tracked import make_tracked_dataset
    >>> tree = make_tracked_dataset(n_mice=2, n_training_days=1, n_overtraining_days=1,
    ...                             n_cells=10, trials_per_session=20)
    >>> {m: [p for p, _ in s] for m, s in tracked_sessions(tree).items()}
    {'A': ['/A/A-d01', '/A/A-d02'], 'B': ['/B/B-d01', '/B/B-d02']}
    """
    out: dict[str, list[tuple[str, xr.Dataset]]] = defaultdict(list)
    for path, ds in iter_sessions(tree):
        if TRACK in ds.coords:
            session_tracks(ds, where=path)
            out[session_info(ds)["mouse"]].append((path, ds))
    for sessions in out.values():
        sessions.sort(key=lambda item: (session_info(item[1])["day"] or 0, item[0]))
    return dict(out)


def common_tracks(*sessions: xr.Dataset) -> np.ndarray:
    """Track ids present in every one of ``sessions`` (sorted; untracked units excluded).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> a = xr.Dataset(coords={"track": ("neuron", ["c1", "c2", "", "c4"])})
    >>> b = xr.Dataset(coords={"track": ("neuron", ["c4", "c3", "c1"])})
    >>> common_tracks(a, b).tolist()
    ['c1', 'c4']
    """
    sets = [set(session_tracks(ds).tolist()) - {""} for ds in sessions]
    return np.array(sorted(set.intersection(*sets)) if sets else [], dtype=object)


def select_tracks(ds: xr.Dataset, tracks: Any) -> xr.Dataset:
    """The session with its neurons reordered to ``tracks`` (each must be present).

    Parameters
    ----------
    ds : Dataset
        One session with a ``track`` coordinate.
    tracks : sequence of str
        Track ids, e.g. from :func:`common_tracks`.

    Returns
    -------
    Dataset
        ``ds`` with dim ``neuron`` of length ``len(tracks)``, in that order.

    Raises
    ------
    InsufficientDataError
        If a track was not recorded in the session.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"rates": (("trial", "neuron"), np.arange(6.0).reshape(2, 3))},
    ...                 coords={"track": ("neuron", ["c1", "c2", "c3"])})
    >>> select_tracks(ds, ["c3", "c1"])["rates"].values.tolist()
    [[2.0, 0.0], [5.0, 3.0]]
    """
    own = session_tracks(ds)
    index = {t: i for i, t in enumerate(own)}
    missing = [t for t in tracks if t not in index]
    if missing:
        raise InsufficientDataError(f"{session_info(ds)['session']}: tracks not recorded "
                                    f"that day: {', '.join(map(str, missing[:5]))}.")
    return ds.isel(neuron=[index[t] for t in tracks])


def condition_means(ds: xr.Dataset, *, variable: str = "rates", by: str = "stimulus"
                    ) -> xr.DataArray:
    """Mean response of each unit to each value of the trial coord ``by``.

    Parameters
    ----------
    ds : Dataset
        One session.
    variable : str, default "rates"
        The (trial, neuron) variable, in its units.
    by : str, default "stimulus"
        The trial coordinate whose values are the conditions.

    Returns
    -------
    DataArray (condition, neuron)
        With the ``neuron`` coords of ``ds`` and ``n_trials`` (condition,) the
        trials averaged.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"rates": (("trial", "neuron"), [[1.0], [3.0], [10.0]])},
    ...                 coords={"stimulus": ("trial", ["a", "a", "b"])})
    >>> m = condition_means(ds)
    >>> m.values.ravel().tolist(), m["n_trials"].values.tolist()
    ([2.0, 10.0], [2, 1])
    """
    values = np.asarray(ds[by].values)
    conditions = np.unique(values.astype(str))
    X = np.asarray(ds[variable].transpose("trial", "neuron").values, dtype=float)
    onehot = (values.astype(str)[None, :] == conditions[:, None]).astype(float)
    counts = onehot.sum(axis=1)
    means = onehot @ X / counts[:, None]
    out = xr.DataArray(means, dims=("condition", "neuron"),
                       coords={"condition": conditions,
                               **{k: v for k, v in ds[variable].coords.items()
                                  if v.dims == ("neuron",)}})
    return out.assign_coords(n_trials=("condition", counts.astype(np.int64)))


def stack_tracks(tree: xr.DataTree | xr.Dataset, *, mouse: str | None = None,
                 variable: str = "rates", by: str = "stimulus") -> xr.Dataset:
    """One animal's tracked cells over its sessions: condition means with NaN where absent.

    Parameters
    ----------
    tree : DataTree or Dataset
        Sessions with a ``track`` coordinate.
    mouse : str, optional
        The animal; required when the study has several.
    variable : str, default "rates"
    by : str, default "stimulus"
        Trial coordinate whose values are the conditions.

    Returns
    -------
    Dataset
        ``mean`` (session, condition, track): the condition-mean response, NaN
        where the cell was not recorded that day or the condition not given;
        ``present`` (session, track) bool; coords ``day`` and ``phase`` on
        ``session``. ``attrs["n_tracks"]``, ``attrs["n_present"]`` (cells ×
        sessions recorded) say how complete the stack is.

    Raises
    ------
    InsufficientDataError
        If the animal has no tracked session.

    Examples
    --------
    >>> import numpy as np
    >>> from data_loaders.synthetic_tracked import make_tracked_dataset
    >>> tree = make_tracked_dataset(n_mice=1, n_training_days=1, n_overtraining_days=2,
    ...                             n_cells=30, trials_per_session=40, missing_fraction=0.3)
    >>> stack = stack_tracks(tree)
    >>> stack["mean"].dims
    ('session', 'condition', 'track')
    >>> absent = ~stack["present"].values[:, None, :].repeat(stack.sizes["condition"], axis=1)
    >>> bool(np.isnan(stack["mean"].values[absent]).all())  # missing cells: NaN, never 0
    True
    """
    by_mouse = tracked_sessions(tree)
    if mouse is None:
        if len(by_mouse) != 1:
            raise InsufficientDataError(f"stack_tracks: pass `mouse=`; the study has tracked "
                                        f"sessions of {sorted(by_mouse) or 'no animal'}.")
        mouse = next(iter(by_mouse))
    if mouse not in by_mouse:
        raise InsufficientDataError(f"stack_tracks: no tracked session of {mouse!r}.")
    sessions = by_mouse[mouse]
    means = [condition_means(ds, variable=variable, by=by) for _, ds in sessions]
    tracks = sorted(set().union(*(set(session_tracks(ds).tolist()) for _, ds in sessions))
                    - {""})
    conditions = sorted(set().union(*(set(m["condition"].values.tolist()) for m in means)))
    t_index = {t: i for i, t in enumerate(tracks)}
    c_index = {c: i for i, c in enumerate(conditions)}
    stack = np.full((len(sessions), len(conditions), len(tracks)), np.nan)
    present = np.zeros((len(sessions), len(tracks)), bool)
    for s, ((_, ds), m) in enumerate(zip(sessions, means, strict=True)):
        own = session_tracks(ds)
        cols = np.array([t_index[t] for t in own if t], dtype=np.int64)
        keep = own != ""
        rows = np.array([c_index[c] for c in m["condition"].values.tolist()])
        stack[s, rows[:, None], cols[None, :]] = m.values[:, keep]
        present[s, cols] = True
    info = [session_info(ds) for _, ds in sessions]
    return xr.Dataset(
        {"mean": (("session", "condition", TRACK), stack),
         "present": (("session", TRACK), present)},
        coords={"session": [i["session"] for i in info], "condition": conditions,
                TRACK: np.array(tracks, dtype=object),
                "day": ("session", [i["day"] for i in info]),
                "phase": ("session", [i["phase"] for i in info])},
        attrs={"mouse": mouse, "variable": variable, "by": by, "n_tracks": len(tracks),
               "n_present": int(present.sum())})
