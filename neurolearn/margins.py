"""Class margins of population responses, per session.

* :func:`svm_margin` — geometric margin 1/‖w‖ of the max-margin linear SVM, a
  hard margin reported only where the session is separable (NaN elsewhere),
  optionally at a fixed number of units (random unit subsamples), since
  margins grow with the number of units.
* :func:`heldout_margin` — defined in every session: the mean held-out signed
  distance y(w·x + b)/‖w‖ of a cross-validated linear SVM, divided by the
  within-class SD of the distances. :func:`signed_margins` returns the
  per-trial distances themselves.

Fisher's J and d′ live in :mod:`neurolearn.separation`; per-mouse
normalisation and stimulus flips in :mod:`neurolearn.summary`.

Why not a soft margin at fixed C as "the margin": when classes overlap, the
soft-margin 1/‖w‖ at fixed C *falls* as they separate (measured on planted
study-shaped data: 1.2 → 0.41 while CV accuracy rose 0.67 → 0.97).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import xarray as xr

from neurolearn._version import __version__
from neurolearn.backend import make_rng, resolve_namespace
from neurolearn.decoding.cv import session_problem, session_seed
from neurolearn.errors import (
    InsufficientDataError,
    NeurolearnWarning,
)
from neurolearn.parallel import for_transfer, map_items, n_parallel, split_evenly
from neurolearn.params import Interval, check_params
from neurolearn.schema import (
    checked_sessions,
    iter_sessions,
    session_coords,
    session_table,
    validate,
)
from neurolearn.session_arrays import trained_trials, unit_subsets, zscore_each, zscore_rows
from neurolearn.summary import _nan_group_means
from neurolearn.svm import solve_batches
from neurolearn.svm.hard_margin import RESOLUTION

__all__ = [
    "svm_margin",
    "heldout_margin",
    "signed_margins",
    "MARGIN_PARAMETERS",
]


#: The margin functions' parameters, declared once (see :mod:`neurolearn.params`).
MARGIN_PARAMETERS: dict[str, list[Any]] = {
    "n_units": [Interval("int", 1, None), None],
    "n_subsamples": [Interval("int", 1, None)],
    "n_folds": [Interval("int", 2, None)],
    "C": [Interval("real", 0, None, closed="neither")],
    "seed": [Interval("int", 0, None)],
    "variable": [str],
    "progress": [bool],
}


def _check(where: str, **values: Any) -> None:
    check_params(values, MARGIN_PARAMETERS, where=where)


def svm_margin(
    data: xr.DataTree | xr.Dataset,
    *,
    C: float | None = None,
    n_units: int | None = None,
    n_subsamples: int = 100,
    seed: int = 0,
    device: Any = "cpu",
    variable: str = "rates",
    progress: bool = True,
    scheduler: Any = None,
) -> xr.Dataset:
    """Geometric margin 1/‖w‖ of the max-margin linear SVM in every session.

    The SVM is fit to the session's trained (non-held-out) trials, with each
    unit z-scored over those trials. A session is separable when the
    hard-margin problem min ½‖w‖² s.t. yᵢ(w·xᵢ + b) ≥ 1 is feasible, and then
    gets its margin 1/‖w‖, exact: it agrees with an interior-point QP
    (CLARABEL) to 1e-8 relative on every feasible problem of the test grid,
    barely separable ones (margin 2e-5) included, and its hyperplane violates
    no constraint by more than 1e-10 in z units (beyond the rounding of w·x,
    64 ε ‖w‖ maxᵢ‖xᵢ‖). A session is reported not separable only with a
    certificate: two points, one in each class's convex hull, less than
    1e-6 × the largest trial norm apart (scale-free: below what double
    precision resolves in the margin). The solver (:mod:`neurolearn.svm.hard_margin`)
    works on the trials' Gram matrix, so its cost does not grow with units.

    Parameters
    ----------
    data : DataTree or Dataset
        Sessions in the canonical layout.
    C : float, optional
        Also report the soft margin 1/‖w‖ at this C as ``soft_margin``. It is
        *not* a separation measure where classes overlap (it can fall while
        they separate); it is labelled as such.
    n_units : int, optional
        Compute margins on random subsets of this many units
        (``n_subsamples`` per session), so sessions with different unit counts
        compare; sessions with fewer units get NaN. Default: all units.
    n_subsamples : int, default 100
        Unit subsets per session when ``n_units`` is given.
    seed : int, default 0
        Seeds the unit subsets (per session).
    device : {"cpu", "cuda"} or namespace
    variable : str, default "rates"
    progress : bool, default True
    scheduler : None, str or dask.distributed.Client, default None
        How the batches of SVMs run on the CPU (see
        :func:`neurolearn.parallel.map_items`): ``None`` runs them in turn in
        this process; a Dask scheduler name or a ``Client`` splits them into
        at least one batch per core and runs those in parallel. (On two cores
        the threaded scheduler gains nothing: the solver's many small array
        operations hold the GIL.) On an accelerator each batch runs whole.

    Returns
    -------
    Dataset with dims (session, subsample)
        ``margin`` (z-score units; NaN where not separable), ``separable``
        (bool), ``converged`` (bool: the solver settled the problem either
        way), ``status`` (str: "separable", "not separable", "unconverged" or
        "too few units"), ``soft_margin`` (only when ``C`` is given; NaN where its solve
        did not converge); per session ``margin_mean`` (mean over separable
        subsamples), ``fraction_separable`` (over converged subsamples only),
        ``n_unconverged`` (with one ``NeurolearnWarning`` when any);
        coordinates ``mouse``, ``day``, ``phase``. ``attrs`` hold the
        parameters and ``fraction_separable_by_day`` (JSON).

    Raises
    ------
    SchemaError
        If a session's labels are not 0/1 (K-class margins do not exist yet).
    InsufficientDataError
        If a session has one class, or no session has ``n_units`` units.

    Notes
    -----
    All sessions and subsamples are solved together by a batched
    interior-point method in the dual, on working sets of the trials nearest
    the boundary (:mod:`neurolearn.svm`), in batches of problems of similar
    size.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> res = svm_margin(tree, progress=False)
    >>> res["margin"].dims, res.sizes["session"]
    (('session', 'subsample'), 8)
    >>> sorted(set(res["status"].values.ravel().tolist()))
    ['not separable', 'separable']
    >>> bool((res["margin"] > 0).where(res["separable"], True).all())
    True
    """
    _check("svm_margin", n_units=n_units, n_subsamples=n_subsamples, seed=seed,
           variable=variable, progress=progress)
    if C is not None:
        _check("svm_margin", C=C)
    sessions = checked_sessions(data)
    n_sub = 1 if n_units is None else n_subsamples
    problems, index = _subset_problems(sessions, n_units=n_units, n_subsamples=n_subsamples,
                                       seed=seed, variable=variable)
    hard, *soft = solve_batches(problems, Cs=(None,) if C is None else (None, float(C)),
                                device=device, scheduler=scheduler, progress=progress,
                                desc="SVM batches")
    grid = np.array(index).T, (len(sessions), n_sub)
    out = _hard_margin_dataset(hard, grid, session_coords(sessions))
    if C is not None:
        out["soft_margin"] = (("session", "subsample"), _on_grid(_inverse_norms(
            soft[0]["coef"], soft[0]["converged"]), grid), {
            "long_name": f"soft margin 1/||w|| at C={C}",
            "note": "not a separation measure where classes overlap: it can fall as they "
                    "separate; use `margin` (separable sessions) or heldout_margin"})
    out.attrs = {"separable": "hard-margin problem feasible: the classes' convex hulls more "
                              f"than {RESOLUTION:g} x the largest trial norm apart",
                 "C_soft": "none" if C is None else float(C),
                 "n_units": "all" if n_units is None else n_units, "n_subsamples": n_sub,
                 "seed": seed, "variable": variable, "zscore": "per session, trained trials",
                 "fraction_separable_by_day": json.dumps(_by_day(out["fraction_separable"])),
                 "neurolearn_version": __version__}
    return out


def _subset_problems(sessions: list[tuple[str, xr.Dataset]], *, n_units: int | None,
                     n_subsamples: int, seed: int, variable: str
                     ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[int, int]]]:
    """One SVM problem (z-scored trained trials of a unit subset, ±1 labels) per
    (session, subsample), and each one's (session, subsample) index."""
    problems, index = [], []
    trials = [trained_trials(ds, variable) for _, ds in sessions]
    zscored = zscore_each([X for X, _ in trials])
    for s, ((_, ds), (_, y), Z) in enumerate(zip(sessions, trials, zscored, strict=True)):
        if n_units is None:  # (all units: nothing random to seed)
            problems.append((Z, y))
            index.append((s, 0))
            continue
        subsets = unit_subsets(Z.shape[1], n_units, n_subsamples,
                               make_rng(session_seed(seed, str(ds["session"].values[0]))))
        if subsets is None:
            continue
        # All subsets in one gather (n, S, k) → (S, n, k): one copy per session.
        gathered = np.ascontiguousarray(np.moveaxis(Z[:, subsets], 1, 0))
        problems.extend((X, y) for X in gathered)
        index.extend((s, k) for k in range(len(subsets)))
    if not problems:
        raise InsufficientDataError(f"no session has {n_units} units to subsample.")
    return problems, index


def _on_grid(values: np.ndarray, grid: tuple[np.ndarray, tuple[int, int]],
             fill: Any = np.nan) -> np.ndarray:
    """Per-problem values placed on the (session, subsample) grid; ``fill`` elsewhere."""
    (rows, cols), shape = grid
    out = np.full(shape, fill, dtype=np.asarray(values).dtype if fill is not np.nan else float)
    out[rows, cols] = values
    return out


def _inverse_norms(coef: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """1/‖w‖ of each problem where ``keep`` (and w ≠ 0), else NaN."""
    norms = np.linalg.norm(coef, axis=1)
    return np.where(keep & (norms > 0), 1.0 / np.where(norms > 0, norms, 1.0), np.nan)


def _hard_margin_dataset(hard: dict[str, np.ndarray], grid: tuple[np.ndarray, tuple[int, int]],
                         coords: dict[str, Any]) -> xr.Dataset:
    """svm_margin's per-(session, subsample) and per-session variables."""
    separable = _on_grid(hard["separable"], grid, False)
    settled = _on_grid(hard["converged"], grid, False)
    solved = _on_grid(np.ones(hard["separable"].size, bool), grid, False)
    status = _on_grid(np.array(["unconverged", "not separable", "separable"], dtype=object)[
        hard["status"].astype(int) + 1], grid, "too few units")
    margin = _on_grid(_inverse_norms(hard["coef"], hard["separable"]), grid)
    # A problem the solver did not settle is neither separable nor not: it is
    # left out of the fraction (counted in `n_unconverged`), never called "not
    # separable" because the iterations ran out.
    n_settled = settled.sum(axis=1)
    frac = np.where(n_settled > 0, separable.sum(axis=1) / np.maximum(n_settled, 1), np.nan)
    unconverged = (solved & ~settled).sum(axis=1)
    if unconverged.any():
        bad = [str(n) for n, u in zip(coords["session"][1], unconverged, strict=True) if u]
        warnings.warn(f"svm_margin: {int(unconverged.sum())} problems did not converge and are "
                      f"left out of `fraction_separable`, in sessions {bad[:5]}; see "
                      "`n_unconverged`.", NeurolearnWarning, stacklevel=3)
    return xr.Dataset(
        {"margin": (("session", "subsample"), margin,
                    {"long_name": "hard margin 1/||w||", "units": "z-score"}),
         "separable": (("session", "subsample"), separable),
         "converged": (("session", "subsample"), settled,
                       {"long_name": "the solver settled separable or not"}),
         "status": (("session", "subsample"), status.astype(str),
                    {"long_name": "separable, not separable (certified), unconverged, or too "
                                  "few units"}),
         "margin_mean": ("session", _mean_over_subsamples(np.where(separable, margin, np.nan)),
                         {"long_name": "mean hard margin over separable subsamples"}),
         "fraction_separable": ("session", frac,
                                {"long_name": "separable subsamples / settled subsamples"}),
         "n_unconverged": ("session", unconverged)},
        coords={**coords, "subsample": np.arange(grid[1][1])})


def _by_day(per_session: xr.DataArray) -> dict[int, float]:
    """NaN-skipping mean per day (NaN for a day with no value), as {day: mean}."""
    days, day_of = np.unique(per_session["day"].values, return_inverse=True)
    mean, _ = _nan_group_means(np.asarray(per_session.values, dtype=float),
                               day_of.reshape(-1), days.size)
    return {int(d): float(v) for d, v in zip(days, mean, strict=True)}


def _heldout_distances(data: list[xr.Dataset], *, n_units: int | None, n_subsamples: int,
                       n_folds: int, C: float, seed: int, device: Any, variable: str,
                       progress: bool, scheduler: Any) -> list[dict[str, Any] | None]:
    """Per session: CV signed distances y(w·x+b)/‖w‖ of trained trials, per subsample.

    Each session's result is a dict of ``y``, ``trained`` and ``stimulus``
    (n_trials,), ``distance`` (n_subsets, n_trials), NaN off the trained
    trials and on voided subsets, and ``unconverged`` and ``no_direction``
    (n_subsets,) bool; None for a session with too few units.

    With a scheduler on the CPU, groups of sessions go to the workers whole
    (their problems built, solved and scored there, so only those results
    come back). One group per worker thread: the SVMs batch better in
    larger groups (measured on 2 cores, 1,038 sessions in one process:
    22.0 s as one group, 23.2 s as two, 24.8 s as eight; on 2 workers
    13.5-13.8 s in two groups, 14.2 s in eight).
    """
    kw = {"n_units": n_units, "n_subsamples": n_subsamples, "n_folds": n_folds, "C": C,
          "seed": seed, "device": device, "variable": variable}
    if scheduler is not None and resolve_namespace(device) is resolve_namespace("cpu"):
        data = for_transfer(data, variable, scheduler)
        groups = split_evenly(data, n_parallel(scheduler))
        parts = map_items(_heldout_group, groups, scheduler=scheduler, progress=progress,
                          desc="cross-validated SVMs, session groups", **kw)
        results = [r for part in parts for r in part]
    else:
        results = _heldout_group(data, progress=progress, **kw)
    if all(r is None for r in results):
        raise InsufficientDataError(f"no session has {n_units} units to subsample.")
    return results


def _heldout_group(data: list[xr.Dataset], *, n_units: int | None, n_subsamples: int,
                   n_folds: int, C: float, seed: int, device: Any, variable: str,
                   progress: bool = False) -> list[dict[str, Any] | None]:
    """:func:`_heldout_distances` of a list of sessions, their SVMs in this process.

    Problems are built and scored a (session, fold) at a time, all its unit
    subsets in one array operation: a loop over the 10,300 (session, fold,
    subset) problems of the embedded study cost 0.3 s of the step's 2.3 s.
    """
    problems: list[tuple[np.ndarray, np.ndarray]] = []
    blocks, sessions = [], []  # (session, fold, first problem, z-scores) per block
    for s, ds in enumerate(data):
        prob = session_problem(ds, n_folds=n_folds, seed=seed, variable=variable)
        subsets = unit_subsets(prob.X.shape[1], n_units, n_subsamples, make_rng(prob.seed))
        sessions.append((prob, subsets))
        if subsets is None:
            continue
        for f in range(n_folds):
            rows = prob.train[f] > 0
            Z = zscore_rows(prob.X, rows)
            labels = np.where(prob.y[rows] > 0.5, 1.0, -1.0)
            blocks.append((s, f, len(problems), Z))
            # (subsets, trials, units): one gather for all the fold's subsets.
            for X_k in np.moveaxis(Z[rows][:, subsets], 1, 0):
                problems.append((X_k, labels))
    if not problems:  # (no session with n_units units: the caller decides)
        return [None] * len(data)
    fits, = solve_batches(problems, Cs=(C,), device=device, scheduler=None,
                          progress=progress, desc="cross-validated SVMs")
    results: list[dict[str, Any] | None] = []
    for prob, subsets in sessions:
        if subsets is None:
            results.append(None)
            continue
        # Only what the measures read back: a whole SessionProblem (its
        # trials × units and fold masks) would travel back from a worker too.
        results.append({"y": prob.y, "trained": prob.trained, "stimulus": prob.stimulus,
                        "distance": np.full((len(subsets), prob.y.size), np.nan),
                        "unconverged": np.zeros(len(subsets), bool),
                        "no_direction": np.zeros(len(subsets), bool)})
    for s, f, first, Z in blocks:
        prob, subsets = sessions[s]
        K, u = subsets.shape
        test = prob.test[f] > 0
        w = fits["coef"][first:first + K, :u]  # (subsets, units)
        norm = np.linalg.norm(w, axis=1)
        # A fold whose SVM did not converge, or has no direction (w = 0: its
        # units are constant there), voids its subsample: never averaged in.
        converged = fits["converged"][first:first + K]
        results[s]["unconverged"] |= ~converged
        results[s]["no_direction"] |= converged & ~(norm > 0)
        decision = (np.einsum("tku,ku->kt", Z[test][:, subsets], w)
                    + fits["intercept"][first:first + K, None])
        signed = np.where(prob.y[test] > 0.5, 1.0, -1.0) * decision
        results[s]["distance"][:, test] = signed / np.where(norm > 0, norm, 1.0)[:, None]
    for r in results:
        if r is not None:
            r["distance"][r["unconverged"] | r["no_direction"]] = np.nan
    return results


def _report_void(results: list[dict[str, Any] | None], data: Any, where: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per session: subsamples voided by an unconverged SVM, and by a zero direction;
    one NeurolearnWarning when any is."""
    unconverged = np.array([0 if r is None else int(r["unconverged"].sum()) for r in results])
    no_direction = np.array([0 if r is None else int(r["no_direction"].sum()) for r in results])
    if unconverged.any() or no_direction.any():
        names = session_table(data)["session"].values
        bad = [str(n) for n, u, z in zip(names, unconverged, no_direction, strict=True) if u or z]
        warnings.warn(f"{where}: {int(unconverged.sum())} unit subsets with an SVM that did not "
                      f"converge and {int(no_direction.sum())} with no direction (constant "
                      f"units) were left out, in sessions {bad[:5]}; see `n_unconverged`.",
                      NeurolearnWarning, stacklevel=3)
    return unconverged, no_direction


def _mean_over_subsamples(values: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN; NaN (without a warning) where a row has no value."""
    count = np.sum(np.isfinite(values), axis=1)
    total = np.sum(np.where(np.isfinite(values), values, 0.0), axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _normalised(distance: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean distance / pooled within-class SD, per subsample; and the scaled distances.

    Subsamples without values (voided, see :func:`_heldout_distances`) or with
    no spread within the classes are NaN, quietly: their reasons are counted.
    """
    out = np.full(distance.shape[0], np.nan)
    scaled = np.full_like(distance, np.nan)
    ok = np.isfinite(distance).all(axis=1)
    if ok.any():
        d = distance[ok]
        sd = np.sqrt(0.5 * (d[:, y > 0.5].var(axis=1) + d[:, y < 0.5].var(axis=1)))
        good = sd > 0
        rows = np.flatnonzero(ok)[good]
        out[rows] = d[good].mean(axis=1) / sd[good]
        scaled[rows] = d[good] / sd[good][:, None]
    return out, scaled


def heldout_margin(
    data: xr.DataTree | xr.Dataset,
    *,
    n_units: int | None = None,
    n_subsamples: int = 20,
    n_folds: int = 10,
    C: float = 1.0,
    seed: int = 0,
    device: Any = "cpu",
    variable: str = "rates",
    progress: bool = True,
    scheduler: Any = None,
) -> xr.Dataset:
    """Held-out margin: mean CV signed distance to the SVM boundary over its within-class SD.

    In each stratified fold a linear SVM (penalty ``C``, units z-scored on
    the training fold) is fit on the training trials; every test trial gets
    its signed distance dᵢ = yᵢ(w·xᵢ + b)/‖w‖ (y = ±1). The held-out margin is
    mean(d) / √(½(Var(d | target) + Var(d | non-target))) over all test
    trials: defined whether or not the session is separable, unit-free, and
    growing with class separation (d′/2 for Gaussian classes).

    Parameters
    ----------
    data : DataTree or Dataset
    n_units : int, optional
        Fixed population size: average over ``n_subsamples`` random unit
        subsets (sessions with fewer units get NaN). Default: all units.
    n_subsamples : int, default 20
    n_folds : int, default 10
    C : float, default 1.0
        SVM penalty (the direction only; the measure is scale-free).
    seed : int, default 0
    device, variable, progress, scheduler
        As in :func:`svm_margin`.

    Returns
    -------
    Dataset with dim ``session``
        ``heldout_margin`` (mean over subsamples) and
        ``heldout_margin_subsample`` (session, subsample); ``n_unconverged``
        and ``n_no_direction``: unit subsets left out of the mean because an
        SVM of one of their folds did not converge, or had w = 0 (units
        constant in that fold) — never averaged in; a ``NeurolearnWarning``
        says when any was.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> res = heldout_margin(tree, n_units=4, n_subsamples=3, progress=False)
    >>> res["heldout_margin"].dims
    ('session',)
    >>> over = res["phase"] == "overtraining"
    >>> bool(res["heldout_margin"][over].mean() > res["heldout_margin"][~over].mean())
    True
    """
    _check("heldout_margin", n_units=n_units, n_subsamples=n_subsamples, n_folds=n_folds, C=C,
           seed=seed, variable=variable, progress=progress)
    validate(data)
    results = _heldout_distances([ds for _, ds in iter_sessions(data)], n_units=n_units,
                                 n_subsamples=n_subsamples,
                                 n_folds=n_folds, C=C, seed=seed, device=device,
                                 variable=variable, progress=progress,
                                 scheduler=scheduler)
    n_sub = 1 if n_units is None else n_subsamples
    values = np.full((len(results), n_sub), np.nan)
    for s, r in enumerate(results):
        if r is not None:
            trained = r["trained"]
            values[s] = _normalised(r["distance"][:, trained], r["y"][trained])[0]
    unconverged, no_direction = _report_void(results, data, "heldout_margin")
    coords = session_coords(iter_sessions(data))
    coords["subsample"] = np.arange(n_sub)
    return xr.Dataset(
        {"heldout_margin": ("session", _mean_over_subsamples(values),
                            {"long_name": "held-out margin (mean signed distance / "
                                          "within-class SD)"}),
         "heldout_margin_subsample": (("session", "subsample"), values),
         "n_unconverged": ("session", unconverged,
                           {"long_name": "unit subsets left out: an SVM did not converge"}),
         "n_no_direction": ("session", no_direction,
                            {"long_name": "unit subsets left out: w = 0 (constant units)"})},
        coords=coords,
        attrs={"n_units": "all" if n_units is None else n_units, "n_subsamples": n_sub,
               "n_folds": n_folds, "C": C, "seed": seed, "variable": variable,
               "neurolearn_version": __version__})


def signed_margins(
    data: xr.DataTree | xr.Dataset,
    *,
    n_units: int | None = None,
    n_subsamples: int = 20,
    n_folds: int = 10,
    C: float = 1.0,
    seed: int = 0,
    device: Any = "cpu",
    variable: str = "rates",
    progress: bool = True,
    scheduler: Any = None,
) -> xr.Dataset:
    """Per-trial held-out signed margins, in units of the within-class SD.

    The distances of :func:`heldout_margin`, each divided by its session's
    (and subsample's) within-class SD and averaged over subsamples: positive
    on the correct side of the boundary. Use them for margin distributions per
    day.

    Parameters
    ----------
    data : DataTree or Dataset
        Sessions in the canonical layout.
    n_units, n_subsamples, n_folds, C, seed, device, variable, progress, scheduler
        As in :func:`heldout_margin`.

    Returns
    -------
    Dataset with dim ``sample`` (one per trained trial of every session)
        ``signed_margin`` with coordinates ``session``, ``mouse``, ``day``,
        ``phase``, ``stimulus``, ``label``.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> res = signed_margins(tree, n_units=4, n_subsamples=3, progress=False)
    >>> res["signed_margin"].dims, len(set(res["session"].values))
    (('sample',), 8)
    """
    _check("signed_margins", n_units=n_units, n_subsamples=n_subsamples, n_folds=n_folds, C=C,
           seed=seed, variable=variable, progress=progress)
    validate(data)
    results = _heldout_distances([ds for _, ds in iter_sessions(data)], n_units=n_units,
                                 n_subsamples=n_subsamples,
                                 n_folds=n_folds, C=C, seed=seed, device=device,
                                 variable=variable, progress=progress,
                                 scheduler=scheduler)
    _report_void(results, data, "signed_margins")
    table = session_table(data)
    columns: dict[str, list[Any]] = {k: [] for k in ("signed_margin", "session", "mouse", "day",
                                                     "phase", "stimulus", "label")}
    for s, r in enumerate(results):
        if r is None:
            continue
        trained = r["trained"]
        scaled = _normalised(r["distance"][:, trained], r["y"][trained])[1]
        n = int(trained.sum())
        columns["signed_margin"].append(_mean_over_subsamples(scaled.T))
        for key in ("session", "mouse", "day", "phase"):
            columns[key].append(np.repeat(table[key].values[s], n))
        columns["stimulus"].append(r["stimulus"][trained])
        columns["label"].append((r["y"][trained] > 0.5).astype(np.int64))
    flat = {k: np.concatenate(v) for k, v in columns.items()}
    return xr.Dataset(
        {"signed_margin": ("sample", flat.pop("signed_margin"),
                           {"long_name": "held-out signed distance / within-class SD"})},
        coords={k: ("sample", v.astype(object) if v.dtype.kind in "OU" else v)
                for k, v in flat.items()},
        attrs={"n_units": "all" if n_units is None else n_units, "n_folds": n_folds, "C": C,
               "seed": seed, "neurolearn_version": __version__})
