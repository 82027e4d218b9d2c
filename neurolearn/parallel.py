"""Run independent per-item work (sessions, parameter sets) in-process or through Dask.

neurolearn writes no scheduler of its own: ``scheduler=None`` runs items one
after another in this process (each item is itself a batched array program);
a Dask scheduler name (``"threads"``, ``"processes"``, ``"synchronous"``) runs
them through ``dask.delayed``; a ``dask.distributed.Client`` maps them over
its workers.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from neurolearn.errors import DependencyError, ParameterError

__all__ = ["map_items"]


def map_items(func: Callable[..., Any], items: Sequence[Any], *, scheduler: Any = None,
              progress: bool = True, desc: str = "sessions", **kwargs: Any) -> list[Any]:
    """Apply ``func(item, **kwargs)`` to every item, in order.

    Parameters
    ----------
    func : callable
        A picklable function (module level) when a process or distributed
        scheduler is used.
    items : sequence
    scheduler : None, "auto", str or dask.distributed.Client
        None: in-process loop with a progress bar. ``"auto"``: Dask's
        threaded scheduler when Dask is installed, else in-process. A string:
        ``dask.compute`` with that scheduler. A Client: ``client.map`` +
        ``client.gather``.
    progress : bool, default True
        Show a progress bar (in-process and Client paths).
    desc : str
        Progress-bar label.
    **kwargs
        Passed to ``func`` with every item.

    Returns
    -------
    list
        ``func(item, **kwargs)`` of each item, in the items' order.

    Raises
    ------
    DependencyError
        For a Dask scheduler name when Dask is not installed.

    Examples
    --------
    >>> import operator
    >>> map_items(operator.neg, [1, 2, 3], progress=False)
    [-1, -2, -3]
    """
    if scheduler == "auto":
        scheduler = "threads" if importlib.util.find_spec("dask") is not None else None
    if scheduler is None:
        return [func(item, **kwargs) for item in tqdm(items, desc=desc, disable=not progress)]
    if isinstance(scheduler, str):
        try:
            import dask
        except ImportError as exc:
            raise DependencyError(f"scheduler={scheduler!r} needs Dask: pip install "
                                  "'neurolearn[dist]', or pass scheduler=None.") from exc

        tasks = [dask.delayed(func)(item, **kwargs) for item in items]
        return list(dask.compute(*tasks, scheduler=scheduler))
    if hasattr(scheduler, "map") and hasattr(scheduler, "gather"):
        # Scatter the items first: embedded in the task graph, thousands of
        # session Datasets make one huge graph that Dask warns about and
        # ships slowly.
        futures = scheduler.map(func, scheduler.scatter(list(items)), pure=False, **kwargs)
        if progress:
            from dask.distributed import as_completed

            for _ in tqdm(as_completed(futures), total=len(futures), desc=desc):
                pass
        return scheduler.gather(futures)
    raise ParameterError(f"scheduler must be None, 'auto', a Dask scheduler name or a "
                         f"dask.distributed Client; got {type(scheduler).__name__}.")
