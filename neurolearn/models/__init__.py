"""The synthetic feature-learning model: γ-parametrised MLP on n-hot odour mixtures."""

from neurolearn.models.experiments import loss_ablation, overtraining_reversal
from neurolearn.models.network import (
    ACTIVATIONS,
    LOSSES,
    Network,
    forward,
    init_network,
    init_networks,
    learning_rate,
    loss_and_grads,
)
from neurolearn.models.sweeps import richness_sweep
from neurolearn.models.task import PRESETS, OdourTask, make_odour_task
from neurolearn.models.train import (
    hidden_margin,
    record_epochs,
    train,
    train_networks,
    train_snapshots,
)

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "PRESETS",
    "Network",
    "OdourTask",
    "forward",
    "hidden_margin",
    "init_network",
    "init_networks",
    "learning_rate",
    "loss_and_grads",
    "loss_ablation",
    "overtraining_reversal",
    "make_odour_task",
    "record_epochs",
    "richness_sweep",
    "train",
    "train_networks",
    "train_snapshots",
]
