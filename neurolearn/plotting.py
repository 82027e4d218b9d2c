"""Matplotlib figures of results across training days.

Every function takes an ``ax`` (a new figure is made when omitted) and
returns the Axes (or Figure), so panels compose into larger figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

__all__ = ["plot_across_days", "shade_phases", "plot_behavior"]


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    return ax


def shade_phases(ax: Any, summary: xr.Dataset, *, color: str = "0.92") -> None:
    """Shade the overtraining days of ``summary`` (needs a ``phase`` coord on ``day``)."""
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
