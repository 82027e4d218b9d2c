"""Cell identities across sessions from ROICaT, CellReg, UnitMatch or a table.

Each tracker writes, per animal, which unit of which session is which cell:

``csv``
    A table with columns ``session``, ``unit_id`` (as loaded) and ``track``.
``cellreg``
    CellReg's ``cellRegistered_*.mat``: ``cell_registered_struct.
    cell_to_index_map``, one row per registered cell, one column per
    session, holding the 1-based index of the cell in that session's
    footprints (0: not found that day).
``roicat``
    ROICaT's tracking results pickle: ``clusters["labels_bySession"]``, one
    array per session with each ROI's cluster (UCID; −1: unclustered).
``unitmatch``
    UnitMatch's ``UnitMatch.mat``: ``UniqueIDConversion`` with
    ``UniqueID``, ``OriginalClusID`` (the Kilosort cluster id),
    ``recsesAll`` (1-based session) and ``GoodID``.

:func:`read_tracks` turns any of them into one table (``session``, the key
that finds the unit, ``track``) and :func:`assign_tracks` puts the ``track``
coordinate on the study's sessions. Index-based trackers (CellReg, ROICaT)
number the footprints they were given; ``key`` says which unit that index
is: ``"position"`` (the unit's place in the session as loaded; load with the
same cell selection the tracker saw) or a ``neuron`` coordinate such as
``"roi"`` (Suite2p's index in ``stat.npy``).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from data_loaders._matfile import read_mat
from neurolearn.errors import LoaderError, ParameterError
from neurolearn.schema import iter_sessions, session_info
from neurolearn.tracking import TRACK

__all__ = ["read_tracks", "assign_tracks", "TRACK_FORMATS"]

TRACK_FORMATS = ("csv", "cellreg", "roicat", "unitmatch")
_DEFAULT_KEY = {"csv": "unit_id", "cellreg": "position", "roicat": "position",
                "unitmatch": "cluster_id"}


def _guess(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".pkl", ".pickle"):
        return "roicat"
    if suffix == ".mat":
        return "unitmatch" if "unitmatch" in path.name.lower() else "cellreg"
    raise LoaderError(f"{path}: cannot tell the tracker from the name; pass format= one of "
                      f"{', '.join(TRACK_FORMATS)}.")


def _session_names(sessions: Sequence[str] | None, n: int, path: Path) -> list[str]:
    if sessions is None:
        raise ParameterError(f"{path}: this tracker numbers sessions ({n} of them); pass "
                             "`sessions=` naming them in the tracker's order.")
    if len(sessions) != n:
        raise LoaderError(f"{path}: the tracker has {n} sessions but `sessions=` names "
                          f"{len(sessions)}.")
    return [str(s) for s in sessions]


def _mat(path: Path) -> dict[str, Any]:
    try:
        return read_mat(path)
    except Exception as exc:  # scipy/h5py raise many types for a bad file
        raise LoaderError(f"{path}: cannot read as a MATLAB file: {exc}") from exc


def _cellreg(path: Path, sessions: Sequence[str] | None) -> pd.DataFrame:
    raw = _mat(path)
    struct = raw.get("cell_registered_struct")
    if not isinstance(struct, dict) or "cell_to_index_map" not in struct:
        raise LoaderError(f"{path}: no `cell_registered_struct.cell_to_index_map`; is this "
                          "CellReg's cellRegistered_*.mat?")
    index_map = np.atleast_2d(np.asarray(struct["cell_to_index_map"]))
    if index_map.dtype.kind not in "biuf" or (index_map < 0).any():
        raise LoaderError(f"{path}: `cell_to_index_map` must hold non-negative indices.")
    names = _session_names(sessions, index_map.shape[1], path)
    cell, column = np.nonzero(index_map)
    return pd.DataFrame({"session": np.array(names, dtype=object)[column],
                         "position": index_map[cell, column].astype(np.int64) - 1,
                         "track": [f"cell{c}" for c in cell]})


def _roicat(path: Path, sessions: Sequence[str] | None) -> pd.DataFrame:
    try:
        with open(path, "rb") as fh:
            results = pickle.load(fh)  # ROICaT's own output format; load only trusted files
    except Exception as exc:  # pickle raises many types for a bad file
        raise LoaderError(f"{path}: cannot read as a pickle: {exc}") from exc
    try:
        by_session = results["clusters"]["labels_bySession"]
    except (KeyError, TypeError) as exc:
        raise LoaderError(f"{path}: no `clusters['labels_bySession']`; is this ROICaT's "
                          "tracking results file?") from exc
    names = _session_names(sessions, len(by_session), path)
    frames = []
    for name, labels in zip(names, by_session, strict=True):
        labels = np.asarray(labels, dtype=np.int64).ravel()
        roi = np.flatnonzero(labels >= 0)
        frames.append(pd.DataFrame({"session": name, "position": roi,
                                    "track": [f"ucid{u}" for u in labels[roi]]}))
    return pd.concat(frames, ignore_index=True)


def _unitmatch(path: Path, sessions: Sequence[str] | None, good_only: bool) -> pd.DataFrame:
    raw = _mat(path)
    conv = raw.get("UniqueIDConversion")
    fields = ("UniqueID", "OriginalClusID", "recsesAll")
    if not isinstance(conv, dict) or any(f not in conv for f in fields):
        raise LoaderError(f"{path}: no `UniqueIDConversion` with {', '.join(fields)}; is this "
                          "UnitMatch's UnitMatch.mat?")
    uid, clus, rec = (np.asarray(conv[f]).ravel().astype(np.int64) for f in fields)
    keep = np.ones(uid.size, bool)
    if good_only and "GoodID" in conv:
        keep = np.asarray(conv["GoodID"]).ravel().astype(bool)
    recs = np.unique(rec)
    names = _session_names(sessions, int(recs.max()), path)
    return pd.DataFrame({"session": np.array(names, dtype=object)[rec[keep] - 1],
                         "cluster_id": clus[keep], "track": [f"uid{u}" for u in uid[keep]]})


def read_tracks(source: str | Path | pd.DataFrame, *, format: str | None = None,
                sessions: Sequence[str] | None = None, good_only: bool = True
                ) -> pd.DataFrame:
    """Read a tracker's output into one table of (session, unit key, track).

    Parameters
    ----------
    source : path or DataFrame
        A tracker's file (see the module docstring) or a DataFrame with
        ``session``, ``unit_id`` and ``track`` columns.
    format : {"csv", "cellreg", "roicat", "unitmatch"}, optional
        By default from the file name (``.csv``/``.tsv``, ``.pkl``,
        ``UnitMatch*.mat``, other ``.mat``: CellReg).
    sessions : sequence of str, optional
        Session names in the tracker's order (CellReg columns, ROICaT
        sessions, UnitMatch ``recsesAll``); required by those trackers.
    good_only : bool, default True
        UnitMatch: keep only ``GoodID`` units.

    Returns
    -------
    DataFrame
        Columns ``session``, the key (``unit_id``, ``position`` or
        ``cluster_id``) and ``track`` (str); ``attrs["key"]`` names the key,
        ``attrs["format"]`` the tracker and ``attrs["sessions"]`` every
        session it covers.

    Raises
    ------
    LoaderError
        If the file is not the tracker's, or its sessions do not match
        ``sessions``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = read_tracks(pd.DataFrame({"session": ["d1", "d2"], "unit_id": ["u3", "u7"],
    ...                               "track": ["cellA", "cellA"]}))
    >>> t.attrs["key"], t["track"].tolist()
    ('unit_id', ['cellA', 'cellA'])
    """
    if isinstance(source, pd.DataFrame):
        table, fmt = source.copy(), "csv"
        where = "tracks table"
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise LoaderError(f"{path}: tracks file not found.")
        fmt = format or _guess(path)
        if fmt not in TRACK_FORMATS:
            raise ParameterError(f"`format` must be one of {TRACK_FORMATS}; got {fmt!r}.")
        if fmt == "csv":
            try:
                table = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
            except Exception as exc:  # pandas raises many types for a malformed file
                raise LoaderError(f"{path}: cannot read: {exc}") from exc
        elif fmt == "cellreg":
            table = _cellreg(path, sessions)
        elif fmt == "roicat":
            table = _roicat(path, sessions)
        else:
            table = _unitmatch(path, sessions, good_only)
    key = _DEFAULT_KEY[fmt]
    missing = [c for c in ("session", key, TRACK) if c not in table.columns]
    if missing:
        raise LoaderError(f"{where}: missing column(s) {', '.join(missing)} (need session, "
                          f"{key}, track).")
    table["session"] = table["session"].astype(str)
    table[TRACK] = table[TRACK].astype(str)
    if key == "unit_id":
        table[key] = table[key].astype(str)
    dup = table.duplicated(["session", TRACK])
    if dup.any():
        row = table[dup].iloc[0]
        raise LoaderError(f"{where}: track {row[TRACK]!r} names two units in session "
                          f"{row['session']!r}; one cell per track per session.")
    # Index-based trackers list every session they saw, even one where they
    # matched no cell: those sessions still get a `track` (all "").
    listed = list(sessions) if sessions is not None and fmt != "csv" else []
    table.attrs = {"key": key, "format": fmt,
                   "sessions": sorted(set(table["session"]) | {str(s) for s in listed})}
    return table


def assign_tracks(tree: xr.DataTree, tracks: str | Path | pd.DataFrame, *,
                  key: str | None = None, format: str | None = None,
                  sessions: Sequence[str] | None = None, mouse: str | None = None
                  ) -> xr.DataTree:
    """Put the ``track`` coordinate on every session a tracks table names.

    Parameters
    ----------
    tree : DataTree
        The study.
    tracks : path or DataFrame
        A tracker's output or a table (see :func:`read_tracks`).
    key : str, optional
        How a table row finds its unit: ``"unit_id"``, ``"position"`` (the
        unit's index in the session as loaded) or a ``neuron`` coordinate
        (``"roi"``, ``"cluster_id"``, ``"component"``). Default: the
        tracker's (CSV ``unit_id``, CellReg/ROICaT ``position``, UnitMatch
        ``cluster_id``).
    format : str, optional
        See :func:`read_tracks`.
    sessions : sequence of str, optional
        The tracker's session order; by default ``mouse``'s sessions in day
        order.
    mouse : str, optional
        The animal an index-based tracker's file belongs to (default: the
        study's only animal).

    Returns
    -------
    DataTree
        A copy whose named sessions have ``track`` (str; "" for units the
        tracker did not match) and ``attrs["n_tracked"]``.

    Raises
    ------
    LoaderError
        If a row names a session or a unit the study does not have.

    Examples
    --------
    >>> import pandas as pd
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
    ...                                  units_per_session=(5, 5))
    >>> first, second = (leaf["unit_id"].values[:2].tolist() for leaf in tree.leaves)
    >>> table = pd.DataFrame({"session": ["A-d01", "A-d01", "A-d02", "A-d02"],
    ...                       "unit_id": first + second, "track": ["c1", "c2", "c2", "c1"]})
    >>> tracked = assign_tracks(tree, table)
    >>> [leaf["track"].values.tolist()[:3] for leaf in tracked.leaves]
    [['c1', 'c2', ''], ['c2', 'c1', '']]
    """
    if sessions is None and not isinstance(tracks, pd.DataFrame) and \
            (format or _guess(Path(tracks))) != "csv":
        by_mouse: dict[str, list[tuple[int, str]]] = {}
        for _, ds in iter_sessions(tree):
            info = session_info(ds)
            by_mouse.setdefault(info["mouse"], []).append((info["day"], info["session"]))
        if mouse is None:
            if len(by_mouse) != 1:
                raise ParameterError(f"pass `mouse=` (one of {sorted(by_mouse)}) or "
                                     "`sessions=`: a tracker's file covers one animal.")
            mouse = next(iter(by_mouse))
        sessions = [s for _, s in sorted(by_mouse[mouse])]
    table = read_tracks(tracks, format=format, sessions=sessions)
    key = key or table.attrs["key"]
    if key not in table.columns:
        # An index-based tracker matched through a neuron coordinate: its index is it.
        table = table.rename(columns={table.attrs["key"]: key})
    out = tree.copy()
    named = set(table.attrs["sessions"])
    seen: set[str] = set()
    for node in out.subtree:
        if "rates" not in node.data_vars and "binned" not in node.data_vars:
            continue
        ds = node.to_dataset()
        session = session_info(ds)["session"]
        if session not in named:
            continue
        seen.add(session)
        rows = table[table["session"] == session]
        if key == "position":
            units = np.arange(ds.sizes["neuron"])
        elif key in ds.coords and ds[key].dims == ("neuron",):
            units = np.asarray(ds[key].values)
        else:
            raise LoaderError(f"session {session}: no neuron coordinate `{key}` to match the "
                              "tracks by; pass key='position' or the coordinate's name.")
        lookup = {(str(u) if key == "unit_id" else u): i for i, u in enumerate(units.tolist())}
        values = rows[key].tolist()
        missing = [v for v in values if (str(v) if key == "unit_id" else v) not in lookup]
        if missing:
            raise LoaderError(f"session {session}: the tracks name units not in the session "
                              f"(by {key}): {missing[:5]} ({len(missing)} in all). Load with "
                              "the cell selection the tracker saw, or match by a coordinate.")
        track = np.full(ds.sizes["neuron"], "", dtype=object)
        for v, t in zip(values, rows[TRACK].tolist(), strict=True):
            track[lookup[str(v) if key == "unit_id" else v]] = t
        node.dataset = ds.assign_coords({TRACK: ("neuron", track)}).assign_attrs(
            n_tracked=int((track != "").sum()), tracks_source=str(table.attrs["format"]))
    unknown = named - seen
    if unknown:
        raise LoaderError(f"the tracks name sessions the study does not have: "
                          f"{', '.join(sorted(unknown)[:5])}.")
    return out
