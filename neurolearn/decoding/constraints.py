"""The decoders' parameters, declared once (see :mod:`neurolearn.params`).

Every decoding entry point — :func:`~neurolearn.decoding.decode`,
:func:`~neurolearn.decoding.decode_time`,
:func:`~neurolearn.decoding.cross_temporal`, :func:`~neurolearn.separation.dprime`
and the estimator classes — checks its arguments against :data:`DECODER_PARAMETERS`
on entry, so a bad value raises :class:`~neurolearn.errors.ParameterError`
naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

from typing import Any

from neurolearn.decoding._linear import METHODS
from neurolearn.decoding.protocol import PROTOCOLS
from neurolearn.params import Interval, Options, check_params

__all__ = ["DECODER_PARAMETERS", "check_decoder_params"]

DECODER_PARAMETERS: dict[str, list[Any]] = {
    "method": [Options(METHODS)],
    "n_folds": [Interval("int", 2, None)],
    "n_permutations": [Interval("int", 0, None)],
    "seed": [Interval("int", 0, None)],
    "chunk_size": [Interval("int", 1, None), None],
    "shrinkage": [Interval("real", 0, 1), Options(("auto",))],
    "alpha": [Interval("real", 0, None)],
    "C": [Interval("real", 0, None, closed="neither")],
    "variable": [str],
    "progress": [bool],
    "skip_insufficient": [bool],
    "window": [Interval("int", 1, None)],
    "target": [str],
    "folds": [str, None],
    "heldout": [Options(("generalise", "train"))],
    "protocol": [Options(PROTOCOLS)],
    "cluster_quantile": [Interval("real", 0, 1, closed="neither")],
    "group_statistic": [Options(("rank", "accuracy"))],
}


def check_decoder_params(where: str, **values: Any) -> None:
    """Check decoding arguments against :data:`DECODER_PARAMETERS`.

    Parameters
    ----------
    where : str
        The function checked, named in the message.
    **values
        The parameters to check, by name.

    Raises
    ------
    ParameterError
        Naming ``where``, the first bad parameter, its value and what is allowed.

    Examples
    --------
    >>> check_decoder_params("decode", method="lda", n_folds=10)
    >>> check_decoder_params("decode", n_folds=1)
    Traceback (most recent call last):
    ...
    neurolearn.errors.ParameterError: decode: `n_folds` must be an integer in [2, inf]; got 1.
    """
    check_params(values, DECODER_PARAMETERS, where=where)
