"""Neural Decoding Toolbox rasters in general: any label field, any grouping into sessions.

The Neural Decoding Toolbox (Meyers 2013) stores one MATLAB file per site
(unit): ``raster_data`` (n_trials × n_time, usually 1 ms bins of 0/1 spikes),
``raster_labels`` (a struct of per-trial cell arrays, one field per
labelling) and ``raster_site_info`` (a struct of per-site values: session,
recording date, brain area, ``alignment_event_time`` …). The Berners-Lee
rasters are one instance (:func:`data_loaders.load_bernerslee` reads them with
the study's own rules); this reader takes the label field and the field that
groups units recorded together into a session by name.

Units recorded in different sessions share no trials. The toolbox decodes
them anyway as *pseudo-populations*: for each unit, a random draw of the same
number of trials of each label value, stacked as if recorded together.
``pseudo_populations=True`` does that (once, with ``seed``); the result says
so in ``attrs["pseudo_population"]``, and its trial-to-trial correlations
between units are destroyed by construction.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from data_loaders._matfile import read_mat
from data_loaders._study import study_tree
from data_loaders.events import zscore_responses
from neurolearn.errors import InsufficientDataError, LoaderError, ParameterError
from neurolearn.schema import make_session

__all__ = ["load_ndt"]


def _site(file: Path, label_field: str) -> dict[str, Any]:
    try:
        raw = read_mat(file)
    except Exception as exc:  # scipy/h5py raise many types for a bad file
        raise LoaderError(f"{file}: cannot read as a MATLAB file: {exc}") from exc
    for key in ("raster_data", "raster_labels"):
        if key not in raw:
            raise LoaderError(f"{file}: missing variable `{key}`; not an NDT raster file.")
    raster = np.atleast_2d(np.asarray(raw["raster_data"]))
    labels = raw["raster_labels"]
    info = raw.get("raster_site_info", {}) or {}
    if not isinstance(labels, dict) or label_field not in labels:
        fields = ", ".join(labels) if isinstance(labels, dict) else "none"
        raise LoaderError(f"{file}: `raster_labels` has no field {label_field!r} (fields: "
                          f"{fields}); pass `label_field=` naming one.")
    values = labels[label_field]
    values = [values] if isinstance(values, str) else list(values)
    if len(values) != raster.shape[0]:
        raise LoaderError(f"{file}: `raster_labels.{label_field}` has {len(values)} entries "
                          f"but `raster_data` has {raster.shape[0]} trials.")
    return {"raster": raster, "labels": np.array([str(v) for v in values], dtype=object),
            "info": info if isinstance(info, dict) else {}, "file": file}


def _info(site: dict[str, Any], field: str | None, default: Any) -> Any:
    if field is None:
        return default
    if field not in site["info"]:
        raise LoaderError(f"{site['file']}: `raster_site_info` has no field {field!r} "
                          f"(fields: {', '.join(site['info']) or 'none'}).")
    value = site["info"][field]
    return value.item() if isinstance(value, np.ndarray) and value.size == 1 else value


def _rates(site: dict[str, Any], onset: int, window: tuple[float, float], bin_ms: float
           ) -> np.ndarray:
    start = onset + int(round(window[0] * 1000 / bin_ms))
    stop = onset + int(round(window[1] * 1000 / bin_ms))
    if start < 0 or stop > site["raster"].shape[1]:
        raise LoaderError(f"{site['file']}: the window {window} s around the onset (column "
                          f"{onset + 1}) needs columns {start + 1}–{stop}; the raster has "
                          f"{site['raster'].shape[1]}.")
    return site["raster"][:, start:stop].sum(axis=1) / (window[1] - window[0])


def load_ndt(
    path: str | Path,
    *,
    label_field: str,
    target: str | list[str] | None = None,
    session_field: str | None = None,
    mouse: str | None = None,
    mouse_field: str | None = None,
    subject: str | None = None,
    subject_field: str | None = None,
    day: int | None = None,
    day_field: str | None = None,
    phase: str | None = None,
    onset_column: int | None = None,
    bin_ms: float = 1.0,
    window: tuple[float, float] = (0.1, 0.6),
    heldout: list[str] | tuple[str, ...] = (),
    pseudo_populations: bool = False,
    trials_per_label: int | None = None,
    zscore: bool = True,
    seed: int = 0,
) -> xr.DataTree:
    """Load Neural Decoding Toolbox raster files with any label fields.

    Parameters
    ----------
    path : path
        A folder of raster ``.mat`` files (v5 or v7.3), one per site.
    label_field : str
        The ``raster_labels`` field to decode, e.g. ``"stimulus_ID"``.
    target : str or list of str, optional
        Label value(s) that are class 1 (all others 0). By default each
        distinct value is its own class (0, 1, … in sorted order).
    session_field : str, optional
        The ``raster_site_info`` field whose value groups sites recorded
        together (their trials must agree). By default every file is one
        session with the others only if their labels agree trial by trial.
    mouse, mouse_field : optional
        The animal: a fixed name, or a ``raster_site_info`` field.
    subject, subject_field : optional
        The same, for an animal that is not a mouse: the coordinate is then
        named ``subject``. One of the four is required.
    day, day_field : optional
        Day of training: a fixed value, or a ``raster_site_info`` field;
        without either the sessions have no ``day``.
    phase : str, optional
        The sessions' phase; without it they have none.
    onset_column : int, optional
        1-based raster column of stimulus onset; by default the site's
        ``raster_site_info.alignment_event_time``.
    bin_ms : float, default 1.0
        Width of one raster column in ms.
    window : (float, float), default (0.1, 0.6)
        Response window in s from onset; the response is spikes / window
        length (Hz).
    heldout : sequence of str, optional
        Label values never used to train a decoder (scored as
        generalisation).
    pseudo_populations : bool, default False
        Combine sites that were not recorded together into one
        pseudo-population per (mouse, day), as the toolbox does.
    trials_per_label : int, optional
        Trials drawn per label value and site for a pseudo-population; by
        default the smallest count any site has.
    zscore : bool, default True
        Z-score each unit within its session (ddof = 1).
    seed : int, default 0
        Seeds the pseudo-population draw.

    Returns
    -------
    DataTree
        One session per group; ``attrs["pseudo_population"]`` is 1 for
        pseudo-populations. The ``stimulus`` coord holds the label value.

    Raises
    ------
    LoaderError
        For unreadable files, missing fields, or sites grouped into a session
        whose labels disagree.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, scipy.io as sio
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rng = np.random.default_rng(0)
    >>> labels = np.array(["car", "face"] * 10, dtype=object).reshape(1, -1)
    >>> for u in range(3):
    ...     sio.savemat(folder / f"site{u}.mat", {
    ...         "raster_data": (rng.random((20, 800)) < 0.05).astype(np.uint8),
    ...         "raster_labels": {"stimulus_ID": labels},
    ...         "raster_site_info": {"session_ID": "s1", "alignment_event_time": 201}})
    >>> tree = load_ndt(folder, label_field="stimulus_ID", target="face",
    ...                 session_field="session_ID", subject="monkey-K")
    >>> ds = tree.leaves[0]
    >>> ds.sizes["neuron"], ds["label"].values[:4].tolist(), "subject" in ds.coords
    (3, [0, 1, 0, 1], True)
    """
    path = Path(path)
    files = sorted(path.glob("*.mat")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise LoaderError(f"{path}: no raster .mat files.")
    sites = [_site(f, label_field) for f in files]
    targets = None if target is None else {target} if isinstance(target, str) else set(target)
    groups: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = defaultdict(list)
    animal = "subject" if (subject or subject_field) else "mouse"
    name_value, name_field = (subject, subject_field) if animal == "subject" else \
        (mouse, mouse_field)
    for site in sites:
        m = str(_info(site, name_field, name_value)) if (name_value or name_field) else None
        d = _info(site, day_field, day) if (day is not None or day_field) else None
        if m is None:
            raise LoaderError(f"{site['file']}: pass `mouse=`/`mouse_field=` (or `subject=`/"
                              "`subject_field=`): NDT rasters carry no fixed animal field.")
        s = (_info(site, session_field, None) if session_field else
             "pseudo" if pseudo_populations else None)
        groups[(m, None if d is None else int(d), s)].append(site)
    if session_field is None and not pseudo_populations:
        # Group files whose labels agree trial by trial into one session.
        regrouped: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = defaultdict(list)
        for (m, d, _), members in groups.items():
            for site in members:
                key = (m, d, hash(tuple(site["labels"])))
                regrouped[key].append(site)
        groups = regrouped
    all_values = sorted({v for s in sites for v in s["labels"]})
    per_day = defaultdict(int)
    for m, d, _ in groups:
        per_day[(m, d)] += 1
    seen: dict[tuple[Any, Any], int] = defaultdict(int)
    rng = np.random.default_rng(seed)
    sessions = []
    for (m, d, s), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0,
                                                                     str(kv[0][2]))):
        rates = []
        for site in members:
            onset = (int(onset_column) - 1 if onset_column is not None else
                     int(_info(site, "alignment_event_time", None)) - 1)
            rates.append(_rates(site, onset, window, bin_ms))
        name = f"{m}-d{d:02d}" if d is not None else str(m)
        if per_day[(m, d)] > 1 or d is None:  # several sessions a day, or no days at all
            name += f"-{s if session_field else seen[(m, d)]}"
        seen[(m, d)] += 1
        if pseudo_populations:
            labels, matrix = _pseudo_population(members, rates, trials_per_label, rng)
        else:
            labels = members[0]["labels"]
            for site in members[1:]:
                if not np.array_equal(site["labels"], labels):
                    raise LoaderError(f"{site['file']} and {members[0]['file']}: grouped into "
                                      f"session {name} but their `{label_field}` labels "
                                      "disagree; group by another field or use "
                                      "pseudo_populations=True.")
            matrix = np.stack(rates, axis=1)
        if targets is not None:
            y = np.isin(labels, list(targets)).astype(np.int64)
        else:
            y = np.searchsorted(all_values, labels).astype(np.int64)
        keep = np.ones(matrix.shape[1], bool)
        if zscore:
            matrix, keep = zscore_responses(matrix)
        if not keep.any():
            raise InsufficientDataError(f"session {name}: every unit is constant.")
        ds = make_session(
            matrix, stimulus=labels, label=y, session=name, day=d, phase=phase, **{animal: m},
            heldout=np.isin(labels, list(heldout)),
            unit_id=[members[i]["file"].stem for i in np.flatnonzero(keep)],
            attrs={"source": str(path), "format": "ndt", "label_field": label_field,
                   "session_field": session_field or "", "response_window": list(window),
                   "pseudo_population": int(pseudo_populations),
                   "dropped_units": json.dumps([
                       {"unit_id": members[i]["file"].stem, "reason": "constant response"}
                       for i in np.flatnonzero(~keep)])})
        ds["rates"].attrs["units"] = "z-score" if zscore else "Hz"
        sessions.append(ds)
    if pseudo_populations:
        warnings.warn("load_ndt: pseudo-populations combine units never recorded together; "
                      "their noise correlations are gone, so decoding accuracy and margins "
                      "are not those of a recorded population.", stacklevel=2)
    return study_tree(sessions, source=path, format="ndt",
                      attrs={"pseudo_population": int(pseudo_populations)})


def _pseudo_population(members: list[dict[str, Any]], rates: list[np.ndarray],
                       per_label: int | None, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray]:
    values = sorted(set.intersection(*(set(s["labels"]) for s in members)))
    if not values:
        raise InsufficientDataError("pseudo-population: no label value is shared by all sites.")
    counts = {v: min(int((s["labels"] == v).sum()) for s in members) for v in values}
    n = {v: counts[v] if per_label is None else int(per_label) for v in values}
    for v in values:
        if n[v] > counts[v]:
            raise ParameterError(f"`trials_per_label`={per_label} but a site has only "
                                 f"{counts[v]} trials of {v!r}.")
    labels = np.concatenate([np.full(n[v], v, dtype=object) for v in values])
    columns = []
    for site, r in zip(members, rates, strict=True):
        idx = np.concatenate([rng.choice(np.flatnonzero(site["labels"] == v), n[v],
                                         replace=False) for v in values])
        columns.append(r[idx])
    return labels, np.stack(columns, axis=1)
