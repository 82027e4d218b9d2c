"""Training speed of the γ-network: batched array program vs a per-sample NumPy loop.

Paper-sized task (k = 100 odorants, 10-hot, P = 60 training mixtures, d = 100)
and N = 1000 hidden units. Ours: ``loss_and_grads`` + ``step`` (the whole
batch as matrix products). Reference: the same forward and backward pass
written sample by sample in plain NumPy, gradients accumulated, as a
straightforward implementation would. Both take the same steps from the same
initialisation; the benchmark checks that the weights agree after the run.
Then 64 seeds: ``train_networks`` on all of them against 64 sequential
``train_networks`` runs of one network each (the same steps and measures).

Usage: python benchmarks/bench_model.py [--epochs 200] [--device cpu|cuda] [--write]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from neurolearn.backend import namespace_for_device, to_numpy
from neurolearn.models import (
    init_network,
    learning_rate,
    loss_and_grads,
    make_odour_task,
    train_networks,
)
from neurolearn.models.network import step

try:
    from bench_decoding import machine_name
except ImportError:  # run from the repository root
    from benchmarks.bench_decoding import machine_name


def per_sample_epoch(W, a, W0, a0, X, y, gamma, eta):
    N, d = W.shape
    gW, ga = np.zeros_like(W), np.zeros_like(a)
    for x, t in zip(X, y, strict=True):
        h = W @ x / np.sqrt(d)
        phi = np.maximum(h, 0)
        h0 = W0 @ x / np.sqrt(d)
        f = phi @ a / (gamma * N) - np.maximum(h0, 0) @ a0 / (gamma * N)
        g = (1 / (1 + np.exp(-f)) - t) / len(y)
        ga += phi * g / (gamma * N)
        gW += np.outer(g * a / (gamma * N) * (h > 0), x) / np.sqrt(d)
    return W - eta * gW, a - eta * ga


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    task = make_odour_task(n_odorants=100, n_hot=10, n_train=60, seed=0)
    N, gamma = 1000, 1.0
    eta = learning_rate(0.5, gamma, N)
    xp = namespace_for_device(args.device)
    net = init_network(xp, 100, N, gamma=gamma, seed=0)
    X, y = xp.asarray(task.X_train), xp.asarray(task.y_train)
    loss_and_grads(xp, net, X, y)  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        _, gW, ga, _ = loss_and_grads(xp, net, X, y)
        net = step(net, gW, ga, eta)
    float(to_numpy(net.a[0]))  # synchronise
    t_ours = time.perf_counter() - t0
    W, a = to_numpy(net.W0), to_numpy(net.a0)
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        W, a = per_sample_epoch(W, a, to_numpy(net.W0), to_numpy(net.a0), task.X_train,
                                task.y_train, gamma, eta)
    t_ref = time.perf_counter() - t0
    diff = float(np.max(np.abs(W - to_numpy(net.W))) / np.max(np.abs(W)))
    print(f"N={N}, k=100, P=60, {args.epochs} full-batch epochs on {args.device}: "
          f"neurolearn {args.epochs / t_ours:.0f} epochs/s, per-sample loop "
          f"{args.epochs / t_ref:.0f} epochs/s, ratio {t_ref / t_ours:.1f}x, "
          f"max rel weight difference {diff:.1e}")
    # 64 seeds: train_networks (cache-sized groups on the CPU, one program on a
    # GPU) vs 64 sequential train_networks runs of one network, same measures.
    S, E = 64, max(10, args.epochs // 4)
    kw = dict(width=N, n_epochs=E, n_records=4, progress=False, device=args.device)
    t0 = time.perf_counter()
    batch = train_networks(task, gammas=[gamma] * S, seeds=list(range(S)), **kw)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    singles = [train_networks(task, gammas=[gamma], seeds=[seed], **kw) for seed in range(S)]
    t_seq = time.perf_counter() - t0
    seed_diff = float(max(np.max(np.abs(batch["train_loss"].values[i]
                                        - singles[i]["train_loss"].values[0]))
                          for i in range(S)))
    print(f"{S} seeds x {E} epochs: batched {t_batch:.2f} s, sequential {t_seq:.2f} s, "
          f"ratio {t_seq / t_batch:.2f}x, max train-loss difference {seed_diff:.1e}")
    if args.write:
        with open(Path(__file__).resolve().parents[1] / "BENCHMARKS.md", "a") as fh:
            fh.write(f"| model training | N=1000, k=100, P=60, {args.epochs} epochs | "
                     f"{args.device} | {args.epochs / t_ours:.0f} epochs/s | "
                     f"{args.epochs / t_ref:.0f} epochs/s (per-sample NumPy loop) | "
                     f"**{t_ref / t_ours:.0f}×** | {diff:.1e} rel | – | {machine_name()} |\n")
            fh.write(f"| model, {S} seeds batched | N=1000, k=100, P=60, {E} epochs | "
                     f"{args.device} | {t_batch:.2f} s | {t_seq:.2f} s ({S} sequential runs, "
                     f"ours) | **{t_seq / t_batch:.1f}×** | {seed_diff:.1e} abs (loss) | – | "
                     f"{machine_name()} |\n")


if __name__ == "__main__":
    main()
