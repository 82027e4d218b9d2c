"""Write a file completely or not at all: a temporary file beside it, renamed on success."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from neurolearn.errors import LoaderError

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | Path, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` if the block succeeds.

    A failure (or Ctrl-C) inside the block removes the temporary file, so
    nothing partial is ever left at ``path``, and an earlier file there is
    kept.

    Parameters
    ----------
    path : path
        The file to write.
    suffix : str, optional
        Ending the temporary name must have (some writers append one).

    Yields
    ------
    Path
        The temporary file to write (same folder, so the final move is atomic).

    Raises
    ------
    LoaderError
        If ``path`` is a folder, its folder does not exist, or it cannot be
        written there; the message names the path.
    """
    path = Path(path)
    if path.is_dir():
        raise LoaderError(f"{path}: is a folder; give a file name to write to.")
    if not path.parent.is_dir():
        raise LoaderError(f"{path}: its folder {path.parent} does not exist; create it first.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}",
                                   dir=path.parent)
    except OSError as exc:
        raise LoaderError(f"{path}: cannot write there ({exc.strerror or exc}).") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
