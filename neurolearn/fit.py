"""Fit the feature-learning model to a recording's day-by-day curves.

The model of a recording: a γ-network (:mod:`neurolearn.models`) learns the
odour task by full-batch gradient descent, ``epochs_per_day`` epochs per
recording day, starting naive on the first day. Each day, a fixed set of
``n_units`` of its hidden units is "recorded" on ``trials_per_stimulus``
trials of each training odour: the odour's input gets Gaussian noise of SD
``noise`` (trial-to-trial sensory variability, which passes through the
learned features) and the recorded activity gets Gaussian noise of SD
``readout_noise`` (variability the features do not shape). ``n_replicates``
networks (different initial weights and recorded units) play the mice.

The simulated sessions go through the *same* analyses as the recording
(:func:`session_measures`: cross-validated LDA accuracy, held-out SVM
margin, target–non-target RSM separation), so model and data curves are
measured alike. :func:`fit_model` finds the parameters whose day curves
match the data's — a grid, then Nelder–Mead (SciPy) from its best point —
and gives percentile bootstrap CIs: the recording is resampled (whole
animals, by default), the model re-simulated with a fresh seed, and each
replicate fitted by one Gauss–Newton step from the estimate (or a full
Nelder–Mead refit). :func:`compare_models` fits the lazy (γ → 0),
rich cross-entropy and rich hinge models and ranks them by fit quality.

Identifiability: in the gradient-flow limit only η₀·epochs_per_day sets the
speed of learning, so by default η₀ is held fixed and ``epochs_per_day``
fitted; ``noise`` and ``readout_noise`` both lower the curves and are only
told apart by how the learned features shape the input noise, so by default
``noise`` is fixed too. Free any of them with ``free=``; their CIs say how
well the data pin them down.

The simulation draws all its random numbers from ``seed`` whatever the
parameters (common random numbers), so the objective is a deterministic
function of the parameters, as Nelder–Mead needs. Non-integer epochs
interpolate the weights linearly between the neighbouring epochs, which
keeps the curves continuous in ``epochs_per_day``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import xarray as xr
from array_api_compat import numpy as xnp
from scipy import optimize
from tqdm.auto import tqdm

from neurolearn._version import __version__
from neurolearn.backend import make_rng
from neurolearn.decoding import decode
from neurolearn.errors import InsufficientDataError, ParameterError, SchemaError, warn_degenerate
from neurolearn.geometry import class_similarity
from neurolearn.margins import heldout_margin
from neurolearn.models.network import forward
from neurolearn.models.task import make_odour_task
from neurolearn.models.train import train_snapshots
from neurolearn.parallel import map_items
from neurolearn.schema import make_session, session_table, to_tree
from neurolearn.summary import across_mice

__all__ = [
    "PARAMETERS",
    "MEASURES",
    "ModelSetup",
    "session_measures",
    "day_curves",
    "simulate_sessions",
    "simulate_curves",
    "fit_model",
    "compare_models",
]

#: Fittable parameters and their defaults (the values used when a parameter is not free).
PARAMETERS = {"gamma": 1.0, "eta0": 0.5, "noise": 0.3, "epochs_per_day": 10.0,
              "readout_noise": 0.5}
#: Bounds (inclusive) of each parameter during fitting; all are searched on a log scale.
BOUNDS = {"gamma": (1e-3, 30.0), "eta0": (1e-3, 10.0), "noise": (1e-3, 10.0),
          "epochs_per_day": (0.1, 500.0), "readout_noise": (1e-3, 20.0)}
#: Default grid values of each free parameter (the grid is their product).
GRID = {"gamma": (0.05, 0.5, 2.0), "eta0": (0.1, 0.5, 2.0), "noise": (0.1, 0.5),
        "epochs_per_day": (2.0, 10.0, 40.0), "readout_noise": (0.2, 1.0)}
#: Per-session measures the fit matches: variable name in :func:`session_measures`.
MEASURES = ("accuracy", "margin", "similarity")


@dataclass(frozen=True)
class ModelSetup:
    """Fixed settings of the simulated recording (everything that is not fitted).

    Attributes
    ----------
    loss : {"ce", "hinge", "mse"}, default "ce"
    activation : {"relu", "tanh"}, default "relu"
    width : int, default 200
        Hidden units N of each network.
    n_odorants, n_hot : int, default 13 and 3
        The odour task (the recordings' preset: 3-hot mixtures of 13).
    n_stimuli : int, default 16
        Odour mixtures presented (half targets).
    trials_per_stimulus : int, default 8
    n_units : int, default 15
        Hidden units recorded per network (fixed across days: chronic).
    n_replicates : int, default 4
        Networks ("mice") simulated; the model curve is their mean. Fewer
        make each simulation cheaper and the fitted curve noisier.
    n_folds : int, default 5
        Cross-validation folds of the measures (data and model alike).
    task_seed : int, default 0
        Draws the odour mixtures and the input projection: the experiment's
        odour set, shared by every replicate network (as one odour set is
        shared by every mouse of a study). Network weights, recorded units
        and trial noise come from the ``seed`` of the simulation instead.
    """

    loss: str = "ce"
    activation: str = "relu"
    width: int = 200
    n_odorants: int = 13
    n_hot: int = 3
    n_stimuli: int = 16
    trials_per_stimulus: int = 8
    n_units: int = 15
    n_replicates: int = 4
    n_folds: int = 5
    task_seed: int = 0


def session_measures(data: xr.DataTree | xr.Dataset, *, measures: tuple[str, ...] = MEASURES,
                     n_folds: int = 5, seed: int = 0) -> xr.Dataset:
    """The per-session measures the fit matches, with the library's own analyses.

    Parameters
    ----------
    data : DataTree or Dataset
        Sessions in the canonical layout.
    measures : tuple of str
        Any of ``"accuracy"`` (cross-validated LDA accuracy, from
        :func:`neurolearn.decoding.decode`), ``"margin"`` (held-out SVM margin
        on all units, :func:`neurolearn.margins.heldout_margin`) and
        ``"similarity"`` (mean within-class minus between-class RSM
        correlation, :func:`neurolearn.geometry.class_similarity`).
    n_folds : int, default 5
    seed : int, default 0
        Seeds the CV folds.

    Returns
    -------
    Dataset with dim ``session``
        One variable per measure; coordinates ``mouse``, ``day``, ``phase``.
    """
    unknown = set(measures) - set(MEASURES)
    if unknown or not measures:
        raise ParameterError(f"measures must be a non-empty subset of {MEASURES}; got {measures}.")
    out = {}
    if "accuracy" in measures:
        out["accuracy"] = decode(data, "lda", n_folds=n_folds, n_permutations=0, seed=seed,
                                 progress=False)["accuracy"]
    if "margin" in measures:
        out["margin"] = heldout_margin(data, n_folds=n_folds, n_subsamples=1, seed=seed,
                                       progress=False)["heldout_margin"]
    if "similarity" in measures:
        out["similarity"] = class_similarity(data)["separation"]
    table = session_table(data)
    ds = xr.Dataset({k: ("session", np.asarray(v.values, float)) for k, v in out.items()},
                    coords={k: table[k] for k in ("session", "mouse", "day", "phase")})
    ds.attrs = {"measures": list(measures), "n_folds": n_folds, "seed": seed,
                "neurolearn_version": __version__}
    return ds


def day_curves(per_session: xr.Dataset) -> xr.Dataset:
    """Mean and standard error across mice of each measure, per day.

    Each measure goes through :func:`neurolearn.summary.across_mice` (a
    mouse's sessions on one day are averaged first).

    Returns
    -------
    Dataset with dim ``day``
        Each measure's mean, ``<measure>_sem`` (NaN with one mouse),
        ``n_mice`` and a ``phase`` coordinate.
    """
    out = xr.Dataset()
    for name in per_session.data_vars:
        summary = across_mice(per_session[name])
        out[name] = summary["mean"]
        out[f"{name}_sem"] = summary["sem"]
    out["n_mice"] = summary["n_mice"]
    return out


def _interpolated(nets: list[Any], epoch: float, epochs: np.ndarray) -> Any:
    lo = int(np.floor(epoch))
    w = epoch - lo
    a, b = nets[int(np.searchsorted(epochs, lo))], nets[int(np.searchsorted(epochs, lo + 1))]
    if w == 0:
        return a
    return replace(a, W=(1 - w) * a.W + w * b.W, a=(1 - w) * a.a + w * b.a)


def simulate_sessions(params: dict[str, float] | None = None, *, days: Any,
                      phases: Any = None, setup: ModelSetup = ModelSetup(),
                      seed: int = 0) -> xr.DataTree:
    """Simulated recordings of the model: one session per replicate network per day.

    Parameters
    ----------
    params : dict, optional
        Values of :data:`PARAMETERS` (missing ones take the defaults).
    days : sequence of int
        Recording days; the network is naive on the first and has trained
        ``epochs_per_day × (day − first day)`` epochs on each.
    phases : sequence of str, optional
        Phase of each day (default all ``"training"``).
    setup : ModelSetup
    seed : int, default 0
        Seeds the networks, the recorded units and the trial noise (the odour
        set comes from ``setup.task_seed``).

    Returns
    -------
    DataTree
        Sessions ``/model<r>/model<r>-dDD`` in the canonical layout (rates in
        arbitrary units of hidden activity), with the parameters in ``attrs``.
    """
    theta = {**PARAMETERS, **(params or {})}
    unknown = set(theta) - set(PARAMETERS)
    if unknown:
        raise ParameterError(f"unknown model parameters {sorted(unknown)}; expected a subset of "
                         f"{list(PARAMETERS)}.")
    days = np.asarray(days, dtype=int).ravel()
    if days.size == 0 or np.unique(days).size != days.size:
        raise ParameterError(f"days must be distinct integers; got {days.tolist()}.")
    phases = (np.full(days.size, "training") if phases is None
              else np.asarray(phases, str).ravel())
    if phases.size != days.size:
        raise ParameterError(f"phases must match days ({days.size}); got {phases.size}.")
    order = np.argsort(days)
    days, phases = days[order], phases[order]
    if setup.n_units > setup.width:
        raise ParameterError(f"setup.n_units ({setup.n_units}) exceeds setup.width "
                         f"({setup.width}).")
    elapsed = theta["epochs_per_day"] * (days - days[0])
    needed = np.unique(np.concatenate([np.floor(elapsed), np.floor(elapsed) + 1])).astype(int)
    stim = np.repeat(np.arange(setup.n_stimuli), setup.trials_per_stimulus)
    names = np.array([f"odour{s:02d}" for s in stim])
    # The odour set is part of the experiment: shared by every replicate.
    task = make_odour_task(n_odorants=setup.n_odorants, n_hot=setup.n_hot,
                           n_train=setup.n_stimuli, n_test=2, probes_per_level=0,
                           seed=setup.task_seed)
    labels = task.y_train[stim].astype(int)
    clean = task.mix_train[stim] @ task.projection  # (trials, d)
    sessions = []
    for r in range(setup.n_replicates):
        # Random numbers depend on the seed only, never on the parameters.
        rep = make_rng([seed, 1, r])
        units = np.sort(rep.choice(setup.width, size=setup.n_units, replace=False))
        eps_in = rep.normal(size=(days.size, *clean.shape))
        eps_out = rep.normal(size=(days.size, clean.shape[0], setup.n_units))
        nets = train_snapshots(task, needed, gamma=theta["gamma"], width=setup.width,
                               eta0=theta["eta0"], loss=setup.loss,
                               activation=setup.activation, seed=int(rep.integers(2**31)))
        mouse = f"model{r}"
        for i, day in enumerate(days):
            net = _interpolated(nets, float(elapsed[i]), needed)
            _, phi = forward(xnp, net, clean + theta["noise"] * eps_in[i])
            rates = np.asarray(phi)[:, units] + theta["readout_noise"] * eps_out[i]
            sessions.append(make_session(rates, stimulus=names, label=labels,
                                         session=f"{mouse}-d{day:02d}", mouse=mouse,
                                         day=int(day), phase=str(phases[i])))
    tree = to_tree(sessions)
    tree.attrs = {"source": "neurolearn.fit.simulate_sessions", "seed": seed,
                  "params": json.dumps({k: float(v) for k, v in theta.items()}),
                  "setup": json.dumps(asdict(setup)), "neurolearn_version": __version__}
    return tree


def simulate_curves(params: dict[str, float] | None = None, *, days: Any, phases: Any = None,
                    setup: ModelSetup = ModelSetup(), measures: tuple[str, ...] = MEASURES,
                    seed: int = 0) -> xr.Dataset:
    """The model's day curves: :func:`simulate_sessions` → :func:`session_measures` →
    :func:`day_curves`."""
    tree = simulate_sessions(params, days=days, phases=phases, setup=setup, seed=seed)
    return day_curves(session_measures(tree, measures=measures, n_folds=setup.n_folds,
                                       seed=seed))


class _Objective:
    """Standardised squared error between model and data day curves.

    Mean over measures and days of ((model − data)/scale)², with each
    measure's scale its SD over the recorded sessions: measures in different
    units weigh alike. Model curves are cached by parameter values.
    """

    def __init__(self, *, free: tuple[str, ...], fixed: dict[str, float], days: np.ndarray,
                 phases: np.ndarray, setup: ModelSetup, measures: tuple[str, ...],
                 scale: np.ndarray, seed: int) -> None:
        self.free, self.fixed, self.days, self.phases = free, fixed, days, phases
        self.setup, self.measures, self.scale, self.seed = setup, measures, scale, seed
        self.cache: dict[tuple[float, ...], np.ndarray] = {}
        self.lo = np.log([BOUNDS[p][0] for p in free])
        self.hi = np.log([BOUNDS[p][1] for p in free])

    def params(self, z: np.ndarray) -> dict[str, float]:
        values = np.exp(np.clip(z, self.lo, self.hi))
        return {**self.fixed, **dict(zip(self.free, values.tolist(), strict=True))}

    def key(self, z: np.ndarray) -> tuple[float, ...]:
        """The cache key of log-parameters z (clipped to the bounds, rounded)."""
        return tuple(np.round(np.clip(z, self.lo, self.hi), 12).tolist())

    def curves(self, z: np.ndarray) -> np.ndarray:
        """Model curves (measure, day) at log-parameters z."""
        key = self.key(z)
        if key not in self.cache:
            tree = simulate_sessions(self.params(z), days=self.days, phases=self.phases,
                                     setup=self.setup, seed=self.seed)
            per = session_measures(tree, measures=self.measures, n_folds=self.setup.n_folds,
                                   seed=self.seed)
            # Day means: one session per replicate and day, so this is day_curves's
            # mean across mice, without its groupby overhead.
            day = per["day"].values
            self.cache[key] = np.stack([[per[m].values[day == d].mean() for d in self.days]
                                        for m in self.measures])
        return self.cache[key]

    def __call__(self, z: np.ndarray, target: np.ndarray) -> float:
        resid = (self.curves(z) - target) / self.scale[:, None]
        # Leaving the bounds costs, so Nelder–Mead walks back inside.
        outside = np.sum((z - np.clip(z, self.lo, self.hi)) ** 2)
        return float(np.nanmean(resid ** 2) + outside)


def _nelder_mead(objective: _Objective, target: np.ndarray, z0: np.ndarray, maxfev: int,
                 step: float = 0.4) -> tuple[np.ndarray, float, int]:
    simplex = np.vstack([z0, z0 + step * np.eye(z0.size)])
    res = optimize.minimize(objective, z0, args=(target,), method="Nelder-Mead",
                            options={"maxfev": maxfev, "initial_simplex": simplex,
                                     "xatol": 1e-3, "fatol": 1e-5})
    return np.clip(res.x, objective.lo, objective.hi), float(res.fun), int(res.nfev)


def _with_seed(objective: _Objective, seed: int) -> _Objective:
    return _Objective(free=objective.free, fixed=objective.fixed, days=objective.days,
                      phases=objective.phases, setup=objective.setup,
                      measures=objective.measures, scale=objective.scale, seed=seed)


def _jacobian(objective: _Objective, z: np.ndarray, step: float = 0.15) -> np.ndarray:
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


def _bootstrap_one_step(job: tuple[np.ndarray, int], *, objective: _Objective, z0: np.ndarray,
                        jacobian: np.ndarray) -> np.ndarray:
    """One Gauss–Newton step from the estimate for a bootstrap target, with the
    model simulated at the estimate under a fresh seed."""
    target, sim_seed = job
    resid = ((_with_seed(objective, sim_seed).curves(z0) - target)
             / objective.scale[:, None]).ravel()
    ok = np.isfinite(resid)
    delta = np.linalg.lstsq(jacobian[ok], -resid[ok], rcond=None)[0]
    return np.clip(z0 + delta, objective.lo, objective.hi)


def _bootstrap_refit(job: tuple[np.ndarray, int], *, objective: _Objective, z0: np.ndarray,
                     maxfev: int) -> tuple[np.ndarray, int]:
    """Nelder–Mead from the estimate for a bootstrap target, simulating under a fresh seed.

    Returns the estimate and the number of distinct simulations it ran.
    """
    target, sim_seed = job
    fresh = _with_seed(objective, sim_seed)
    z = _nelder_mead(fresh, target, z0, maxfev)[0]
    return z, len(fresh.cache)


def _as_measures(data: Any, measures: tuple[str, ...], n_folds: int, seed: int) -> xr.Dataset:
    """Per-session measures of ``data`` (computed unless ``data`` already is them)."""
    if isinstance(data, xr.Dataset) and "session" in data.dims and all(
            m in data.data_vars for m in measures) and "rates" not in data.data_vars:
        missing = [c for c in ("mouse", "day", "phase") if c not in data.coords]
        if missing:
            raise SchemaError(f"per-session measures need coordinates {missing} on `session` "
                              f"(as session_measures returns them).")
        return data[list(measures)]
    return session_measures(data, measures=measures, n_folds=n_folds, seed=seed)


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
    """
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
    per_session = _as_measures(data, tuple(measures), setup.n_folds, seed)
    days = np.unique(per_session["day"].values)
    if days.size < 2:
        raise InsufficientDataError(f"fitting day curves needs at least two days; got "
                                    f"{days.tolist()}.")
    if n_bootstrap and resample == "mouse" and np.unique(per_session["mouse"].values).size < 2:
        raise InsufficientDataError("resample='mouse' needs at least two mice; use "
                                    "resample='session' for one animal.")
    values = np.stack([per_session[m].values for m in measures])  # (measure, session)
    if not np.all(np.isfinite(values)):
        raise InsufficientDataError("some per-session measures are NaN (too few trials or "
                                    "units?); drop those sessions before fitting.")
    session_day = per_session["day"].values
    scale = np.std(values, axis=1, ddof=1)
    if not np.all(scale > 0):
        flat = [m for m, s in zip(measures, scale, strict=True) if not s > 0]
        raise InsufficientDataError(f"measures {flat} do not vary across sessions; nothing "
                                    f"to fit.")
    phase_by_day = {int(d): str(p) for d, p in zip(session_day, per_session["phase"].values,
                                                    strict=True)}
    phases = np.array([phase_by_day[int(d)] for d in days])
    members = [np.flatnonzero(session_day == d) for d in days]

    def curve_of(sessions_per_day: list[np.ndarray]) -> np.ndarray:
        # A day no resampled animal was recorded on is NaN (left out of the loss).
        return np.stack([values[:, idx].mean(axis=1) if idx.size else np.full(len(measures),
                                                                              np.nan)
                         for idx in sessions_per_day], axis=1)

    session_mouse = per_session["mouse"].values
    mice = np.unique(session_mouse)

    def resampled(rng: np.random.Generator) -> list[np.ndarray]:
        if resample == "session":
            return [rng.choice(idx, size=idx.size, replace=True) for idx in members]
        # Whole animals: a mouse's sessions share its units, so days are correlated.
        drawn = rng.choice(mice, size=mice.size, replace=True)
        return [np.concatenate([idx[session_mouse[idx] == m] for m in drawn]) for idx in members]

    target = curve_of(members)
    objective = _Objective(free=free, fixed={k: float(fixed[k]) for k in PARAMETERS
                                             if k not in free},
                           days=days, phases=phases, setup=setup, measures=tuple(measures),
                           scale=scale, seed=seed)
    # Grid, then Nelder–Mead from its best point.
    axes = [np.log(np.asarray({**GRID, **(grid or {})}[p], float)) for p in free]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(free))
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
    rng = make_rng([seed, 2])
    boots, boot_simulations = [], 0
    if n_bootstrap:
        # A fresh simulation seed per replicate: the intervals then also cover
        # the model's own sampling noise (network initialisation, recorded
        # units, trial noise), not only the resampling of the recording.
        jobs = [(curve_of(resampled(rng)), int(rng.integers(2**31))) for _ in range(n_bootstrap)]
        if bootstrap == "one-step":
            boots = map_items(_bootstrap_one_step, jobs, scheduler=scheduler,
                              progress=progress, desc="bootstrap", objective=objective,
                              z0=z_hat, jacobian=_jacobian(objective, z_hat))
            boot_simulations = len(jobs)  # one simulation per replicate
        else:
            refits = map_items(_bootstrap_refit, jobs, scheduler=scheduler, progress=progress,
                               desc="bootstrap refits", objective=objective, z0=z_hat,
                               maxfev=bootstrap_maxfev)
            boots = [z for z, _ in refits]
            boot_simulations = sum(n for _, n in refits)
    names = list(PARAMETERS)
    estimate = objective.params(z_hat)
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
MODELS = {
    "lazy": {"setup": {"loss": "ce"}, "fixed": {"gamma": 1e-3},
             "free": ("epochs_per_day", "readout_noise")},
    "rich-ce": {"setup": {"loss": "ce"}, "fixed": {},
                "free": ("gamma", "epochs_per_day", "readout_noise")},
    "rich-hinge": {"setup": {"loss": "hinge"}, "fixed": {},
                   "free": ("gamma", "epochs_per_day", "readout_noise")},
}


def compare_models(data: xr.DataTree | xr.Dataset, *, models: dict[str, dict] | None = None,
                   setup: ModelSetup = ModelSetup(), measures: tuple[str, ...] = MEASURES,
                   n_bootstrap: int = 0, seed: int = 0, progress: bool = True,
                   **fit_kwargs: Any) -> xr.Dataset:
    """Fit several model variants to the same data and rank them by fit quality.

    Parameters
    ----------
    data : DataTree or Dataset
        As in :func:`fit_model`.
    models : dict, optional
        name → {"setup": ModelSetup field overrides, "fixed": {...},
        "free": (...)}. Default :data:`MODELS`: lazy (γ = 10⁻³, CE),
        rich-CE and rich-hinge (γ free).
    setup, measures, n_bootstrap, seed, progress, **fit_kwargs
        Passed to :func:`fit_model` for every variant.

    Returns
    -------
    Dataset with dim ``model`` (best first)
        ``loss`` (mean standardised squared error), ``bic`` (n·log(loss) +
        k·log(n), n = measures × days, k = free parameters; NaN, ranked last,
        where the loss is 0), ``status`` ("ok" or why the BIC is NaN), ``n_free``,
        ``estimate`` (model, parameter) and ``model_curve`` (model, measure,
        day); ``data_curve`` and ``data_sem`` (measure, day).
    """
    models = MODELS if models is None else models
    per_session = _as_measures(data, tuple(measures), setup.n_folds, seed)
    fits = {}
    for name, spec in tqdm(models.items(), desc="models", disable=not progress):
        fits[name] = fit_model(per_session, free=tuple(spec["free"]), fixed=spec.get("fixed"),
                               setup=replace(setup, **spec.get("setup", {})),
                               measures=measures, n_bootstrap=n_bootstrap, seed=seed,
                               progress=False, **fit_kwargs)
    names = list(fits)
    loss = np.array([float(fits[m]["loss"]) for m in names])
    k = np.array([int(fits[m]["free"].sum()) for m in names])
    n = len(measures) * fits[names[0]].sizes["day"]
    # A loss of exactly 0 (the model reproduces the data to the last digit)
    # has no log: NaN and a warning, not −inf ranking it first silently.
    bic = np.where(loss > 0, n * np.log(np.where(loss > 0, loss, 1.0)) + k * np.log(n), np.nan)
    status = np.array(["ok" if value > 0 else f"its loss is {value}; no BIC"
                       for value in loss], dtype=object)
    for name, value, why in zip(names, loss, status, strict=True):
        if not value > 0:
            warn_degenerate(f"compare_models, model {name}", why)
    order = np.argsort(bic)
    first = fits[names[0]]
    return xr.Dataset(
        {"loss": ("model", loss[order]), "bic": ("model", bic[order]),
         "n_free": ("model", k[order]), "status": ("model", status[order]),
         "estimate": (("model", "parameter"),
                      np.stack([fits[names[i]]["estimate"].values for i in order])),
         "model_curve": (("model", "measure", "day"),
                         np.stack([fits[names[i]]["model_curve"].values for i in order])),
         "data_curve": (("measure", "day"), first["data_curve"].values),
         "data_sem": (("measure", "day"), first["data_sem"].values)},
        coords={"model": [names[i] for i in order], "parameter": first["parameter"].values,
                "measure": first["measure"].values, "day": first["day"].values,
                "phase": ("day", first["phase"].values)},
        attrs={"models": json.dumps({m: {k2: (list(v) if isinstance(v, tuple) else v)
                                          for k2, v in spec.items()}
                                      for m, spec in models.items()}),
               "criterion": "BIC on the standardised squared error; lower is better",
               "seed": seed, "neurolearn_version": __version__})
