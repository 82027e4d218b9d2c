"""Full-batch training of the γ-network far past 100 % training accuracy, with measures."""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as xnp
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from neurolearn._version import __version__
from neurolearn.backend import resolve_namespace, to_numpy
from neurolearn.errors import ParameterError, collect_degenerate, warn_degenerate
from neurolearn.geometry import kernel_distance, kernel_target_alignment
from neurolearn.models.network import (
    ACTIVATIONS,
    LOSSES,
    Network,
    forward,
    gradient_descent,
    init_network,
    init_networks,
    learning_rate,
    output_loss,
)
from neurolearn.models.task import OdourTask
from neurolearn.params import Interval, Options, check_params
from neurolearn.separation import fisher_discriminant
from neurolearn.svm import fit_linear_svm

__all__ = ["train", "train_networks", "train_snapshots", "record_epochs", "hidden_margin",
           "TRAIN_PARAMETERS"]


#: The training functions' parameters, declared once (see :mod:`neurolearn.params`).
TRAIN_PARAMETERS: dict[str, list[Any]] = {
    "gamma": [Interval("real", 0, None, closed="neither")],
    "width": [Interval("int", 1, None)],
    "eta0": [Interval("real", 0, None, closed="neither")],
    "loss": [Options(LOSSES)],
    "activation": [Options(ACTIVATIONS)],
    "n_epochs": [Interval("int", 0, None)],
    "n_records": [Interval("int", 1, None)],
    "probe_shrinkage": [Interval("real", 0, 1)],
    "seed": [Interval("int", 0, None)],
    "progress": [bool],
}


def record_epochs(n_epochs: int, n_records: int = 40) -> np.ndarray:
    """Log-spaced epochs 0 … n_epochs (unique integers, both ends included).

    Parameters
    ----------
    n_epochs : int
    n_records : int, default 40
        At most this many epochs.

    Returns
    -------
    ndarray of int
    """
    return np.unique(np.concatenate([[0], np.geomspace(1, n_epochs, n_records).round()])
                     ).astype(int)


def hidden_margin(phi: np.ndarray, y: np.ndarray) -> float:
    """Scale-free hard SVM margin of hidden representations (NaN if not separable).

    Features are divided by their root-mean-square norm over samples, so the
    margin does not grow merely because activity grows.

    Parameters
    ----------
    phi : ndarray (P, N)
        Hidden representations of the training inputs.
    y : ndarray (P,)
        0/1 targets.

    Returns
    -------
    float
    """
    scale = np.sqrt(np.mean(np.sum(phi ** 2, axis=1)))
    if scale == 0:
        warn_degenerate("hidden_margin", "every hidden unit is silent (a zero representation)")
        return np.nan
    res = fit_linear_svm(xnp, (phi / scale)[None], np.where(y > 0.5, 1.0, -1.0)[None],
                         C=None)
    return float(1.0 / np.linalg.norm(res["coef"][0])) if res["separable"][0] else np.nan


def _probe_measures(phi_probe: np.ndarray, f_probe: np.ndarray, phi_other: np.ndarray,
                    overlap: np.ndarray, levels: np.ndarray, shrinkage: float, *,
                    is_target: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per overlap level: Fisher J of the probes against the other class's training
    mixtures, and the fraction of probes classified correctly (as targets when
    ``is_target``, else as non-targets)."""
    fisher = np.array([fisher_discriminant(phi_probe[overlap == j], phi_other,
                                           shrinkage=shrinkage) for j in levels])
    correct = f_probe > 0 if is_target else f_probe < 0
    accuracy = np.array([np.mean(correct[overlap == j]) for j in levels])
    return fisher, accuracy


def _pca_scores(phi: np.ndarray, n_components: int = 2) -> np.ndarray:
    centred = phi - phi.mean(axis=0)
    U, S, _ = np.linalg.svd(centred, full_matrices=False)
    scores = np.zeros((phi.shape[0], n_components))
    k = min(n_components, S.size)
    scores[:, :k] = U[:, :k] * S[:k]
    return scores


def train(task: OdourTask, *, gamma: float = 1.0, width: int = 500, eta0: float = 0.5,
          loss: str = "ce", activation: str = "relu", n_epochs: int = 1000,
          n_records: int = 40, probe_shrinkage: float = 0.1, seed: int = 0,
          device: Any = "cpu", progress: bool = True) -> xr.Dataset:
    """Train the γ-network by full-batch gradient descent and record measures over epochs.

    Parameters
    ----------
    task : OdourTask
        From :func:`neurolearn.models.task.make_odour_task`.
    gamma : float, default 1.0
        Richness γ (small: lazy; ≳ 1: rich).
    width : int, default 500
        Hidden units N.
    eta0 : float, default 0.5
        Base learning rate; η = η₀γ²N (γ ≤ 1) or η₀γN (γ > 1).
    loss : {"ce", "hinge", "mse"}, default "ce"
    activation : {"relu", "tanh"}, default "relu"
    n_epochs : int, default 1000
        Full-batch steps (train well past 100 % accuracy).
    n_records : int, default 40
        Log-spaced epochs at which the measures are recorded.
    probe_shrinkage : float, default 0.1
        Covariance shrinkage of the per-probe Fisher discriminant (hidden
        layers have more units than probe mixtures).
    seed : int, default 0
        Seeds the initial weights.
    device : {"cpu", "cuda"} or namespace
    progress : bool, default True

    Returns
    -------
    Dataset with dim ``epoch``
        ``train_loss``, ``test_loss``, ``train_accuracy``, ``test_accuracy``,
        ``output_margin`` (min over training inputs of ỹ·f), ``hidden_margin``
        (scale-free hard SVM margin of the hidden layer; NaN where not
        separable), ``kernel_alignment`` (centred kernel–target alignment of
        the hidden kernel on the training inputs), ``kernel_distance``
        (‖K_t − K_0‖_F/‖K_0‖_F); per probe overlap level (dim ``overlap``,
        odorants shared with the reference target mixture, in increasing
        order) ``probe_fisher`` — Fisher J between the hidden representations
        of those (target-class) probes and of the non-target training
        mixtures — and ``probe_accuracy`` (fraction classified as targets);
        per distractor overlap level (dim ``distractor_overlap``: odorants a
        non-target distractor shares with the reference target mixture)
        ``distractor_fisher`` (Fisher J against the target training
        mixtures) and ``distractor_accuracy`` (fraction rejected as
        non-targets: high-overlap distractors are rejected last, often only
        after training accuracy has reached 100 %); and ``hidden_pca``
        (epoch, sample, component): the training inputs' hidden
        representations on their first two principal components. Parameters
        in ``attrs``; ``attrs["degenerate"]`` gives the reasons of any NaN
        kernel measure (e.g. a dead, all-silent hidden layer), or "none".

    Examples
    --------
    >>> from neurolearn.models import make_odour_task
    >>> task = make_odour_task(n_odorants=13, n_hot=3, n_train=40, n_test=200, seed=0)
    >>> run = train(task, gamma=1.0, width=100, n_epochs=600, n_records=5, progress=False)
    >>> float(run["train_accuracy"][-1])
    1.0
    >>> bool(run["hidden_margin"][-1] > run["hidden_margin"][1])  # the margin keeps growing
    True
    """
    check_params({"gamma": gamma, "width": width, "eta0": eta0, "loss": loss,
                  "activation": activation, "n_epochs": n_epochs, "n_records": n_records,
                  "probe_shrinkage": probe_shrinkage, "seed": seed, "progress": progress},
                 TRAIN_PARAMETERS, where="train")
    xp = resolve_namespace(device)
    Xtr, ytr = xp.asarray(task.X_train), xp.asarray(task.y_train)
    Xte, yte = xp.asarray(task.X_test), xp.asarray(task.y_test)
    net = init_network(xp, Xtr.shape[1], width, gamma=gamma, activation=activation, seed=seed)
    eta = learning_rate(eta0, gamma, width)
    epochs = record_epochs(n_epochs, n_records)
    Xpr, Xdis = xp.asarray(task.X_probe), xp.asarray(task.X_distractor)
    levels = np.unique(task.probe_overlap)
    dis_levels = np.unique(task.distractor_overlap)
    rows, probe_rows, distractor_rows, snapshots = [], [], [], []
    K0 = None
    y_pm = np.where(task.y_train > 0.5, 1.0, -1.0)
    # A dead (all-silent) or constant hidden layer makes the kernel measures
    # 0/0 at every recorded epoch: one warning for the run, its reasons in attrs.
    with collect_degenerate(f"train (gamma={gamma}, seed={seed})") as degenerate:
        steps = gradient_descent(xp, net, (Xtr, ytr), loss=loss, eta=eta, n_steps=n_epochs)
        for epoch, net, value, f in tqdm(steps, total=n_epochs + 1,
                                         desc=f"training (gamma={gamma}, {loss})",
                                         disable=not progress):
            if epoch in epochs:
                f_test, _ = forward(xp, net, Xte)
                _, phi = forward(xp, net, Xtr)
                phi = to_numpy(phi)
                K = phi @ phi.T
                K0 = K if K0 is None else K0
                f_np, ft_np = to_numpy(f), to_numpy(f_test)
                test_loss = float(to_numpy(output_loss(xp, f_test, yte, loss)[0]))
                f_probe, phi_probe = forward(xp, net, Xpr)
                probe_rows.append(_probe_measures(to_numpy(phi_probe), to_numpy(f_probe),
                                                  phi[task.y_train < 0.5], task.probe_overlap,
                                                  levels, probe_shrinkage, is_target=True))
                f_dis, phi_dis = forward(xp, net, Xdis)
                distractor_rows.append(_probe_measures(
                    to_numpy(phi_dis), to_numpy(f_dis), phi[task.y_train > 0.5],
                    task.distractor_overlap, dis_levels, probe_shrinkage, is_target=False))
                snapshots.append(_pca_scores(phi))
                rows.append((float(to_numpy(value)), test_loss,
                             float(np.mean((f_np > 0) == (task.y_train > 0.5))),
                             float(np.mean((ft_np > 0) == (task.y_test > 0.5))),
                             float(np.min(y_pm * f_np)), hidden_margin(phi, task.y_train),
                             kernel_target_alignment(K, y_pm), kernel_distance(K, K0)))
    names = ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "output_margin",
             "hidden_margin", "kernel_alignment", "kernel_distance")
    values = np.array(rows)
    data = {name: ("epoch", values[:, i]) for i, name in enumerate(names)}
    data["probe_fisher"] = (("epoch", "overlap"), np.array([r[0] for r in probe_rows]))
    data["probe_accuracy"] = (("epoch", "overlap"), np.array([r[1] for r in probe_rows]))
    data["distractor_fisher"] = (("epoch", "distractor_overlap"),
                                 np.array([r[0] for r in distractor_rows]))
    data["distractor_accuracy"] = (("epoch", "distractor_overlap"),
                                   np.array([r[1] for r in distractor_rows]))
    data["hidden_pca"] = (("epoch", "sample", "component"), np.array(snapshots))
    return xr.Dataset(data,
                      coords={"epoch": epochs, "overlap": levels,
                              "distractor_overlap": dis_levels,
                              "label": ("sample", task.y_train.astype(np.int64)),
                              "component": [1, 2]},
                      attrs={"gamma": gamma, "width": width, "eta0": eta0, "eta": eta,
                             "loss": loss, "activation": activation, "n_epochs": n_epochs,
                             "seed": seed, "n_train": int(task.y_train.size),
                             "probe_shrinkage": probe_shrinkage,
                             "degenerate": "; ".join(dict.fromkeys(degenerate)) or "none",
                             "neurolearn_version": __version__})


def train_networks(task: OdourTask, *, gammas: Any, seeds: Any, width: int = 500,
                   eta0: float = 0.5, loss: str = "ce", activation: str = "relu",
                   n_epochs: int = 1000, n_records: int = 40, device: Any = "cpu",
                   progress: bool = True) -> xr.Dataset:
    """Train many networks (one per (γ, seed) pair) as batched array programs.

    Each network takes exactly the steps :func:`train` would give it (the
    same initialisation, learning rate η(γ) and full-batch gradients); only
    the inexpensive measures are recorded. On a GPU all networks form one
    program; on the CPU they go in groups whose hidden arrays fit in cache
    (:data:`CPU_GROUP_BYTES`), which is what makes the batch no slower than
    separate runs there.

    Parameters
    ----------
    task : OdourTask
    gammas, seeds : sequences of equal length
        Network i has richness ``gammas[i]`` and initial weights from
        ``seeds[i]``.
    width, eta0, loss, activation, n_epochs, n_records, device, progress
        As in :func:`train`.

    Returns
    -------
    Dataset with dims (network, epoch)
        ``train_loss``, ``test_loss``, ``train_accuracy``, ``test_accuracy``
        and ``output_margin``; coordinates ``gamma`` and ``seed`` on
        ``network``.

    Examples
    --------
    >>> from neurolearn.models import make_odour_task
    >>> task = make_odour_task(n_odorants=13, n_hot=3, n_train=40, n_test=200, seed=0)
    >>> runs = train_networks(task, gammas=[0.1, 1.0], seeds=[0, 1], width=50, n_epochs=50,
    ...                       n_records=3, progress=False)
    >>> runs["train_loss"].dims, runs.sizes["network"]  # gammas[i] with seeds[i]
    (('network', 'epoch'), 2)
    """
    check_params({"width": width, "eta0": eta0, "loss": loss, "activation": activation,
                  "n_epochs": n_epochs, "n_records": n_records, "progress": progress},
                 TRAIN_PARAMETERS, where="train_networks")
    xp = resolve_namespace(device)
    Xtr, ytr = xp.asarray(task.X_train), xp.asarray(task.y_train)
    Xte, yte = xp.asarray(task.X_test), xp.asarray(task.y_test)
    gammas, seeds = list(gammas), list(seeds)
    epochs = record_epochs(n_epochs, n_records)
    y_pm = xp.asarray(np.where(task.y_train > 0.5, 1.0, -1.0))
    group = _group_size(xp, len(seeds), width, Xtr.shape[0])
    bar = tqdm(total=(n_epochs + 1) * -(-len(seeds) // group),
               desc=f"training {len(seeds)} networks", disable=not progress)

    def accuracy(f: Any, y: Any) -> Any:
        return xp.mean(xp.astype(xp.equal(f > 0, y > 0.5), f.dtype), axis=-1)

    per_group = []
    for start in range(0, len(seeds), group):  # cache-sized groups on CPU, one on GPU
        g_gammas, g_seeds = gammas[start:start + group], seeds[start:start + group]
        start_nets = init_networks(xp, Xtr.shape[1], width, gammas=g_gammas,
                                   seeds=g_seeds, activation=activation)
        eta = xp.asarray([learning_rate(eta0, float(g), width) for g in g_gammas],
                         dtype=Xtr.dtype)
        records = []
        for epoch, nets, value, f in gradient_descent(xp, start_nets, (Xtr, ytr), loss=loss,
                                                      eta=eta, n_steps=n_epochs):
            bar.update(1)
            if epoch in epochs:
                f_test, _ = forward(xp, nets, Xte)
                test_value, _ = output_loss(xp, f_test, yte, loss)
                records.append(np.stack([to_numpy(v) for v in (
                    value, test_value, accuracy(f, ytr), accuracy(f_test, yte),
                    xp.min(y_pm * f, axis=-1))]))
        per_group.append(np.stack(records, axis=-1))  # (measure, group network, epoch)
    bar.close()
    records = [np.concatenate(per_group, axis=1)]
    values = records[0]  # (measure, network, epoch)
    names = ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "output_margin")
    return xr.Dataset({name: (("network", "epoch"), values[i]) for i, name in enumerate(names)},
                      coords={"epoch": epochs, "gamma": ("network", list(gammas)),
                              "seed": ("network", list(seeds))},
                      attrs={"width": width, "eta0": eta0, "loss": loss,
                             "activation": activation, "n_epochs": n_epochs,
                             "neurolearn_version": __version__})


#: Bytes of one (networks, width, patterns) hidden array per CPU group: the
#: batch's elementwise passes then stay in cache (64 networks of width 1000
#: on 60 patterns: one group of all 64 ran at 0.5× 64 separate runs, groups
#: of 2 at 1.04×).
CPU_GROUP_BYTES = 1 << 20


def _group_size(xp: Any, n_networks: int, width: int, n_patterns: int) -> int:
    """Networks trained together: all on a GPU, a cache-sized group on the CPU."""
    if "numpy" not in xp.__name__ and "strict" not in xp.__name__:
        return max(n_networks, 1)
    return int(max(1, min(n_networks, CPU_GROUP_BYTES // (8 * width * max(n_patterns, 1)))))


def train_snapshots(task: OdourTask, epochs: Any, *, gamma: float = 1.0, width: int = 500,
                    eta0: float = 0.5, loss: str = "ce", activation: str = "relu",
                    seed: int = 0, device: Any = "cpu") -> list[Network]:
    """The network after each of ``epochs`` full-batch gradient steps on ``task``.

    Trains exactly as :func:`train` (same initialisation from ``seed`` and
    learning rate η(γ)) but records nothing: for callers that measure the
    hidden layer themselves (e.g. :mod:`neurolearn.fit`).

    Parameters
    ----------
    task : OdourTask
    epochs : sequence of int
        Non-negative epoch counts, in any order (0 is the initial network).
    gamma, width, eta0, loss, activation, seed, device
        As in :func:`train`.

    Returns
    -------
    list of Network
        One per entry of ``epochs``, in the order given.
    """
    check_params({"gamma": gamma, "width": width, "eta0": eta0, "loss": loss,
                  "activation": activation, "seed": seed}, TRAIN_PARAMETERS,
                 where="train_snapshots")
    wanted = np.asarray(epochs, dtype=int).ravel()
    if wanted.size and wanted.min() < 0:
        raise ParameterError(f"train_snapshots: `epochs` must be >= 0; got {wanted.min()}.")
    xp = resolve_namespace(device)
    Xtr, ytr = xp.asarray(task.X_train), xp.asarray(task.y_train)
    net = init_network(xp, Xtr.shape[1], width, gamma=gamma, activation=activation, seed=seed)
    eta = learning_rate(eta0, gamma, width)
    kept: dict[int, Network] = {}
    last = int(wanted.max()) if wanted.size else 0
    for epoch, current, _, _ in gradient_descent(xp, net, (Xtr, ytr), loss=loss, eta=eta,
                                                  n_steps=last):
        if epoch in wanted:
            kept[epoch] = current
    return [kept[int(e)] for e in wanted]
