"""Bookkeeping for batched iterative solvers whose problems finish at different steps."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RetiringBatch"]


class RetiringBatch:
    """Rows that leave an iterating batch, kept until they return in input order.

    Finished problems leave the batch, so late iterations cost only what the
    slow problems need; ``ids`` maps the rows still iterating to the input.

    Parameters
    ----------
    N : int
        Problems in the batch at the start.
    """

    def __init__(self, N: int) -> None:
        self.ids = np.arange(N)
        self.done: list[tuple[np.ndarray, tuple[Any, ...]]] = []

    def retire(self, xp: Any, finished: np.ndarray, results: tuple[Any, ...]) -> Any:
        """Keep the finished rows of ``results`` (host mask ``finished``); return the
        indices, in namespace ``xp``, of the rows that go on.

        Parameters
        ----------
        xp : array namespace
        finished : bool ndarray (n_rows,)
            Which of the rows still iterating are done.
        results : tuple of arrays (n_rows, ...)
            Their results so far, kept for the finished rows.

        Returns
        -------
        array (n_rows_left,)
            Indices of the rows that go on (take them from every batch array).
        """
        take = xp.asarray(np.flatnonzero(finished))
        self.keep(np.flatnonzero(finished), tuple(xp.take(v, take, axis=0) for v in results))
        return self.drop(xp, finished)

    def keep(self, rows: np.ndarray, results: tuple[Any, ...]) -> None:
        """Keep final results for some rows still iterating, already taken from the
        batch (one entry of each of ``results`` per entry of ``rows``); call
        :meth:`drop` with them finished once the step's results are all kept.

        Parameters
        ----------
        rows : int ndarray (k,)
            Positions among the rows still iterating.
        results : tuple of arrays (k, ...)
        """
        self.done.append((self.ids[rows], results))

    def drop(self, xp: Any, finished: np.ndarray) -> Any:
        """Remove the ``finished`` rows (their results kept by :meth:`keep`); return
        the indices, in namespace ``xp``, of the rows that go on."""
        self.ids = self.ids[~finished]
        return xp.asarray(np.flatnonzero(~finished))

    def collect(self, xp: Any, results: tuple[Any, ...]) -> list[Any]:
        """All rows in input order; ``results`` are those of the rows still iterating.

        Parameters
        ----------
        xp : array namespace
        results : tuple of arrays (n_rows_left, ...)

        Returns
        -------
        list of arrays (N, ...)
            Each result over all N problems, in input order.
        """
        if self.ids.size:
            self.done.append((self.ids, results))
        order = xp.asarray(np.argsort(np.concatenate([ids for ids, _ in self.done])))
        return [xp.take(xp.concat([r[k] for _, r in self.done], axis=0), order, axis=0)
                for k in range(len(results))]
