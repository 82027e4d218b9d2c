"""Synthetic imaging-like study with cells tracked across days and planted drift.

:func:`make_tracked_dataset` generates, per mouse, ``n_cells`` cells imaged
every day, each missing on a day with probability ``missing_fraction`` (a
tracker did not find it), with a ``track`` coordinate naming every cell
across days and units listed in a fresh order each session (as a new ROI
detection would). Four odours: two targets (label 1) and two non-targets.

Generative model, for cell i on a trial of odour s (class y_s ∈ {0, 1}) on
day d::

    x_i = b_i + a_{s,i} + (y_s − ½)·δ_{d,i} + ε_i,   ε_i ~ N(0, 1)
    δ_d = g(d)·u + o_d

``b`` is each cell's baseline; ``a_s`` odour-specific patterns that cancel
within each class (``a = p, −p`` for the targets and ``q, −q`` for the
non-targets), so the class means differ by exactly δ_d. ``u`` is the unit
coding axis, fixed for the mouse; ``g(d) = separation + growth·(d − 1)`` the
planted separation along it (rising through training and overtraining);
``o_d`` the drift: a random walk orthogonal to ``u``, starting at 0, whose
daily step has norm ``drift_rate`` in a random direction, so
E‖o_{d+L} − o_d‖² = L·drift_rate². Behaviour follows the main generator's
curve (at ceiling in overtraining).

Ground truth per session (``attrs``): ``planted_separation`` g(d),
``planted_drift_norm`` ‖o_d‖ and ``planted_class_difference`` δ_d (one value
per cell of the mouse, in track order); the root's ``generator`` attribute
holds the parameters.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from data_loaders.synthetic import _behaviour_schedule
from neurolearn._version import __version__
from neurolearn.errors import ParameterError
from neurolearn.schema import make_session, to_tree

__all__ = ["make_tracked_dataset", "TRACKED_STIMULI"]

TRACKED_STIMULI = ("target A", "target B", "nontarget A", "nontarget B")
_LABELS = np.array([1, 1, 0, 0])


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=n)
    return v / np.linalg.norm(v)


def _orthogonal_step(rng: np.random.Generator, u: np.ndarray, norm: float) -> np.ndarray:
    v = rng.normal(size=u.size)
    v -= (v @ u) * u
    return norm * v / np.linalg.norm(v)


def make_tracked_dataset(
    n_mice: int = 4,
    n_training_days: int = 6,
    n_overtraining_days: int = 14,
    n_cells: int = 300,
    trials_per_session: int = 200,
    *,
    missing_fraction: float = 0.2,
    separation: float = 3.0,
    growth: float = 0.15,
    drift_rate: float = 1.0,
    pattern_norm: float = 3.0,
    seed: int = 0,
) -> xr.DataTree:
    """Generate a tracked imaging study with planted separation growth and drift.

    Parameters
    ----------
    n_mice : int, default 4
    n_training_days, n_overtraining_days : int, default 6 and 14
    n_cells : int, default 300
        Cells per mouse (tracked identities).
    trials_per_session : int, default 200
        Trials per session, a quarter per odour.
    missing_fraction : float, default 0.2
        Probability that a cell is missing on a day (independent over days).
    separation : float, default 3.0
        g(1): class separation along the coding axis on day 1, in noise SD.
    growth : float, default 0.15
        Increase of g per day.
    drift_rate : float, default 1.0
        Norm of the daily drift step orthogonal to the coding axis (noise SD).
    pattern_norm : float, default 3.0
        Norm of the odour-specific patterns ``p`` and ``q``.
    seed : int, default 0

    Returns
    -------
    DataTree
        Sessions at ``/<mouse>/<mouse>-dDD`` with ``rates`` (trial, neuron) in
        "dF/F" (not z-scored), ``track`` on ``neuron`` and the planted truth
        in ``attrs``.

    Examples
    --------
    >>> tree = make_tracked_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1,
    ...                             n_cells=20, missing_fraction=0.5, seed=2)
    >>> [leaf.sizes["neuron"] < 20 for leaf in tree.leaves]
    [True, True]
    """
    if not 0.0 <= missing_fraction < 1.0:
        raise ParameterError(f"missing_fraction must be in [0, 1); got {missing_fraction}.")
    if n_cells < 4 or trials_per_session < 8:
        raise ParameterError("need at least 4 cells and 8 trials per session.")
    n_days = n_training_days + n_overtraining_days
    sessions = []
    for m in range(n_mice):
        mouse = chr(ord("A") + m) if m < 26 else f"M{m}"
        rng = np.random.default_rng([seed, m, 7])
        u = _unit(rng, n_cells)
        baseline = rng.normal(0.0, 1.0, n_cells)
        p, q = pattern_norm * _unit(rng, n_cells), pattern_norm * _unit(rng, n_cells)
        patterns = np.stack([p, -p, q, -q])
        p_correct = _behaviour_schedule(n_training_days, n_overtraining_days, rng)
        drift = np.zeros(n_cells)
        tracks = np.array([f"{mouse}-cell{i:03d}" for i in range(n_cells)], dtype=object)
        for day in range(1, n_days + 1):
            if day > 1:
                drift = drift + _orthogonal_step(rng, u, drift_rate)
            g = separation + growth * (day - 1)
            delta = g * u + drift
            odour = rng.permutation(np.arange(trials_per_session) % 4)
            y = _LABELS[odour]
            means = baseline + patterns[odour] + (y[:, None] - 0.5) * delta
            rates = means + rng.normal(size=means.shape)
            present = rng.random(n_cells) >= missing_fraction
            if present.sum() < 2:
                present[rng.choice(n_cells, 2, replace=False)] = True
            order = rng.permutation(np.flatnonzero(present))  # a fresh ROI order each day
            correct = rng.random(trials_per_session) < p_correct[day - 1]
            choice = np.where(correct == (y == 1), "right", "left").astype(object)
            phase = "training" if day <= n_training_days else "overtraining"
            session = f"{mouse}-d{day:02d}"
            ds = make_session(
                rates[:, order], stimulus=np.array(TRACKED_STIMULI, dtype=object)[odour],
                label=y, session=session, mouse=mouse, day=day, phase=phase, choice=choice,
                correct=correct.astype(float), unit_id=[f"roi{j}" for j in range(order.size)],
                attrs={"planted_separation": float(g),
                       "planted_drift_norm": float(np.linalg.norm(drift)),
                       "planted_class_difference": delta.copy(),
                       "planted_p_correct": float(p_correct[day - 1])})
            ds["rates"].attrs["units"] = "dF/F"
            sessions.append(ds.assign_coords(track=("neuron", tracks[order])))
    params = {"n_mice": n_mice, "n_training_days": n_training_days,
              "n_overtraining_days": n_overtraining_days, "n_cells": n_cells,
              "trials_per_session": trials_per_session, "missing_fraction": missing_fraction,
              "separation": separation, "growth": growth, "drift_rate": drift_rate,
              "pattern_norm": pattern_norm, "seed": seed}
    return to_tree(sessions, attrs={
        "source": "data_loaders.synthetic_tracked.make_tracked_dataset",
        "format": "synthetic-tracked", "generator": json.dumps(params),
        "neurolearn_version": __version__})
