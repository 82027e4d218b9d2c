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
        """:func:`neurolearn.schema.validate`."""
        from neurolearn.schema import validate

        validate(self._obj, **kwargs)

    def decode(self, method: str = "lda", **kwargs: Any) -> xr.Dataset:
        """:func:`neurolearn.decoding.decode`."""
        from neurolearn.decoding import decode

        return decode(self._obj, method, **kwargs)

    def decode_time(self, method: str = "lda", **kwargs: Any) -> xr.Dataset:
        """:func:`neurolearn.decoding.decode_time`."""
        from neurolearn.decoding import decode_time

        return decode_time(self._obj, method, **kwargs)

    def performance(self, **kwargs: Any) -> xr.Dataset:
        """:func:`neurolearn.behavior.performance`."""
        from neurolearn.behavior import performance

        return performance(self._obj, **kwargs)

    def analyze(self, **kwargs: Any) -> xr.DataTree:
        """:func:`neurolearn.pipeline.analyze`: the whole study's analysis."""
        from neurolearn.pipeline import analyze

        return analyze(self._obj, **kwargs)


xr.register_dataset_accessor("nl")(NeurolearnAccessor)
xr.register_datatree_accessor("nl")(NeurolearnAccessor)
