"""Experiments with the γ-network: loss ablation and overtraining reversal."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr

from neurolearn._version import __version__
from neurolearn.backend import resolve_namespace, to_numpy
from neurolearn.models.network import (
    Network,
    descend,
    gradient_descent,
    init_network,
    learning_rate,
)
from neurolearn.models.task import OdourTask
from neurolearn.models.train import train

__all__ = ["loss_ablation", "overtraining_reversal", "train_until"]


def train_until(xp: Any, net: Network, X: Any, y: Any, *, loss: str, eta: float,
                criterion: float = 1.0, max_epochs: int = 5000) -> tuple[Network, int | None]:
    """Full-batch GD until training accuracy ≥ ``criterion``; epochs taken (None if never).

    Parameters
    ----------
    xp : array namespace
    net : Network
        One network (the accuracy is that network's).
    X : array (P, d)
    y : array (P,)
        0/1 targets.
    loss : {"ce", "hinge", "mse"}
    eta : float
        Learning rate.
    criterion : float, default 1.0
        Training accuracy to reach.
    max_epochs : int, default 5000

    Returns
    -------
    (Network, int or None)
        The network at the first epoch that reaches ``criterion`` and that
        epoch (the last network and None if never).
    """
    current = net
    for epoch, current, _, f in gradient_descent(xp, net, (X, y), loss=loss, eta=eta,
                                                  n_steps=max_epochs):
        accuracy = float(to_numpy(xp.mean(xp.astype(xp.equal(f > 0, y > 0.5), f.dtype))))
        if accuracy >= criterion:
            return current, epoch
    return current, None


def loss_ablation(task: OdourTask, *, losses: tuple[str, ...] = ("ce", "hinge", "mse"),
                  **train_kwargs: Any) -> xr.Dataset:
    """Train the same network under each loss; results stacked over a ``loss`` dim.

    With cross-entropy the hidden margin keeps growing after training accuracy
    saturates; with hinge, learning stops once every output margin reaches 1.

    Parameters
    ----------
    task : OdourTask
    losses : tuple of {"ce", "hinge", "mse"}
    **train_kwargs
        Passed to :func:`neurolearn.models.train` (same seed for every loss).

    Returns
    -------
    Dataset
        :func:`neurolearn.models.train`'s result for each loss, concatenated
        along a new leading dim ``loss``.

    Examples
    --------
    >>> from neurolearn.models import make_odour_task
    >>> task = make_odour_task(n_odorants=13, n_hot=3, n_train=40, n_test=200, seed=0)
    >>> runs = loss_ablation(task, width=50, n_epochs=300, n_records=4, progress=False)
    >>> runs["loss"].values.tolist(), runs["hidden_margin"].dims
    (['ce', 'hinge', 'mse'], ('loss', 'epoch'))
    """
    runs = [train(task, loss=loss, **train_kwargs) for loss in losses]
    out = xr.concat(runs, dim=xr.DataArray(list(losses), dims="loss"),
                    combine_attrs="drop_conflicts")
    out.attrs.pop("loss", None)
    return out


def overtraining_reversal(
    task: OdourTask,
    *,
    gammas: tuple[float, ...] = (0.1, 1.0, 5.0),
    seeds: tuple[int, ...] = (0, 1, 2),
    width: int = 500,
    eta0: float = 0.5,
    loss: str = "ce",
    criterion: float = 1.0,
    overtrain_epochs: int = 1000,
    max_epochs: int = 5000,
    device: Any = "cpu",
) -> xr.Dataset:
    """Epochs to re-reach criterion after a label flip, criterion-trained vs overtrained.

    For each γ and seed, the network is trained to ``criterion`` training
    accuracy (stage "criterion") and, separately, ``overtrain_epochs`` further
    (stage "overtrained"). Labels are then flipped and training resumes until
    the criterion is met again. Two protocols, both reported:

    * ``"readout_kept"`` — the network continues as trained. Overtraining
      has grown the readout, which must shrink before it can reverse.
    * ``"readout_rescaled"`` — the readout ``a`` is rescaled to its initial
      norm before the flip, so only the learned features W carry over.

    Parameters
    ----------
    task : OdourTask
    gammas : tuple of float, default (0.1, 1.0, 5.0)
        Richness values.
    seeds : tuple of int, default (0, 1, 2)
        Initial weights (one network per γ and seed).
    width : int, default 500
        Hidden units N.
    eta0 : float, default 0.5
        Base learning rate (η = η(γ) of :func:`neurolearn.models.network.learning_rate`).
    loss : {"ce", "hinge", "mse"}, default "ce"
    criterion : float, default 1.0
        Training accuracy that counts as learned.
    overtrain_epochs : int, default 1000
        Extra epochs of the "overtrained" stage.
    max_epochs : int, default 5000
        Give up (NaN) after this many epochs.
    device : {"cpu", "cuda"} or namespace

    Returns
    -------
    Dataset with dims (gamma, seed, stage, protocol)
        ``epochs_to_reverse`` (NaN where ``max_epochs`` was not enough) and
        ``epochs_to_criterion`` (gamma, seed).

    Examples
    --------
    >>> from neurolearn.models import make_odour_task
    >>> task = make_odour_task(n_odorants=13, n_hot=3, n_train=40, n_test=200, seed=0)
    >>> rev = overtraining_reversal(task, gammas=(1.0,), seeds=(0,), width=50,
    ...                             overtrain_epochs=200, max_epochs=2000)
    >>> rev["epochs_to_reverse"].dims
    ('gamma', 'seed', 'stage', 'protocol')
    """
    xp = resolve_namespace(device)
    X = xp.asarray(task.X_train)
    y = xp.asarray(task.y_train)
    flipped = 1.0 - y
    stages, protocols = ("criterion", "overtrained"), ("readout_kept", "readout_rescaled")
    reverse = np.full((len(gammas), len(seeds), 2, 2), np.nan)
    to_criterion = np.full((len(gammas), len(seeds)), np.nan)
    for g, gamma in enumerate(gammas):
        eta = learning_rate(eta0, gamma, width)
        for s, seed in enumerate(seeds):
            net = init_network(xp, X.shape[1], width, gamma=gamma, seed=seed)
            net, epochs = train_until(xp, net, X, y, loss=loss, eta=eta, criterion=criterion,
                                      max_epochs=max_epochs)
            if epochs is None:
                continue
            to_criterion[g, s] = epochs
            over = descend(xp, net, (X, y), loss=loss, eta=eta, n_steps=overtrain_epochs)
            for k, start in enumerate((net, over)):
                for m, protocol in enumerate(protocols):
                    begin = start
                    if protocol == "readout_rescaled":
                        norm = xp.linalg.vector_norm(start.a)
                        begin = replace(start, a=start.a * (xp.linalg.vector_norm(start.a0)
                                                            / norm))
                    _, epochs_back = train_until(xp, begin, X, flipped, loss=loss, eta=eta,
                                                 criterion=criterion, max_epochs=max_epochs)
                    if epochs_back is not None:
                        reverse[g, s, k, m] = epochs_back
    return xr.Dataset(
        {"epochs_to_reverse": (("gamma", "seed", "stage", "protocol"), reverse),
         "epochs_to_criterion": (("gamma", "seed"), to_criterion)},
        coords={"gamma": list(gammas), "seed": list(seeds), "stage": list(stages),
                "protocol": list(protocols)},
        attrs={"width": width, "eta0": eta0, "loss": loss, "criterion": criterion,
               "overtrain_epochs": overtrain_epochs, "max_epochs": max_epochs,
               "neurolearn_version": __version__})
