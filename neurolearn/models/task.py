"""The odour task of the feature-learning model: n-hot mixtures over k odorants.

Odours are n-hot vectors over k odorants; the class of a mixture is whether
it contains the target odorant (Kumar et al. 2025). Mixtures pass a fixed
random projection to dimension d, so the network sees dense inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurolearn.backend import make_rng
from neurolearn.errors import ParameterError

__all__ = ["OdourTask", "make_odour_task", "sample_mixtures", "PRESETS"]

#: Task sizes: the recordings' (3-hot over 13) and the paper model's (10-hot over 100).
PRESETS = {"data": {"n_odorants": 13, "n_hot": 3}, "paper": {"n_odorants": 100, "n_hot": 10}}


@dataclass(frozen=True)
class OdourTask:
    """Training and test mixtures of one task.

    Attributes
    ----------
    X_train, X_test : ndarray (P, d), (P_test, d)
        Projected inputs.
    y_train, y_test : ndarray of 0/1
        1 where the mixture contains the target odorant.
    mix_train, mix_test : ndarray of 0/1, (P, k), (P_test, k)
        The n-hot mixtures before projection.
    projection : ndarray (k, d)
        The fixed random projection (entries N(0, 1/n)).
    target : int
        Index of the target odorant.
    X_probe : ndarray (n_probe, d)
        Probe inputs: held-out target-class mixtures (they contain the target
        odorant) sharing ``probe_overlap`` of their other odorants with
        ``reference``, a trained target mixture.
    probe_overlap : ndarray (n_probe,) of int
        Non-target odorants each probe shares with ``reference`` (0 … n−2).
    reference : ndarray (k,)
        The reference target mixture the probes are built around.
    X_distractor : ndarray (n_distractor, d)
        Distractor inputs: non-target mixtures (no target odorant) sharing
        ``distractor_overlap`` of their odorants with ``reference``. The more
        they share, the more they resemble a trained target, and the later a
        network learns to reject them.
    distractor_overlap : ndarray (n_distractor,) of int
        Odorants each distractor shares with ``reference`` (0 … n−1).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    mix_train: np.ndarray
    mix_test: np.ndarray
    projection: np.ndarray
    target: int
    X_probe: np.ndarray
    probe_overlap: np.ndarray
    reference: np.ndarray
    X_distractor: np.ndarray
    distractor_overlap: np.ndarray


def sample_mixtures(rng: np.random.Generator, count: int, k: int, n: int, target: int,
                    positive: np.ndarray) -> np.ndarray:
    """``count`` random n-hot mixtures of k odorants, (count, k) of 0/1.

    Row i contains the ``target`` odorant (plus n − 1 others) where
    ``positive[i]``, else n odorants other than the target.

    Parameters
    ----------
    rng : numpy.random.Generator
    count : int
        Mixtures drawn.
    k : int
        Odorants.
    n : int
        Odorants per mixture (n-hot).
    target : int
        The target odorant's index.
    positive : bool array (count,)
        Which mixtures contain the target.

    Returns
    -------
    ndarray (count, k)

    Examples
    --------
    >>> import numpy as np
    >>> mix = sample_mixtures(np.random.default_rng(0), 4, k=6, n=2, target=0,
    ...                       positive=np.array([True, True, False, False]))
    >>> mix.sum(axis=1).tolist(), mix[:, 0].tolist()  # 2-hot; the target in the first two
    ([2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 0.0, 0.0])
    """
    others = np.setdiff1d(np.arange(k), [target])
    mix = np.zeros((count, k))
    for i, pos in enumerate(positive):
        chosen = rng.choice(others, size=n - 1 if pos else n, replace=False)
        mix[i, chosen] = 1.0
        if pos:
            mix[i, target] = 1.0
    return mix


def _around_reference(rng: np.random.Generator, reference: np.ndarray, target: int,
                      n_hot: int, per_level: int, *, with_target: bool
                      ) -> tuple[np.ndarray, np.ndarray]:
    """n-hot mixtures sharing j of their non-target odorants with the reference mixture.

    With the target odorant (probes): j = 0 … n−2 (j = n−1 would be the
    reference itself). Without it (distractors): j = 0 … n−1.
    """
    k = reference.size
    shared_pool = np.setdiff1d(np.flatnonzero(reference), [target])
    other_pool = np.setdiff1d(np.arange(k), np.flatnonzero(reference))
    n_other = n_hot - 1 if with_target else n_hot  # non-target odorants per mixture
    mixes, overlap = [], []
    for j in range(n_other):
        if n_other - j > other_pool.size:
            continue
        for _ in range(per_level):
            mix = np.zeros(k)
            mix[target] = 1.0 if with_target else 0.0
            mix[rng.choice(shared_pool, size=j, replace=False)] = 1.0
            mix[rng.choice(other_pool, size=n_other - j, replace=False)] = 1.0
            mixes.append(mix)
            overlap.append(j)
    return np.array(mixes).reshape(-1, k), np.array(overlap, dtype=int)


def make_odour_task(*, n_odorants: int = 100, n_hot: int = 10, n_train: int = 60,
                    n_test: int = 2000, dim: int | None = None, input_noise: float = 0.0,
                    probes_per_level: int = 50, seed: int = 0) -> OdourTask:
    """Draw training and test mixtures, half of them containing the target odorant.

    Parameters
    ----------
    n_odorants, n_hot : int, default 100 and 10
        k and n (see :data:`PRESETS`).
    n_train, n_test : int, default 60 and 2000
    dim : int, optional
        Input dimension d after the random projection (default k).
    input_noise : float, default 0.0
        SD of Gaussian noise added to the projected test and probe inputs.
    probes_per_level : int, default 50
        Probe and distractor mixtures per overlap level with the reference
        target mixture.
    seed : int, default 0

    Returns
    -------
    OdourTask
        Inputs ``X_train`` (n_train, d), ``X_test`` (n_test, d), 0/1 targets,
        the n-hot mixtures behind them and the probe sets.

    Examples
    --------
    >>> task = make_odour_task(n_odorants=13, n_hot=3, n_train=40, n_test=200, seed=0)
    >>> task.X_train.shape[0], sorted(set(task.y_train.tolist()))
    (40, [0.0, 1.0])
    >>> bool((task.mix_train.sum(axis=1) == 3).all())  # 3-hot mixtures
    True
    """
    if not 1 <= n_hot < n_odorants:
        raise ParameterError(f"need 1 <= n_hot < n_odorants; got {n_hot}, {n_odorants}.")
    rng = make_rng(seed)
    d = dim or n_odorants
    target = 0
    y_train = (np.arange(n_train) % 2 == 0).astype(float)
    y_test = (np.arange(n_test) % 2 == 0).astype(float)
    mix_train = sample_mixtures(rng, n_train, n_odorants, n_hot, target, y_train > 0)
    mix_test = sample_mixtures(rng, n_test, n_odorants, n_hot, target, y_test > 0)
    # Scaled so projected inputs have entries of order one.
    projection = rng.normal(size=(n_odorants, d)) / np.sqrt(n_hot)
    X_train = mix_train @ projection
    X_test = mix_test @ projection + input_noise * rng.normal(size=(n_test, d))
    # The reference target mixture is the first training target: the probes are
    # distractors built around an odour the network was trained on.
    reference = mix_train[np.flatnonzero(y_train > 0)[0]]
    mix_probe, overlap = _around_reference(rng, reference, target, n_hot, probes_per_level,
                                           with_target=True)
    X_probe = mix_probe @ projection + input_noise * rng.normal(size=(overlap.size, d))
    # Drawn after everything else, so tasks drawn before distractors existed are unchanged.
    mix_dis, dis_overlap = _around_reference(rng, reference, target, n_hot, probes_per_level,
                                             with_target=False)
    X_dis = mix_dis @ projection + input_noise * rng.normal(size=(dis_overlap.size, d))
    return OdourTask(X_train, y_train, X_test, y_test, mix_train, mix_test, projection, target,
                     X_probe, overlap, reference, X_dis, dis_overlap)
