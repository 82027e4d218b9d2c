"""Matplotlib figures of results across training days.

Every function takes an ``ax`` (a new figure is made when omitted) and
returns the Axes (or Figure), so panels compose into larger figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

__all__ = ["plot_across_days", "shade_phases", "plot_behavior", "plot_margin_distributions",
           "plot_rsm", "plot_pca", "plot_model_fit", "plot_measures", "plot_significant_sessions",
           "plot_flips", "plot_trends", "plot_model_curves", "plot_confusion",
           "plot_transfer_matrix", "plot_by_lag"]


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    return ax


def shade_phases(ax: Any, summary: xr.Dataset, *, color: str = "0.92") -> None:
    """Shade the overtraining days of ``summary`` (needs a ``phase`` coord on ``day``).

    Parameters
    ----------
    ax : matplotlib Axes
    summary : Dataset
        With dim ``day`` and a ``phase`` coordinate on it.
    color : str, default "0.92"
    """
    days = summary["day"].values
    over = days[np.asarray(summary["phase"].values).astype(str) == "overtraining"]
    if over.size:
        ax.axvspan(over.min() - 0.5, over.max() + 0.5, color=color, zorder=0,
                   label="overtraining")


def plot_across_days(summary: xr.Dataset, *, ax: Any = None, label: str | None = None,
                     color: str | None = None, ylabel: str | None = None,
                     reference: float | None = None, shade: bool = True) -> Any:
    """Mean ± SE across mice against day, with overtraining shaded.

    Parameters
    ----------
    summary : Dataset with dim ``day``
        ``mean`` and ``sem`` (from :func:`neurolearn.summary.across_mice`) and a
        ``phase`` coordinate.
    ax : matplotlib Axes, optional
    label, color : str, optional
        Line label and colour.
    ylabel : str, optional
        Y-axis label.
    reference : float, optional
        Draw a dashed horizontal line here (e.g. chance, 0.5).
    shade : bool, default True
        Shade the overtraining phase.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from data_loaders import make_overtraining_dataset
    >>> from neurolearn.behavior import performance
    >>> from neurolearn.summary import across_mice
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=2, n_overtraining_days=2)
    >>> ax = plot_across_days(across_mice(performance(tree)["fraction_correct"]),
    ...                       ylabel="fraction correct", reference=0.5)
    >>> len(ax.lines) > 0
    True
    """
    ax = _axes(ax)
    days = summary["day"].values
    mean = summary["mean"].values
    sem = np.nan_to_num(summary["sem"].values, nan=0.0)
    (line,) = ax.plot(days, mean, "o-", ms=3, label=label, color=color)
    ax.fill_between(days, mean - sem, mean + sem, alpha=0.25, color=line.get_color(), lw=0)
    if shade:
        shade_phases(ax, summary)
    if reference is not None:
        ax.axhline(reference, ls="--", color="0.5", lw=1)
    ax.set_xlabel("day of training")
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax


def plot_behavior(performance: xr.Dataset, *, ax: Any = None) -> Any:
    """Behavioural fraction correct per day (mean ± SE across mice), by class.

    Parameters
    ----------
    performance : Dataset with dim ``session``
        From :func:`neurolearn.behavior.performance`.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from data_loaders import make_overtraining_dataset
    >>> from neurolearn.behavior import performance
    >>> tree = make_overtraining_dataset(n_mice=2, n_training_days=2, n_overtraining_days=2)
    >>> ax = plot_behavior(performance(tree))
    >>> ax.get_ylabel() != ""
    True
    """
    from neurolearn.summary import across_mice

    ax = _axes(ax)
    for i, (var, label) in enumerate((("fraction_correct", "all trials"),
                                      ("fraction_correct_target", "target"),
                                      ("fraction_correct_nontarget", "non-target"))):
        plot_across_days(across_mice(performance[var]), ax=ax, label=label, shade=i == 0,
                         reference=0.5 if i == 0 else None)
    ax.set_ylabel("fraction correct")
    ax.set_ylim(0.3, 1.02)
    ax.set_title("Behaviour")
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    return ax


def plot_margin_distributions(signed: xr.Dataset, *, ax: Any = None) -> Any:
    """Violin plot of per-trial held-out signed margins for each day.

    Parameters
    ----------
    signed : Dataset with dim ``sample``
        From :func:`neurolearn.margins.signed_margins`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    days = np.unique(signed["day"].values)
    data = [signed["signed_margin"].values[signed["day"].values == d] for d in days]
    data = [d[np.isfinite(d)] for d in data]
    keep = [i for i, d in enumerate(data) if d.size > 1]
    parts = ax.violinplot([data[i] for i in keep], positions=days[keep], widths=0.8,
                          showmedians=True)
    phase = {d: p for d, p in zip(signed["day"].values, signed["phase"].values, strict=True)}
    for body, i in zip(parts["bodies"], keep, strict=True):
        body.set_alpha(0.6)
        body.set_color("C1" if phase[days[i]] == "overtraining" else "C0")
    ax.axhline(0, color="0.4", lw=1, ls="--")
    ax.set_xlabel("day of training")
    ax.set_ylabel("held-out signed margin (within-class SD)")
    return ax


def plot_rsm(R: xr.DataArray, *, ax: Any = None, title: str | None = None) -> Any:
    """Trial × trial similarity matrix with the target/non-target boundary marked.

    Parameters
    ----------
    R : DataArray with dims (trial, trial_2)
        From :func:`neurolearn.geometry.rsm` (trials sorted by label).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    im = ax.imshow(R.values, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    n_target = int(np.sum(R["label"].values == 1))
    for pos in (n_target - 0.5,):
        ax.axhline(pos, color="k", lw=0.8)
        ax.axvline(pos, color="k", lw=0.8)
    ax.set_xticks([n_target / 2, n_target + (R.sizes["trial"] - n_target) / 2],
                  ["target", "non-target"])
    ax.set_yticks([n_target / 2, n_target + (R.sizes["trial"] - n_target) / 2],
                  ["target", "non-target"], rotation=90, va="center")
    ax.set_title(title or f"{R.attrs.get('session', '')} (day {R.attrs.get('day', '?')})")
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label="Pearson r")
    return ax


def plot_pca(projection: xr.Dataset, *, ax: Any = None) -> Any:
    """Trials on a session's first two principal components, coloured by class.

    Parameters
    ----------
    projection : Dataset
        From :func:`neurolearn.geometry.pca`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    scores = projection["scores"].values
    label = projection["label"].values
    for value, name, color in ((1, "target", "C3"), (0, "non-target", "C0")):
        sel = label == value
        ax.scatter(scores[sel, 0], scores[sel, 1] if scores.shape[1] > 1 else 0 * scores[sel, 0],
                   s=8, alpha=0.6, color=color, label=name)
    evr = projection["explained_variance_ratio"].values
    ax.set_xlabel(f"PC1 ({100 * evr[0]:.0f}%)")
    if evr.size > 1:
        ax.set_ylabel(f"PC2 ({100 * evr[1]:.0f}%)")
    ax.set_title(f"{projection.attrs.get('session', '')} (day {projection.attrs.get('day', '?')})")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_confusion(decoding: xr.Dataset, *, phase: str | None = "overtraining",
                   ax: Any = None) -> Any:
    """Cross-validated confusion matrix, trials pooled over sessions, rows as fractions.

    Parameters
    ----------
    decoding : Dataset
        From :func:`neurolearn.decoding.decode` (``confusion`` with dims
        session, true_class, predicted_class, and a ``phase`` coordinate).
    phase : str or None, default "overtraining"
        Pool the sessions of this phase; None pools all.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Cell (i, j): the share of true-class-i trials decoded as class j,
        with the trial count; chance (1/K) marked in the title.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from data_loaders import make_overtraining_dataset
    >>> from neurolearn.decoding import decode
    >>> tree = make_overtraining_dataset(n_mice=1, n_training_days=1, n_overtraining_days=2)
    >>> res = decode(tree, target="stimulus", n_folds=5, n_permutations=0, progress=False)
    >>> plot_confusion(res).get_xlabel()
    'decoded as'
    """
    ax = _axes(ax)
    confusion = decoding["confusion"]
    if phase is not None and "phase" in confusion.coords:
        confusion = confusion.where(confusion["phase"] == phase, drop=True)
    counts = np.nan_to_num(confusion.sum("session").values.astype(float))
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.full_like(counts, np.nan), where=totals > 0)
    names = [str(c) for c in decoding["true_class"].values]
    if decoding.attrs.get("target", "label") == "label" and names == ["0", "1"]:
        names = ["non-target (0)", "target (1)"]
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    for i in range(share.shape[0]):
        for j in range(share.shape[1]):
            if np.isfinite(share[i, j]):
                ax.text(j, i, f"{share[i, j]:.2f}\n({int(counts[i, j])})", ha="center",
                        va="center", fontsize="x-small",
                        color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize="small")
    ax.set_yticks(range(len(names)), names, fontsize="small")
    ax.set_xlabel("decoded as")
    ax.set_ylabel("true class")
    where = f"{phase} sessions" if phase else "all sessions"
    ax.set_title(f"Confusion, {where} (chance {1 / max(len(names), 1):.2f})")
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class")
    return ax


def plot_model_fit(fit: xr.Dataset, *, axes: Any = None) -> Any:
    """Data (mean ± SE over sessions) and fitted model curves, one panel per measure.

    Parameters
    ----------
    fit : Dataset
        From :func:`neurolearn.fit.fit_model` (``data_curve``, ``data_sem``,
        ``model_curve`` over (measure, day)) or
        :func:`neurolearn.fit.compare_models` (``model_curve`` over (model,
        measure, day); one line per model).
    axes : sequence of matplotlib Axes, optional
        One per measure.

    Returns
    -------
    ndarray of Axes
    """
    import matplotlib.pyplot as plt

    measures = list(fit["measure"].values)
    if axes is None:
        _, axes = plt.subplots(1, len(measures), figsize=(3.8 * len(measures), 3.3),
                               layout="constrained", squeeze=False)
        axes = axes[0]
    days = fit["day"].values
    for ax, m in zip(axes, measures, strict=True):
        mean = fit["data_curve"].sel(measure=m).values
        sem = (np.nan_to_num(fit["data_sem"].sel(measure=m).values, nan=0.0)
               if "data_sem" in fit else np.zeros_like(mean))
        ax.errorbar(days, mean, yerr=sem, fmt="o", ms=3, color="k", label="data")
        if "model" in fit["model_curve"].dims:
            for name in fit["model"].values:
                ax.plot(days, fit["model_curve"].sel(model=name, measure=m).values, "-",
                        label=str(name))
        else:
            ax.plot(days, fit["model_curve"].sel(measure=m).values, "-", color="C3",
                    label="model")
        if "phase" in fit.coords:
            shade_phases(ax, fit)
        ax.set_xlabel("day")
        ax.set_title(m)
    axes[0].legend(frameon=False, fontsize=8)
    return np.asarray(axes)


def _measure(by_day: xr.Dataset, name: str) -> xr.Dataset:
    return by_day.sel(measure=name)


def plot_measures(by_day: xr.Dataset, measures: dict[str, str], *, ax: Any = None,
                  ylabel: str | None = None, reference: float | None = None,
                  title: str | None = None) -> Any:
    """Several measures' mean ± SE across mice against day, on one Axes.

    Parameters
    ----------
    by_day : Dataset with dims (measure, day)
        ``mean``, ``sem`` and a ``phase`` coordinate on ``day``, as in the
        ``/summary/by_day`` node of :func:`neurolearn.pipeline.analyze`.
    measures : dict
        Measure name -> line label; measures absent from ``by_day`` are
        skipped.
    ax : matplotlib Axes, optional
    ylabel, title : str, optional
    reference : float, optional
        Dashed horizontal line (e.g. chance).

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    present = [m for m in measures if m in by_day["measure"].values]
    for i, name in enumerate(present):
        plot_across_days(_measure(by_day, name), ax=ax, label=measures[name], shade=i == 0,
                         reference=reference if i == 0 else None)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if present:
        ax.legend(frameon=False, fontsize="small")
    return ax


def plot_significant_sessions(decoding: xr.Dataset, *, alpha: float = 0.05,
                              ax: Any = None) -> Any:
    """Fraction of each day's sessions whose decoding beats the permutation null.

    Parameters
    ----------
    decoding : Dataset with dim ``session``
        From :func:`neurolearn.decoding.decode` (``pvalue``, ``heldout_pvalue``,
        with ``day`` and ``phase`` coordinates).
    alpha : float, default 0.05
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    days = np.unique(decoding["day"].values)
    width = 0.4
    for offset, var, label in ((-width / 2, "pvalue", "CV accuracy"),
                               (width / 2, "heldout_pvalue", "generalisation")):
        p = decoding[var].values
        frac = [np.mean(p[(decoding["day"].values == d) & np.isfinite(p)] < alpha)
                if np.any((decoding["day"].values == d) & np.isfinite(p)) else np.nan
                for d in days]
        ax.bar(days + offset, frac, width=width, label=label)
    ax.set_ylim(0, 1.25)  # headroom for the legend above the bars
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_xlabel("day of training")
    ax.set_ylabel(f"fraction of sessions p < {alpha:g}")
    ax.set_title("Sessions above the permutation null")
    ax.legend(frameon=False, fontsize="small", loc="upper left", ncol=2)
    return ax


def plot_flips(flips: xr.Dataset, *, ax: Any = None) -> Any:
    """Each (mouse, held-out stimulus): accuracy on the first vs the last days.

    Points above the horizontal and left of the vertical threshold line are
    stimuli that flipped from wrong to right (which ones: the ``flipped``
    variable, or the report's table).

    Parameters
    ----------
    flips : Dataset with dims (mouse, stimulus)
        From :func:`neurolearn.summary.stimulus_flips` (``early``, ``late``,
        ``flipped``; an optional ``heldout`` coordinate on ``stimulus``
        selects the held-out stimuli).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    sel = flips
    if "heldout" in flips.coords and bool(flips["heldout"].any()):
        sel = flips.isel(stimulus=np.flatnonzero(flips["heldout"].values))
    threshold = float(flips.attrs.get("threshold", 0.5))
    early, late = sel["early"].values.ravel(), sel["late"].values.ravel()
    flipped = sel["flipped"].values.ravel()
    ax.scatter(early[~flipped], late[~flipped], s=18, color="0.55", label="not flipped")
    ax.scatter(early[flipped], late[flipped], s=30, color="C3", label="flipped")
    ax.axhline(threshold, color="0.6", lw=0.8, ls="--")
    ax.axvline(threshold, color="0.6", lw=0.8, ls="--")
    ax.plot([0, 1], [0, 1], color="0.85", lw=0.8)
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    n_days = flips.attrs.get("n_days", "?")
    ax.set_xlabel(f"accuracy, first {n_days} days")
    ax.set_ylabel(f"accuracy, last {n_days} days")
    ax.set_title("Held-out stimuli: wrong early, right late?")
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    return ax


def plot_trends(trends: xr.Dataset, by_day: xr.Dataset, *, ax: Any = None) -> Any:
    """Forest plot of each measure's day trend (slope and CI) on a common scale.

    Each slope and its CI are divided by the SD of that measure's daily
    means over the trend's phase, so measures in different units compare.

    Parameters
    ----------
    trends : Dataset with dim ``measure``
        ``slope``, ``ci_low``, ``ci_high``, ``pvalue`` (``/trends`` of
        :func:`neurolearn.pipeline.analyze`).
    by_day : Dataset with dims (measure, day)
        ``mean`` with a ``phase`` coordinate (``/summary/by_day``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    phase = trends.attrs.get("phase", "all")
    names = list(trends["measure"].values)
    in_phase = (np.ones(by_day.sizes["day"], bool) if phase == "all"
                else np.asarray(by_day["phase"].values).astype(str) == phase)
    for i, name in enumerate(names):
        daily = by_day["mean"].sel(measure=name).values[in_phase]
        sd = np.nanstd(daily) if np.isfinite(daily).sum() > 1 else np.nan
        row = trends.sel(measure=name)
        if not np.isfinite(sd) or sd == 0 or not np.isfinite(float(row["slope"])):
            continue
        lo, hi = float(row["ci_low"]) / sd, float(row["ci_high"]) / sd
        excludes_zero = lo > 0 or hi < 0
        color = "C3" if excludes_zero else "0.5"
        ax.plot([lo, hi], [i, i], color=color, lw=2)
        ax.plot(float(row["slope"]) / sd, i, "o", color=color)
    labels = (list(trends["description"].values) if "description" in trends.coords
              else names)
    ax.set_yticks(range(len(names)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("slope per day / SD of daily means (95 % CI)")
    ax.set_title(f"Trends over {phase} days")
    return ax


def plot_model_curves(run: xr.Dataset) -> Any:
    """The γ-network's training curves: accuracy, loss, hidden margin, kernel change, distractors.

    Parameters
    ----------
    run : Dataset with dim ``epoch``
        From :func:`neurolearn.models.train`.

    Returns
    -------
    matplotlib Figure
        Five panels against epoch (log scale; epoch 0 left out), the epoch of
        100 % training accuracy dotted.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(19, 3.5), layout="constrained")
    later = run.isel(epoch=slice(1, None))
    epoch = later["epoch"].values
    axes[0].semilogx(epoch, later["train_accuracy"], label="train")
    axes[0].semilogx(epoch, later["test_accuracy"], label="test")
    axes[0].set_title("accuracy")
    axes[0].legend(frameon=False, fontsize="small")
    axes[1].loglog(epoch, later["train_loss"], label="train")
    axes[1].loglog(epoch, later["test_loss"], label="test")
    axes[1].set_title(f"loss ({run.attrs.get('loss', '?')})")
    axes[2].semilogx(epoch, later["hidden_margin"])
    axes[2].set_title("hidden-layer SVM margin (scale-free)")
    axes[3].semilogx(epoch, later["kernel_distance"], label="‖K_t − K_0‖/‖K_0‖")
    axes[3].semilogx(epoch, later["kernel_alignment"], label="kernel–target alignment")
    axes[3].set_title("hidden kernel")
    axes[3].legend(frameon=False, fontsize="small")
    acc = later["distractor_accuracy"]
    top = max(int(acc["distractor_overlap"].max()), 1)
    for j in acc["distractor_overlap"].values:
        axes[4].semilogx(epoch, acc.sel(distractor_overlap=j), color=plt.cm.viridis(j / top),
                         label=f"overlap {j}")
    axes[4].set_title("distractors rejected")
    axes[4].legend(frameon=False, fontsize=6, ncol=2)
    reached = np.flatnonzero(later["train_accuracy"].values >= 1.0)
    for ax in axes:
        ax.set_xlabel("epoch")
        if reached.size:
            ax.axvline(epoch[reached[0]], color="0.5", lw=0.8, ls=":")
    fig.suptitle(f"γ = {run.attrs.get('gamma', '?')}, width {run.attrs.get('width', '?')}, "
                 f"{run.attrs.get('n_train', '?')} training mixtures")
    return fig


def plot_transfer_matrix(transfer: xr.DataArray, *, ax: Any = None, chance: float = 0.5,
                         title: str = "Decoder transfer (mean over mice)") -> Any:
    """Heat map of a (train_day, test_day) accuracy, averaged over mice where it has ``mouse``.

    Parameters
    ----------
    transfer : DataArray with dims (mouse,) train_day, test_day
        E.g. ``transfer_accuracy`` of the ``/across_days`` node.
    ax : matplotlib Axes, optional
    chance : float, default 0.5
        Centre of the diverging colour scale.
    title : str

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from data_loaders.synthetic_tracked import make_tracked_dataset
    >>> from neurolearn.across_days import decoder_transfer
    >>> tree = make_tracked_dataset(n_mice=1, n_training_days=1, n_overtraining_days=2,
    ...                             n_cells=30, trials_per_session=40)
    >>> ax = plot_transfer_matrix(decoder_transfer(tree, n_permutations=0,
    ...                                            progress=False)["accuracy"])
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('test day', 'train day')
    """
    ax = _axes(ax)
    if "mouse" in transfer.dims:
        values = np.asarray(transfer.transpose("mouse", "train_day", "test_day").values, float)
        n = np.isfinite(values).sum(axis=0)
        total = np.where(np.isfinite(values), values, 0.0).sum(axis=0)
        mean = transfer.isel(mouse=0, drop=True).transpose("train_day", "test_day").copy(
            data=np.where(n > 0, total / np.maximum(n, 1), np.nan))  # NaN, not a warning
    else:
        mean = transfer.transpose("train_day", "test_day")
    top = float(np.nanmax(np.abs(mean.values - chance))) if np.isfinite(mean.values).any() \
        else 0.5
    days = mean["train_day"].values
    image = ax.imshow(mean.values, origin="lower", cmap="RdBu_r", vmin=chance - top,
                      vmax=chance + top, extent=(days[0] - 0.5, days[-1] + 0.5,
                                                 days[0] - 0.5, days[-1] + 0.5))
    ax.figure.colorbar(image, ax=ax, label="accuracy")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("test day")
    ax.set_ylabel("train day")
    ax.set_title(title)
    return ax


def plot_by_lag(values: dict[str, xr.DataArray], *, ax: Any = None, ylabel: str = "",
                title: str = "", reference: float | None = None) -> Any:
    """Curves against lag (days), mean ± SE across mice (from ``transfer_by_lag``).

    Parameters
    ----------
    values : dict
        Label → DataArray (mouse, lag).
    ax : matplotlib Axes, optional
    ylabel, title : str
    reference : float, optional
        Dashed horizontal line.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, xarray as xr
    >>> r = xr.DataArray(np.array([[0.9, 0.8], [0.7, 0.6]]), dims=("mouse", "lag"),
    ...                  coords={"mouse": ["A", "B"], "lag": [1, 2]})
    >>> ax = plot_by_lag({"transfer": r}, reference=0.5)
    >>> ax.lines[0].get_ydata().round(2).tolist()  # the mean across mice
    [0.8, 0.7]
    """
    ax = _axes(ax)
    for label, da in values.items():
        lag = da["lag"].values
        values = np.asarray(da.transpose("mouse", "lag").values, dtype=float)
        n = np.isfinite(values).sum(axis=0)
        filled = np.where(np.isfinite(values), values, 0.0)
        mean = np.where(n > 0, filled.sum(axis=0) / np.maximum(n, 1), np.nan)
        spread = np.where(np.isfinite(values), (values - mean) ** 2, 0.0).sum(axis=0)
        # One mouse has no spread to show: its SE is left at 0.
        sem = np.where(n > 1, np.sqrt(spread / np.maximum(n - 1, 1) / np.maximum(n, 1)), 0.0)
        line, = ax.plot(lag, mean, marker="o", ms=3, label=label)
        ax.fill_between(lag, mean - sem, mean + sem, color=line.get_color(), alpha=0.2, lw=0)
    if reference is not None:
        ax.axhline(reference, color="0.4", ls="--", lw=0.8)
    ax.set_xlabel("lag (days, test − train)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, fontsize="small")
    return ax
