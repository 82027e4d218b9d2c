"""In-memory arrays and NumPy ``.npz`` files to the canonical layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from data_loaders._atomic import atomic_write
from neurolearn.errors import LoaderError, SchemaError
from neurolearn.schema import iter_sessions, make_session, to_tree

__all__ = ["from_arrays", "load_npz", "save_npz"]

_SESSION_KEYS = ("session", "mouse", "day", "phase")
_TRIAL_KEYS = ("stimulus", "label", "choice", "correct", "heldout")


def from_arrays(rates: Any = None, **kwargs: Any) -> xr.Dataset:
    """Build one session Dataset from arrays.

    A thin, validated entry point equal to
    :func:`neurolearn.schema.make_session`; see there for the parameters
    (``rates`` (n_trials, n_units) in spikes/s, ``stimulus``, ``label``,
    ``session``, ``mouse``, ``day``, ``phase``, optional ``binned``, ``time``,
    ``choice``, ``correct``, ``heldout``, ``unit_id``).

    Parameters
    ----------
    rates : array (n_trials, n_units), optional
        Rates in spikes/s.
    **kwargs
        The other arguments of :func:`neurolearn.schema.make_session`.

    Returns
    -------
    Dataset

    Examples
    --------
    >>> import numpy as np
    >>> ds = from_arrays(np.random.default_rng(0).normal(size=(20, 5)),
    ...                  stimulus=["a", "b"] * 10, label=[1, 0] * 10,
    ...                  session="s1", mouse="m1", day=1, phase="training")
    >>> dict(ds.sizes)
    {'trial': 20, 'neuron': 5}
    """
    return make_session(rates, **kwargs)


def save_npz(tree: xr.DataTree | xr.Dataset, path: str | Path) -> Path:
    """Save sessions to one ``.npz`` file, keys prefixed ``<session>/``.

    Per session it writes ``rates`` (and ``binned``/``time`` when present),
    the per-trial coordinates, ``unit_id``, and a ``meta`` JSON string with
    ``session``, ``mouse``, ``day``, ``phase`` and ``bin_size``. The file is
    written completely or not at all.

    Parameters
    ----------
    tree : DataTree or Dataset
    path : str or Path
        The ``.npz`` file to write.

    Returns
    -------
    Path

    Raises
    ------
    LoaderError
        If ``path`` is a folder, its folder is missing, or it is not writable.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_npz(tree, Path(folder) / "study.npz")
    ...     back = load_npz(path)
    >>> bool((back["A/A-d01"]["rates"] == tree["A/A-d01"]["rates"]).all())
    True
    """
    arrays: dict[str, np.ndarray] = {}
    for _, ds in iter_sessions(tree):
        name = str(ds["session"].values[0])
        meta = {key: (int(ds[key].values[0]) if key == "day" else str(ds[key].values[0]))
                for key in _SESSION_KEYS}
        if "binned" in ds.data_vars:
            arrays[f"{name}/binned"] = ds["binned"].values
            arrays[f"{name}/time"] = ds["time"].values
            meta["bin_size"] = float(ds["binned"].attrs["bin_size"])
        if "rates" in ds.data_vars:
            arrays[f"{name}/rates"] = ds["rates"].values
        for key in _TRIAL_KEYS:
            if key in ds.coords:
                values = ds[key].values
                arrays[f"{name}/{key}"] = values.astype(str) if values.dtype == object else values
        arrays[f"{name}/unit_id"] = ds["unit_id"].values.astype(str)
        arrays[f"{name}/meta"] = np.array(json.dumps(meta))
    path = Path(path)
    # np.savez appends ".npz" to a name without it; say so by writing there.
    target = path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")
    with atomic_write(target, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return target


def load_npz(path: str | Path) -> xr.DataTree:
    """Load a ``.npz`` file written by :func:`save_npz` (or laid out like it).

    Each session needs ``<session>/meta`` (JSON with ``session``, ``mouse``,
    ``day``, ``phase``), ``<session>/stimulus``, ``<session>/label`` and
    ``<session>/rates`` or ``<session>/binned`` + ``<session>/time``.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    DataTree

    Raises
    ------
    LoaderError
        If the file cannot be read or a session lacks a required key.

    Examples
    --------
    See :func:`save_npz` for a round trip.

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from neurolearn.schema import make_session, to_tree
    >>> ds = make_session(np.ones((4, 2)), stimulus=["a", "b", "a", "b"], label=[1, 0, 1, 0],
    ...                   session="s1", mouse="m1", day=1, phase="training")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     back = load_npz(save_npz(to_tree([ds]), Path(folder) / "one.npz"))
    >>> back["m1/s1"]["rates"].shape
    (4, 2)
    """
    try:
        archive = np.load(Path(path), allow_pickle=False)
        keys = list(archive.keys())
    except (OSError, ValueError) as exc:
        raise LoaderError(f"{path}: cannot read as a NumPy .npz archive: {exc}") from exc
    names = sorted({k.rsplit("/", 1)[0] for k in keys if k.endswith("/meta")})
    if not names:
        raise LoaderError(f"{path}: no `<session>/meta` entries; write the file with "
                          "data_loaders.save_npz or follow its layout.")
    sessions = []
    for name in names:
        def get(key: str, required: bool = False, name: str = name) -> Any:
            full = f"{name}/{key}"
            if full not in archive:
                if required:
                    raise LoaderError(f"{path}: session {name!r} lacks `{full}`.")
                return None
            return archive[full]

        meta = json.loads(str(get("meta", True)))
        missing = [k for k in _SESSION_KEYS if k not in meta]
        if missing:
            raise LoaderError(f"{path}: `{name}/meta` lacks {missing}.")
        try:
            sessions.append(make_session(
                get("rates"), binned=get("binned"), time=get("time"),
                bin_size=meta.get("bin_size"), stimulus=get("stimulus", True),
                label=get("label", True), choice=get("choice"), correct=get("correct"),
                heldout=get("heldout"), unit_id=get("unit_id"),
                **{k: meta[k] for k in _SESSION_KEYS}))
        except SchemaError as exc:
            raise LoaderError(f"{path}: session {name!r}: {exc}") from exc
    return to_tree(sessions, attrs={"source": str(path), "format": "npz"})
