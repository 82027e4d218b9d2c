"""The fit's objective: standardised squared error between model and data day curves."""

from __future__ import annotations

import numpy as np

from neurolearn.fit.simulate import BOUNDS, ModelSetup, session_measures, simulate_sessions

__all__ = ["Objective"]


class Objective:
    """Standardised squared error between model and data day curves.

    Mean over measures and days of ((model − data)/scale)², with each
    measure's scale its SD over the recorded sessions: measures in different
    units weigh alike. Model curves are cached by parameter values.

    Parameters
    ----------
    free : tuple of str
        The fitted parameters (searched on a log scale).
    fixed : dict
        The other parameters' values.
    days : ndarray
        Recording days of the data curves.
    phases : ndarray of str
        Each day's phase.
    setup : ModelSetup
    measures : tuple of str
    scale : ndarray (n_measures,)
        Each measure's SD over the recorded sessions.
    seed : int
        The simulations' seed (common random numbers).
    """

    def __init__(self, *, free: tuple[str, ...], fixed: dict[str, float], days: np.ndarray,
                 phases: np.ndarray, setup: ModelSetup, measures: tuple[str, ...],
                 scale: np.ndarray, seed: int) -> None:
        self.free, self.fixed, self.days, self.phases = free, fixed, days, phases
        self.setup, self.measures, self.scale, self.seed = setup, measures, scale, seed
        self.cache: dict[tuple[float, ...], np.ndarray] = {}
        self.lo = np.log([BOUNDS[p][0] for p in free])
        self.hi = np.log([BOUNDS[p][1] for p in free])

    def params(self, z: np.ndarray) -> dict[str, float]:
        """The model parameters at log-parameters ``z``.

        Parameters
        ----------
        z : ndarray (n_free,)
            Log of the free parameters, in the order of ``free``.

        Returns
        -------
        dict
            Every parameter (free ones clipped to the bounds, fixed ones as
            given) by name.
        """
        values = np.exp(np.clip(z, self.lo, self.hi))
        return {**self.fixed, **dict(zip(self.free, values.tolist(), strict=True))}

    def key(self, z: np.ndarray) -> tuple[float, ...]:
        """The cache key of log-parameters z (clipped to the bounds, rounded).

        Parameters
        ----------
        z : ndarray (n_free,)

        Returns
        -------
        tuple of float
        """
        return tuple(np.round(np.clip(z, self.lo, self.hi), 12).tolist())

    def curves(self, z: np.ndarray) -> np.ndarray:
        """Model curves (measure, day) at log-parameters z (cached).

        Parameters
        ----------
        z : ndarray (n_free,)

        Returns
        -------
        ndarray (n_measures, n_days)
            Each measure's mean across simulated mice per day.
        """
        key = self.key(z)
        if key not in self.cache:
            tree = simulate_sessions(self.params(z), days=self.days, phases=self.phases,
                                     setup=self.setup, seed=self.seed)
            per = session_measures(tree, measures=self.measures, n_folds=self.setup.n_folds,
                                   seed=self.seed)
            # Day means: one session per replicate and day, so this is day_curves's
            # mean across mice, without its groupby overhead.
            day = per["day"].values
            self.cache[key] = np.stack([[per[m].values[day == d].mean() for d in self.days]
                                        for m in self.measures])
        return self.cache[key]

    def __call__(self, z: np.ndarray, target: np.ndarray) -> float:
        resid = (self.curves(z) - target) / self.scale[:, None]
        # Leaving the bounds costs, so Nelder–Mead walks back inside.
        outside = np.sum((z - np.clip(z, self.lo, self.hi)) ** 2)
        return float(np.nanmean(resid ** 2) + outside)

    def with_seed(self, seed: int) -> Objective:
        """The same objective simulating under another seed (its own, empty cache).

        Parameters
        ----------
        seed : int

        Returns
        -------
        Objective
        """
        return Objective(free=self.free, fixed=self.fixed, days=self.days,
                         phases=self.phases, setup=self.setup, measures=self.measures,
                         scale=self.scale, seed=seed)
