"""What every events-aligned reader shares: finding its sessions under a folder and
gathering them into a study tree."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from data_loaders.events import read_events
from neurolearn._version import __version__
from neurolearn.errors import LoaderError
from neurolearn.schema import to_tree

__all__ = ["session_folders", "study_tree", "events_table"]


def session_folders(path: Path, is_session: Callable[[Path], bool], what: str
                    ) -> list[tuple[str, Path]]:
    """``[(session name, folder)]``: ``path`` itself when it is one session's output,
    else each sub-folder (searched two levels deep) that is, named after it.

    Raises
    ------
    LoaderError
        If ``path`` does not exist or holds no session.
    """
    if not path.exists():
        raise LoaderError(f"{path}: no such file or directory.")
    if is_session(path):
        return [(_session_name(path), path)]
    found = sorted({p for p in path.glob("*") if p.is_dir() and is_session(p)} |
                   {p for p in path.glob("*/*") if p.is_dir() and is_session(p)})
    if not found:
        raise LoaderError(f"{path}: found no {what} here or in its sub-folders.")
    return [(_session_name(p), p) for p in found]


def _session_name(folder: Path) -> str:
    # Pipelines nest their output in a folder of their own name (…/<session>/suite2p);
    # the session is the folder above it.
    generic = {"suite2p", "kilosort", "kilosort2", "kilosort3", "kilosort4", "phy",
               "sorter_output", "caiman"}
    return folder.parent.name if folder.name.lower() in generic else folder.name


def events_table(events: Any, columns: Any = None) -> pd.DataFrame:
    if events is None:
        raise LoaderError("this format has no trial structure of its own: pass `events=`, a "
                          "CSV/TSV file or DataFrame with one row per trial (columns time, "
                          "stimulus, label, and session when the folder holds several).")
    return read_events(events, columns=columns)


def study_tree(sessions: Iterable[xr.Dataset], *, source: Path, format: str,
               attrs: dict[str, Any] | None = None) -> xr.DataTree:
    """The study tree of the sessions a reader built, with its provenance in ``attrs``."""
    return to_tree(list(sessions), attrs={"source": str(source), "format": format,
                                          "neurolearn_version": __version__, **(attrs or {})})
