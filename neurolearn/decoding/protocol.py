"""The original study's decoding, exactly: ``decode(tree, protocol="bernerslee2023")``.

Berners-Lee et al. (2023) decoded, in each overtraining session with probe
or non-target-repeat trials, every probe or repeat type separately together
with the session's target and non-target trials (MATLAB:
``get_decoding_seperate_trialtypes.m``, called from
``calculate_plot_PVcorr.m``; statistics in
``plot_Decoding_SigShuffle_FromShuffle.m``). Its rules, which differ from
neurolearn's default decoding on purpose (see the README):

- two decoders per type: *identity*, three classes (target, non-target,
  this type); *categorical*, target vs everything else (the type's trials
  count as not-target);
- response-window rates; on the selected trials, units whose summed rate is
  below 5 are dropped; each unit is z-scored once over the selected trials
  (population SD, ddof = 0), not per fold;
- 10 folds from a random permutation of 1..10 repeated to the trial count:
  not stratified, and the probe/repeat trials are inside them (trained on);
  in each training fold, units with fewer than 4 distinct values there are
  dropped from that fold;
- pooled-covariance LDA with empirical priors, MATLAB ``classify(...,
  'linear')``: the covariance is the within-class scatter over n − K, and
  the posterior is the softmax of log π_k − ½ (Mahalanobis distance)²;
- the null: 1000 shuffles of the labels over all selected trials, folds kept;
  the p is at group level, (#shuffles whose accuracy pooled over all trials
  of all sessions ≥ the observed pooled accuracy + 1) / (shuffles + 1),
  one-sided, per type and for all types together.

LDA's decision values are the same in any affine image of the features, so
the kernel's own per-fold standardisation leaves MATLAB's posteriors
unchanged; MATLAB's covariance is n/(n − K) times the kernel's, which
scales the discriminant part (not the log prior) by (n − K)/n.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import numpy as np
import xarray as xr

from neurolearn._version import __version__
from neurolearn.backend import resolve_namespace, to_numpy
from neurolearn.decoding._multiclass import lda_multiclass_decisions
from neurolearn.decoding.engine import auto_chunk_size, test_rows
from neurolearn.decoding.pvalues import permutation_pvalue
from neurolearn.errors import InsufficientDataError, SchemaError
from neurolearn.parallel import map_items
from neurolearn.preprocess import STUDY_DEFAULTS, window_rates
from neurolearn.schema import iter_sessions, session_info, validate

__all__ = ["decode_bernerslee2023", "PROTOCOLS", "matlab_fold_assignment", "shuffle_order"]

#: Decoding protocols ``decode`` accepts.
PROTOCOLS = ("default", "bernerslee2023")

#: The original's unit filters: summed rate over the selected trials, and
#: distinct values within a training fold.
MIN_SUMMED_RATE = 5.0
MIN_DISTINCT = 4


def matlab_fold_assignment(n_trials: int, n_folds: int, rng: np.random.Generator
                           ) -> np.ndarray:
    """Folds as the original drew them: a random permutation of 1..F repeated to n.

    Parameters
    ----------
    n_trials : int
    n_folds : int
    rng : numpy Generator

    Returns
    -------
    ndarray (n_trials,) of int in 1..n_folds
        Not stratified: a class may be missing from a fold.

    Examples
    --------
    >>> a = matlab_fold_assignment(23, 10, np.random.default_rng(0))
    >>> a.size, sorted(set(a.tolist())) == list(range(1, 11))
    (23, True)
    """
    return np.resize(rng.permutation(n_folds) + 1, n_trials)


def _stream(seed: int, session: str, trial_type: str, which: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(
        [seed, zlib.crc32(session.encode()), zlib.crc32(trial_type.encode()), which]))


def shuffle_order(seed: int, session: str, trial_type: str, n_trials: int,
                  n_permutations: int) -> np.ndarray:
    """The protocol's label shuffles of one (session, type): each row a permutation.

    Shuffle q gives trial i the label of trial ``order[q, i]`` among the
    type's selected trials (in session order); the same for the identity
    and the categorical decoder.

    Parameters
    ----------
    seed : int
    session, trial_type : str
    n_trials, n_permutations : int

    Returns
    -------
    ndarray (n_permutations, n_trials) of int

    Examples
    --------
    >>> order = shuffle_order(0, "A-d10", "probe 1", 5, 3)
    >>> order.shape, sorted(order[0].tolist())
    ((3, 5), [0, 1, 2, 3, 4])
    """
    keys = _stream(seed, session, trial_type, 1).random((n_permutations, n_trials))
    return np.argsort(keys, axis=1)


def _distinct_counts(Z: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Distinct values of each unit among each fold's training trials: (F, p)."""
    # Test rows become NaN, which np.sort puts last; count value changes
    # among the finite sorted entries.
    masked = np.where(train[:, :, None] > 0, Z[None, :, :], np.nan)  # (F, n, p)
    ordered = np.sort(masked, axis=1)
    finite = np.isfinite(ordered)
    changes = (np.diff(ordered, axis=1) != 0) & finite[:, 1:, :]
    return np.any(finite, axis=1).astype(int) + np.sum(changes, axis=1)


def _matlab_decisions(xp: Any, Z: np.ndarray, train: np.ndarray, test: np.ndarray,
                      keep: np.ndarray, Y: np.ndarray, counts: np.ndarray, n_classes: int,
                      chunk: int) -> np.ndarray:
    """MATLAB ``classify`` 'linear' log-posteriors (up to a constant) on test trials.

    Folds that keep the same units are fitted together; a unit dropped from a
    fold is zeroed there, so its eigenvalue is 0 and the minimum-norm solve
    gives it no weight — the same decoder as without the unit. ``counts``
    (Q, F, K) are each label vector's training trials per class and fold,
    whose shares are the empirical priors.

    Returns
    -------
    ndarray (Q, n, K)
        c_f·(D_k − log π_k) + log π_k of each trial from its test fold,
        c_f = (n_f − K)/n_f (MATLAB's n − K covariance); NaN for trials no
        fold tests.
    """
    Q, n = Y.shape
    score = np.full((Q, n, n_classes), np.nan)
    groups, which = np.unique(keep, axis=0, return_inverse=True)
    for g, units in enumerate(groups):  # distinct unit sets: one in the usual session
        folds = np.flatnonzero(which.reshape(-1) == g)
        X = xp.asarray((Z * units[None, :])[None, :, :])
        tr, te = train[folds], test[folds]
        rows, inside, X_test_t = test_rows(xp, X, te)
        train_x = xp.asarray(tr, dtype=X.dtype)
        n_f = tr.sum(axis=1)  # (Fg,)
        for start in range(0, Q, chunk):
            Yc = Y[start:start + chunk]
            D = to_numpy(lda_multiclass_decisions(xp, X, train_x, xp.asarray(Yc),
                                                  n_classes, X_test_t))[0]  # (Fg, Qc, K, m)
            share = counts[start:start + Yc.shape[0]][:, folds] / n_f[None, :, None]
            log_prior = np.log(np.moveaxis(share, 0, 1))  # (Fg, Qc, K)
            c = ((n_f - n_classes) / n_f)[:, None, None, None]
            S = c * (D - log_prior[..., None]) + log_prior[..., None]  # (Fg, Qc, K, m)
            S = np.moveaxis(S, (1, 2), (0, 3))  # (Qc, Fg, m, K)
            score[start:start + Yc.shape[0], rows[inside], :] = S[:, inside, :]
    return score


def _decode_type(Z: np.ndarray, y: np.ndarray, assignment: np.ndarray, order: np.ndarray,
                 n_classes: int, xp: Any) -> dict[str, np.ndarray]:
    """One decoder on one type's trials: per-trial outcome, and pooled hits per shuffle."""
    fold_ids = np.unique(assignment)
    test = (assignment[None, :] == fold_ids[:, None]).astype(float)
    train = 1.0 - test
    for f, tr in enumerate(train):
        missing = set(range(n_classes)) - set(y[tr > 0].astype(int).tolist())
        if missing:
            raise InsufficientDataError(f"training fold {fold_ids[f]} has no trial of "
                                        f"class(es) {sorted(missing)}")
    keep = _distinct_counts(Z, train) >= MIN_DISTINCT  # (F, p)
    Y = np.concatenate([y[None, :], y[order]], axis=0)  # shuffles over all trials
    # A shuffle that leaves a training fold without a class has no decoder
    # (MATLAB's classify fails there): it is fitted on the true labels as a
    # placeholder and left out of the null (NaN).
    counts = np.stack([(Y == k).astype(float) @ train.T for k in range(n_classes)],
                      axis=-1)  # (Q, F, K) training trials per class
    undefined = np.any(counts == 0, axis=(1, 2))
    Y[undefined] = y
    counts[undefined] = counts[0]
    chunk = auto_chunk_size("lda", 1, len(fold_ids), y.size, Z.shape[1], Y.shape[0],
                            n_classes=n_classes)
    score = _matlab_decisions(xp, Z, train, test, keep, Y, counts, n_classes, chunk)
    correct = np.argmax(score, axis=-1) == Y  # (Q, n)
    hits = np.where(undefined, np.nan, correct.sum(axis=1).astype(float))
    post = np.exp(score[0] - np.max(score[0], axis=-1, keepdims=True))  # true labels only
    post /= post.sum(axis=-1, keepdims=True)
    true_post = np.take_along_axis(post, y.astype(int)[:, None], axis=1)[:, 0]
    return {"correct": correct[0], "posterior": true_post, "hits": hits,
            "units": keep.sum(axis=1)}


def _hz_rates(ds: xr.Dataset, variable: str, name: str) -> np.ndarray:
    """The session's response-window rates in Hz, (trial, neuron).

    ``variable`` itself where it is in Hz; where preprocessing z-scored it
    (the default preset does), the same units' rates recomputed from
    ``binned`` over the response window the preprocessing recorded (the
    preset's 0.1–0.6 s where none is recorded).
    """
    rates = ds[variable]
    if rates.attrs.get("units", "Hz") == "Hz":
        return np.asarray(rates.transpose("trial", "neuron").values, dtype=float)
    if "binned" not in ds.data_vars:
        raise SchemaError(f"{name}: protocol bernerslee2023 needs response rates in Hz; "
                          f"`{variable}` is in {rates.attrs.get('units')!r} and there are no "
                          "`binned` counts to recompute them from.")
    record = json.loads(ds.attrs.get("preprocessing", "{}"))
    window = tuple(record.get("response_window", STUDY_DEFAULTS["response_window"]))
    hz = window_rates(ds["binned"], window).transpose("trial", "neuron")
    return np.asarray(hz.values, dtype=float)


def _protocol_session(ds: xr.Dataset, *, n_permutations: int, n_folds: int, seed: int,
                      folds: str | None, variable: str, device: Any) -> list[dict[str, Any]]:
    info = session_info(ds)
    name = info["session"]
    if info["phase"] != "overtraining" or "heldout" not in ds.coords:
        return []
    heldout = np.asarray(ds["heldout"].values, bool)
    stimulus = np.asarray(ds["stimulus"].values).astype(str)
    label = np.asarray(ds["label"].values)
    rewarded = (np.asarray(ds["rewarded"].values, bool) if "rewarded" in ds.coords
                else label == 1)
    rates = _hz_rates(ds, variable, name)
    xp = resolve_namespace(device)
    out = []
    for trial_type in np.unique(stimulus[heldout]):  # each probe / repeat type
        sel = (~heldout & np.isin(label, (0, 1))) | (heldout & (stimulus == trial_type))
        idx = np.flatnonzero(sel)
        X = rates[idx]
        units = X.sum(axis=0) >= MIN_SUMMED_RATE
        X = X[:, units]
        sd = X.std(axis=0)
        Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        identity = np.where(heldout[idx], 2, np.where(label[idx] == 1, 0, 1)).astype(float)
        categorical = (~heldout[idx] & (label[idx] == 1)).astype(float)
        if folds is None:
            assignment = matlab_fold_assignment(idx.size, n_folds,
                                                _stream(seed, name, str(trial_type), 0))
        else:
            if folds not in ds.coords:
                raise SchemaError(f"{name}: `folds={folds!r}` names no trial coordinate.")
            assignment = np.asarray(ds[folds].values)[idx]
        order = shuffle_order(seed, name, str(trial_type), idx.size, n_permutations)
        result = {"session": name, "type": str(trial_type), "trial": idx,
                  "rewarded": rewarded[idx], "identity_class": identity,
                  "n_units": int(units.sum())}
        try:
            if not units.any():
                raise InsufficientDataError(f"no unit reaches a summed rate of "
                                            f"{MIN_SUMMED_RATE:g}")
            for decoder, y, K in (("identity", identity, 3), ("categorical", categorical, 2)):
                res = _decode_type(Z, y, assignment, order, K, xp)
                result.update({f"{decoder}_{k}": v for k, v in res.items()})
        except InsufficientDataError as exc:
            raise InsufficientDataError(f"{name}, {trial_type}: {exc}") from exc
        out.append(result)
    return out


def decode_bernerslee2023(data: xr.DataTree | xr.Dataset, *, n_permutations: int = 1000,
                          n_folds: int = 10, seed: int = 0, folds: str | None = None,
                          variable: str = "rates", device: Any = "cpu", progress: bool = True,
                          scheduler: Any = None) -> xr.Dataset:
    """The original study's decoding of probe and repeat types (see the module notes).

    Called as ``decode(tree, protocol="bernerslee2023")``.

    Parameters
    ----------
    data : DataTree or Dataset
        Sessions in the canonical layout; overtraining sessions with held-out
        (probe or non-target repeat) trials are decoded, each held-out
        stimulus a type.
    n_permutations : int, default 1000
        Label shuffles over all selected trials (folds kept).
    n_folds : int, default 10
    seed : int, default 0
        Seeds each (session, type)'s folds and shuffles.
    folds : str, optional
        A trial coordinate giving each trial's fold instead (any values).
    variable : str, default "rates"
        Response-window rates: used as they are when in Hz; when z-scored
        (the default preset), recomputed in Hz from ``binned`` over the
        recorded response window, for the same units.
    device, progress, scheduler
        As in :func:`~neurolearn.decoding.decode`.

    Returns
    -------
    Dataset
        Dim ``decoded`` (one row per trial per type it was decoded in), coords
        ``session``, ``mouse``, ``day``, ``phase``, ``type``, ``trial`` (index
        in its session), ``stimulus``, ``rewarded`` (the trial coord of that
        name, else label 1), ``identity_class`` (0 target,
        1 non-target, 2 the type): ``identity_correct``,
        ``identity_posterior`` (posterior of the true class),
        ``categorical_correct``, ``categorical_posterior``. Dim ``group``
        (each type, then ``"all"``): ``identity_accuracy`` /
        ``categorical_accuracy`` pooled over all trials of all sessions, their
        ``..._null`` (group, shuffle) and ``..._pvalue``. Dim ``unit``
        (session, type): ``n_units`` (after the summed-rate filter) and
        ``identity_units_per_fold`` / ``categorical_units_per_fold``
        (unit, fold). ``attrs``: the rules and parameters. The original's
        ANCOVA across sessions is ``day_trend(res["identity_correct"],
        method="ancova")``.

    Raises
    ------
    InsufficientDataError
        If no session qualifies, or a training fold lacks a class.

    Examples
    --------
    >>> from data_loaders import make_overtraining_dataset
    >>> tree = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=1)
    >>> res = decode_bernerslee2023(tree, n_permutations=20, progress=False)
    >>> list(res["group"].values)[-1], res["identity_posterior"].dims
    ('all', ('decoded',))
    """
    validate(data)
    # (All of each session travels: the protocol may recompute Hz rates from `binned`.)
    sessions = [ds for _, ds in iter_sessions(data)]
    parts = map_items(_protocol_session, sessions, scheduler=scheduler, progress=progress,
                      desc="decoding (bernerslee2023)", n_permutations=n_permutations,
                      n_folds=n_folds, seed=seed, folds=folds, variable=variable,
                      device=device)
    units = [u for part in parts for u in part]
    if not units:
        raise InsufficientDataError("protocol bernerslee2023 decodes overtraining sessions "
                                    "with probe or non-target-repeat (held-out) trials; "
                                    "none has any.")
    meta = {str(session_info(ds)["session"]): (ds, session_info(ds)) for ds in sessions}
    return _assemble(units, meta, n_permutations, attrs={
        "protocol": "bernerslee2023", "n_permutations": n_permutations, "n_folds": n_folds,
        "seed": seed, "folds": "" if folds is None else folds, "variable": variable,
        "min_summed_rate": MIN_SUMMED_RATE, "min_distinct_values": MIN_DISTINCT,
        "classifier": "pooled-covariance LDA, empirical priors, covariance / (n - K) "
                      "(MATLAB classify 'linear')",
        "pvalue": "(#shuffles with pooled accuracy >= observed + 1) / (finite shuffles + 1), "
                  "pooled over all trials of all sessions, one-sided",
        "neurolearn_version": __version__})


def _assemble(units: list[dict[str, Any]], meta: dict[str, Any], n_permutations: int,
              attrs: dict[str, Any]) -> xr.Dataset:
    def cat(key: str) -> np.ndarray:
        return np.concatenate([u[key] for u in units])

    rows = {k: [] for k in ("session", "mouse", "day", "type", "stimulus")}
    for u in units:
        ds, info = meta[u["session"]]
        n = u["trial"].size
        rows["session"].append(np.full(n, u["session"], dtype=object))
        rows["mouse"].append(np.full(n, info["mouse"], dtype=object))
        rows["day"].append(np.full(n, int(info["day"])))
        rows["type"].append(np.full(n, u["type"], dtype=object))
        rows["stimulus"].append(np.asarray(ds["stimulus"].values)[u["trial"]].astype(object))
    coords = {k: ("decoded", np.concatenate(v)) for k, v in rows.items()}
    coords["phase"] = ("decoded", np.full(coords["day"][1].size, "overtraining", dtype=object))
    coords.update(trial=("decoded", cat("trial")), rewarded=("decoded", cat("rewarded")),
                  identity_class=("decoded", cat("identity_class").astype(np.int64)))
    types = sorted({u["type"] for u in units})
    groups = [*types, "all"]
    data: dict[str, Any] = {}
    for decoder in ("identity", "categorical"):
        data[f"{decoder}_correct"] = ("decoded", cat(f"{decoder}_correct"))
        data[f"{decoder}_posterior"] = ("decoded", cat(f"{decoder}_posterior"))
        observed, null = [], []
        for group in groups:
            chosen = [u for u in units if group in ("all", u["type"])]
            n = sum(u["trial"].size for u in chosen)
            hits = np.sum([u[f"{decoder}_hits"] for u in chosen], axis=0)  # (1 + shuffles,)
            observed.append(hits[0] / n)
            null.append(hits[1:] / n)
        data[f"{decoder}_accuracy"] = ("group", np.array(observed), {
            "long_name": f"{decoder} accuracy pooled over all trials of all sessions"})
        data[f"{decoder}_null"] = (("group", "shuffle"), np.array(null))
        data[f"{decoder}_pvalue"] = ("group", permutation_pvalue(np.array(observed),
                                                                 np.array(null)))
        fold_units = [u[f"{decoder}_units"] for u in units]
        width = max(len(f) for f in fold_units)
        per_fold = np.full((len(units), width), -1, dtype=np.int64)
        for i, f in enumerate(fold_units):
            per_fold[i, :len(f)] = f
        data[f"{decoder}_units_per_fold"] = (("unit", "fold"), per_fold)
    data["n_units"] = ("unit", np.array([u["n_units"] for u in units]))
    coords.update(group=np.array(groups, dtype=object),
                  shuffle=np.arange(n_permutations),
                  unit_session=("unit", np.array([u["session"] for u in units], dtype=object)),
                  unit_type=("unit", np.array([u["type"] for u in units], dtype=object)))
    attrs["groups"] = json.dumps(groups)
    return xr.Dataset(data, coords=coords, attrs=attrs)
