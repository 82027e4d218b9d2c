"""Synthetic chronic recordings with a planted "hidden learning" ground truth.

:func:`make_overtraining_dataset` generates a study shaped like Berners-Lee et
al. (2023): several mice, ~8 training and ~18 overtraining days, one session a
day with a fresh random set of 4–30 units (units are not tracked across days)
and ~200 trials of a target odour against non-target odours. Odours are n-hot
mixtures over k odorants; the target class is "contains the target odorant".
Overtraining sessions add held-out trials: three probe odours with graded
overlap with the target mixture and three repeated non-target odours.

Generative model, for unit i on a trial with odour mixture x and class
ỹ = ±1 (target / non-target), on day d::

    latent_i = w_i·x/√n + s(d)·c_i·ỹ·f_stim(d) + ε_i,   ε_i ~ N(0, 1)
    rate_i(t) = r0_i · exp(g·latent_i)   for 0.05 s ≤ t < 2 s after onset,
              = r0_i                     otherwise,

with spikes Poisson in bins of ``bin_size``. ``w_i`` (odour tuning), ``c_i``
(class selectivity) and ``r0_i`` (rate, Hz) are drawn anew every session.
``s(d)`` is the planted class separation: it rises during training and keeps
growing linearly through overtraining. ``f_stim`` is +1 except for a few
"flipping" held-out odours per mouse, which sit on the wrong side
(``f = -0.6``) until an abrupt flip day in overtraining. Behaviour (lick
choices) follows its own curve: it rises during training and is at ceiling
(≥ 0.9 correct) for all of overtraining.

Ground truth per session (``attrs``): ``planted_separation`` = s(d) and
``planted_margin`` = half the distance between the noiseless class means of
the latent responses of the trained (non-held-out) trials, in units of the
latent noise SD — the max-margin of the two class means. Margins grow with
the number of units, so ``planted_margin_per_unit`` = planted_margin/√n_units
is the figure to compare across sessions with different unit counts.

``hidden=True`` starts overtraining with the classes already separated well
enough that decoding accuracy is at ceiling, so the planted separation keeps
growing while accuracy stays flat (margin-only learning). ``null=True`` makes
responses independent of odour and class (no label information at all).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from neurolearn._version import __version__
from neurolearn.errors import ParameterError
from neurolearn.preprocess import DEFAULT_PRESET
from neurolearn.preprocess import preprocess as preprocess_sessions
from neurolearn.schema import make_session, to_tree

__all__ = ["make_overtraining_dataset", "STIMULI", "PROBES", "REPEATS"]

PROBES = ("probes_comp_1", "probes_comp_2", "probes_comp_3")
REPEATS = ("nontarget repeat one", "nontarget repeat two", "nontarget repeat three")
STIMULI = ("target", "nontarget") + REPEATS + PROBES

_RESPONSE_ONSET = 0.05  # s: response latency after odour onset
_ODOUR_DURATION = 2.0  # s
_LOG_GAIN = 0.5  # g: latent units -> log firing rate


def _separation_schedule(n_training_days: int, n_overtraining_days: int, *, hidden: bool,
                         null: bool, scale: float) -> np.ndarray:
    """Planted class separation s(d) for days 1..n_training+n_overtraining."""
    days = np.arange(1, n_training_days + n_overtraining_days + 1)
    if null:
        return np.zeros(days.size)
    if hidden:
        start, end_training, end = 0.15, 2.0, 3.5
    else:
        start, end_training, end = 0.05, 0.6, 1.2
    s = np.empty(days.size)
    training = days <= n_training_days
    tau = max(n_training_days / 3.0, 1e-9)
    rise = 1.0 - np.exp(-(days[training] - 1) / tau)
    rise_end = 1.0 - np.exp(-(n_training_days - 1) / tau) if n_training_days > 1 else 1.0
    s[training] = start + (end_training - start) * rise / max(rise_end, 1e-9)
    if n_overtraining_days:
        frac = np.arange(1, n_overtraining_days + 1) / n_overtraining_days
        s[~training] = end_training + (end - end_training) * frac
    return scale * s


def _behaviour_schedule(n_training_days: int, n_overtraining_days: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Probability of a correct choice per day: rises in training, ceiling after."""
    days = np.arange(1, n_training_days + n_overtraining_days + 1)
    half = rng.uniform(2.0, 3.5)
    p = 0.5 + 0.46 / (1.0 + np.exp(-(days - half) / 0.8))
    p[days > n_training_days] = rng.uniform(0.95, 0.98)
    return p


def _mixture(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return np.sort(rng.choice(pool, size=n, replace=False))


def _mouse_odours(rng: np.random.Generator, k: int, n: int) -> dict[str, np.ndarray]:
    """Target mixture, three probes with graded overlap, three repeated non-targets."""
    if k < 3 * n + 2:
        raise ParameterError(f"n_odorants={k} is too few for {n}-hot mixtures with distinct "
                         f"probes and repeats; use at least {3 * n + 2}.")
    order = rng.permutation(k)
    target = np.sort(order[:n])
    target_odorant = order[0]
    others = order[n:]
    no_target = np.setdiff1d(np.arange(k), [target_odorant])
    odours = {"target": target}
    # Probes contain the target odorant (so their class is "target") and share
    # 1, 2 and n (+ one extra odorant) components with the target mixture.
    odours["probes_comp_1"] = np.sort(np.r_[target_odorant, _mixture(rng, others, n - 1)])
    odours["probes_comp_2"] = np.sort(np.r_[target[target != target_odorant][:1],
                                            target_odorant, _mixture(rng, others, n - 2)])
    odours["probes_comp_3"] = np.sort(np.r_[target, _mixture(rng, others, 1)])
    for name in REPEATS:
        odours[name] = _mixture(rng, np.setdiff1d(no_target, target_odorant), n)
    odours["_target_odorant"] = np.array([target_odorant])
    odours["_no_target_pool"] = no_target
    return odours


def _trial_plan(rng: np.random.Generator, n_trials: int, overtraining: bool) -> np.ndarray:
    """Stimulus category of every trial of a session, shuffled."""
    if overtraining:
        n_each = max(1, round(0.04 * n_trials))
        names = list(REPEATS) + list(PROBES)
        heldout = [name for name in names for _ in range(n_each)]
        rest = n_trials - len(heldout)
        plan = ["target"] * (rest // 2 + rest % 2) + ["nontarget"] * (rest // 2) + heldout
    else:
        plan = ["target"] * (n_trials // 2 + n_trials % 2) + ["nontarget"] * (n_trials // 2)
    return rng.permutation(np.array(plan, dtype=object))


def _session(rng: np.random.Generator, *, mouse: str, day: int, phase: str, n_units: int,
             n_trials: int, odours: dict[str, np.ndarray], k: int, n: int, separation: float,
             p_correct: float, flip_day: dict[str, int], null: bool, time: np.ndarray,
             bin_size: float) -> xr.Dataset:
    stimulus = _trial_plan(rng, n_trials, phase == "overtraining")
    label = np.array([1 if s == "target" or s.startswith("probes") else 0 for s in stimulus])
    heldout = np.array([s != "target" and s != "nontarget" for s in stimulus])
    x = np.zeros((n_trials, k))
    for t, s in enumerate(stimulus):
        mix = (_mixture(rng, odours["_no_target_pool"], n) if s == "nontarget"
               else odours[s])
        x[t, mix] = 1.0
    mixture = np.array(["-".join(map(str, np.flatnonzero(row))) for row in x], dtype=object)
    side = np.where(label == 1, 1.0, -1.0)
    for name, fday in flip_day.items():
        side[stimulus == name] *= -0.6 if day < fday else 1.0
    # Fresh units every session: units are not tracked across days.
    r0 = np.exp(rng.normal(np.log(5.0), 0.7, n_units))
    r0[rng.random(n_units) < 0.03] = 0.005  # the odd near-silent unit, dropped by filters
    w = rng.normal(0.0, 0.0 if null else 0.4, (n_units, k))
    # Every unit carries some class selectivity, of either sign.
    c = rng.choice([-1.0, 1.0], n_units) * rng.uniform(0.5, 1.5, n_units)
    mean_latent = x @ w.T / np.sqrt(n) + separation * side[:, None] * c[None, :]
    latent = mean_latent + rng.normal(0.0, 1.0, (n_trials, n_units))
    responding = (time >= _RESPONSE_ONSET - 1e-9) & (time < _ODOUR_DURATION - 1e-9)
    log_rate = np.log(r0)[None, :, None] + _LOG_GAIN * latent[:, :, None] * responding
    counts = rng.poisson(np.exp(log_rate) * bin_size)
    # Ground truth: half the distance between noiseless class means (trained trials).
    trained = ~heldout
    mu1 = mean_latent[trained & (label == 1)].mean(axis=0)
    mu0 = mean_latent[trained & (label == 0)].mean(axis=0)
    planted_margin = 0.5 * float(np.linalg.norm(mu1 - mu0))
    correct = rng.random(n_trials) < p_correct
    lick_target = np.where(correct, label == 1, label == 0)
    choice = np.where(lick_target, "right", "left").astype(object)
    no_lick = rng.random(n_trials) < 0.02
    choice[no_lick] = "no lick"
    correct = correct & ~no_lick
    session = f"{mouse}-d{day:02d}"
    return make_session(
        stimulus=stimulus, label=label, session=session, mouse=mouse, day=day, phase=phase,
        binned=counts.astype(np.int16), time=time, bin_size=bin_size, choice=choice,
        correct=correct.astype(float), heldout=heldout, trial_coords={"mixture": mixture},
        attrs={
            "planted_separation": float(separation),
            "planted_margin": planted_margin,
            "planted_margin_per_unit": planted_margin / np.sqrt(n_units),
            "planted_p_correct": float(p_correct),
            "planted_flip_days": json.dumps(flip_day),
            "n_units_recorded": n_units,
        },
    )


def make_overtraining_dataset(
    n_mice: int = 4,
    n_training_days: int = 8,
    n_overtraining_days: int = 18,
    units_per_session: tuple[int, int] = (4, 30),
    trials_per_session: int = 200,
    *,
    n_odorants: int = 13,
    n_components: int = 3,
    bin_size: float = 0.05,
    time_window: tuple[float, float] = (-1.0, 2.5),
    hidden: bool = False,
    null: bool = False,
    separation_scale: float = 1.0,
    n_flipping: int = 2,
    preprocess: bool = True,
    preset: str = DEFAULT_PRESET,
    seed: int = 0,
    progress: bool = False,
) -> xr.DataTree:
    """Generate a study with behaviour at ceiling while the population keeps learning.

    Parameters
    ----------
    n_mice : int, default 4
        Number of animals (named A, B, C, ...).
    n_training_days, n_overtraining_days : int, default 8 and 18
        Days before and after behaviour saturates; one session per day.
    units_per_session : (int, int), default (4, 30)
        Inclusive range of recorded units per session, drawn uniformly.
    trials_per_session : int, default 200
        Trials per session.
    n_odorants, n_components : int, default 13 and 3
        Odours are ``n_components``-hot mixtures over ``n_odorants``.
    bin_size : float, default 0.05
        Width of the spike-count bins in seconds.
    time_window : (float, float), default (-1.0, 2.5)
        Span of the binned spikes in s around odour onset.
    hidden : bool, default False
        Plant separation growth that leaves decoding accuracy flat.
    null : bool, default False
        Plant no stimulus or label information at all.
    separation_scale : float, default 1.0
        Multiplies the planted separation schedule s(d).
    n_flipping : int, default 2
        Held-out odours per mouse that flip abruptly from the wrong to the
        right side of the class boundary during overtraining.
    preprocess : bool, default True
        Apply :func:`neurolearn.preprocess.preprocess` so sessions carry
        ``rates``; dropped units and sessions are recorded.
    preset : str, default "bernerslee2023"
        The preprocessing preset (the original study's rules; see
        :data:`neurolearn.preprocess.PRESETS`).
    seed : int, default 0
        Seed of every random draw; the same seed gives identical data.
    progress : bool, default False
        Show a progress bar over mice.

    Returns
    -------
    DataTree
        Sessions at ``/<mouse>/<mouse>-dDD`` with ``binned`` (trial, neuron,
        time) int16 spike counts, ``rates`` (trial, neuron) when
        ``preprocess``, and the planted ground truth in each session's
        ``attrs``. Root ``attrs["generator"]`` holds the parameters (JSON).

    Examples
    --------
    >>> tree = make_overtraining_dataset(n_mice=1, n_training_days=2,
    ...                                  n_overtraining_days=2, seed=1)
    >>> sorted(tree["A"].children)
    ['A-d01', 'A-d02', 'A-d03', 'A-d04']
    """
    if hidden and null:
        raise ParameterError("hidden=True and null=True exclude each other.")
    if n_mice < 1 or n_training_days + n_overtraining_days < 1:
        raise ParameterError("need at least one mouse and one day.")
    lo, hi = units_per_session
    if not 1 <= lo <= hi:
        raise ParameterError(f"units_per_session must be (low, high) with 1 <= low <= high; got "
                         f"{units_per_session}.")
    if trials_per_session < 8:
        raise ParameterError(f"trials_per_session must be at least 8; got {trials_per_session}.")
    n_bins = int(round((time_window[1] - time_window[0]) / bin_size))
    time = np.round(time_window[0] + bin_size * np.arange(n_bins), 9)
    rng = np.random.default_rng(seed)
    n_days = n_training_days + n_overtraining_days
    sessions = []
    for m in tqdm(range(n_mice), desc="generating mice", disable=not progress):
        mouse = chr(ord("A") + m) if m < 26 else f"M{m}"
        mouse_rng = np.random.default_rng([seed, m])
        odours = _mouse_odours(mouse_rng, n_odorants, n_components)
        scale = separation_scale * mouse_rng.uniform(0.85, 1.15)
        sep = _separation_schedule(n_training_days, n_overtraining_days, hidden=hidden,
                                   null=null, scale=scale)
        p_correct = _behaviour_schedule(n_training_days, n_overtraining_days, mouse_rng)
        flipping = [] if null or n_overtraining_days < 3 else list(
            mouse_rng.choice(list(REPEATS + PROBES), size=min(n_flipping, 6), replace=False))
        flip_day = {str(name): int(n_training_days + mouse_rng.integers(
            2, max(3, n_overtraining_days - 2))) for name in flipping}
        for day in range(1, n_days + 1):
            phase = "training" if day <= n_training_days else "overtraining"
            sessions.append(_session(
                rng, mouse=mouse, day=day, phase=phase, n_units=int(rng.integers(lo, hi + 1)),
                n_trials=trials_per_session, odours=odours, k=n_odorants, n=n_components,
                separation=float(sep[day - 1]), p_correct=float(p_correct[day - 1]),
                flip_day=flip_day, null=null, time=time, bin_size=bin_size))
    params = {
        "n_mice": n_mice, "n_training_days": n_training_days,
        "n_overtraining_days": n_overtraining_days, "units_per_session": list(units_per_session),
        "trials_per_session": trials_per_session, "n_odorants": n_odorants,
        "n_components": n_components, "bin_size": bin_size, "time_window": list(time_window),
        "hidden": hidden, "null": null, "separation_scale": separation_scale,
        "n_flipping": n_flipping, "seed": seed,
    }
    attrs = {"source": "data_loaders.synthetic.make_overtraining_dataset", "format": "synthetic",
             "generator": json.dumps(params), "neurolearn_version": __version__}
    if preprocess:
        return preprocess_sessions(sessions, preset=preset, attrs=attrs)
    return to_tree(sessions, attrs=attrs)
