"""Run independent per-item work (sessions, parameter sets) in-process or through Dask.

neurolearn writes no scheduler of its own: ``scheduler=None`` runs items one
after another in this process (each item is itself a batched array program);
a Dask scheduler name (``"threads"``, ``"processes"``, ``"synchronous"``) runs
them through ``dask.delayed``; a ``dask.distributed.Client`` maps them over
its workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

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
    scheduler : None, str or dask.distributed.Client
        None: in-process loop with a progress bar. A string: ``dask.compute``
        with that scheduler. A Client: ``client.map`` + ``client.gather``.
    progress : bool, default True
        Show a progress bar (in-process and Client paths).
    desc : str
        Progress-bar label.
    """
    if scheduler is None:
        return [func(item, **kwargs) for item in tqdm(items, desc=desc, disable=not progress)]
    if isinstance(scheduler, str):
        import dask

        tasks = [dask.delayed(func)(item, **kwargs) for item in items]
        return list(dask.compute(*tasks, scheduler=scheduler))
    if hasattr(scheduler, "map") and hasattr(scheduler, "gather"):
        futures = scheduler.map(func, list(items), pure=False, **kwargs)
        if progress:
            from dask.distributed import as_completed

            for _ in tqdm(as_completed(futures), total=len(futures), desc=desc):
                pass
        return scheduler.gather(futures)
    raise TypeError(f"scheduler must be None, a Dask scheduler name or a dask.distributed "
                    f"Client; got {type(scheduler).__name__}.")
