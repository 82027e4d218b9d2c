import json

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold, cross_val_score

from data_loaders.synthetic import PROBES, REPEATS, make_overtraining_dataset
from neurolearn.behavior import performance
from neurolearn.schema import iter_sessions, session_table, validate


def test_same_seed_same_data():
    kw = dict(n_mice=1, n_training_days=2, n_overtraining_days=2, trials_per_session=40)
    a = make_overtraining_dataset(seed=3, **kw)
    xr.testing.assert_identical(a, make_overtraining_dataset(seed=3, **kw))
    b = make_overtraining_dataset(seed=4, **kw)
    assert not a["A/A-d01"].to_dataset().equals(b["A/A-d01"].to_dataset())


def test_layout_matches_the_study(study_tree):
    validate(study_tree)
    table = session_table(study_tree)
    assert set(table["mouse"].values) == {"A", "B"}
    assert table.sizes["session"] >= 50  # 2 mice x 26 days, a session may be dropped
    assert table["n_units"].min() >= 4 and table["n_units"].max() <= 30
    assert (table["n_trials"] == 200).all()
    for _, ds in iter_sessions(study_tree):
        stims = set(ds["stimulus"].values)
        if ds["phase"].values[0] == "training":
            assert stims == {"target", "nontarget"} and not ds["heldout"].any()
        else:
            assert stims == {"target", "nontarget", *PROBES, *REPEATS}
            held = ds["heldout"].values
            assert set(ds["stimulus"].values[held]) == set(PROBES + REPEATS)
        assert ds["binned"].dtype == np.int16
        assert ds["rates"].attrs["units"] == "z-score"


def _per_session(tree, fn):
    return np.array([(int(ds["day"].values[0]), fn(ds)) for _, ds in iter_sessions(tree)
                     if ds["phase"].values[0] == "overtraining"])


def test_planted_margin_grows_while_behaviour_is_at_ceiling(study_tree):
    gt = _per_session(study_tree, lambda ds: ds.attrs["planted_margin_per_unit"])
    rho, p = stats.spearmanr(gt[:, 0], gt[:, 1])
    assert rho > 0.7 and p < 1e-6
    sep = _per_session(study_tree, lambda ds: ds.attrs["planted_separation"])
    for mouse_rows in (sep[: len(sep) // 2], sep[len(sep) // 2:]):
        assert np.all(np.diff(mouse_rows[np.argsort(mouse_rows[:, 0]), 1]) > 0)
    perf = performance(study_tree)
    over = perf["fraction_correct"].where(perf["phase"] == "overtraining", drop=True)
    assert float(over.min()) >= 0.9
    train = perf["fraction_correct"].where(perf["day"] == 1, drop=True)
    assert float(train.max()) < 0.75


def _lda_accuracy(ds):
    train = ~ds["heldout"].values
    X, y = ds["rates"].values[train], ds["label"].values[train]
    cv = StratifiedKFold(10, shuffle=True, random_state=0)
    return cross_val_score(LinearDiscriminantAnalysis(solver="lsqr"), X, y, cv=cv).mean()


def test_decoding_rises_in_training_and_flips_happen(study_tree):
    acc = np.array([(int(ds["day"].values[0]), _lda_accuracy(ds))
                    for _, ds in iter_sessions(study_tree)])
    early, late_training = acc[acc[:, 0] <= 2, 1].mean(), acc[(acc[:, 0] >= 7)
                                                            & (acc[:, 0] <= 8), 1].mean()
    assert late_training > early + 0.1
    flips = [json.loads(ds.attrs["planted_flip_days"]) for _, ds in iter_sessions(study_tree)]
    assert all(len(f) == 2 for f in flips)


def test_hidden_learning_leaves_accuracy_flat():
    tree = make_overtraining_dataset(n_mice=2, n_training_days=2, seed=5, hidden=True)
    rows = _per_session(tree, _lda_accuracy)
    fit = stats.linregress(rows[:, 0], rows[:, 1])
    # No trend: even the edge of the slope's ~95 % interval changes accuracy by
    # less than one percentage point over all of overtraining.
    assert (abs(fit.slope) + 2 * fit.stderr) * np.ptp(rows[:, 0]) < 0.01
    gt = _per_session(tree, lambda ds: ds.attrs["planted_margin_per_unit"])
    rho, p = stats.spearmanr(gt[:, 0], gt[:, 1])
    assert rho > 0.7 and p < 1e-4


def test_null_has_no_label_information():
    tree = make_overtraining_dataset(n_mice=1, n_training_days=3, n_overtraining_days=3,
                                     null=True, seed=2)
    acc = [_lda_accuracy(ds) for _, ds in iter_sessions(tree)]
    assert abs(np.mean(acc) - 0.5) < 0.06
    assert all(ds.attrs["planted_margin"] == 0 for _, ds in iter_sessions(tree))


def test_bad_arguments():
    with pytest.raises(ValueError, match="exclude each other"):
        make_overtraining_dataset(hidden=True, null=True)
    with pytest.raises(ValueError, match="units_per_session"):
        make_overtraining_dataset(units_per_session=(0, 3))
    with pytest.raises(ValueError, match="n_odorants=8 is too few"):
        make_overtraining_dataset(n_odorants=8)
