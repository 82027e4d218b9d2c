"""Leakage-free cross-validation folds and within-session label permutations."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from neurolearn.errors import InsufficientDataError, SchemaError
from neurolearn.params import Interval, check_params
from neurolearn.schema import check_classes, session_info
from neurolearn.session_arrays import trial_by_unit

__all__ = ["SessionProblem", "session_problem", "session_seed", "stratified_test_folds",
           "permuted_labels"]


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
    y : ndarray (n_trials,) of float class indices 0..K−1 into ``classes``
        (for the default binary target, the 0/1 ``label`` itself); −1 for a
        held-out trial whose class no trained trial has
    trained : ndarray (n_trials,) bool — trials that may train a decoder
    train, test : ndarray (n_folds, n_trials) of 0.0/1.0 — CV fold masks; test
        masks cover trained trials only, and every trained trial is tested once
    stimulus : ndarray (n_trials,) of str
    seed : int — the session's seed (folds and permutations)
    classes : ndarray (K,) — the target's values, sorted, of the trained trials
    target : str — the trial coordinate decoded
    """

    session: str
    X: np.ndarray
    y: np.ndarray
    trained: np.ndarray
    train: np.ndarray
    test: np.ndarray
    stimulus: np.ndarray
    seed: int
    classes: np.ndarray = field(default_factory=lambda: np.array([0, 1]))
    target: str = "label"

    @property
    def n_classes(self) -> int:
        """K, the number of classes among the trained trials."""
        return int(self.classes.size)


def _explicit_folds(ds: xr.Dataset, name: str, coord: str, trained: np.ndarray
                    ) -> np.ndarray:
    """Each trained trial's fold index 0..F−1 from the trial coord ``coord``."""
    if coord not in ds.coords or ds[coord].dims != ("trial",):
        raise SchemaError(f"{name}: `folds={coord!r}` names no trial coordinate; expected a "
                          "(trial,) coord giving each trial's test fold.")
    values = np.asarray(ds[coord].values)[trained]
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise SchemaError(f"{name}: coordinate `{coord}` has NaN fold assignments on trained "
                          "trials; every trained trial needs a fold.")
    _, index = np.unique(values, return_inverse=True)
    return index


def session_problem(ds: xr.Dataset, *, n_folds: int, seed: int, variable: str = "rates",
                    X: np.ndarray | None = None, target: str = "label",
                    folds: str | None = None, binary: bool = True,
                    train_heldout: bool = False) -> SessionProblem:
    """Folds and arrays of one session; held-out trials never enter a training fold.

    Folds come from ``StratifiedKFold(n_folds, shuffle=True)`` on the trained
    trials with the session's seed (:func:`session_seed`), or from the trial
    coordinate ``folds``.

    Parameters
    ----------
    ds : Dataset
        One session.
    n_folds : int
        Folds (ignored where ``folds`` gives them).
    seed : int
        The study-level seed (:func:`session_seed` derives the session's).
    variable : str, default "rates"
    X : ndarray (n_trials, n_units), optional
        Features to use instead of ``ds[variable]`` (e.g. binned rates).
    target : str, default "label"
        The trial coordinate whose values are the classes.
    folds : str, optional
        A trial coordinate holding each trial's test fold (any values; each
        distinct value among the trained trials is a fold), to reproduce
        another tool's folds. Held-out trials' entries are ignored.
    binary : bool, default True
        Require the 0/1 ``label`` of the two-class analyses (margins,
        separation); ``False`` accepts any K ≥ 2 classes of ``target``.
    train_heldout : bool, default False
        Treat held-out trials (probes, repeats) as ordinary trials: in the CV
        folds, trained and tested like the rest, as the original study did.

    Returns
    -------
    SessionProblem

    Raises
    ------
    InsufficientDataError
        If the trained trials have one class, fewer trials in a class than
        ``n_folds`` (stratified folds) or than 2 (given folds), or a training
        fold that lacks a class.
    SchemaError
        If ``target`` or ``folds`` names no trial coordinate, or (``binary``)
        a label is not 0/1.
    """
    check_params({"n_folds": n_folds}, {"n_folds": [Interval("int", 2, None)]},
                 where="session_problem")
    name = session_info(ds)["session"]
    if binary and target == "label":
        check_classes(ds, min_per_class=n_folds if folds is None else 2,
                      use_heldout=train_heldout)
    trained = (~np.asarray(ds["heldout"].values, dtype=bool)
               if "heldout" in ds.coords and not train_heldout
               else np.ones(ds.sizes["trial"], bool))
    classes, y = _class_indices(ds, name, target, trained,
                                min_per_class=n_folds if folds is None else 2)
    if X is None:
        X = trial_by_unit(ds, variable)
    s = session_seed(seed, name)
    idx = np.flatnonzero(trained)
    if folds is None:
        assignment = stratified_test_folds(y[idx], n_folds, s % (2**32))
    else:
        assignment = _explicit_folds(ds, name, folds, trained)
    n_splits = int(assignment.max()) + 1
    in_test = assignment[None, :] == np.arange(n_splits)[:, None]  # (F, n_trained)
    train = np.zeros((n_splits, y.size))
    test = np.zeros((n_splits, y.size))
    train[:, idx], test[:, idx] = ~in_test, in_test
    for f in range(n_splits):
        missing = set(range(classes.size)) - set(y[idx[~in_test[f]]].astype(int).tolist())
        if missing:
            raise InsufficientDataError(
                f"{name}: training fold {f} has no trial of class(es) "
                f"{classes[sorted(missing)].tolist()} of `{target}`; every class "
                "needs training trials in every fold.")
    return SessionProblem(name, X, y, trained, train, test,
                          np.asarray(ds["stimulus"].values).astype(str), s, classes, target)


def stratified_test_folds(y: np.ndarray, n_folds: int, random_state: int) -> np.ndarray:
    """Each sample's test fold under ``StratifiedKFold(n_folds, shuffle=True, random_state)``.

    The same folds as scikit-learn's (``tests/test_decoding.py`` checks
    them for many seeds and class layouts), without its input validation
    and split generator, which cost 1–4 ms a session: up to a tenth of a
    1,000-permutation decode. Its rule: classes are numbered in order of
    first appearance; fold i's share of each class is the count of that
    class at positions i, i+F, i+2F, ... of the sorted class numbers; each
    class's fold numbers, in blocks, are shuffled by one
    ``RandomState(random_state)``, class by class.

    Parameters
    ----------
    y : ndarray (n,)
        Class of each sample (any sortable values; every class at least
        ``n_folds`` times, as the callers check).
    n_folds : int
    random_state : int
        In [0, 2³²).

    Returns
    -------
    ndarray (n,) of int
        The fold (0 … n_folds − 1) that tests each sample.

    Examples
    --------
    >>> from sklearn.model_selection import StratifiedKFold
    >>> y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0])
    >>> ours = stratified_test_folds(y, 5, 7)
    >>> theirs = np.empty(10, int)
    >>> for f, (_, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=7).split(y, y)):
    ...     theirs[te] = f
    >>> ours.tolist() == theirs.tolist()
    True
    """
    rng = np.random.RandomState(random_state)
    _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    encoded = np.argsort(np.argsort(first))[inverse.reshape(-1)]  # by first appearance
    n_classes = first.size
    allocation = np.zeros((n_folds, n_classes), dtype=np.int64)
    np.add.at(allocation, (np.arange(encoded.size) % n_folds, np.sort(encoded)), 1)
    folds = np.empty(encoded.size, dtype=np.int64)
    for k in range(n_classes):  # (the classes, in the order they consume the generator)
        of_k = np.repeat(np.arange(n_folds), allocation[:, k])
        rng.shuffle(of_k)
        folds[encoded == k] = of_k
    return folds


def _class_indices(ds: xr.Dataset, name: str, target: str, trained: np.ndarray, *,
                   min_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The target's classes (sorted values of the trained trials) and each trial's index."""
    if target not in ds.coords or ds[target].dims != ("trial",):
        raise SchemaError(f"{name}: `target={target!r}` names no trial coordinate; expected "
                          f"one of {sorted(k for k in ds.coords if ds[k].dims == ('trial',))}.")
    values = np.asarray(ds[target].values)
    classes, counts = np.unique(values[trained], return_counts=True)
    if classes.size < 2:
        raise InsufficientDataError(
            f"{name}: coordinate `{target}` has a single class ({classes.tolist()}) among "
            f"{int(trained.sum())} training trials; decoding needs two.")
    if counts.min() < min_per_class:
        detail = ", ".join(f"{target} {c}: {k}"
                           for c, k in zip(classes.tolist(), counts, strict=True))
        raise InsufficientDataError(
            f"{name}: too few trials per class ({detail}); need at least {min_per_class} per "
            "class (e.g. one per cross-validation fold). Use fewer folds or drop the session.")
    position = np.clip(np.searchsorted(classes, values), 0, classes.size - 1)
    known = classes[position] == values
    return classes, np.where(known, position, -1).astype(float)


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
