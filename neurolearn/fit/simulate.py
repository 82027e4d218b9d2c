"""The model's recording: simulated sessions of γ-networks, measured as the data are.

A γ-network (:mod:`neurolearn.models`) learns the odour task by full-batch
gradient descent, ``epochs_per_day`` epochs per recording day, starting
naive on the first day. Each day, a fixed set of ``n_units`` of its hidden
units is "recorded" on ``trials_per_stimulus`` trials of each training
odour: the odour's input gets Gaussian noise of SD ``noise`` (trial-to-trial
sensory variability, which passes through the learned features) and the
recorded activity gets Gaussian noise of SD ``readout_noise`` (variability
the features do not shape). ``n_replicates`` networks (different initial
weights and recorded units) play the mice. The simulated sessions go through
the *same* analyses as the recording (:func:`session_measures`), so model
and data curves are measured alike.

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

from neurolearn._version import __version__
from neurolearn.backend import make_rng
from neurolearn.decoding import decode
from neurolearn.errors import ParameterError, SchemaError
from neurolearn.geometry import class_similarity
from neurolearn.margins import heldout_margin
from neurolearn.models.network import forward
from neurolearn.models.task import make_odour_task
from neurolearn.models.train import train_snapshots
from neurolearn.schema import make_session, session_table, to_tree
from neurolearn.summary import across_mice

__all__ = ["PARAMETERS", "BOUNDS", "GRID", "MEASURES", "ModelSetup", "session_measures",
           "day_curves", "simulate_sessions", "simulate_curves", "as_measures"]

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

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=3)
    >>> per = session_measures(tree, measures=("accuracy", "similarity"))
    >>> sorted(per.data_vars), per.sizes["session"]
    (['accuracy', 'similarity'], 8)
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

    Parameters
    ----------
    per_session : Dataset with dim ``session``
        Per-session measures (as :func:`session_measures` returns), with
        ``mouse``, ``day`` and ``phase`` coordinates.

    Returns
    -------
    Dataset with dim ``day``
        Each measure's mean, ``<measure>_sem`` (NaN with one mouse),
        ``n_mice`` and a ``phase`` coordinate.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> from neurolearn.fit import session_measures
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=2)
    >>> curves = day_curves(session_measures(tree, measures=("accuracy",)))
    >>> curves["accuracy"].dims, sorted(curves.data_vars)
    (('day',), ['accuracy', 'accuracy_sem', 'n_mice'])
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

    Examples
    --------
    >>> import numpy as np
    >>> tree = simulate_sessions({"epochs_per_day": 5.0}, days=np.arange(1, 4),
    ...                          setup=ModelSetup(n_replicates=2, width=50))
    >>> len(tree.leaves), tree.leaves[0].to_dataset()["rates"].dims
    (6, ('trial', 'neuron'))
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
    :func:`day_curves`.

    Parameters
    ----------
    params, days, phases, setup, seed
        As in :func:`simulate_sessions`.
    measures : tuple of str, default MEASURES
        As in :func:`session_measures`.

    Returns
    -------
    Dataset with dim ``day``
        As :func:`day_curves`.
    """
    tree = simulate_sessions(params, days=days, phases=phases, setup=setup, seed=seed)
    return day_curves(session_measures(tree, measures=measures, n_folds=setup.n_folds,
                                       seed=seed))


def as_measures(data: Any, measures: tuple[str, ...], n_folds: int, seed: int) -> xr.Dataset:
    """Per-session measures of ``data`` (computed unless ``data`` already is them).

    Parameters
    ----------
    data : DataTree, Dataset of sessions, or Dataset with dim ``session``
        Recordings, or their per-session measures already (passed through).
    measures : tuple of str
    n_folds : int
    seed : int
        As in :func:`session_measures`.

    Returns
    -------
    Dataset with dim ``session``
    """
    if isinstance(data, xr.Dataset) and "session" in data.dims and all(
            m in data.data_vars for m in measures) and "rates" not in data.data_vars:
        missing = [c for c in ("mouse", "day", "phase") if c not in data.coords]
        if missing:
            raise SchemaError(f"per-session measures need coordinates {missing} on `session` "
                              f"(as session_measures returns them).")
        return data[list(measures)]
    return session_measures(data, measures=measures, n_folds=n_folds, seed=seed)
