"""An output folder that is written completely or not at all, and never loses a user's file.

:class:`OutputFolder` stages every file in a hidden temporary folder inside
the target and moves them into place only when the job has succeeded. A
manifest (``.neurolearn-output.json``) lists the files neurolearn wrote
there, so a later run may replace them; any other file in the folder is
never deleted, and never overwritten unless the caller passes
``overwrite=True``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from neurolearn._version import __version__
from neurolearn.errors import ParameterError

__all__ = ["OutputFolder", "MANIFEST"]

MANIFEST = ".neurolearn-output.json"
_STAGING_PREFIX = ".neurolearn-staging-"


class OutputFolder:
    """Stage files for ``directory``; commit them atomically on success.

    Parameters
    ----------
    directory : path
        The output folder (created if missing).
    overwrite : bool, default False
        Allow a non-empty folder that is not an earlier neurolearn output, and
        replacing files of the same names there. Other files are kept.

    Raises
    ------
    ParameterError
        On entry: ``directory`` is a file, or a non-empty folder that holds
        files neurolearn did not write (without ``overwrite``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with OutputFolder(target) as out:
    ...     _ = out.path("results.txt").write_text("done")
    >>> sorted(p.name for p in target.iterdir())
    ['.neurolearn-output.json', 'results.txt']
    """

    def __init__(self, directory: str | Path, *, overwrite: bool = False):
        self.directory = Path(directory)
        self.overwrite = overwrite
        self._created = False
        self._staging: Path | None = None
        self._previous: list[str] = []

    def check(self) -> None:
        """Refuse a target that is a file, or a foreign non-empty folder (see the class).

        Raises
        ------
        ParameterError
            Naming the folder and why it cannot be written.
        """
        d = self.directory
        if d.exists() and not d.is_dir():
            raise ParameterError(f"--out {d}: exists and is not a folder.")
        if not d.exists():
            return
        manifest = d / MANIFEST
        if manifest.exists():
            try:
                self._previous = list(json.loads(manifest.read_text())["files"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ParameterError(f"--out {d}: its {MANIFEST} is unreadable ({exc}); "
                                     "remove it or choose another folder.") from exc
            return
        foreign = [p.name for p in d.iterdir() if not p.name.startswith(_STAGING_PREFIX)]
        if foreign and not self.overwrite:
            raise ParameterError(
                f"--out {d}: the folder is not empty and is not an earlier neurolearn output "
                f"(it holds {', '.join(sorted(foreign)[:3])}{' ...' if len(foreign) > 3 else ''})"
                "; choose an empty or new folder, or pass --overwrite (files of other names are "
                "kept).")

    def __enter__(self) -> OutputFolder:
        self.check()
        if not self.directory.exists():
            self.directory.mkdir(parents=True)
            self._created = True
        self._staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.directory))
        return self

    def path(self, name: str) -> Path:
        """Where to write ``name`` (a relative path) while staging.

        Parameters
        ----------
        name : str
            Relative path of the file in the output folder.

        Returns
        -------
        Path
            Its place in the staging area (parent folders created).
        """
        if self._staging is None:
            raise RuntimeError("OutputFolder.path() outside its `with` block.")
        target = self._staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def folder(self, name: str) -> Path:
        """A sub-folder ``name`` of the staging area (created).

        Parameters
        ----------
        name : str

        Returns
        -------
        Path
        """
        target = self.path(name)
        target.mkdir(parents=True, exist_ok=True)
        return target

    def staged(self) -> list[str]:
        """Relative paths of the files staged so far.

        Returns
        -------
        list of str
            Sorted.
        """
        assert self._staging is not None
        return sorted(str(p.relative_to(self._staging)) for p in self._staging.rglob("*")
                      if p.is_file())

    def _write_manifest(self, files: list[str]) -> None:
        tmp = self.directory / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps({"written_by": f"neurolearn {__version__}",
                                   "files": sorted(set(files))}, indent=1))
        os.replace(tmp, self.directory / MANIFEST)

    def commit(self) -> list[Path]:
        """Move the staged files into place; returns their final paths.

        Files of an earlier neurolearn output that this run did not write
        again are removed (neurolearn wrote them). Colliding names not in the
        manifest are replaced only with ``overwrite``.

        Returns
        -------
        list of Path
            The files written, at their final places.

        Raises
        ------
        ParameterError
            If a file not written by neurolearn would be replaced without
            ``overwrite``.
        """
        assert self._staging is not None
        files = self.staged()
        collisions = [f for f in files if (self.directory / f).exists()
                      and f not in self._previous]
        if collisions and not self.overwrite:
            raise ParameterError(f"--out {self.directory}: {', '.join(collisions[:3])} exist and "
                                 "were not written by neurolearn; pass --overwrite to replace "
                                 "them.")
        # The manifest lists old and new files while files move, so that an
        # interrupted commit leaves every file we wrote claimed as ours.
        self._write_manifest(self._previous + files)
        # The report last: a folder with a report is a finished folder.
        for name in sorted(files, key=lambda f: f.endswith(".html")):
            target = self.directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._staging / name, target)
        for name in set(self._previous) - set(files):
            stale = self.directory / name
            if stale.is_file():
                stale.unlink()
        self._write_manifest(files)
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging = None
        return [self.directory / f for f in files]

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None and self._staging is not None:
            self.commit()
            return
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        if self._created and self.directory.exists() and not any(self.directory.iterdir()):
            self.directory.rmdir()
