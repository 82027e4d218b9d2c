"""Many SVMs of different sizes, solved in zero-padded batches of similar sizes.

The scheduler between the margin measures (:mod:`neurolearn.margins`) and
the solvers: it groups problems by size so padding costs little, caps each
batch's memory, runs the batches in turn or through a Dask scheduler, and
puts the answers back in the problems' order.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from neurolearn.backend import resolve_namespace
from neurolearn.parallel import map_items
from neurolearn.svm.working_set import fit_linear_svm_working_set

__all__ = ["solve_batches", "size_groups"]


@functools.cache
def _blas_controller() -> ThreadpoolController:
    # Scanning the loaded libraries costs milliseconds: once per process.
    return ThreadpoolController()


def _one_blas_thread(xp: Any) -> Any:
    """Cap BLAS at one thread on the CPU while solving: thousands of tiny
    (p+1)×(p+1) solves and products only contend for threads (DESIGN §6:
    7-100× slower on a loaded 2-core machine).

    Parameters
    ----------
    xp : array namespace

    Returns
    -------
    context manager
    """
    if xp is resolve_namespace("cpu"):
        return _blas_controller().limit(limits=1, user_api="blas")
    return contextlib.nullcontext()


def _padded(block: list[tuple[np.ndarray, np.ndarray]]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One batch of SVMs of different sizes, zero-padded: X (k, n_max, p_max),
    y (k, n_max) (0 on padding) and each problem's unit count (k,)."""
    n = max(X.shape[0] for X, _ in block)
    p = max(X.shape[1] for X, _ in block)
    if all(X.shape == (n, p) for X, _ in block):  # (unit subsets of equal sessions: no padding)
        return (np.stack([X for X, _ in block]).astype(float, copy=False),
                np.stack([y for _, y in block]).astype(float, copy=False),
                np.full(len(block), p))
    Xb = np.zeros((len(block), n, p))
    yb = np.zeros((len(block), n))
    for i, (X, y) in enumerate(block):
        Xb[i, :X.shape[0], :X.shape[1]] = X
        yb[i, :y.size] = y
    return Xb, yb, np.array([X.shape[1] for X, _ in block])


def _solve_block(block: list[tuple[np.ndarray, np.ndarray]] | tuple[np.ndarray, ...], *,
                 Cs: tuple[float | None, ...], device: Any) -> list[dict[str, np.ndarray]]:
    """Solve one zero-padded batch of SVMs of different sizes, once per C in ``Cs``
    (``None``: hard margin); the batch is padded once for all. ``block`` is
    the list of problems, or already :func:`_padded` (as it travels to a
    Dask worker: three arrays pickle in one piece, thousands of small ones
    do not — measured, 3–4 s of a 10 s call for 10,300 problems).

    Returns, per C, arrays over the block's problems: ``coef`` (k, p_max),
    exactly 0 beyond each problem's own units; ``intercept`` (k,);
    ``converged`` (k,); for the hard margin also ``separable`` and
    ``status`` (k,) (see :mod:`neurolearn.svm.hard_margin`), and NaN ``coef``
    where not separable.
    """
    Xb, yb, units = _padded(block) if isinstance(block, list) else block
    p = Xb.shape[2]
    # The hard margin is exact or certified either way (its own solver); soft
    # margins' 1/‖w‖ converges with relative error ≈ 5e-6 at tol 1e-9 for
    # C = 1, and most end exact through the solver's crossover.
    xp = resolve_namespace(device)
    results = []
    for C in Cs:
        with _one_blas_thread(xp):
            res = fit_linear_svm_working_set(xp, Xb, yb, C=C, tol=1e-9)
        out = {"coef": np.where(np.arange(p) < units[:, None], res["coef"], 0.0),
               "intercept": res["intercept"], "converged": res["converged"]}
        if C is None:
            out["separable"], out["status"] = res["separable"], res["status"]
        results.append(out)
    return results


def size_groups(shapes: np.ndarray, ratio: float = 1.5) -> list[np.ndarray]:
    """Indices of problems grouped by similar size, so padding costs little.

    Problems are sorted by units then trials; a group closes when the next
    problem has more than ``ratio`` times the group's smallest unit count or
    trial count (an interior-point step costs ~n·p² per problem, so a
    problem padded to 1.5× its size costs at most ~3.4× its own, and a mixed
    batch costs about what its parts cost alone).

    Parameters
    ----------
    shapes : ndarray (n_problems, 2)
        Each problem's (trials, units).
    ratio : float, default 1.5

    Returns
    -------
    list of ndarray
        Problem indices, one array per group.

    Examples
    --------
    >>> import numpy as np
    >>> [g.tolist() for g in size_groups(np.array([[200, 15], [50, 100], [210, 16], [60, 110]]))]
    [[0, 2], [1, 3]]
    """
    order = np.lexsort((shapes[:, 0], shapes[:, 1]))
    # Plain ints and a running minimum: one pass over the sorted shapes
    # (slicing the group for its minimum at each step was quadratic: 46 ms
    # for 3,000 subset problems).
    trials, units = shapes[order, 0].tolist(), shapes[order, 1].tolist()
    groups, start, fewest = [], 0, trials[0] if trials else 0
    for i in range(1, order.size + 1):
        if (i == order.size or units[i] > ratio * max(units[start], 1)
                or trials[i] > ratio * max(fewest, 1)):
            groups.append(order[start:i])
            start = i
            if i < order.size:
                fewest = trials[i]
        else:
            fewest = min(fewest, trials[i])
    return groups


def solve_batches(problems: list[tuple[np.ndarray, np.ndarray]], *,
                  Cs: tuple[float | None, ...], device: Any, scheduler: Any, progress: bool,
                  desc: str) -> list[dict[str, np.ndarray]]:
    """Solve many SVMs of different sizes in zero-padded batches of similar sizes.

    Problems are grouped by size (:func:`size_groups`) and each group split
    into batches capped near 256 MiB of trial data and its working copies
    (the solver's own arrays cover only the small working sets); fewer,
    larger batches spend less of each Newton step in Python. On the CPU with
    a Dask scheduler, each group is also split into at least one batch per
    core and the batches run in parallel; an accelerator runs each batch
    whole, in turn.

    Parameters
    ----------
    problems : list of (ndarray (n_i, p_i), ndarray (n_i,))
        Each SVM's trials and ±1 labels; sizes may differ.
    Cs : tuple of float or None
        Penalties to solve each problem at (None: hard margin).
    device : {"cpu", "cuda"} or namespace
    scheduler : None, str or dask.distributed.Client
    progress : bool
    desc : str
        Progress-bar label.

    Returns
    -------
    list, one per C in ``Cs``, of dicts of arrays over ``problems`` (in their
    order), as from :func:`_solve_block` (``coef`` padded with zeros to the
    most units of any problem).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([1.0, -1.0], 20)
    >>> problems = [(rng.normal(size=(40, p)) + 3.0 * y[:, None] * (np.arange(p) == 0), y)
    ...             for p in (3, 5, 8)]  # different sizes, one call
    >>> hard, = solve_batches(problems, Cs=(None,), device="cpu", scheduler=None,
    ...                       progress=False, desc="SVMs")
    >>> hard["coef"].shape, hard["status"].tolist()
    ((3, 8), [1, 1, 1])
    """
    shapes = np.array([X.shape for X, _ in problems])
    p_max = int(shapes[:, 1].max())
    on_host = resolve_namespace(device) is resolve_namespace("cpu")
    if not on_host:
        scheduler = None
    cores = os.cpu_count() or 1
    blocks: list[np.ndarray] = []
    for group in size_groups(shapes):
        n, p = shapes[group].max(axis=0)
        # Keep the (chunk, n, p+1) trial arrays and their copies near 256 MiB.
        chunk = max(1, int(2**28 // (8 * max(n, 1) * (p + 2) * 4)))
        if scheduler is not None:
            # A whole number of equal batches per core keeps every core busy to the end.
            n_blocks = -(-group.size // chunk)
            chunk = -(-group.size // (-(-n_blocks // cores) * cores))
        blocks.extend(group[i:i + chunk] for i in range(0, group.size, chunk))
    # In this process each block is padded when its turn comes (one at a time
    # in memory); to other processes it travels padded.
    items = [[problems[i] for i in b] for b in blocks]
    if scheduler is not None:
        items = [_padded(block) for block in items]
    solved = map_items(_solve_block, items,
                       scheduler=scheduler, progress=progress and len(blocks) > 1, desc=desc,
                       Cs=Cs, device=device)
    inverse = np.argsort(np.concatenate(blocks))
    merged = []
    for k in range(len(Cs)):
        parts = [block[k] for block in solved]
        out = {key: np.concatenate([r[key] for r in parts])[inverse]
               for key in parts[0] if key != "coef"}
        out["coef"] = np.concatenate([np.pad(r["coef"], ((0, 0), (0, p_max - r["coef"].shape[1])))
                                      for r in parts])[inverse]
        merged.append(out)
    return merged
