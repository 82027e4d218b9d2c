"""One-hidden-layer network with richness γ and hand-written gradients (array API).

    f(x) = 1/(γN) · aᵀ φ(W x / √d) − f₀(x)

with N hidden units, φ = relu or tanh, and f₀ the output of the network at
initialisation (so the output starts at zero for every input). γ → 0 is the
lazy (kernel) regime; γ ~ 1 and above is the rich, feature-learning regime.
The learning rate is η = η₀·γ²·N for γ ≤ 1 and η₀·γ^{2/L}·N above (L = 2
layers), the scaling under which training speed is γ-independent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from neurolearn.backend import make_rng, sigmoid, softplus
from neurolearn.errors import ParameterError

__all__ = ["Network", "init_network", "init_networks", "forward", "initial_output",
           "loss_and_grads", "gradient_descent", "descend",
           "learning_rate", "output_loss", "step", "LOSSES", "ACTIVATIONS"]

LOSSES = ("ce", "hinge", "mse")
ACTIVATIONS = ("relu", "tanh")


@dataclass(frozen=True)
class Network:
    """Parameters: ``W`` (N, d), ``a`` (N,), the initial ones ``W0``, ``a0`` (for f₀).

    A batch of networks carries leading dims: ``W`` (S, N, d), ``a`` (S, N)
    and ``gamma`` an array (S,) (see :func:`init_networks`).
    """

    W: Any
    a: Any
    W0: Any
    a0: Any
    gamma: Any
    activation: str = "relu"


def init_network(xp: Any, d: int, width: int, *, gamma: float = 1.0, activation: str = "relu",
                 seed: int = 0) -> Network:
    """Standard-normal W (N, d) and a (N,), drawn on the host from ``seed``.

    Parameters
    ----------
    xp : array namespace
    d : int
        Input dimension.
    width : int
        Hidden units N.
    gamma : float, default 1.0
        Richness γ (the output is divided by γN).
    activation : {"relu", "tanh"}, default "relu"
    seed : int, default 0

    Returns
    -------
    Network
    """
    if activation not in ACTIVATIONS:
        raise ParameterError(f"activation must be one of {ACTIVATIONS}; got {activation!r}.")
    if gamma <= 0:
        raise ParameterError(f"gamma must be > 0; got {gamma}.")
    rng = make_rng(seed)
    W = xp.asarray(rng.normal(size=(width, d)))
    a = xp.asarray(rng.normal(size=width))
    return Network(W, a, W, a, float(gamma), activation)


def learning_rate(eta0: float, gamma: float, width: int, n_layers: int = 2) -> float:
    """η = η₀γ²N for γ ≤ 1, η₀γ^{2/L}N above.

    Parameters
    ----------
    eta0 : float
        Base rate η₀.
    gamma : float
        Richness γ.
    width : int
        Hidden units N.
    n_layers : int, default 2
        L, the network's layers.

    Returns
    -------
    float
    """
    return eta0 * (gamma ** 2 if gamma <= 1 else gamma ** (2.0 / n_layers)) * width


def _phi(xp: Any, h: Any, activation: str, grad: bool = True) -> tuple[Any, Any]:
    """φ(h) and, with ``grad``, φ'(h) (else None: outputs alone need no derivative)."""
    if activation == "relu":
        return (xp.where(h > 0, h, xp.zeros_like(h)),
                xp.astype(h > 0, h.dtype) if grad else None)
    t = xp.tanh(h)
    return t, (1.0 - t * t) if grad else None


def _per_network(value: Any, n_trailing: int) -> Any:
    """A per-network scalar (float, or array over the leading network dims) shaped to
    broadcast against arrays with ``n_trailing`` more dims."""
    if isinstance(value, (int, float)):
        return value
    return value[(..., *([None] * n_trailing))]


def _raw(xp: Any, W: Any, a: Any, X: Any, gamma: Any, activation: str,
         grad: bool = True) -> tuple[Any, ...]:
    """Output f (..., P) and hidden φ, φ' in a (..., N, P) layout.

    Every network of a batch sees the same inputs, so all their hidden units
    stack into one (S·N, d) × (d, P) product, whose (S·N, P) result is the
    (S, N, P) stack without a copy; the backward pass multiplies the same
    layout by X. (A (P, S·N) product needs two transposing copies of every
    hidden array per step: 1.45× slower, measured.)
    """
    d = X.shape[-1]
    lead = W.shape[:-2]
    N = W.shape[-2]
    flat = xp.reshape(W, (-1, d))
    h = xp.matmul(flat, xp.matrix_transpose(X)) / float(np.sqrt(d))  # (S·N, P)
    h = xp.reshape(h, (*lead, N, X.shape[0]))
    phi, dphi = _phi(xp, h, activation, grad)
    f = xp.sum(phi * a[..., :, None], axis=-2) / (_per_network(gamma, 1) * N)
    return f, phi, dphi


def forward(xp: Any, net: Network, X: Any) -> tuple[Any, Any]:
    """Centred output f (P,) and hidden activity φ (P, N) for inputs X (P, d).

    Parameters
    ----------
    xp : array namespace
    net : Network
        One network, or a batch (leading dim) from :func:`init_networks`.
    X : array (P, d)

    Returns
    -------
    f : array (..., P)
    phi : array (..., P, N)
    """
    f, phi, _ = _raw(xp, net.W, net.a, X, net.gamma, net.activation, grad=False)
    return f - initial_output(xp, net, X), xp.matrix_transpose(phi)


def initial_output(xp: Any, net: Network, X: Any) -> Any:
    """The initial network's output f₀ (..., P), which every output is centred by.

    Parameters
    ----------
    xp : array namespace
    net : Network
    X : array (P, d)

    Returns
    -------
    array (..., P)

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> net = init_network(xp, 4, 20, gamma=1.0, seed=0)
    >>> X = xp.asarray(np.eye(4))
    >>> bool(xp.all(forward(xp, net, X)[0] == 0))  # outputs are centred by it
    True
    >>> initial_output(xp, net, X).shape
    (4,)
    """
    return _raw(xp, net.W0, net.a0, X, net.gamma, net.activation, grad=False)[0]


def output_loss(xp: Any, f: Any, y: Any, loss: str) -> tuple[Any, Any]:
    """Mean loss (...) and dL/df (..., P) of outputs f for labels y ∈ {0, 1}.

    For evaluation without gradients: pair it with :func:`forward`.

    Parameters
    ----------
    xp : array namespace
    f : array (..., P)
        Outputs.
    y : array (P,)
        0/1 targets.
    loss : {"ce", "hinge", "mse"}

    Returns
    -------
    value : array (...)
    grad : array (..., P)
    """
    P = f.shape[-1]
    s = 2.0 * y - 1.0
    if loss == "ce":
        value = softplus(xp, f) - y * f
        grad = sigmoid(xp, f) - y
    elif loss == "hinge":
        active = xp.astype(s * f < 1.0, f.dtype)
        value = active * (1.0 - s * f)
        grad = -s * active
    elif loss == "mse":
        value = 0.5 * (f - s) ** 2
        grad = f - s
    else:
        raise ParameterError(f"loss must be one of {LOSSES}; got {loss!r}.")
    return xp.sum(value, axis=-1) / P, grad / P


def loss_and_grads(xp: Any, net: Network, X: Any, y: Any, loss: str = "ce",
                   f0: Any = None) -> tuple[Any, Any, Any, Any]:
    """Mean loss, dL/dW (N, d), dL/da (N,) and the outputs f (P,).

    Back-propagation by hand: with g = dL/df,
    dL/da = φᵀg/(γN) and dL/dW = ((g aᵀ/(γN)) ∘ φ'(h))ᵀ X/√d. A batch of
    networks (W (..., N, d), a (..., N), γ a float or an array over the
    leading dims) gives every result with those leading dims.

    Parameters
    ----------
    xp : array namespace
    net : Network
        One network, or a batch (leading dim) from :func:`init_networks`.
    X : array (P, d)
    y : array (P,)
        0/1 targets.
    loss : {"ce", "hinge", "mse"}, default "ce"
    f0 : array (..., P), optional
        :func:`initial_output` on X, where the caller has it (the initial
        weights never change, so full-batch training computes it once).

    Returns
    -------
    value, grad_W, grad_a, f
    """
    f, phi, dphi = _raw(xp, net.W, net.a, X, net.gamma, net.activation)
    f = f - (initial_output(xp, net, X) if f0 is None else f0)
    value, g = output_loss(xp, f, y, loss)
    N, d = net.W.shape[-2:]
    scale = 1.0 / (net.gamma * N)
    grad_a = xp.sum(phi * g[..., None, :], axis=-1) * _per_network(scale, 1)
    delta = (net.a[..., :, None] * g[..., None, :]) * _per_network(scale, 2) * dphi  # (…, N, P)
    # (S·N, P) × (P, d) in one product, as in the forward pass.
    grad_W = xp.reshape(xp.matmul(xp.reshape(delta, (-1, X.shape[0])), X),
                        net.W.shape) / float(np.sqrt(d))
    return value, grad_W, grad_a, f


def step(net: Network, grad_W: Any, grad_a: Any, eta: Any) -> Network:
    """One gradient-descent step (``eta`` a float or one value per network).

    Parameters
    ----------
    net : Network
    grad_W : array (..., N, d)
    grad_a : array (..., N)
        The loss's gradients (:func:`loss_and_grads`).
    eta : float or array (n_networks,)

    Returns
    -------
    Network
    """
    return replace(net, W=net.W - _per_network(eta, 2) * grad_W,
                   a=net.a - _per_network(eta, 1) * grad_a)


def gradient_descent(xp: Any, net: Network, data: Any, *, loss: str, eta: Any, n_steps: int
                     ) -> Iterator[tuple[int, Network, Any, Any]]:
    """The one gradient-descent loop every training routine drives.

    Yields ``(t, net, value, f)`` for t = 0 … ``n_steps``: the network after
    t steps, its loss on the data of step t and its outputs there; after each
    yield but the last, one step of size ``eta`` on that data's gradients.

    Parameters
    ----------
    net : Network
        Initial weights (one network or a batch of them, see
        :func:`init_networks`).
    data : (X, y) or callable
        Full-batch inputs (P, d) and 0/1 targets (P,), or ``t -> (X, y)``
        giving a fresh minibatch for each step (online learning).
    loss : {"ce", "hinge", "mse"}
    eta : float or array (n_networks,)
        Learning rate (per network for a batch).
    n_steps : int
        Steps taken; the consumer may stop early (break).

    Yields
    ------
    t : int
        Steps taken so far.
    net : Network
        The weights after t steps.
    value : array () or (n_networks,)
        The loss on step t's data.
    f : array (P,) or (n_networks, P)
        The network outputs on step t's data.

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> import numpy as np
    >>> X, y = xp.asarray(np.eye(4)), xp.asarray([1.0, 1.0, 0.0, 0.0])
    >>> net = init_network(xp, 4, 20, gamma=1.0, seed=0)
    >>> values = [float(v) for _, _, v, _ in gradient_descent(xp, net, (X, y), loss="ce",
    ...                                                          eta=1.0, n_steps=50)]
    >>> len(values), values[-1] < values[0]
    (51, True)
    """
    # Full-batch data: the initial network's outputs on it are computed once.
    f0 = None if callable(data) else initial_output(xp, net, data[0])
    for t in range(n_steps + 1):
        X, y = data(t) if callable(data) else data
        value, grad_W, grad_a, f = loss_and_grads(xp, net, X, y, loss, f0)
        yield t, net, value, f
        if t < n_steps:
            net = step(net, grad_W, grad_a, eta)


def descend(xp: Any, net: Network, data: Any, *, loss: str, eta: Any, n_steps: int
            ) -> Network:
    """The network after ``n_steps`` steps of :func:`gradient_descent` (no measures).

    Parameters
    ----------
    xp, net, data, loss, eta, n_steps
        As in :func:`gradient_descent`.

    Returns
    -------
    Network

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> import numpy as np
    >>> X, y = xp.asarray(np.eye(4)), xp.asarray([1.0, 1.0, 0.0, 0.0])
    >>> net = init_network(xp, 4, 20, gamma=1.0, seed=0)
    >>> after = descend(xp, net, (X, y), loss="ce", eta=1.0, n_steps=50)
    >>> bool(loss_and_grads(xp, after, X, y)[0] < loss_and_grads(xp, net, X, y)[0])
    True
    """
    # Only the last network is kept (a deque of one), not one per step.
    ((_, last, _, _),) = deque(gradient_descent(xp, net, data, loss=loss, eta=eta,
                                                n_steps=n_steps), maxlen=1)
    return last


def init_networks(xp: Any, d: int, width: int, *, gammas: Any, seeds: Any,
                  activation: str = "relu") -> Network:
    """A batch of networks, one per (γ, seed) pair, stacked on a leading dim.

    Network i is exactly ``init_network(xp, d, width, gamma=gammas[i],
    seed=seeds[i])``; ``gamma`` becomes an array over the batch.

    Parameters
    ----------
    xp : array namespace
    d, width : int
        Input dimension and hidden units.
    gammas, seeds : sequences of equal length
        Network i's richness and seed.
    activation : {"relu", "tanh"}, default "relu"

    Returns
    -------
    Network
        W (n, N, d), a (n, N), gamma (n,).
    """
    gammas, seeds = list(gammas), list(seeds)
    if len(gammas) != len(seeds):
        raise ParameterError(f"gammas and seeds must pair up; got {len(gammas)} and {len(seeds)}.")
    nets = [init_network(xp, d, width, gamma=g, activation=activation, seed=s)
            for g, s in zip(gammas, seeds, strict=True)]
    W, a = xp.stack([n.W for n in nets]), xp.stack([n.a for n in nets])
    return Network(W, a, W, a, xp.asarray(gammas, dtype=W.dtype), activation)
