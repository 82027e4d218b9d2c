"""One-hidden-layer network with richness γ and hand-written gradients (array API).

    f(x) = 1/(γN) · aᵀ φ(W x / √d) − f₀(x)

with N hidden units, φ = relu or tanh, and f₀ the output of the network at
initialisation (so the output starts at zero for every input). γ → 0 is the
lazy (kernel) regime; γ ~ 1 and above is the rich, feature-learning regime.
The learning rate is η = η₀·γ²·N for γ ≤ 1 and η₀·γ^{2/L}·N above (L = 2
layers), the scaling under which training speed is γ-independent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from neurolearn.backend import make_rng

__all__ = ["Network", "init_network", "forward", "loss_and_grads", "learning_rate", "LOSSES",
           "ACTIVATIONS"]

LOSSES = ("ce", "hinge", "mse")
ACTIVATIONS = ("relu", "tanh")


@dataclass(frozen=True)
class Network:
    """Parameters: ``W`` (N, d), ``a`` (N,), the initial ones ``W0``, ``a0`` (for f₀)."""

    W: Any
    a: Any
    W0: Any
    a0: Any
    gamma: float
    activation: str = "relu"


def init_network(xp: Any, d: int, width: int, *, gamma: float = 1.0, activation: str = "relu",
                 seed: int = 0) -> Network:
    """Standard-normal W (N, d) and a (N,), drawn on the host from ``seed``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}.")
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0; got {gamma}.")
    rng = make_rng(seed)
    W = xp.asarray(rng.normal(size=(width, d)))
    a = xp.asarray(rng.normal(size=width))
    return Network(W, a, W, a, float(gamma), activation)


def learning_rate(eta0: float, gamma: float, width: int, n_layers: int = 2) -> float:
    """η = η₀γ²N for γ ≤ 1, η₀γ^{2/L}N above."""
    return eta0 * (gamma ** 2 if gamma <= 1 else gamma ** (2.0 / n_layers)) * width


def _phi(xp: Any, h: Any, activation: str) -> tuple[Any, Any]:
    if activation == "relu":
        return xp.where(h > 0, h, xp.zeros_like(h)), xp.astype(h > 0, h.dtype)
    t = xp.tanh(h)
    return t, 1.0 - t * t


def _raw(xp: Any, W: Any, a: Any, X: Any, gamma: float, activation: str) -> tuple[Any, ...]:
    d = X.shape[-1]
    h = xp.matmul(X, xp.matrix_transpose(W)) / float(np.sqrt(d))
    phi, dphi = _phi(xp, h, activation)
    N = a.shape[0]
    return xp.matmul(phi, a) / (gamma * N), phi, dphi


def forward(xp: Any, net: Network, X: Any) -> tuple[Any, Any]:
    """Centred output f (P,) and hidden activity φ (P, N) for inputs X (P, d)."""
    f, phi, _ = _raw(xp, net.W, net.a, X, net.gamma, net.activation)
    f0, _, _ = _raw(xp, net.W0, net.a0, X, net.gamma, net.activation)
    return f - f0, phi


def _loss(xp: Any, f: Any, y: Any, loss: str) -> tuple[Any, Any]:
    """Mean loss and dL/df for labels y ∈ {0, 1}."""
    P = f.shape[0]
    s = 2.0 * y - 1.0
    if loss == "ce":
        value = xp.where(f > 0, f + xp.log1p(xp.exp(-f)), xp.log1p(xp.exp(f))) - y * f
        grad = 1.0 / (1.0 + xp.exp(-f)) - y
    elif loss == "hinge":
        active = xp.astype(s * f < 1.0, f.dtype)
        value = active * (1.0 - s * f)
        grad = -s * active
    elif loss == "mse":
        value = 0.5 * (f - s) ** 2
        grad = f - s
    else:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}.")
    return xp.sum(value) / P, grad / P


def loss_and_grads(xp: Any, net: Network, X: Any, y: Any, loss: str = "ce"
                   ) -> tuple[Any, Any, Any, Any]:
    """Mean loss, dL/dW (N, d), dL/da (N,) and the outputs f (P,).

    Back-propagation by hand: with g = dL/df,
    dL/da = φᵀg/(γN) and dL/dW = ((g aᵀ/(γN)) ∘ φ'(h))ᵀ X/√d.
    """
    f, phi, dphi = _raw(xp, net.W, net.a, X, net.gamma, net.activation)
    f0, _, _ = _raw(xp, net.W0, net.a0, X, net.gamma, net.activation)
    f = f - f0
    value, g = _loss(xp, f, y, loss)
    N, d = net.W.shape
    scale = 1.0 / (net.gamma * N)
    grad_a = xp.matmul(xp.matrix_transpose(phi), g) * scale
    delta = (g[:, None] * net.a[None, :]) * scale * dphi  # dL/dh, (P, N)
    grad_W = xp.matmul(xp.matrix_transpose(delta), X) / float(np.sqrt(d))
    return value, grad_W, grad_a, f


def step(net: Network, grad_W: Any, grad_a: Any, eta: float) -> Network:
    """One gradient-descent step."""
    return replace(net, W=net.W - eta * grad_W, a=net.a - eta * grad_a)
