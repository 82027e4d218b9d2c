"""The ``.nl`` accessor: ``ds.nl.decode()``, ``tree.nl.performance()`` in notebooks.

The accessor only stores the object and calls neurolearn's pure functions.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

__all__ = ["NeurolearnAccessor"]


class NeurolearnAccessor:
    """Analyses of one session Dataset or a study DataTree.

    Parameters
    ----------
    obj : Dataset or DataTree
        What ``.nl`` was accessed on.
    """

    def __init__(self, obj: xr.Dataset | xr.DataTree):
        self._obj = obj

    def validate(self, **kwargs: Any) -> None:
        """:func:`neurolearn.schema.validate` on this object.

        Parameters
        ----------
        **kwargs
            Passed on (``require_rates``).

        Raises
        ------
        SchemaError
            Naming the session and the field at fault.
        """
        from neurolearn.schema import validate

        validate(self._obj, **kwargs)

    def decode(self, method: str = "lda", **kwargs: Any) -> xr.Dataset:
        """:func:`neurolearn.decoding.decode` on this object.

        Parameters
        ----------
        method : {"lda", "ridge", "lstsq", "logistic"}, default "lda"
        **kwargs
            Passed on (``n_folds``, ``n_permutations``, ``seed``, ...).

        Returns
        -------
        Dataset with dim ``session``
            Accuracy, permutation null and p per session.
        """
        from neurolearn.decoding import decode

        return decode(self._obj, method, **kwargs)

    def decode_time(self, method: str = "lda", **kwargs: Any) -> xr.Dataset:
        """:func:`neurolearn.decoding.decode_time` on this object.

        Parameters
        ----------
        method : {"lda", "ridge", "lstsq", "logistic"}, default "lda"
        **kwargs
            Passed on (``window``, ``step``, ``n_permutations``, ...).

        Returns
        -------
        Dataset with dims (session, time)
        """
        from neurolearn.decoding import decode_time

        return decode_time(self._obj, method, **kwargs)

    def performance(self, **kwargs: Any) -> xr.Dataset:
        """:func:`neurolearn.behavior.performance` on this object.

        Parameters
        ----------
        **kwargs
            Passed on (``include_heldout``).

        Returns
        -------
        Dataset with dim ``session``
            Fraction correct overall and per class.
        """
        from neurolearn.behavior import performance

        return performance(self._obj, **kwargs)

    def analyze(self, **kwargs: Any) -> xr.DataTree:
        """:func:`neurolearn.pipeline.analyze`: the whole study's analysis.

        Parameters
        ----------
        **kwargs
            Passed on (``config``, ``progress``, ``scheduler``, ...).

        Returns
        -------
        DataTree
            One node per analysis (see :func:`neurolearn.pipeline.analyze`).
        """
        from neurolearn.pipeline import analyze

        return analyze(self._obj, **kwargs)


xr.register_dataset_accessor("nl")(NeurolearnAccessor)
xr.register_datatree_accessor("nl")(NeurolearnAccessor)
