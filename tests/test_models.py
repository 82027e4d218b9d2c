import array_api_compat.numpy as xnp
import array_api_strict
import numpy as np
import pytest
from scipy import stats

from neurolearn.backend import to_numpy
from neurolearn.models import (
    PRESETS,
    init_network,
    learning_rate,
    loss_and_grads,
    make_odour_task,
    train,
)
from neurolearn.models.network import Network


@pytest.fixture(scope="module")
def task():
    return make_odour_task(n_odorants=40, n_hot=5, n_train=40, n_test=500, seed=0)


@pytest.mark.parametrize("loss", ["ce", "hinge", "mse"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("gamma", [0.3, 2.0])
def test_gradients_match_finite_differences(loss, activation, gamma):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 5)), np.array([1.0, 0, 1, 0, 1, 0])
    net = init_network(xnp, 5, 7, gamma=gamma, activation=activation, seed=1)
    # Move away from the initial point, where the centred output is exactly 0.
    net = Network(net.W + 0.3 * rng.normal(size=net.W.shape), net.a + 0.3 * rng.normal(size=7),
                  net.W0, net.a0, gamma, activation)
    _, gW, ga, _ = loss_and_grads(xnp, net, X, y, loss)
    eps = 1e-6

    def value(W, a):
        return float(loss_and_grads(xnp, Network(W, a, net.W0, net.a0, gamma, activation), X,
                                    y, loss)[0])

    num_W = np.zeros_like(net.W)
    for idx in np.ndindex(net.W.shape):
        E = np.zeros_like(net.W)
        E[idx] = eps
        num_W[idx] = (value(net.W + E, net.a) - value(net.W - E, net.a)) / (2 * eps)
    num_a = np.array([(value(net.W, net.a + eps * e) - value(net.W, net.a - eps * e)) / (2 * eps)
                      for e in np.eye(7)])
    np.testing.assert_allclose(gW, num_W, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ga, num_a, rtol=1e-5, atol=1e-8)


def test_strict_namespace_matches_numpy(task):
    a = loss_and_grads(xnp, init_network(xnp, 40, 30, seed=2), task.X_train, task.y_train)
    net = init_network(array_api_strict, 40, 30, seed=2)
    b = loss_and_grads(array_api_strict, net, array_api_strict.asarray(task.X_train),
                       array_api_strict.asarray(task.y_train))
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(to_numpy(v), u, rtol=1e-12, atol=1e-14)


def test_learning_rate_scaling():
    assert learning_rate(0.5, 0.1, 100) == pytest.approx(0.5 * 0.01 * 100)
    assert learning_rate(0.5, 4.0, 100) == pytest.approx(0.5 * 4.0 * 100)


def test_ce_keeps_learning_after_training_accuracy_saturates(task):
    res = train(task, gamma=1.0, width=200, n_epochs=800, n_records=16, progress=False)
    full = np.flatnonzero(res["train_accuracy"].values == 1.0)
    assert full.size and res["epoch"].values[full[0]] < 400
    first = full[0]
    hidden = res["hidden_margin"].values
    assert hidden[-1] > hidden[first] + 0.05  # hidden margin grows after 100 % train accuracy
    assert np.all(np.diff(hidden[first:]) > -1e-3)
    assert res["test_accuracy"].values[-1] >= res["test_accuracy"].values[first]
    assert res["output_margin"].values[-1] > 1.5


def test_hinge_freezes_once_all_margins_exceed_one(task):
    res = train(task, gamma=1.0, width=200, loss="hinge", n_epochs=800, n_records=16,
                progress=False)
    done = np.flatnonzero(res["output_margin"].values >= 1.0)
    assert done.size >= 3
    after = res.isel(epoch=slice(done[0], None))
    for name in ("hidden_margin", "test_accuracy", "kernel_distance"):
        np.testing.assert_allclose(after[name].values, after[name].values[0], rtol=1e-12)


def test_lazy_regime_changes_the_kernel_much_less(task):
    rich = train(task, gamma=1.0, width=200, n_epochs=300, n_records=5, progress=False)
    lazy = train(task, gamma=0.05, width=200, n_epochs=300, n_records=5, progress=False)
    assert float(lazy["kernel_distance"][-1]) < 0.1 * float(rich["kernel_distance"][-1])
    assert rich.attrs["gamma"] == 1.0 and rich.attrs["neurolearn_version"]


def test_overtraining_reversal_with_readout_rescaled(task):
    from neurolearn.models import overtraining_reversal

    kw = dict(gammas=(1.0, 5.0), seeds=(0, 1), width=200, overtrain_epochs=400,
              max_epochs=3000)
    res = overtraining_reversal(task, **kw)
    rescaled = res["epochs_to_reverse"].sel(protocol="readout_rescaled")
    assert rescaled.notnull().all()
    # Features learned by overtraining make the reversal faster (gamma >= 1).
    assert (rescaled.sel(stage="overtrained") < rescaled.sel(stage="criterion")).all()
    assert res["epochs_to_reverse"].sel(protocol="readout_kept").notnull().all()
    again = overtraining_reversal(task, **kw)
    np.testing.assert_array_equal(res["epochs_to_reverse"].values,
                                  again["epochs_to_reverse"].values)


def test_loss_ablation_stacks_losses(task):
    from neurolearn.models import loss_ablation

    res = loss_ablation(task, losses=("ce", "hinge"), gamma=1.0, width=100, n_epochs=400,
                        n_records=8, progress=False)
    assert list(res["loss"].values) == ["ce", "hinge"]
    late = res["hidden_margin"].isel(epoch=-1)
    mid = res["hidden_margin"].isel(epoch=-3)
    assert float(late.sel(loss="ce") - mid.sel(loss="ce")) > 0
    assert float(late.sel(loss="hinge") - mid.sel(loss="hinge")) == pytest.approx(0, abs=1e-9)


def test_richness_sweep_best_rate_scales_with_gamma_squared():
    from neurolearn.models import richness_sweep

    res = richness_sweep(gammas=(0.05, 0.1, 0.2), eta0s=(0.3, 1, 3, 10, 30, 100),
                         n_odorants=40, n_hot=5, width=100, n_steps=300, eval_every=5,
                         n_eval=300, progress=False)
    # With eta = eta0 * gamma^2 * N the lazy networks share their stability
    # boundary and their best eta0: the best absolute eta grows like gamma^2.
    stable = [res["eta0"].values[~row].max() for row in res["diverged"].values]
    assert len(set(stable)) == 1 and res["diverged"].any()
    assert 1.5 < float(res["lazy_exponent"]) < 2.5
    np.testing.assert_allclose(res["best_eta"] / (res["gamma"] ** 2 * 100),
                               float(res["best_eta"][0] / (0.05 ** 2 * 100)))


def test_probe_measures_and_pca_snapshots(task):
    res = train(task, gamma=1.0, width=200, n_epochs=800, n_records=12, progress=False)
    assert list(res["overlap"].values) == [0, 1, 2, 3]
    assert res["hidden_pca"].shape == (res.sizes["epoch"], task.y_train.size, 2)
    # Probes closer to the trained reference target separate better from the
    # non-targets in the hidden layer.
    final = res["probe_fisher"].isel(epoch=-1).values
    assert np.all(np.diff(final) > 0)
    assert float(res["probe_accuracy"].isel(epoch=-1).mean()) > 0.9


def test_distractors_are_rejected_in_order_of_overlap_after_criterion():
    # Paper-sized task: non-target distractors sharing more odorants with a
    # trained target mixture are rejected later; the most similar ones only
    # during overtraining, after training accuracy has reached 100 %.
    paper = make_odour_task(**PRESETS["paper"], n_train=60, n_test=200, seed=0)
    res = train(paper, gamma=1.0, width=200, n_epochs=600, n_records=14, progress=False)
    acc = res["distractor_accuracy"]
    criterion = int(np.argmax(res["train_accuracy"].values >= 1.0))
    early = acc.isel(epoch=criterion - 1).values  # the last epoch before 100 % train accuracy
    overlap = acc["distractor_overlap"].values
    assert stats.spearmanr(overlap, early).statistic <= -0.8
    assert early[-1] < 0.2 and early[0] > 0.6
    final = acc.isel(epoch=-1).values
    assert final.min() > 0.7
    assert final[-1] - early[-1] > 0.7  # hidden progress on the hardest distractors


def test_batched_networks_equal_separate_runs(task):
    from neurolearn.models import train_networks

    kw = dict(width=100, n_epochs=200, n_records=6, progress=False)
    batch = train_networks(task, gammas=[0.3, 1.0, 1.0], seeds=[0, 0, 5], **kw)
    for i, (gamma, seed) in enumerate([(0.3, 0), (1.0, 0), (1.0, 5)]):
        single = train(task, gamma=gamma, seed=seed, **kw)
        for name in ("train_loss", "test_loss", "train_accuracy", "test_accuracy",
                     "output_margin"):
            np.testing.assert_allclose(batch[name].values[i], single[name].values, rtol=1e-9,
                                       atol=1e-12)


def test_task_without_probes_trains():
    # probes_per_level=0 gives empty probe and distractor sets; training and
    # the forward pass must handle zero-row inputs.
    bare = make_odour_task(n_odorants=20, n_hot=3, n_train=20, n_test=50, probes_per_level=0)
    assert bare.X_probe.shape == (0, 20) and bare.X_distractor.shape == (0, 20)
    res = train(bare, width=50, n_epochs=20, n_records=3, progress=False)
    assert res["probe_accuracy"].shape == (res.sizes["epoch"], 0)
    assert float(res["train_accuracy"][-1]) > 0.5


def test_cpu_groups_of_networks_train_as_one_batch(monkeypatch):
    """Cache-sized groups give the same runs as one batch of every network."""
    import importlib

    from neurolearn.models import make_odour_task, train_networks

    train_module = importlib.import_module("neurolearn.models.train")

    task = make_odour_task(n_odorants=13, n_hot=3, n_train=40, n_test=100, seed=2)
    kw = dict(gammas=[0.5, 1.0, 2.0, 1.0, 0.5], seeds=[0, 1, 2, 3, 4], width=60,
              n_epochs=40, n_records=5, progress=False)
    whole = train_networks(task, **kw)
    monkeypatch.setattr(train_module, "CPU_GROUP_BYTES", 8 * 60 * 40 * 2)  # groups of 2
    assert train_module._group_size(np, 5, 60, 40) == 2
    grouped = train_networks(task, **kw)
    for name in whole.data_vars:
        np.testing.assert_allclose(grouped[name].values, whole[name].values, rtol=1e-10,
                                   atol=1e-12)
