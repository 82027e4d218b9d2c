"""Class margins and separation of population responses, per session.

* :func:`svm_margin` — geometric margin 1/‖w‖ of the max-margin linear SVM, a
  hard margin reported only where the session is separable (NaN elsewhere),
  optionally at a fixed number of units (random unit subsamples), since
  margins grow with the number of units.
* :func:`heldout_margin` — defined in every session: the mean held-out signed
  distance y(w·x + b)/‖w‖ of a cross-validated linear SVM, divided by the
  within-class SD of the distances. :func:`signed_margins` returns the
  per-trial distances themselves.
* :func:`fisher_separation` — Fisher's J = Δμᵀ S_w⁻¹ Δμ; :func:`dprime` —
  d′ of cross-validated decision values along the decoder axis.
* :func:`stimulus_flips` — stimuli decoded wrongly early and correctly late.
* :func:`normalize_per_mouse` — divide by each mouse's reference value.

Why not a soft margin at fixed C as "the margin": when classes overlap, the
soft-margin 1/‖w‖ at fixed C *falls* as they separate (measured on planted
study-shaped data: 1.2 → 0.41 while CV accuracy rose 0.67 → 0.97).
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from typing import Any

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from neurolearn._version import __version__
from neurolearn.backend import make_rng, resolve_namespace
from neurolearn.decoding.constraints import check_decoder_params
from neurolearn.decoding.cv import session_problem, session_seed
from neurolearn.decoding.engine import cv_scores
from neurolearn.errors import (
    InsufficientDataError,
    NeurolearnWarning,
    ParameterError,
    SchemaError,
    warn_degenerate,
)
from neurolearn.hard_margin import RESOLUTION
from neurolearn.parallel import map_items
from neurolearn.params import Interval, Options, check_params
from neurolearn.schema import (
    check_classes,
    checked_sessions,
    iter_sessions,
    session_coords,
    session_table,
    validate,
)
from neurolearn.svm import fit_linear_svm_working_set

__all__ = [
    "svm_margin",
    "heldout_margin",
    "signed_margins",
    "fisher_separation",
    "fisher_discriminant",
    "dprime",
    "stimulus_flips",
    "normalize_per_mouse",
    "MARGIN_PARAMETERS",
]


#: The margin functions' parameters, declared once (see :mod:`neurolearn.params`).
MARGIN_PARAMETERS: dict[str, list[Any]] = {
    "n_units": [Interval("int", 1, None), None],
    "n_subsamples": [Interval("int", 1, None)],
    "n_folds": [Interval("int", 2, None)],
    "C": [Interval("real", 0, None, closed="neither")],
    "seed": [Interval("int", 0, None)],
    "shrinkage": [Interval("real", 0, 1)],
    "variable": [str],
    "progress": [bool],
    "by": [Options(("first_overtraining", "mean"))],
    "n_days": [Interval("int", 1, None)],
    "threshold": [Interval("real", 0, 1)],
}


def _check(where: str, **values: Any) -> None:
    check_params(values, MARGIN_PARAMETERS, where=where)


def _zscore(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Z-score with the statistics of ``rows`` (population SD, ddof = 0).

    A unit constant over those rows, to rounding, is set to 0 on every trial:
    it carries nothing a decoder fit there could use, and dividing by its
    rounding-error SD (~1e-17) would blow its other trials up to ~1e17, where
    the solver's ~1e-10 weight on it decides their distances.
    """
    mean = X[rows].mean(axis=0)
    sd = X[rows].std(axis=0)
    constant = sd <= 1e-12 * (1.0 + np.abs(mean))
    Z = (X - mean) / np.where(constant, 1.0, sd)
    Z[:, constant] = 0.0
    return Z


def _unit_subsets(n_available: int, n_units: int | None, n_subsamples: int,
                  rng: np.random.Generator) -> np.ndarray | None:
    """(n_subsamples, n_units) unit indices; all units when n_units is None; None if too few."""
    if n_units is None:
        return np.arange(n_available)[None, :]
    if n_units > n_available:
        return None
    keys = rng.random((n_subsamples, n_available))
    return np.sort(np.argsort(keys, axis=1)[:, :n_units], axis=1)


def _trained(ds: xr.Dataset, variable: str) -> tuple[np.ndarray, np.ndarray]:
    check_classes(ds, min_per_class=2)
    keep = (~np.asarray(ds.variables["heldout"].values, bool) if "heldout" in ds.coords
            else np.ones(ds.sizes["trial"], bool))
    X = np.asarray(ds.variables[variable].transpose("trial", "neuron").values, dtype=float)[keep]
    y = np.where(np.asarray(ds.variables["label"].values)[keep] == 1, 1.0, -1.0)
    return X, y


def _one_blas_thread(xp: Any) -> Any:
    """Cap BLAS at one thread on the CPU while solving: thousands of tiny
    (p+1)×(p+1) solves and products only contend for threads (DESIGN §6:
    7-100× slower on a loaded 2-core machine)."""
    if xp is resolve_namespace("cpu"):
        return threadpool_limits(limits=1, user_api="blas")
    return contextlib.nullcontext()


def _solve_block(block: list[tuple[np.ndarray, np.ndarray]], *, Cs: tuple[float | None, ...],
                 device: Any) -> list[dict[str, np.ndarray]]:
    """Solve one zero-padded batch of SVMs of different sizes, once per C in ``Cs``
    (``None``: hard margin); the batch is padded once for all.

    Returns, per C, arrays over the block's problems: ``coef`` (k, p_max),
    exactly 0 beyond each problem's own units; ``intercept`` (k,);
    ``converged`` (k,); for the hard margin also ``separable`` and
    ``status`` (k,) (see :mod:`neurolearn.hard_margin`), and NaN ``coef``
    where not separable.
    """
    n = max(X.shape[0] for X, _ in block)
    p = max(X.shape[1] for X, _ in block)
    Xb = np.zeros((len(block), n, p))
    yb = np.zeros((len(block), n))
    for i, (X, y) in enumerate(block):
        Xb[i, :X.shape[0], :X.shape[1]] = X
        yb[i, :y.size] = y
    # The hard margin is exact or certified either way (its own solver); soft
    # margins' 1/‖w‖ converges with relative error ≈ 5e-6 at tol 1e-9 for
    # C = 1, and most end exact through the solver's crossover.
    units = np.array([X.shape[1] for X, _ in block])
    xp = resolve_namespace(device)
    results = []
    for C in Cs:
        with _one_blas_thread(xp):
            res = fit_linear_svm_working_set(xp, Xb, yb, C=C, tol=1e-9)
        out = {"coef": np.where(np.arange(p) < units[:, None], res["coef"], 0.0),
               "intercept": res["intercept"], "converged": res["converged"]}
        if C is None:
            out["separable"], out["status"] = res["separable"], res["status"]
        results.append(out)
    return results


def _size_groups(shapes: np.ndarray, ratio: float = 1.5) -> list[np.ndarray]:
    """Indices of problems grouped by similar size, so padding costs little.

    Problems are sorted by units then trials; a group closes when the next
    problem has more than ``ratio`` times the group's smallest unit count or
    trial count (an interior-point step costs ~n·p² per problem, so a
    problem padded to 1.5× its size costs at most ~3.4× its own, and a mixed
    batch costs about what its parts cost alone).
    """
    order = np.lexsort((shapes[:, 0], shapes[:, 1]))
    groups, start = [], 0
    for i in range(1, order.size + 1):
        if (i == order.size
                or shapes[order[i], 1] > ratio * max(shapes[order[start], 1], 1)
                or shapes[order[i], 0] > ratio * max(shapes[order[start:i], 0].min(), 1)):
            groups.append(order[start:i])
            start = i
    return groups


def _solve_padded(problems: list[tuple[np.ndarray, np.ndarray]], *,
                  Cs: tuple[float | None, ...], device: Any, scheduler: Any, progress: bool,
                  desc: str) -> list[dict[str, np.ndarray]]:
    """Solve many SVMs of different sizes in zero-padded batches of similar sizes.

    Problems are grouped by size (:func:`_size_groups`) and each group split
    into batches capped near 256 MiB of trial data and its working copies
    (the solver's own arrays cover only the small working sets); fewer,
    larger batches spend less of each Newton step in Python. On the CPU with
    a Dask scheduler, each group is also split into at least one batch per
    core and the batches run in parallel; an accelerator runs each batch
    whole, in turn.

    Returns
    -------
    list, one per C in ``Cs``, of dicts of arrays over ``problems`` (in their
    order), as from :func:`_solve_block` (``coef`` padded with zeros to the
    most units of any problem).
    """
    shapes = np.array([X.shape for X, _ in problems])
    p_max = int(shapes[:, 1].max())
    on_host = resolve_namespace(device) is resolve_namespace("cpu")
    if not on_host:
        scheduler = None
    cores = os.cpu_count() or 1
    blocks: list[np.ndarray] = []
    for group in _size_groups(shapes):
        n, p = shapes[group].max(axis=0)
        # Keep the (chunk, n, p+1) trial arrays and their copies near 256 MiB.
        chunk = max(1, int(2**28 // (8 * max(n, 1) * (p + 2) * 4)))
        if scheduler is not None:
            # A whole number of equal batches per core keeps every core busy to the end.
            n_blocks = -(-group.size // chunk)
            chunk = -(-group.size // (-(-n_blocks // cores) * cores))
        blocks.extend(group[i:i + chunk] for i in range(0, group.size, chunk))
    solved = map_items(_solve_block, [[problems[i] for i in b] for b in blocks],
                       scheduler=scheduler, progress=progress and len(blocks) > 1, desc=desc,
                       Cs=Cs, device=device)
    inverse = np.argsort(np.concatenate(blocks))
    merged = []
    for k in range(len(Cs)):
        parts = [block[k] for block in solved]
        out = {key: np.concatenate([r[key] for r in parts])[inverse]
               for key in parts[0] if key != "coef"}
        out["coef"] = np.concatenate([np.pad(r["coef"], ((0, 0), (0, p_max - r["coef"].shape[1])))
                                      for r in parts])[inverse]
        merged.append(out)
    return merged


def _session_coords(data: Any) -> dict[str, Any]:
    table = session_table(data)
    return {k: table[k] for k in ("session", "mouse", "day", "phase")}


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
    precision resolves in the margin). The solver (:mod:`neurolearn.hard_margin`)
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
    """
    _check("svm_margin", n_units=n_units, n_subsamples=n_subsamples, seed=seed,
           variable=variable, progress=progress)
    if C is not None:
        _check("svm_margin", C=C)
    sessions = checked_sessions(data)
    problems, index = [], []
    n_sub = 1 if n_units is None else n_subsamples
    for s, (_, ds) in enumerate(sessions):
        X, y = _trained(ds, variable)
        Z = _zscore(X, np.ones(y.size, bool))
        subsets = _unit_subsets(Z.shape[1], n_units, n_subsamples,
                                make_rng(session_seed(seed, str(ds["session"].values[0]))))
        if subsets is None:
            continue
        for k, units in enumerate(subsets):
            problems.append((Z[:, units], y))
            index.append((s, k))
    if not problems:
        raise InsufficientDataError(f"no session has {n_units} units to subsample.")
    hard, *soft = _solve_padded(problems, Cs=(None,) if C is None else (None, float(C)),
                                device=device, scheduler=scheduler, progress=progress,
                                desc="SVM batches")
    rows, cols = np.array(index).T
    S = len(sessions)
    margin = np.full((S, n_sub), np.nan)
    separable = np.zeros((S, n_sub), bool)
    settled = np.zeros((S, n_sub), bool)
    solved = np.zeros((S, n_sub), bool)
    ok = hard["separable"]
    separable[rows, cols] = ok
    status = np.full((S, n_sub), "too few units", dtype=object)
    status[rows, cols] = np.array(["unconverged", "not separable", "separable"],
                                  dtype=object)[hard["status"].astype(int) + 1]
    settled[rows, cols] = hard["converged"]
    solved[rows, cols] = True
    norms = np.linalg.norm(hard["coef"], axis=1)
    margin[rows, cols] = np.where(ok & (norms > 0), 1.0 / np.where(norms > 0, norms, 1.0),
                                  np.nan)
    # A problem the solver did not settle is neither separable nor not: it is
    # left out of the fraction (counted in `n_unconverged`), never called "not
    # separable" because the iterations ran out.
    n_settled = settled.sum(axis=1)
    frac = np.where(n_settled > 0, separable.sum(axis=1) / np.maximum(n_settled, 1), np.nan)
    unconverged = (solved & ~settled).sum(axis=1)
    coords = session_coords(sessions)
    if unconverged.any():
        bad = [str(n) for n, u in zip(coords["session"][1], unconverged, strict=True) if u]
        warnings.warn(f"svm_margin: {int(unconverged.sum())} problems did not converge and are "
                      f"left out of `fraction_separable`, in sessions {bad[:5]}; see "
                      "`n_unconverged`.", NeurolearnWarning, stacklevel=2)
    mean = _mean_over_subsamples(np.where(separable, margin, np.nan))
    coords["subsample"] = np.arange(n_sub)
    out = xr.Dataset(
        {"margin": (("session", "subsample"), margin,
                    {"long_name": "hard margin 1/||w||", "units": "z-score"}),
         "separable": (("session", "subsample"), separable),
         "converged": (("session", "subsample"), settled,
                       {"long_name": "the solver settled separable or not"}),
         "status": (("session", "subsample"), status.astype(str),
                    {"long_name": "separable, not separable (certified), unconverged, or too "
                                  "few units"}),
         "margin_mean": ("session", mean, {"long_name": "mean hard margin over separable "
                                                        "subsamples"}),
         "fraction_separable": ("session", frac,
                                {"long_name": "separable subsamples / settled subsamples"}),
         "n_unconverged": ("session", unconverged)},
        coords=coords)
    if C is not None:
        values = np.full((S, n_sub), np.nan)
        soft_norms = np.linalg.norm(soft[0]["coef"], axis=1)
        values[rows, cols] = np.where(soft[0]["converged"] & (soft_norms > 0),
                                      1.0 / np.where(soft_norms > 0, soft_norms, 1.0), np.nan)
        out["soft_margin"] = (("session", "subsample"), values, {
            "long_name": f"soft margin 1/||w|| at C={C}",
            "note": "not a separation measure where classes overlap: it can fall as they "
                    "separate; use `margin` (separable sessions) or heldout_margin"})
    days, day_of = np.unique(coords["day"][1], return_inverse=True)
    # NaN-skipping mean per day (a day with no settled session: NaN).
    total = np.bincount(day_of, weights=np.nan_to_num(frac))
    counted = np.bincount(day_of, weights=np.isfinite(frac).astype(float))
    by_day = np.divide(total, counted, out=np.full(days.size, np.nan), where=counted > 0)
    out.attrs = {"separable": "hard-margin problem feasible: the classes' convex hulls more "
                              f"than {RESOLUTION:g} x the largest trial norm apart",
                 "C_soft": "none" if C is None else float(C),
                 "n_units": "all" if n_units is None else n_units, "n_subsamples": n_sub,
                 "seed": seed, "variable": variable, "zscore": "per session, trained trials",
                 "fraction_separable_by_day": json.dumps(
                     {int(d): float(v) for d, v in zip(days, by_day, strict=True)}),
                 "neurolearn_version": __version__}
    return out


def _heldout_distances(data: Any, *, n_units: int | None, n_subsamples: int, n_folds: int,
                       C: float, seed: int, device: Any, variable: str, progress: bool,
                       scheduler: Any) -> list[dict[str, Any] | None]:
    """Per session: CV signed distances y(w·x+b)/‖w‖ of trained trials, per subsample."""
    problems, index, sessions = [], [], []
    for s, (_, ds) in enumerate(iter_sessions(data)):
        prob = session_problem(ds, n_folds=n_folds, seed=seed, variable=variable)
        subsets = _unit_subsets(prob.X.shape[1], n_units, n_subsamples, make_rng(prob.seed))
        sessions.append((prob, subsets))
        if subsets is None:
            continue
        for f in range(n_folds):
            rows = prob.train[f] > 0
            Z = _zscore(prob.X, rows)
            for k, units in enumerate(subsets):
                problems.append((Z[rows][:, units], np.where(prob.y[rows] > 0.5, 1.0, -1.0)))
                index.append((s, k, f, Z))
    if not problems:
        raise InsufficientDataError(f"no session has {n_units} units to subsample.")
    fits, = _solve_padded(problems, Cs=(C,), device=device, scheduler=scheduler,
                          progress=progress, desc="cross-validated SVMs")
    results: list[dict[str, Any] | None] = []
    for prob, subsets in sessions:
        if subsets is None:
            results.append(None)
            continue
        results.append({"problem": prob, "distance": np.full((len(subsets), prob.y.size),
                                                             np.nan),
                        "unconverged": np.zeros(len(subsets), bool),
                        "no_direction": np.zeros(len(subsets), bool)})
    for i, (s, k, f, Z) in enumerate(index):
        prob, units = sessions[s][0], sessions[s][1][k]
        test = prob.test[f] > 0
        w = fits["coef"][i, :units.size]
        norm = float(np.linalg.norm(w))
        # A fold whose SVM did not converge, or has no direction (w = 0: its
        # units are constant there), voids its subsample: never averaged in.
        if not fits["converged"][i]:
            results[s]["unconverged"][k] = True
        elif not norm > 0:
            results[s]["no_direction"][k] = True
        else:
            signed = np.where(prob.y[test] > 0.5, 1.0, -1.0) * (Z[test][:, units] @ w
                                                                 + fits["intercept"][i])
            results[s]["distance"][k, test] = signed / norm
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
    """
    _check("heldout_margin", n_units=n_units, n_subsamples=n_subsamples, n_folds=n_folds, C=C,
           seed=seed, variable=variable, progress=progress)
    validate(data)
    results = _heldout_distances(data, n_units=n_units, n_subsamples=n_subsamples,
                                 n_folds=n_folds, C=C, seed=seed, device=device,
                                 variable=variable, progress=progress,
                                 scheduler=scheduler)
    n_sub = 1 if n_units is None else n_subsamples
    values = np.full((len(results), n_sub), np.nan)
    for s, r in enumerate(results):
        if r is not None:
            trained = r["problem"].trained
            values[s] = _normalised(r["distance"][:, trained], r["problem"].y[trained])[0]
    unconverged, no_direction = _report_void(results, data, "heldout_margin")
    coords = _session_coords(data)
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

    Returns
    -------
    Dataset with dim ``sample`` (one per trained trial of every session)
        ``signed_margin`` with coordinates ``session``, ``mouse``, ``day``,
        ``phase``, ``stimulus``, ``label``.
    """
    _check("signed_margins", n_units=n_units, n_subsamples=n_subsamples, n_folds=n_folds, C=C,
           seed=seed, variable=variable, progress=progress)
    validate(data)
    results = _heldout_distances(data, n_units=n_units, n_subsamples=n_subsamples,
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
        prob = r["problem"]
        trained = prob.trained
        scaled = _normalised(r["distance"][:, trained], prob.y[trained])[1]
        n = int(trained.sum())
        columns["signed_margin"].append(_mean_over_subsamples(scaled.T))
        for key in ("session", "mouse", "day", "phase"):
            columns[key].append(np.repeat(table[key].values[s], n))
        columns["stimulus"].append(prob.stimulus[trained])
        columns["label"].append((prob.y[trained] > 0.5).astype(np.int64))
    flat = {k: np.concatenate(v) for k, v in columns.items()}
    return xr.Dataset(
        {"signed_margin": ("sample", flat.pop("signed_margin"),
                           {"long_name": "held-out signed distance / within-class SD"})},
        coords={k: ("sample", v.astype(object) if v.dtype.kind in "OU" else v)
                for k, v in flat.items()},
        attrs={"n_units": "all" if n_units is None else n_units, "n_folds": n_folds, "C": C,
               "seed": seed, "neurolearn_version": __version__})


def fisher_discriminant(A: np.ndarray, B: np.ndarray, *, shrinkage: float = 0.0) -> float:
    """Fisher's J = Δμᵀ S_w⁻¹ Δμ between two sets of vectors (rows).

    S_w = π_A C_A + π_B C_B (biased covariances, π from the set sizes), shrunk
    as (1−α)S_w + α·tr(S_w)/p·I, pseudo-inverted where singular. With α > 0,
    J is invariant to rescaling the vectors.
    """
    A, B = np.asarray(A, float), np.asarray(B, float)
    p = A.shape[1]
    pi = A.shape[0] / (A.shape[0] + B.shape[0])
    Sw = (pi * np.cov(A, rowvar=False, bias=True).reshape(p, p)
          + (1 - pi) * np.cov(B, rowvar=False, bias=True).reshape(p, p))
    Sw = (1 - shrinkage) * Sw + shrinkage * np.trace(Sw) / p * np.eye(p)
    delta = A.mean(axis=0) - B.mean(axis=0)
    return float(delta @ np.linalg.pinv(Sw, hermitian=True) @ delta)


def fisher_separation(data: xr.DataTree | xr.Dataset, *, shrinkage: float = 0.0,
                      n_units: int | None = None, n_subsamples: int = 20, seed: int = 0,
                      variable: str = "rates") -> xr.DataArray:
    """Fisher discriminant J = Δμᵀ S_w⁻¹ Δμ of the trained trials of each session.

    Units are z-scored per session; S_w is the pooled within-class covariance
    Σ_k π_k C_k (biased), shrunk as (1−α)S_w + α·tr(S_w)/p·I; pseudo-inverse
    where singular.

    Returns
    -------
    DataArray with dim ``session``
        J (squared Mahalanobis distance between class means), averaged over
        unit subsamples when ``n_units`` is given; coordinate ``status``: "ok",
        or why the session's J is NaN (fewer units than ``n_units``; every
        unit constant), each such session with one ``NeurolearnWarning``.
    """
    _check("fisher_separation", shrinkage=shrinkage, n_units=n_units, n_subsamples=n_subsamples,
           seed=seed, variable=variable)
    validate(data)
    values, status = [], []
    for _, ds in iter_sessions(data):
        X, y = _trained(ds, variable)
        Z = _zscore(X, np.ones(y.size, bool))
        session = str(ds["session"].values[0])
        subsets = _unit_subsets(Z.shape[1], n_units, n_subsamples,
                                make_rng(session_seed(seed, session)))
        if subsets is None:
            reason = f"too few units ({Z.shape[1]} < n_units = {n_units})"
        elif not np.any(Z):
            reason = "every unit is constant over the trained trials (S_w = 0, Δμ = 0)"
        else:
            J = [fisher_discriminant(Z[y > 0][:, units], Z[y < 0][:, units],
                                     shrinkage=shrinkage)
                 for units in subsets]  # a few dozen p×p solves per session
            values.append(float(np.mean(J)))
            status.append("ok")
            continue
        warn_degenerate(f"fisher_separation, session {session}", reason)
        values.append(np.nan)
        status.append(reason)
    coords = {**_session_coords(data), "status": ("session", np.array(status, dtype=object))}
    return xr.DataArray(np.array(values), dims="session", coords=coords, name="fisher_J",
                        attrs={"shrinkage": shrinkage, "n_units": "all" if n_units is None
                               else n_units, "seed": seed, "neurolearn_version": __version__})


def dprime(data: xr.DataTree | xr.Dataset, method: str = "lda", *, n_folds: int = 10,
           seed: int = 0, device: Any = "cpu", variable: str = "rates", **params: Any
           ) -> xr.DataArray:
    """d′ of cross-validated decision values along the decoder axis.

    d′ = (m₁ − m₀)/√(½(v₁ + v₀)) of the held-out decision values of the
    decoder of :func:`neurolearn.decoding.decode` (same folds and seed).

    Returns
    -------
    DataArray with dim ``session``
        d′; coordinate ``status``: "ok", or why the session's d′ is NaN
        (decision values constant within the classes, with one
        ``NeurolearnWarning``).
    """
    unknown = sorted(set(params) - {"shrinkage", "alpha", "C"})
    if unknown:
        raise ParameterError(f"dprime: unknown decoder parameter(s) {unknown}; allowed: "
                             "shrinkage, alpha, C.")
    check_decoder_params("dprime", method=method, n_folds=n_folds, seed=seed, variable=variable,
                         **params)
    validate(data)
    xp = resolve_namespace(device)
    values, status = [], []
    for _, ds in iter_sessions(data):
        prob = session_problem(ds, n_folds=n_folds, seed=seed, variable=variable)
        _, dec = cv_scores(xp, method, xp.asarray(prob.X[None, :, :]), prob.train, prob.test,
                           prob.y[None, :], params)
        d, y = dec[0][prob.trained], prob.y[prob.trained]
        spread = np.sqrt(0.5 * (d[y > 0.5].var() + d[y < 0.5].var()))
        if not spread > 0:
            reason = "the decision values do not vary within the classes"
            warn_degenerate(f"dprime, session {prob.session}", reason)
            values.append(np.nan)
            status.append(reason)
            continue
        values.append((d[y > 0.5].mean() - d[y < 0.5].mean()) / spread)
        status.append("ok")
    coords = {**_session_coords(data), "status": ("session", np.array(status, dtype=object))}
    return xr.DataArray(np.array(values), dims="session", coords=coords,
                        name="dprime", attrs={"method": method, "n_folds": n_folds,
                                              "seed": seed, "neurolearn_version": __version__})


def normalize_per_mouse(per_session: xr.DataArray, *, by: str = "first_overtraining"
                        ) -> xr.DataArray:
    """Divide each mouse's values by its reference value.

    Parameters
    ----------
    per_session : DataArray with dim ``session``
        With ``mouse``, ``day`` and ``phase`` coordinates.
    by : {"first_overtraining", "mean"}
        The mouse's value on its first overtraining day (mean over that day's
        sessions), or its mean over all sessions.

    Returns
    -------
    DataArray with dim ``session``
        The values divided by their mouse's reference; NaN for a mouse whose
        reference is 0 or NaN (with a ``NeurolearnWarning`` naming it, and the
        mouse and reason in ``attrs["degenerate"]``, a JSON object; "{}" when
        every mouse had a reference).
    """
    _check("normalize_per_mouse", by=by)
    out = per_session.copy()
    degenerate: dict[str, str] = {}
    for mouse in np.unique(per_session["mouse"].values.astype(str)):
        sel = per_session["mouse"].values.astype(str) == mouse
        values = per_session.values[sel]
        if by == "mean":
            ref = np.nanmean(values)
        else:
            over = per_session["phase"].values[sel] == "overtraining"
            if not over.any():
                raise SchemaError(f"mouse {mouse} has no overtraining session to normalise by.")
            days = per_session["day"].values[sel]
            ref = np.nanmean(values[over & (days == days[over].min())])
        if not np.isfinite(ref) or ref == 0:
            degenerate[mouse] = f"its reference value ({by}) is {ref}"
            warn_degenerate(f"normalize_per_mouse, mouse {mouse}", degenerate[mouse])
            out.values[sel] = np.nan
            continue
        out.values[sel] = values / ref
    out.attrs = {**per_session.attrs, "normalized_by": by,
                 "degenerate": json.dumps(degenerate)}
    return out


def stimulus_flips(stimulus_accuracy: xr.DataArray, *, n_days: int = 3,
                   threshold: float = 0.5) -> xr.Dataset:
    """Stimuli decoded wrongly on a mouse's first days and correctly on its last.

    Parameters
    ----------
    stimulus_accuracy : DataArray with dims (session, stimulus)
        E.g. ``decode(tree)["stimulus_accuracy"]``; needs ``mouse`` and
        ``day`` coordinates on ``session``.
    n_days : int, default 3
        Days (with data for that stimulus) averaged at each end.
    threshold : float, default 0.5
        Accuracy separating wrong from right.

    Returns
    -------
    Dataset with dims (mouse, stimulus)
        ``early`` and ``late`` mean accuracy, ``flipped`` (early < threshold ≤
        late) and ``flip_day``: the first day from which accuracy stays at or
        above ``threshold`` (NaN unless flipped).
    """
    _check("stimulus_flips", n_days=n_days, threshold=threshold)
    mice = np.unique(stimulus_accuracy["mouse"].values.astype(str))
    stimuli = stimulus_accuracy["stimulus"].values
    early = np.full((mice.size, stimuli.size), np.nan)
    late, flip_day = early.copy(), early.copy()
    for i, mouse in enumerate(mice):
        sel = stimulus_accuracy.where(stimulus_accuracy["mouse"] == mouse, drop=True)
        by_day = sel.groupby("day").mean()
        for j in range(stimuli.size):
            series = by_day.isel(stimulus=j)
            days, acc = series["day"].values, series.values
            ok = ~np.isnan(acc)
            days, acc = days[ok], acc[ok]
            if acc.size < 2:
                continue
            k = min(n_days, acc.size // 2)
            early[i, j], late[i, j] = acc[:k].mean(), acc[-k:].mean()
            if early[i, j] < threshold <= late[i, j]:
                below = np.flatnonzero(acc < threshold)
                flip_day[i, j] = days[below[-1] + 1] if below[-1] + 1 < days.size else np.nan
    flipped = (early < threshold) & (late >= threshold)
    return xr.Dataset(
        {"early": (("mouse", "stimulus"), early), "late": (("mouse", "stimulus"), late),
         "flipped": (("mouse", "stimulus"), flipped),
         "flip_day": (("mouse", "stimulus"), flip_day)},
        coords={"mouse": mice, "stimulus": stimuli},
        attrs={"n_days": n_days, "threshold": threshold})
