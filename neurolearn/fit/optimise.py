"""Fit the model to a recording's day curves: grid, Nelder–Mead, bootstrap intervals.

:func:`fit_model` finds the parameters whose day curves match the data's —
a grid, then Nelder–Mead (SciPy) from its best point — and gives percentile
bootstrap CIs: the recording is resampled (whole animals, by default), the
model re-simulated with a fresh seed, and each replicate fitted by one
Gauss–Newton step from the estimate (or a full Nelder–Mead refit).

Identifiability: in the gradient-flow limit only η₀·epochs_per_day sets the
speed of learning, so by default η₀ is held fixed and ``epochs_per_day``
fitted; ``noise`` and ``readout_noise`` both lower the curves and are only
told apart by how the learned features shape the input noise, so by default
``noise`` is fixed too. Free any of them with ``free=``; their CIs say how
well the data pin them down.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np
import xarray as xr
from scipy import optimize

from neurolearn._version import __version__
from neurolearn.backend import make_rng
from neurolearn.errors import InsufficientDataError, ParameterError
from neurolearn.fit.objective import Objective
from neurolearn.fit.simulate import (
    GRID,
    MEASURES,
    PARAMETERS,
    ModelSetup,
    as_measures,
    day_curves,
)
from neurolearn.parallel import map_items

__all__ = ["fit_model"]


def _nelder_mead(objective: Objective, target: np.ndarray, z0: np.ndarray, maxfev: int,
                 step: float = 0.4) -> tuple[np.ndarray, float, int]:
    simplex = np.vstack([z0, z0 + step * np.eye(z0.size)])
    res = optimize.minimize(objective, z0, args=(target,), method="Nelder-Mead",
                            options={"maxfev": maxfev, "initial_simplex": simplex,
                                     "xatol": 1e-3, "fatol": 1e-5})
    return np.clip(res.x, objective.lo, objective.hi), float(res.fun), int(res.nfev)


def _jacobian(objective: Objective, z: np.ndarray, step: float = 0.15) -> np.ndarray:
    """d(standardised curves)/d(log-parameters) at z by central differences,
    (measure·day, free). The step is wide on purpose: it averages over the
    objective's small-scale roughness (CV accuracy moves in steps)."""
    cols = []
    for j in range(z.size):
        e = np.zeros(z.size)
        e[j] = step
        diff = (objective.curves(z + e) - objective.curves(z - e)) / (2 * step)
        cols.append((diff / objective.scale[:, None]).ravel())
    return np.stack(cols, axis=1)


def _bootstrap_one_step(job: tuple[np.ndarray, int], *, objective: Objective, z0: np.ndarray,
                        jacobian: np.ndarray) -> np.ndarray:
    """One Gauss–Newton step from the estimate for a bootstrap target, with the
    model simulated at the estimate under a fresh seed."""
    target, sim_seed = job
    resid = ((objective.with_seed(sim_seed).curves(z0) - target)
             / objective.scale[:, None]).ravel()
    ok = np.isfinite(resid)
    delta = np.linalg.lstsq(jacobian[ok], -resid[ok], rcond=None)[0]
    return np.clip(z0 + delta, objective.lo, objective.hi)


def _bootstrap_refit(job: tuple[np.ndarray, int], *, objective: Objective, z0: np.ndarray,
                     maxfev: int) -> tuple[np.ndarray, int]:
    """Nelder–Mead from the estimate for a bootstrap target, simulating under a fresh seed.

    Returns the estimate and the number of distinct simulations it ran.
    """
    target, sim_seed = job
    fresh = objective.with_seed(sim_seed)
    z = _nelder_mead(fresh, target, z0, maxfev)[0]
    return z, len(fresh.cache)


def _checked_parameters(free: tuple[str, ...], fixed: dict[str, float] | None, *, ci: float,
                        bootstrap: str, resample: str) -> tuple[tuple[str, ...], dict[str, float]]:
    """fit_model's parameter checks; the free names and every parameter's fixed value."""
    free = tuple(free)
    bad = [p for p in free if p not in PARAMETERS]
    if bad or not free or len(set(free)) != len(free):
        raise ParameterError(f"free must name distinct parameters among {list(PARAMETERS)}; "
                             f"got {free}.")
    fixed = {**PARAMETERS, **(fixed or {})}
    unknown = set(fixed) - set(PARAMETERS)
    if unknown:
        raise ParameterError(f"unknown fixed parameters {sorted(unknown)}.")
    if not 0 < ci < 1:
        raise ParameterError(f"ci must be in (0, 1); got {ci}.")
    if bootstrap not in ("one-step", "refit"):
        raise ParameterError(f"bootstrap must be 'one-step' or 'refit'; got {bootstrap!r}.")
    if resample not in ("mouse", "session"):
        raise ParameterError(f"resample must be 'mouse' or 'session'; got {resample!r}.")
    return free, fixed


class _Recording:
    """The recording's per-session measures as day curves, and their resamples."""

    def __init__(self, per_session: xr.Dataset, measures: tuple[str, ...], *,
                 need_mice: bool) -> None:
        self.days = np.unique(per_session["day"].values)
        if self.days.size < 2:
            raise InsufficientDataError(f"fitting day curves needs at least two days; got "
                                        f"{self.days.tolist()}.")
        self.mouse = per_session["mouse"].values
        self.mice = np.unique(self.mouse)
        if need_mice and self.mice.size < 2:
            raise InsufficientDataError("resample='mouse' needs at least two mice; use "
                                        "resample='session' for one animal.")
        self.values = np.stack([per_session[m].values for m in measures])  # (measure, session)
        if not np.all(np.isfinite(self.values)):
            raise InsufficientDataError("some per-session measures are NaN (too few trials "
                                        "or units?); drop those sessions before fitting.")
        self.scale = np.std(self.values, axis=1, ddof=1)
        if not np.all(self.scale > 0):
            flat = [m for m, s in zip(measures, self.scale, strict=True) if not s > 0]
            raise InsufficientDataError(f"measures {flat} do not vary across sessions; "
                                        f"nothing to fit.")
        day = per_session["day"].values
        phase_by_day = {int(d): str(p) for d, p in zip(day, per_session["phase"].values,
                                                        strict=True)}
        self.phases = np.array([phase_by_day[int(d)] for d in self.days])
        self.members = [np.flatnonzero(day == d) for d in self.days]

    def curve(self, sessions_per_day: list[np.ndarray]) -> np.ndarray:
        """(measure, day) means over the given sessions of each day; a day no
        resampled animal was recorded on is NaN (left out of the loss)."""
        return np.stack([self.values[:, idx].mean(axis=1) if idx.size
                         else np.full(self.values.shape[0], np.nan)
                         for idx in sessions_per_day], axis=1)

    def resampled(self, rng: np.random.Generator, resample: str) -> list[np.ndarray]:
        """One bootstrap draw: sessions within each day, or whole animals."""
        if resample == "session":
            return [rng.choice(idx, size=idx.size, replace=True) for idx in self.members]
        # Whole animals: a mouse's sessions share its units, so days are correlated.
        drawn = rng.choice(self.mice, size=self.mice.size, replace=True)
        return [np.concatenate([idx[self.mouse[idx] == m] for m in drawn])
                for idx in self.members]


def _grid_then_nelder_mead(objective: Objective, target: np.ndarray, grid: dict[str, Any], *,
                           maxfev: int, scheduler: Any, progress: bool
                           ) -> tuple[np.ndarray, float, int, np.ndarray]:
    """The estimate: the grid's best point, refined by Nelder–Mead.

    Returns the log-parameters, their loss, Nelder–Mead's evaluations and
    the loss at every grid point.
    """
    axes = [np.log(np.asarray(grid[p], float)) for p in objective.free]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    # The grid's curves come back to this process's cache whatever the
    # scheduler (a process or a cluster worker fills only its own copy), so
    # Nelder–Mead reuses them and `n_simulations` counts them.
    grid_curves = map_items(objective.curves, list(points), scheduler=scheduler,
                            progress=progress, desc="model grid")
    objective.cache.update({objective.key(z): c for z, c in zip(points, grid_curves,
                                                                strict=True)})
    grid_loss = np.array([objective(z, target) for z in points])
    z_hat, loss, nfev = _nelder_mead(objective, target, points[int(np.argmin(grid_loss))],
                                     maxfev)
    return z_hat, loss, nfev, grid_loss


def _bootstrap(objective: Objective, rec: _Recording, z_hat: np.ndarray, *, n_bootstrap: int,
               bootstrap: str, resample: str, bootstrap_maxfev: int, rng: np.random.Generator,
               scheduler: Any, progress: bool) -> tuple[list[np.ndarray], int]:
    """Bootstrap estimates (log-parameters) and the simulations they ran."""
    if not n_bootstrap:
        return [], 0
    # A fresh simulation seed per replicate: the intervals then also cover
    # the model's own sampling noise (network initialisation, recorded
    # units, trial noise), not only the resampling of the recording.
    jobs = [(rec.curve(rec.resampled(rng, resample)), int(rng.integers(2**31)))
            for _ in range(n_bootstrap)]
    if bootstrap == "one-step":
        boots = map_items(_bootstrap_one_step, jobs, scheduler=scheduler,
                          progress=progress, desc="bootstrap", objective=objective,
                          z0=z_hat, jacobian=_jacobian(objective, z_hat))
        return list(boots), len(jobs)  # one simulation per replicate
    refits = map_items(_bootstrap_refit, jobs, scheduler=scheduler, progress=progress,
                       desc="bootstrap refits", objective=objective, z0=z_hat,
                       maxfev=bootstrap_maxfev)
    return [z for z, _ in refits], sum(n for _, n in refits)


def _intervals(objective: Objective, boots: list[np.ndarray], free: tuple[str, ...],
               names: list[str], *, ci: float, n_bootstrap: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bootstrap table (replicate, parameter; NaN for fixed parameters) and
    the percentile interval's low and high ends."""
    boot = np.full((n_bootstrap, len(names)), np.nan)
    for b, z in enumerate(boots):
        theta = objective.params(z)
        boot[b] = [theta[p] if p in free else np.nan for p in names]
    alpha = (1 - ci) / 2
    low, high = np.full(len(names), np.nan), np.full(len(names), np.nan)
    if n_bootstrap:
        cols = [names.index(p) for p in free]
        low[cols] = np.quantile(boot[:, cols], alpha, axis=0)
        high[cols] = np.quantile(boot[:, cols], 1 - alpha, axis=0)
    return boot, low, high


def fit_model(
    data: xr.DataTree | xr.Dataset,
    *,
    free: tuple[str, ...] = ("gamma", "epochs_per_day", "readout_noise"),
    fixed: dict[str, float] | None = None,
    setup: ModelSetup = ModelSetup(),
    measures: tuple[str, ...] = MEASURES,
    grid: dict[str, Any] | None = None,
    maxfev: int = 80,
    n_bootstrap: int = 200,
    bootstrap: str = "one-step",
    bootstrap_maxfev: int = 60,
    ci: float = 0.95,
    resample: str = "mouse",
    scheduler: Any = "auto",
    seed: int = 0,
    progress: bool = True,
) -> xr.Dataset:
    """Fit the model's parameters to a recording's day-by-day curves.

    Parameters
    ----------
    data : DataTree or Dataset
        The recording (canonical sessions; at least two sessions in all and
        two days), or its per-session measures from :func:`session_measures`.
    free : tuple of str
        Parameters to fit (subset of :data:`PARAMETERS`); the others stay at
        ``fixed`` or their defaults. See the module notes on identifiability.
    fixed : dict, optional
        Values of parameters that are not fitted.
    setup : ModelSetup
        Fixed settings of the simulated recording (loss, width, trials, …).
    measures : tuple of str, default ("accuracy", "margin", "similarity")
    grid : dict, optional
        Grid values per free parameter (those not given come from
        :data:`GRID`); every grid point is simulated (through ``scheduler``)
        and Nelder–Mead starts from the best.
    maxfev : int, default 80
        Nelder–Mead simulations for the fit to all sessions.
    n_bootstrap : int, default 200
        Bootstrap replicates: the recording resampled (see ``resample``) and
        the model simulated with a fresh seed, so the intervals cover the
        simulation's own noise too. 0 skips the CIs.
    bootstrap : {"one-step", "refit"}, default "one-step"
        How each replicate is fitted. ``"one-step"``: one Gauss–Newton step
        from the estimate, with the Jacobian of the curves at the estimate
        (central differences, 2 simulations per free parameter, shared) —
        one simulation per replicate. ``"refit"``: Nelder–Mead from the
        estimate with ``bootstrap_maxfev`` simulations per replicate; a
        small budget leaves the refits near the estimate and the intervals
        too narrow.
    bootstrap_maxfev : int, default 60
    ci : float, default 0.95
        Coverage of the percentile bootstrap intervals.
    resample : {"mouse", "session"}, default "mouse"
        What the bootstrap resamples with replacement: whole animals (all
        their sessions; right when an animal's sessions share units and so
        are correlated across days) or sessions within each day.
    scheduler : None, str or dask.distributed.Client, default "auto"
        Runs the grid and the bootstrap refits (see
        :func:`neurolearn.parallel.map_items`); ``"auto"`` uses Dask's
        threads when Dask is installed and runs in this process otherwise.
    seed : int, default 0
        Seeds the simulation (common random numbers), the CV folds and the
        bootstrap.
    progress : bool, default True

    Returns
    -------
    Dataset
        Over ``parameter`` (all of :data:`PARAMETERS`): ``estimate``,
        ``ci_low``, ``ci_high`` (NaN for fixed parameters) and ``free``;
        ``bootstrap`` (bootstrap, parameter); over (measure, day):
        ``data_curve``, ``data_sem``, ``model_curve``; ``loss`` (mean
        standardised squared error at the estimate) and ``grid_loss``
        (grid_point). ``attrs`` hold the settings and package version.

    Examples
    --------
    >>> import numpy as np
    >>> from neurolearn.fit import ModelSetup, simulate_sessions
    >>> setup = ModelSetup(n_replicates=3, width=40, trials_per_stimulus=4)
    >>> data = simulate_sessions({"epochs_per_day": 8.0}, days=np.arange(1, 5), setup=setup,
    ...                          seed=1)  # a recording with a known speed of learning
    >>> res = fit_model(data, free=("epochs_per_day",), setup=setup, maxfev=8, n_bootstrap=0,
    ...                 grid={"epochs_per_day": (2.0, 8.0, 30.0)}, progress=False)
    >>> bool(4.0 < float(res["estimate"].sel(parameter="epochs_per_day")) < 16.0)
    True
    """
    free, fixed = _checked_parameters(free, fixed, ci=ci, bootstrap=bootstrap,
                                      resample=resample)
    per_session = as_measures(data, tuple(measures), setup.n_folds, seed)
    rec = _Recording(per_session, tuple(measures), need_mice=bool(n_bootstrap)
                     and resample == "mouse")
    target = rec.curve(rec.members)
    objective = Objective(free=free, fixed={k: float(fixed[k]) for k in PARAMETERS
                                             if k not in free},
                          days=rec.days, phases=rec.phases, setup=setup,
                          measures=tuple(measures), scale=rec.scale, seed=seed)
    z_hat, loss, nfev, grid_loss = _grid_then_nelder_mead(
        objective, target, {**GRID, **(grid or {})}, maxfev=maxfev, scheduler=scheduler,
        progress=progress)
    boots, boot_simulations = _bootstrap(
        objective, rec, z_hat, n_bootstrap=n_bootstrap, bootstrap=bootstrap,
        resample=resample, bootstrap_maxfev=bootstrap_maxfev, rng=make_rng([seed, 2]),
        scheduler=scheduler, progress=progress)
    names = list(PARAMETERS)
    estimate = objective.params(z_hat)
    boot, low, high = _intervals(objective, boots, free, names, ci=ci, n_bootstrap=n_bootstrap)
    days, phases = rec.days, rec.phases
    summary = day_curves(per_session)
    sems = np.stack([summary[f"{m}_sem"].values for m in measures])
    return xr.Dataset(
        {"estimate": ("parameter", [estimate[p] for p in names]),
         "ci_low": ("parameter", low), "ci_high": ("parameter", high),
         "free": ("parameter", [p in free for p in names]),
         "bootstrap": (("bootstrap", "parameter"), boot),
         "data_curve": (("measure", "day"), target),
         "data_sem": (("measure", "day"), sems),
         "model_curve": (("measure", "day"), objective.curves(z_hat)),
         "loss": ((), loss),
         "grid_loss": ("grid_point", grid_loss)},
        coords={"parameter": names, "measure": list(measures), "day": days,
                "phase": ("day", phases)},
        attrs={"loss_definition": "mean over measures and days of ((model - data) / SD of "
                                  "the measure over sessions)^2",
               "setup": json.dumps(asdict(setup)), "ci": ci, "n_bootstrap": n_bootstrap,
               "resample": resample,
               "maxfev": maxfev, "bootstrap": bootstrap,
               "bootstrap_maxfev": bootstrap_maxfev,
               "n_simulations": len(objective.cache) + boot_simulations,
               "nelder_mead_nfev": nfev,
               "seed": seed, "neurolearn_version": __version__})


#: The model comparison of the paper: lazy (γ → 0) vs rich with cross-entropy vs rich with hinge.
