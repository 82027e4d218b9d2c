"""Leakage-free cross-validation folds and within-session label permutations."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import xarray as xr
from sklearn.model_selection import StratifiedKFold

from neurolearn.errors import InsufficientDataError
from neurolearn.params import Interval, check_params
from neurolearn.schema import check_classes, session_info

__all__ = ["SessionProblem", "session_problem", "session_seed", "permuted_labels"]


def session_seed(seed: int, session: str) -> int:
    """A per-session seed: the same for a session whatever else is analysed with it.

    Parameters
    ----------
    seed : int
        The study-level seed.
    session : str
        The session's name.

    Returns
    -------
    int
    """
    return int(np.random.SeedSequence([seed, zlib.crc32(session.encode())]).generate_state(1)[0])


@dataclass(frozen=True)
class SessionProblem:
    """One session's decoding problem as host arrays.

    Attributes
    ----------
    X : ndarray (n_trials, n_units)
    y : ndarray (n_trials,) of 0/1
    trained : ndarray (n_trials,) bool — trials that may train a decoder
    train, test : ndarray (n_folds, n_trials) of 0.0/1.0 — CV fold masks; test
        masks cover trained trials only, and every trained trial is tested once
    stimulus : ndarray (n_trials,) of str
    seed : int — the session's seed (folds and permutations)
    """

    session: str
    X: np.ndarray
    y: np.ndarray
    trained: np.ndarray
    train: np.ndarray
    test: np.ndarray
    stimulus: np.ndarray
    seed: int


def session_problem(ds: xr.Dataset, *, n_folds: int, seed: int, variable: str = "rates",
                    X: np.ndarray | None = None) -> SessionProblem:
    """Folds and arrays of one session; held-out trials never enter a training fold.

    Folds come from ``StratifiedKFold(n_folds, shuffle=True)`` on the trained
    trials with the session's seed (:func:`session_seed`).

    Parameters
    ----------
    ds : Dataset
        One session.
    n_folds : int
    seed : int
        The study-level seed (:func:`session_seed` derives the session's).
    variable : str, default "rates"
    X : ndarray (n_trials, n_units), optional
        Features to use instead of ``ds[variable]`` (e.g. binned rates).

    Returns
    -------
    SessionProblem

    Raises
    ------
    InsufficientDataError
        If the trained trials have one class or fewer trials in a class than
        ``n_folds``.
    """
    check_params({"n_folds": n_folds}, {"n_folds": [Interval("int", 2, None)]},
                 where="session_problem")
    check_classes(ds, min_per_class=n_folds)
    name = session_info(ds)["session"]
    y = np.asarray(ds["label"].values)
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise InsufficientDataError(f"{name}: binary decoding needs labels 0 and 1; got "
                                    f"{np.unique(y).tolist()}.")
    trained = (~np.asarray(ds["heldout"].values, dtype=bool) if "heldout" in ds.coords
               else np.ones(y.size, bool))
    if X is None:
        X = np.asarray(ds[variable].transpose("trial", "neuron").values, dtype=float)
    s = session_seed(seed, name)
    idx = np.flatnonzero(trained)
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=s % (2**32)).split(
        np.zeros(idx.size), y[idx])
    train = np.zeros((n_folds, y.size))
    test = np.zeros((n_folds, y.size))
    for f, (tr, te) in enumerate(folds):
        train[f, idx[tr]] = 1.0
        test[f, idx[te]] = 1.0
    return SessionProblem(name, X, (y == 1).astype(float), trained, train, test,
                          np.asarray(ds["stimulus"].values).astype(str), s)


def permuted_labels(problem: SessionProblem, n_permutations: int) -> np.ndarray:
    """Label vectors: row 0 the true labels, then labels shuffled within each CV fold.

    Shuffling within each fold's test set keeps every fold's class counts,
    in training and test, equal to the true labels' (which stratification
    balanced). Shuffling across folds would unbalance them, and on null data
    a CV decoder scores below chance on unbalanced folds, so the true labels
    would beat the null too often (measured on 207 planted-null sessions:
    KS test of p-value uniformity p ≈ 1e-4 when shuffling across folds,
    p = 0.03–0.24 over three seeds when shuffling within folds).

    Parameters
    ----------
    problem : SessionProblem
    n_permutations : int

    Returns
    -------
    ndarray (1 + n_permutations, n_trials)
        Row q is the same for any ``n_permutations`` ≥ q. Held-out trials keep
        their labels (they are never trained on).
    """
    rng = np.random.default_rng(problem.seed)
    Y = np.repeat(problem.y[None, :], 1 + n_permutations, axis=0)
    if n_permutations:
        # One row of keys per permutation, drawn in order: permutation q is the
        # same whatever n_permutations is.
        keys = rng.random((n_permutations, problem.y.size))
        for fold_test in problem.test:  # a handful of folds; permutations are vectorised
            idx = np.flatnonzero(fold_test)
            Y[1:, idx] = problem.y[idx][np.argsort(keys[:, idx], axis=1)]
    return Y
