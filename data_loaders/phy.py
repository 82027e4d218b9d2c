"""Kilosort / Phy output folders, aligned to trials by an events table.

A Kilosort output folder (the one Phy opens) holds ``spike_times.npy``
(sample index of every spike), ``spike_clusters.npy`` (its cluster; Kilosort
alone writes ``spike_templates.npy``, used when there is no
``spike_clusters.npy``), ``params.py`` (Python assignments, among them
``sample_rate`` in Hz), and the unit labels: ``cluster_group.tsv`` (Phy's
curated ``group``: good / mua / noise) or, before curation,
``cluster_KSLabel.tsv`` (Kilosort's ``KSLabel``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from data_loaders._study import events_table, session_folders, study_tree
from data_loaders.events import SPIKE_WINDOW, session_events, session_from_events, spike_responses
from neurolearn.errors import LoaderError, ParameterError

__all__ = ["load_phy", "read_params"]


def _is_phy(folder: Path) -> bool:
    return (folder / "spike_times.npy").is_file()


def read_params(path: str | Path) -> dict[str, Any]:
    """The assignments of a Phy ``params.py``, read without executing it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "params.py"
    >>> _ = p.write_text("dat_path = 'raw.bin'\\nn_channels_dat = 385\\nsample_rate = 30000.\\n")
    >>> read_params(p)["sample_rate"]
    30000.0
    """
    path = Path(path)
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, ValueError) as exc:
        raise LoaderError(f"{path}: cannot parse: {exc}") from exc
    params: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            try:
                params[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError):
                continue  # an expression we do not need (e.g. a path join)
    return params


def _labels(folder: Path) -> tuple[pd.Series | None, str]:
    """Cluster id → label, from Phy's curation when present, else Kilosort's."""
    for name, column in (("cluster_group.tsv", "group"), ("cluster_KSLabel.tsv", "KSLabel"),
                         ("cluster_info.tsv", "group")):
        file = folder / name
        if not file.is_file():
            continue
        try:
            table = pd.read_csv(file, sep="\t")
        except Exception as exc:  # pandas raises many types for a malformed file
            raise LoaderError(f"{file}: cannot read: {exc}") from exc
        if "cluster_id" not in table.columns or column not in table.columns:
            raise LoaderError(f"{file}: expected columns cluster_id and {column}; got "
                              f"{', '.join(table.columns)}.")
        return (pd.Series(table[column].astype(str).str.strip().str.lower().to_numpy(),
                          index=table["cluster_id"].to_numpy()), name)
    return None, ""


def load_phy(
    path: str | Path,
    events: str | Path | pd.DataFrame | None = None,
    *,
    session: str | None = None,
    mouse: str | None = None,
    day: int | None = None,
    phase: str | None = None,
    groups: tuple[str, ...] | None = ("good",),
    window: tuple[float, float] = SPIKE_WINDOW,
    baseline: tuple[float, float] | None = None,
    bin_size: float | None = None,
    zscore: bool = True,
    columns: dict[str, str] | None = None,
) -> xr.DataTree:
    """Load Kilosort/Phy output folders, one session each, aligned to trials.

    Parameters
    ----------
    path : path
        A Kilosort/Phy output folder, or a folder whose sub-folders are.
        A session is named after its folder (the one above a ``kilosort*``
        or ``sorter_output`` folder).
    events : path or DataFrame
        Events table; ``time`` in s on the recording's clock (spike sample /
        ``sample_rate``).
    session, mouse, day, phase : optional
        Override the folder name and the table's columns.
    groups : tuple of str or None, default ("good",)
        Unit labels to keep (Phy ``group`` or Kilosort ``KSLabel``); None
        keeps every cluster.
    window : (float, float), default (0.1, 0.6)
        Response window in s from onset; the response is its firing rate (Hz).
    baseline, bin_size, zscore, columns
        As in :func:`data_loaders.events.spike_responses` and
        :func:`data_loaders.load_suite2p`.

    Returns
    -------
    DataTree
        One session per folder; ``neuron`` coords ``cluster_id`` and
        ``group``. ``attrs`` record the sample rate, the label file used and
        the clusters left out by label.

    Raises
    ------
    LoaderError
        If a file is missing or malformed, or labels are asked for but absent.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd
    >>> ks = pathlib.Path(tempfile.mkdtemp()) / "R-d04" / "kilosort4"
    >>> ks.mkdir(parents=True)
    >>> rng = np.random.default_rng(0)
    >>> spikes = np.sort(rng.integers(0, 30_000 * 60, 4000))          # 60 s at 30 kHz
    >>> np.save(ks / "spike_times.npy", spikes.astype(np.uint64))
    >>> np.save(ks / "spike_clusters.npy", rng.integers(0, 3, spikes.size).astype(np.int32))
    >>> _ = (ks / "params.py").write_text("sample_rate = 30000.0\\n")
    >>> pd.DataFrame({"cluster_id": [0, 1, 2], "group": ["good", "mua", "good"]}).to_csv(
    ...     ks / "cluster_group.tsv", sep="\\t", index=False)
    >>> events = pd.DataFrame({"time": np.arange(1.0, 50.0, 2.0), "stimulus": "A",
    ...                        "label": np.arange(25) % 2, "mouse": "R", "day": 4})
    >>> ds = load_phy(ks.parent, events).leaves[0]
    >>> ds["cluster_id"].values.tolist(), ds.sizes["trial"]
    ([0, 2], 25)
    """
    path = Path(path)
    table = events_table(events, columns)
    folders = session_folders(path, _is_phy, "Kilosort/Phy output (spike_times.npy)")
    if session is not None and len(folders) > 1:
        raise ParameterError(f"`session=` names one folder; {path} holds {len(folders)}.")
    sessions = []
    for name, folder in folders:
        name = session or name
        if not (folder / "params.py").is_file():
            raise LoaderError(f"{folder}: missing params.py (it holds `sample_rate`).")
        rate = read_params(folder / "params.py").get("sample_rate")
        if rate is None:
            raise LoaderError(f"{folder / 'params.py'}: no `sample_rate`.")
        clusters_file = folder / "spike_clusters.npy"
        if not clusters_file.is_file():
            clusters_file = folder / "spike_templates.npy"
        if not clusters_file.is_file():
            raise LoaderError(f"{folder}: missing spike_clusters.npy (or spike_templates.npy).")
        try:
            samples = np.load(folder / "spike_times.npy").astype(np.float64).ravel()
            clusters = np.load(clusters_file).astype(np.int64).ravel()
        except Exception as exc:  # numpy raises several types for a corrupt file
            raise LoaderError(f"{folder}: cannot read the spike files: {exc}") from exc
        if samples.size != clusters.size:
            raise LoaderError(f"{folder}: spike_times.npy has {samples.size} spikes but "
                              f"{clusters_file.name} has {clusters.size}.")
        times = samples / float(rate)
        labels, label_file = _labels(folder)
        ids = np.unique(clusters)
        if groups is not None:
            if labels is None:
                raise LoaderError(f"{folder}: no cluster_group.tsv or cluster_KSLabel.tsv to "
                                  f"choose {groups} units by; pass groups=None for all.")
            group = np.array([labels.get(i, "unsorted") for i in ids], dtype=object)
            keep = np.isin(group, [g.lower() for g in groups])
        else:
            group = (np.array([labels.get(i, "unsorted") for i in ids], dtype=object)
                     if labels is not None else np.full(ids.size, "unsorted", dtype=object))
            keep = np.ones(ids.size, bool)
        if not keep.any():
            raise LoaderError(f"{folder}: no cluster labelled {groups} in {label_file}.")
        order = np.argsort(clusters, kind="stable")
        starts = np.searchsorted(clusters[order], ids)
        trains = np.split(times[order], starts[1:])
        rows = session_events(table, name, where=str(folder))
        responses = spike_responses([trains[i] for i in np.flatnonzero(keep)],
                                    rows["time"].to_numpy(), window=window, baseline=baseline,
                                    bin_size=bin_size,
                                    extent=(0.0, float(times.max(initial=0.0))), session=name)
        sessions.append(session_from_events(
            responses, rows, session=name, unit_id=[f"cl{i}" for i in ids[keep]], mouse=mouse,
            day=day, phase=phase, units="Hz", zscore=zscore,
            neuron_coords={"cluster_id": ids[keep], "group": group[keep]}, where=str(folder),
            attrs={"source": str(folder), "format": "phy", "sample_rate_hz": float(rate),
                   "label_file": label_file, "unit_groups": list(groups or ()),
                   "response_window": list(window),
                   "clusters_left_out": int((~keep).sum())}))
    return study_tree(sessions, source=path, format="phy")
