"""Batched linear decoding: cross-validation, permutation nulls, generalisation, time.

:func:`decode` scores every session's CV accuracy, permutation null and
generalisation to held-out stimuli, for two or K classes of any trial
coordinate (or, with ``protocol="bernerslee2023"``, the original study's
decoding); :func:`decode_time` and :func:`cross_temporal` do the same over
time bins, with tests corrected over bins (:mod:`~neurolearn.decoding.clusters`).
The estimator classes expose the same kernels with the scikit-learn API.
"""

from neurolearn.decoding.clusters import cluster_test, group_cluster_test
from neurolearn.decoding.decode import decode, permutation_pvalue
from neurolearn.decoding.estimators import (
    LDADecoder,
    LeastSquaresDecoder,
    LogisticDecoder,
    RidgeDecoder,
)
from neurolearn.decoding.temporal import binned_rates, cross_temporal, decode_time

__all__ = [
    "decode",
    "decode_time",
    "cross_temporal",
    "binned_rates",
    "permutation_pvalue",
    "cluster_test",
    "group_cluster_test",
    "LDADecoder",
    "RidgeDecoder",
    "LeastSquaresDecoder",
    "LogisticDecoder",
]
