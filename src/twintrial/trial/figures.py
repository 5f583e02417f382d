"""Figures of the trial analysis (matplotlib ``Figure`` objects built without pyplot)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

__all__ = ["effect_distribution_figure", "power_curve_figure", "procova_figure"]


def power_curve_figure(oc: pd.DataFrame, *, alpha: float, target_power: float) -> Figure:
    """Power (and type I error) by patients per arm, one line per estimand and analysis."""
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    styles = {"primary": "-", "procova": "--", "cox": ":"}
    for i, (est, part) in enumerate(oc.groupby("estimand", sort=False)):
        for analysis, ls in styles.items():
            rows = part.loc[part["analysis"] == analysis].sort_values("n_per_arm")
            if rows.empty:
                continue
            label = est if analysis == "primary" else f"{est} ({analysis})"
            ax.errorbar(rows["n_per_arm"], rows["power"], yerr=2 * rows["power_mc_se"],
                        ls=ls, marker="o", ms=4, color=f"C{i}", label=label, capsize=2)
        null = part.loc[part["analysis"] == "null_primary"].sort_values("n_per_arm")
        if not null.empty:
            ax.plot(null["n_per_arm"], null["power"], ls="none", marker="x", color=f"C{i}")
    ax.axhline(target_power, color="0.6", lw=0.8, ls="--")
    ax.axhline(alpha, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log")
    ns = sorted(oc["n_per_arm"].unique())
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("patients per arm")
    ax.set_ylabel("power (x: type I error, null arm)")
    ax.set_title("Simulated power (±2 MC SE)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def effect_distribution_figure(effects: Mapping[str, np.ndarray], *,
                               averages: Mapping[str, float], labels: Mapping[str, str]) -> Figure:
    """Histogram of individual counterfactual effects per estimand with the population average."""
    k = max(len(effects), 1)
    fig = Figure(figsize=(4.0 * min(k, 3), 3.2 * -(-k // 3)), layout="constrained")
    for i, (name, e) in enumerate(effects.items()):
        ax = fig.add_subplot(-(-k // 3), min(k, 3), i + 1)
        v = e[np.isfinite(e)]
        if v.size:
            span = float(np.ptp(v))
            if span > 1e-9 * max(1.0, float(np.abs(v).max())):
                ax.hist(v, bins=60, color="C0", alpha=0.8)
            else:  # every patient has the same effect
                ax.hist(v, bins=1, range=(v[0] - 0.5, v[0] + 0.5), color="C0", alpha=0.8)
        ax.axvline(0.0, color="0.4", lw=1, ls="--")
        ax.axvline(averages.get(name, np.nan), color="C3", lw=1.5)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(labels.get(name, "individual effect"))
    return fig


def procova_figure(scores: Mapping[str, tuple[np.ndarray, np.ndarray]],
                   rho: Mapping[str, float],
                   sample_sizes: Mapping[str, Mapping[str, float] | None] | None = None,
                   *, target_power: float = 0.9) -> Figure:
    """Control outcome against the twin prognostic score, and patients per arm at equal power."""
    sizes = {k: v for k, v in (sample_sizes or {}).items() if v}
    k = max(len(scores), 1)
    fig = Figure(figsize=(4.0 * (k + bool(sizes)), 3.6), layout="constrained")
    for i, (name, (x, y)) in enumerate(scores.items()):
        ax = fig.add_subplot(1, k + bool(sizes), i + 1)
        ok = np.isfinite(x) & np.isfinite(y)
        step = max(1, int(ok.sum() // 3000))
        ax.scatter(x[ok][::step], y[ok][::step], s=4, alpha=0.3, color="C0")
        ax.set_title(f"{name}: rho = {rho.get(name, np.nan):.2f}", fontsize=10)
        ax.set_xlabel("prognostic score (twin's control prediction)")
        ax.set_ylabel("observed control outcome")
    if sizes:
        ax = fig.add_subplot(1, k + 1, k + 1)
        names = list(sizes)
        pos = np.arange(len(names))
        raw = [float(sizes[n]["n_unadjusted"]) for n in names]
        adj = [float(sizes[n]["n_procova"]) for n in names]
        ax.bar(pos - 0.2, raw, width=0.4, color="0.6", label="unadjusted (t-test)")
        ax.bar(pos + 0.2, adj, width=0.4, color="C0", label="PROCOVA (ANCOVA)")
        for p_, r, a in zip(pos, raw, adj, strict=True):
            ax.text(p_ + 0.2, a, f"-{100 * (r - a) / r:.0f}%", ha="center", va="bottom",
                    fontsize=8)
        ax.set_xticks(pos, names)
        ax.set_ylabel("patients per arm")
        ax.set_title(f"Sample size for {target_power:.0%} power", fontsize=10)
        ax.legend(fontsize=8)
    return fig
