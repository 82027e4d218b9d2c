"""Run independent per-item work (sessions, parameter sets) in-process or through Dask.

neurolearn writes no scheduler of its own: ``scheduler=None`` runs items one
after another in this process (each item is itself a batched array program);
a Dask scheduler name (``"threads"``, ``"processes"``, ``"synchronous"``) runs
them through ``dask.delayed``; a ``dask.distributed.Client`` maps them over
its workers.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from neurolearn.errors import DependencyError, ParameterError

__all__ = ["map_items", "n_parallel", "split_evenly", "for_transfer", "keep_arrays_on_heap"]

# glibc's mallopt parameters M_TRIM_THRESHOLD and M_MMAP_THRESHOLD; the
# ceiling glibc's own dynamic mmap threshold rises to on 64-bit Linux (4 MiB ×
# sizeof(long)), and twice it for the trim threshold (glibc's dynamic rule).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_CEILING = 32 * 1024 * 1024
_TRIM_AT = 2 * _MMAP_CEILING


#: Chunks of items per worker thread on a Client (a few, so a slow chunk
#: does not leave the other workers idle at the end).
_CHUNKS_PER_THREAD = 4


def n_parallel(scheduler: Any) -> int:
    """How many items a scheduler runs at once: a Client's worker threads, the
    cores for a Dask scheduler name, 1 for ``None`` (in this process).

    Parameters
    ----------
    scheduler : None, str or dask.distributed.Client

    Returns
    -------
    int

    Examples
    --------
    >>> n_parallel(None)
    1
    """
    if scheduler is None or scheduler == "synchronous":
        return 1
    if isinstance(scheduler, str):
        return os.cpu_count() or 1
    try:
        return max(1, int(sum(scheduler.nthreads().values())))
    except (AttributeError, TypeError, ValueError):
        return 1


def split_evenly(items: list[Any], k: int) -> list[list[Any]]:
    """``items`` in order, cut into min(k, len(items)) consecutive runs whose
    lengths differ by at most one.

    Parameters
    ----------
    items : list
    k : int
        The most runs wanted (≥ 1).

    Returns
    -------
    list of lists

    Examples
    --------
    >>> split_evenly(list(range(7)), 3)
    [[0, 1], [2, 3, 4], [5, 6]]
    >>> split_evenly([1, 2], 5)
    [[1], [2]]
    """
    k = max(1, min(k, len(items)))
    bounds = [round(i * len(items) / k) for i in range(k + 1)]
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _apply_each(chunk: list[Any], *, task: Callable[..., Any], kwargs: dict[str, Any]
                ) -> list[Any]:
    """``task(item, **kwargs)`` of every item of one chunk (one Dask task)."""
    return [task(item, **kwargs) for item in chunk]


def for_transfer(sessions: list[Any], variable: str, scheduler: Any) -> list[Any]:
    """The session Datasets to send to ``scheduler``'s workers: with only the data
    variable ``variable`` (coordinates and attributes kept) when the work
    leaves this process, the sessions themselves otherwise.

    A study's sessions often carry ``binned`` spike counts ~17× the size of
    their ``rates``: scattering them all took 3.9 of 17.8 s of a 519-session
    distributed decoding that reads only ``rates``.

    Parameters
    ----------
    sessions : list of Dataset
    variable : str
        The one data variable the work reads.
    scheduler : None, str or dask.distributed.Client

    Returns
    -------
    list of Dataset

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"rates": ("trial", np.ones(3)), "binned": ("trial", np.ones(3))})
    >>> list(for_transfer([ds], "rates", "processes")[0].data_vars)
    ['rates']
    >>> for_transfer([ds], "rates", None)[0] is ds
    True
    """
    if scheduler is None or scheduler in ("threads", "synchronous"):
        return sessions  # (nothing is pickled)
    return [ds.drop_vars([v for v in ds.data_vars if v != variable]) for ds in sessions]


def keep_arrays_on_heap() -> bool:
    """Let this process keep arrays below 32 MiB on the heap (glibc), as a plain
    Python process does; run on every Dask worker by :func:`map_items`.

    Dask's nanny starts each worker with ``MALLOC_TRIM_THRESHOLD_=65536``
    (to hand freed memory back to the system at once). Setting that
    variable at all also freezes glibc's mmap threshold at 128 KiB, so every
    temporary array above it — most of a batched solver's — is mapped and
    unmapped again, and the heap is trimmed after every free: the pages are
    faulted in anew each time. Measured on 2 cores, 50 sessions of LDA
    decoding with 1,000 permutations: 1.75–2.4 s in a plain process, 3.3 s
    (2.8 s of it in the kernel) with that variable set, 2.2 s with the mmap
    threshold raised, 1.9–2.0 s with the trim threshold raised too; one
    block of 5,150 soft-margin SVMs: 4.9 s plain, 6.6 s with the variable,
    4.6 s after. This sets glibc's mmap threshold to 32 MiB and its trim
    threshold to 64 MiB — the values glibc's own dynamic rule reaches in a
    plain process — so a worker holds at most 64 MiB of freed heap beyond
    what it uses, and arrays above 32 MiB are still returned at once.

    Returns
    -------
    bool
        Whether the threshold was set (False where the C library is not
        glibc, e.g. on macOS or Windows: there it is left alone).

    Examples
    --------
    >>> isinstance(keep_arrays_on_heap(), bool)
    True
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_CEILING)
                    and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_AT))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False


def _worker_addresses(client: Any) -> list[str]:
    """A Client's worker addresses, sorted (empty where it cannot say)."""
    try:
        return sorted(client.scheduler_info()["workers"])
    except (AttributeError, KeyError, TypeError):
        return []


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
        if hasattr(scheduler, "run"):
            scheduler.run(keep_arrays_on_heap)
        # Items travel in a few chunks per worker thread, not one task each:
        # a task costs milliseconds of the scheduler's time, as much as a
        # session's decoding (measured on 2 cores, 103 sessions: 4.1 s in one
        # process, 3.7-4.2 s with a task per session, 3.2 s in chunks). They
        # are scattered first: embedded in the task graph, thousands of
        # session Datasets make one huge graph that Dask warns about and ships
        # slowly. Not hashed: a content key is a token of every array in the
        # chunk (0.9 of the 2.4 s that scattering 1,038 sessions took). Each
        # chunk's task is submitted as soon as the chunk is on a worker, so
        # the workers start while the rest is still being sent (0.6-0.8 s
        # per step of 1,038 sessions otherwise). The chunks of one call go to
        # the workers in turn: Dask's own round-robin counter is shared by
        # every scatter, and with analyze's steps scattering at once from
        # several threads it sent one step's chunks all to one worker (that
        # worker busy 24.0 s, the other 18.9 s). Tasks can still be stolen.
        chunks = split_evenly(list(items), _CHUNKS_PER_THREAD * n_parallel(scheduler))
        workers = _worker_addresses(scheduler)
        futures = []
        for i, chunk in enumerate(chunks):
            data, = scheduler.scatter([chunk], hash=False,
                                      workers=[workers[i % len(workers)]] if workers else None)
            # Named after the function, so the dashboard's task stream and
            # progress bars say which step a task belongs to.
            key = f"{getattr(func, '__name__', 'task')}-{uuid.uuid4().hex}"
            futures.append(scheduler.submit(_apply_each, data, key=key, task=func,
                                            kwargs=kwargs))
        if progress:
            from dask.distributed import as_completed

            bar = tqdm(total=len(items), desc=desc)
            for future in as_completed(futures):
                bar.update(len(chunks[futures.index(future)]))
            bar.close()
        return [out for part in scheduler.gather(futures) for out in part]
    raise ParameterError(f"scheduler must be None, 'auto', a Dask scheduler name or a "
                         f"dask.distributed Client; got {type(scheduler).__name__}.")
