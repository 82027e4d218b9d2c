"""decode(protocol="bernerslee2023") against a NumPy re-implementation of the original rules."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from neurolearn.decoding import decode
from neurolearn.decoding.protocol import matlab_fold_assignment, shuffle_order
from neurolearn.errors import InsufficientDataError, ParameterError, SchemaError
from neurolearn.schema import make_session, to_tree
from neurolearn.trends import day_trend

N_SHUFFLES = 60


def _session(name, mouse, day, seed):
    """Target / non-target trials, two probe types, rates in Hz, and explicit folds.

    Unit 0 is nearly silent (summed rate < 5: dropped); unit 1 takes three
    values except on one trial, so it has fewer than 4 distinct values in the
    training set of that trial's fold only.
    """
    rng = np.random.default_rng(seed)
    kinds = np.array(["target"] * 40 + ["nontarget"] * 40 + ["probe A"] * 12 + ["probe B"] * 12)
    rng.shuffle(kinds)
    n, p = kinds.size, 7
    centre = {"target": 1.0, "nontarget": -1.0, "probe A": 0.3, "probe B": -0.3}
    signal = np.array([centre[k] for k in kinds])
    X = 8.0 + signal[:, None] * rng.normal(1.0, 0.3, p) + rng.normal(size=(n, p))
    X[:, 0] = 0.01
    X[:, 1] = rng.integers(0, 3, n).astype(float)
    X[rng.choice(np.flatnonzero(kinds == "target")), 1] = 7.0  # selected for every type
    heldout = np.char.startswith(kinds, "probe")
    label = (kinds == "target").astype(int)
    folds = matlab_fold_assignment(n, 10, rng)
    return make_session(X, stimulus=kinds, label=label, session=name, mouse=mouse, day=day,
                        phase="overtraining", heldout=heldout,
                        trial_coords={"fold": folds})


def _classify_linear(Xtr, ytr, Xte, K):
    """MATLAB classify(Xte, Xtr, ytr, 'linear'): pooled covariance / (n − K), empirical priors."""
    means = np.array([Xtr[ytr == k].mean(axis=0) for k in range(K)])
    resid = Xtr - means[ytr]
    sigma = resid.T @ resid / (ytr.size - K)
    inv = np.linalg.inv(sigma)
    prior = np.bincount(ytr, minlength=K) / ytr.size
    d = np.stack([np.log(prior[k]) - 0.5 * np.einsum("ij,jk,ik->i", Xte - means[k], inv,
                                                     Xte - means[k]) for k in range(K)], 1)
    post = np.exp(d - d.max(axis=1, keepdims=True))
    return post / post.sum(axis=1, keepdims=True)


def _reference(ds, trial_type, decoder):
    """The rules of the issue, written out: per-trial posteriors and hits per shuffle."""
    kinds = ds["stimulus"].values.astype(str)
    heldout = ds["heldout"].values
    sel = ~heldout | (kinds == trial_type)
    X = ds["rates"].values[sel]
    X = X[:, X.sum(axis=0) >= 5]
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    if decoder == "identity":
        y, K = np.where(heldout[sel], 2, np.where(kinds[sel] == "target", 0, 1)), 3
    else:
        y, K = (kinds[sel] == "target").astype(int), 2
    folds = ds["fold"].values[sel]
    order = shuffle_order(0, str(ds["session"].values[0]), trial_type, y.size, N_SHUFFLES)
    hits, posterior = [], None
    for q, labels in enumerate([y, *[y[o] for o in order]]):
        post = np.zeros((y.size, K))
        for f in np.unique(folds):
            tr, te = folds != f, folds == f
            keep = np.array([np.unique(Z[tr, j]).size >= 4 for j in range(Z.shape[1])])
            post[te] = _classify_linear(Z[tr][:, keep], labels[tr], Z[te][:, keep], K)
        hits.append(np.sum(post.argmax(axis=1) == labels))
        if q == 0:
            posterior = post[np.arange(y.size), y]
    return posterior, np.array(hits), y.size


@pytest.fixture(scope="module")
def protocol_study():
    sessions = [_session("m1-d10", "m1", 10, 1), _session("m1-d12", "m1", 12, 3),
                _session("m2-d11", "m2", 11, 2)]
    tree = to_tree(sessions)
    return sessions, decode(tree, protocol="bernerslee2023", folds="fold",
                            n_permutations=N_SHUFFLES, progress=False)


def test_protocol_equals_the_reimplementation_trial_by_trial(protocol_study):
    sessions, res = protocol_study
    for ds in sessions:
        name = str(ds["session"].values[0])
        for trial_type in ("probe A", "probe B"):
            rows = (res["session"] == name) & (res["type"] == trial_type)
            for decoder in ("identity", "categorical"):
                posterior, _, _ = _reference(ds, trial_type, decoder)
                ours = res[f"{decoder}_posterior"].values[rows.values]
                np.testing.assert_allclose(ours, posterior, rtol=0, atol=1e-10)
    # The summed-rate filter dropped unit 0; the distinct-value rule dropped
    # unit 1 from exactly one fold.
    assert set(res["n_units"].values.tolist()) == {6}
    per_fold = res["identity_units_per_fold"].values
    assert np.all(np.sort(per_fold, axis=1)[:, 0] == 5) and np.all((per_fold == 5).sum(1) == 1)


def test_protocol_group_pvalues_equal_the_reimplementation(protocol_study):
    sessions, res = protocol_study
    for decoder in ("identity", "categorical"):
        totals = {}
        for trial_type in ("probe A", "probe B"):
            parts = [_reference(ds, trial_type, decoder) for ds in sessions]
            hits = sum(h for _, h, _ in parts)
            n = sum(k for _, _, k in parts)
            totals[trial_type] = (hits, n)
        totals["all"] = (totals["probe A"][0] + totals["probe B"][0],
                         totals["probe A"][1] + totals["probe B"][1])
        for group, (hits, n) in totals.items():
            pooled = hits / n
            p = (np.sum(pooled[1:] >= pooled[0]) + 1) / (N_SHUFFLES + 1)
            assert res[f"{decoder}_accuracy"].sel(group=group).item() == pytest.approx(
                pooled[0], abs=1e-12)
            assert res[f"{decoder}_pvalue"].sel(group=group).item() == pytest.approx(p)
            np.testing.assert_allclose(res[f"{decoder}_null"].sel(group=group).values,
                                       pooled[1:], atol=1e-12)


def test_protocol_ancova_equals_statsmodels(protocol_study):
    _, res = protocol_study
    trend = day_trend(res["identity_posterior"], method="ancova")
    df = pd.DataFrame({"y": res["identity_posterior"].values, "trial": res["trial"].values,
                       "day": res["day"].values, "mouse": res["mouse"].values.astype(str),
                       "rewarded": res["rewarded"].values.astype(str)})
    model = smf.ols("y ~ trial + day + C(mouse, Sum) + C(rewarded, Sum)", df).fit()
    table = sm.stats.anova_lm(model, typ=3)
    assert float(trend["slope"]) == pytest.approx(model.params["day"], rel=1e-9)
    low, high = model.conf_int().loc["day"]
    assert float(trend["ci_low"]) == pytest.approx(low, rel=1e-9)
    assert float(trend["ci_high"]) == pytest.approx(high, rel=1e-9)
    for term, row in (("trial", "trial"), ("day", "day"), ("mouse", "C(mouse, Sum)"),
                      ("rewarded", "C(rewarded, Sum)")):
        assert float(trend["term_F"].sel(term=term)) == pytest.approx(table.loc[row, "F"],
                                                                      rel=1e-9)
        assert float(trend["term_pvalue"].sel(term=term)) == pytest.approx(
            table.loc[row, "PR(>F)"], rel=1e-7)
    assert "ignored" in trend.attrs["note"] and "hierarchical" in trend.attrs["note"]


def test_protocol_on_the_synthetic_study_decodes_every_type():
    from data_loaders import make_overtraining_dataset
    tree = make_overtraining_dataset(n_mice=2, n_training_days=1, n_overtraining_days=2)
    res = decode(tree, protocol="bernerslee2023", n_permutations=30, progress=False)
    groups = list(res["group"].values)
    assert groups[-1] == "all" and len(groups) == 7  # 3 repeat + 3 probe types
    # Training sessions are not decoded; every overtraining session is.
    assert set(res["session"].values) == {"A-d02", "A-d03", "B-d02", "B-d03"}
    assert float(res["categorical_accuracy"].sel(group="all")) > 0.8
    assert float(res["categorical_pvalue"].sel(group="all")) == pytest.approx(1 / 31)


def test_protocol_refuses_what_it_fixes_and_data_it_cannot_use():
    ds = _session("m1-d10", "m1", 10, 1)
    with pytest.raises(ParameterError, match="drop method='ridge'"):
        decode(ds, "ridge", protocol="bernerslee2023", progress=False)
    with pytest.raises(ParameterError, match="protocol"):
        decode(ds, protocol="matlab", progress=False)
    with pytest.raises(InsufficientDataError, match="none has any"):
        decode(ds.assign_coords(heldout=("trial", np.zeros(ds.sizes["trial"], bool))),
               protocol="bernerslee2023", progress=False)
    z = ds.copy()
    z["rates"].attrs["units"] = "z-score"
    with pytest.raises(SchemaError, match="needs response rates in Hz"):
        decode(z, protocol="bernerslee2023", progress=False)
