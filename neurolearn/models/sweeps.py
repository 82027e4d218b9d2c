"""Richness sweep: online training over a γ × η grid, locating the best learning rate per γ.

Full-batch training on a separable task has no interior optimum in the final
loss (larger η is always better until it diverges), so, as in the design,
the sweep trains *online*: every step draws fresh mixtures. For each (γ, η₀)
it records the evaluation loss over steps, the first step at which it falls
below ``threshold`` and whether training diverged; η* per γ is the learning
rate that reaches the threshold soonest. With η = η₀γ²N, η* ∝ γ² for γ ≪ 1
shows up as a best η₀ that does not depend on γ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neurolearn._version import __version__
from neurolearn.backend import make_rng, resolve_namespace, to_numpy
from neurolearn.models.network import (
    forward,
    gradient_descent,
    init_network,
    learning_rate,
    output_loss,
)
from neurolearn.models.task import sample_mixtures
from neurolearn.parallel import map_items

__all__ = ["richness_sweep"]


def _online_run(params: tuple[float, float], *, n_odorants: int, n_hot: int, dim: int,
                width: int, batch: int, n_steps: int, loss: str, threshold: float,
                n_eval: int, eval_every: int, seed: int, device: Any) -> dict[str, Any]:
    gamma, eta0 = params
    xp = resolve_namespace(device)
    rng = make_rng(seed)  # same mixtures and projection for every (γ, η₀)
    projection = rng.normal(size=(n_odorants, dim)) / np.sqrt(n_hot)

    def draw(count: int) -> tuple[Any, Any]:
        y = (rng.random(count) < 0.5).astype(float)
        X = sample_mixtures(rng, count, n_odorants, n_hot, 0, y > 0) @ projection
        return xp.asarray(X), xp.asarray(y)

    X_eval, y_eval = draw(n_eval)
    net = init_network(xp, dim, width, gamma=gamma, seed=seed + 1)
    eta = learning_rate(eta0, gamma, width)
    curve = np.full(n_steps // eval_every + 1, np.nan)
    diverged = False
    # Divergence is one of the outcomes being measured: overflow is expected there.
    with np.errstate(over="ignore", invalid="ignore"):
        # A fresh minibatch for every step.
        for t, current, _, _ in gradient_descent(xp, net, lambda t: draw(batch), loss=loss,
                                                 eta=eta, n_steps=n_steps):
            if t % eval_every == 0:
                value = float(to_numpy(output_loss(xp, forward(xp, current, X_eval)[0],
                                                   y_eval, loss)[0]))
                curve[t // eval_every] = value
                if not np.isfinite(value) or value > 1e6:
                    diverged = True
                    break
    below = np.flatnonzero(curve < threshold)
    return {"curve": curve, "diverged": diverged, "eta": eta,
            "time": float(below[0] * eval_every) if below.size and not diverged else np.nan}


def richness_sweep(
    *,
    gammas: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0),
    eta0s: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
    loss: str = "mse",
    n_odorants: int = 100,
    n_hot: int = 10,
    dim: int | None = None,
    width: int = 500,
    batch: int = 32,
    n_steps: int = 2000,
    threshold: float | None = None,
    n_eval: int = 500,
    eval_every: int = 10,
    seed: int = 0,
    device: Any = "cpu",
    scheduler: Any = None,
    progress: bool = True,
) -> xr.Dataset:
    """Online training over a γ × η₀ grid: time to a loss threshold, divergence, η* per γ.

    Parameters
    ----------
    gammas, eta0s : tuple of float
        The grid; the learning rate is η = η₀γ²N (γ ≤ 1) or η₀γN (γ > 1).
    loss : {"mse", "ce", "hinge"}, default "mse"
    n_odorants, n_hot, dim : int
        Task (fresh n-hot mixtures every step, label = contains odorant 0).
    width : int, default 500
    batch : int, default 32
        Fresh mixtures per step.
    n_steps : int, default 2000
    threshold : float, optional
        Evaluation-loss threshold (default 0.2 for mse, 0.3 for ce/hinge).
    n_eval, eval_every : int
        Fixed evaluation set size and recording interval (steps).
    seed : int, default 0
        Same data stream and initialisation for every grid point.
    scheduler : None, str or dask.distributed.Client
        Grid points run through :func:`neurolearn.parallel.map_items`.

    Returns
    -------
    Dataset with dims (gamma, eta0)
        ``time_to_threshold`` (steps; NaN if never or diverged), ``diverged``,
        ``eta`` (the absolute learning rate), ``loss_curve`` (gamma, eta0,
        step); per γ ``best_eta`` (η*: fastest to the threshold, ties broken
        by the lower final loss; NaN if no grid point reached it); and the
        scalar ``lazy_exponent``: the slope of log η* against log γ over
        γ ≤ 0.3 (2 for η* ∝ γ²).

    Examples
    --------
    >>> sweep = richness_sweep(gammas=(0.1, 1.0), eta0s=(0.1, 1.0), n_odorants=13, n_hot=3,
    ...                        width=50, n_steps=100, n_eval=100, progress=False)
    >>> sweep["time_to_threshold"].dims, sweep["best_eta"].dims
    (('gamma', 'eta0'), ('gamma',))
    """
    threshold = threshold if threshold is not None else (0.2 if loss == "mse" else 0.3)
    grid = [(g, e) for g in gammas for e in eta0s]
    results = map_items(_online_run, grid, scheduler=scheduler, progress=progress,
                        desc="richness sweep", n_odorants=n_odorants, n_hot=n_hot,
                        dim=dim or n_odorants, width=width, batch=batch, n_steps=n_steps,
                        loss=loss, threshold=threshold, n_eval=n_eval, eval_every=eval_every,
                        seed=seed, device=device)
    shape = (len(gammas), len(eta0s))
    time = np.array([r["time"] for r in results]).reshape(shape)
    diverged = np.array([r["diverged"] for r in results]).reshape(shape)
    eta = np.array([r["eta"] for r in results]).reshape(shape)
    curves = np.stack([r["curve"] for r in results]).reshape(*shape, -1)
    best = np.full(len(gammas), np.nan)
    final = curves[..., -1]
    for g in range(len(gammas)):
        if np.isfinite(time[g]).any():
            # Fastest to the threshold; ties (the time grid is coarse) go to the
            # lower final loss.
            tied = np.flatnonzero(time[g] == np.nanmin(time[g]))
            best[g] = eta[g, tied[np.argmin(np.where(np.isfinite(final[g, tied]),
                                                     final[g, tied], np.inf))]]
    lazy = (np.asarray(gammas) <= 0.3) & np.isfinite(best)
    exponent = (float(np.polyfit(np.log(np.asarray(gammas)[lazy]), np.log(best[lazy]), 1)[0])
                if lazy.sum() >= 2 else np.nan)
    return xr.Dataset(
        {"time_to_threshold": (("gamma", "eta0"), time), "diverged": (("gamma", "eta0"), diverged),
         "eta": (("gamma", "eta0"), eta),
         "loss_curve": (("gamma", "eta0", "step"), curves),
         "best_eta": ("gamma", best), "lazy_exponent": exponent},
        coords={"gamma": list(gammas), "eta0": list(eta0s),
                "step": np.arange(curves.shape[-1]) * eval_every},
        attrs={"loss": loss, "threshold": threshold, "width": width, "batch": batch,
               "n_steps": n_steps, "seed": seed, "training": "online (fresh mixtures each step)",
               "neurolearn_version": __version__})
