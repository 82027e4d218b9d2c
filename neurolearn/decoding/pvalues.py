"""Permutation p-values: one rule for every null in neurolearn."""

from __future__ import annotations

import numpy as np

__all__ = ["permutation_pvalue"]


def permutation_pvalue(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """One-sided permutation p-value (k + 1)/(n + 1) along the last axis of ``null``.

    Parameters
    ----------
    observed : array of shape S
        The statistic with the true labels.
    null : array of shape S + (n_permutations,)
        The statistic with permuted labels.

    Returns
    -------
    ndarray of shape S
        k counts the finite null values ≥ ``observed`` and n the finite null
        values: NaN where ``observed`` is NaN or no null value is finite —
        never the smallest possible p for a value that was not computed.

    Examples
    --------
    >>> permutation_pvalue(np.array([0.9, np.nan]), np.array([[0.5, 0.95], [0.5, 0.6]]))
    array([0.66666667,        nan])
    """
    null = np.asarray(null, dtype=float)
    observed = np.asarray(observed, dtype=float)
    finite = np.isfinite(null)
    with np.errstate(invalid="ignore"):
        k = np.sum((null >= observed[..., None] - 1e-12) & finite, axis=-1)
    n = np.sum(finite, axis=-1)
    p = (k + 1.0) / (n + 1.0)
    return np.where(np.isfinite(observed) & (n > 0), p, np.nan)
