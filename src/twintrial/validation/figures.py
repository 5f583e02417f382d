"""Figures of the validation stage that the metric modules do not draw themselves.

(:func:`~twintrial.validation.vpc.plot_vpc` and
:func:`~twintrial.validation.survival.plot_survival_check` draw the VPC and the KM check.)
Every function returns a :class:`matplotlib.figure.Figure` (no pyplot state, no file I/O).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_pit_histogram(pit: Mapping[str, npt.ArrayLike], *, n_bins: int = 10,
                       title: str = "PIT histogram of held-out observations") -> Figure:
    """PIT histograms (density) of the twin and each baseline, with the uniform reference."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2 * len(pit), 3.2), layout="constrained")
    axes = fig.subplots(1, len(pit), squeeze=False)[0]
    edges = np.linspace(0, 1, n_bins + 1)
    for ax, (name, values) in zip(axes, pit.items(), strict=True):
        v = np.asarray(values, dtype=np.float64)
        v = v[~np.isnan(v)]
        ax.hist(v, bins=edges, density=True, color="tab:blue", alpha=0.7)
        ax.axhline(1.0, color="black", ls="--", lw=1)
        if v.size:
            se = np.sqrt(n_bins / v.size)  # SD of a bin's density under uniformity (approx.)
            ax.axhspan(1 - 2 * se, 1 + 2 * se, color="0.5", alpha=0.15, lw=0)
        ax.set_xlim(0, 1)
        ax.set_title(f"{name} (n = {v.size})", fontsize=9)
        ax.set_xlabel("PIT")
    axes[0].set_ylabel("density")
    fig.suptitle(title, fontsize=10)
    return fig


def plot_survival_calibration(calibration: pd.DataFrame, *,
                              title: str = "Survival calibration at the landmarks") -> Figure:
    """Observed KM survival (with CI) against mean predicted survival, per risk group."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="perfect calibration")
    for lm, grp in calibration.groupby("landmark"):
        lo = grp["observed"] - grp["lower"]
        hi = grp["upper"] - grp["observed"]
        ax.errorbar(grp["predicted"], grp["observed"], yerr=np.vstack([lo.fillna(0), hi.fillna(0)]),
                    fmt="o-", ms=4, capsize=3, label=f"t = {lm:g}")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean predicted survival (risk group)")
    ax.set_ylabel("observed survival (Kaplan-Meier, 95% CI)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_trial_replication(hr_draws: npt.ArrayLike, observed_hr: float,
                           observed_ci: Sequence[float] | None, *, level: float,
                           km_observed: Mapping[str, pd.DataFrame] | None = None,
                           km_grid: Mapping[str, npt.ArrayLike] | None = None,
                           grid: npt.ArrayLike | None = None, xlabel: str = "time",
                           title: str = "Replication of the completed trial") -> Figure:
    """Simulated hazard ratios with the observed one; observed arm KM over simulated bands."""
    from matplotlib.figure import Figure

    with_km = bool(km_observed) and bool(km_grid) and grid is not None
    fig = Figure(figsize=(10 if with_km else 5, 4.2), layout="constrained")
    axes = fig.subplots(1, 2 if with_km else 1, squeeze=False)[0]
    x = np.asarray(hr_draws, dtype=np.float64)
    x = x[np.isfinite(x) & (x > 0)]
    ax = axes[0]
    ax.hist(np.log(x), bins=30, color="tab:blue", alpha=0.6, density=True,
            label=f"simulated trials (n = {x.size})")
    lo, hi = np.quantile(np.log(x), [(1 - level) / 2, (1 + level) / 2])
    ax.axvspan(lo, hi, color="tab:blue", alpha=0.12, lw=0, label=f"predicted {100 * level:g}% interval")
    ax.axvline(np.log(observed_hr), color="black", lw=2, label=f"observed HR {observed_hr:.3g}")
    if observed_ci is not None:
        ax.axvspan(np.log(observed_ci[0]), np.log(observed_ci[1]), color="black", alpha=0.08,
                   lw=0, label="observed 95% CI")
    ticks = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])
    ax.set_xticks(np.log(ticks), [f"{t:g}" for t in ticks])
    ax.set_xlim(min(lo, np.log(observed_hr)) - 0.5, max(hi, np.log(observed_hr)) + 0.5)
    ax.set_xlabel("hazard ratio (treatment vs control, log axis)")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    if with_km:
        ax2 = axes[1]
        g = np.asarray(grid, dtype=np.float64)
        for colour, (arm, km) in zip(("tab:red", "tab:green"), km_observed.items(), strict=False):
            band = np.asarray(km_grid[arm])
            q = np.quantile(band, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0)
            ax2.fill_between(g, q[0], q[2], color=colour, alpha=0.2, lw=0,
                             label=f"{arm}: simulated {100 * level:g}% band")
            t = np.concatenate([[0.0], km["time"].to_numpy(dtype=np.float64)])
            s = np.concatenate([[1.0], km["survival"].to_numpy(dtype=np.float64)])
            ax2.step(t, s, where="post", color=colour, lw=1.5, label=f"{arm}: observed KM")
        ax2.set_ylim(0, 1.02)
        ax2.set_xlabel(xlabel)
        ax2.set_ylabel("event-free survival")
        ax2.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig
