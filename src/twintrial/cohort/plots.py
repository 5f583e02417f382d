"""Figures of the cohort stage: marginals and rank correlations, real (or target) against virtual.

They show what the fidelity numbers of ``cohort.json`` summarise: each covariate's distribution
in the virtual cohort over its reference (the real patients the fidelity is measured against, or,
for a published summary, the marginal the summary defines), and the Spearman correlation matrix
of both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from twintrial.cohort.marginals import DiscreteMarginal, Marginal

REAL, VIRTUAL = "0.45", "C0"
RUG_MAX = 50
"""References of at most this many patients also show each value as a tick."""
LOG_SPREAD = 8.0
"""Positive covariates whose 99.5th percentile is at least this many times the median are drawn
on a log axis (bins of equal width in log scale)."""


def _target_cdf(m: Marginal, x: np.ndarray) -> np.ndarray:
    """CDF of a continuous marginal at ``x``, by inverting its latent map on a fine grid."""
    p = np.linspace(1e-5, 1 - 1e-5, 4001)
    q = np.maximum.accumulate(np.asarray(m.from_latent(special.ndtri(p)), dtype=float))
    return np.interp(x, q, p, left=0.0, right=1.0)


def _continuous_panel(ax: Any, m: Marginal, virtual: np.ndarray, real: np.ndarray | None) -> None:
    pooled = virtual if real is None else np.concatenate([virtual, real])
    lo, hi = np.quantile(pooled, [0.005, 0.995])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    # Rice's rule on the smaller sample: a few real patients get a few wide bins
    bins = int(np.clip(round(2 * min(virtual.size, real.size if real is not None else np.inf)
                             ** (1 / 3)), 8, 30))
    log_x = lo > 0 and hi / np.median(pooled) >= LOG_SPREAD  # long right tail: log axis
    edges = np.geomspace(lo, hi, bins + 1) if log_x else np.linspace(lo, hi, bins + 1)
    if log_x:
        ax.set_xscale("log")
    # share of patients per bin (the outer bins hold the 0.5% tails)
    ax.hist(np.clip(virtual, lo, hi), bins=edges, weights=np.full(virtual.size, 1 / virtual.size),
            color=VIRTUAL, alpha=0.55, label="virtual")
    if real is not None:
        ref = np.histogram(np.clip(real, lo, hi), bins=edges)[0] / real.size
    else:
        cdf = _target_cdf(m, edges)
        cdf[0], cdf[-1] = 0.0, 1.0
        ref = np.diff(cdf)
    ax.stairs(ref, edges, color=REAL, lw=1.6, label="real" if real is not None else "target")
    if real is not None and real.size <= RUG_MAX:  # and where each real patient is
        ax.plot(real, np.zeros_like(real), "|", color="k", ms=8, mew=1.2)


def _discrete_panel(ax: Any, m: DiscreteMarginal, virtual: pd.Series,
                    real: pd.Series | None) -> None:
    key = (lambda v: float(v)) if m.numeric else str
    levels = [key(v) for v in m.levels]
    v_share = virtual.dropna().map(key).value_counts(normalize=True)
    if real is not None:
        r_share = real.dropna().map(key).value_counts(normalize=True)
        ref = np.array([r_share.get(lv, 0.0) for lv in levels])
    else:
        ref = np.asarray(m.probs, dtype=float)
    x = np.arange(len(levels))
    ax.bar(x - 0.2, ref, width=0.4, color=REAL, label="real" if real is not None else "target")
    ax.bar(x + 0.2, [v_share.get(lv, 0.0) for lv in levels], width=0.4, color=VIRTUAL,
           alpha=0.8, label="virtual")
    ax.set_xticks(x, [f"{lv:g}" if isinstance(lv, float) else str(lv) for lv in levels])
    ax.set_ylim(0, 1)


def marginals_figure(table: pd.DataFrame, marginals: Sequence[Marginal],
                     reference: pd.DataFrame | None, *,
                     fidelity: Mapping[str, Any] | None = None,
                     units: Mapping[str, str] | None = None) -> Any:
    """One panel per covariate: the virtual cohort's histogram (or level shares) over the
    reference's: ``reference`` rows (real patients), else the marginal itself (summary source).

    ``fidelity`` (``cohort.json``'s per-covariate entries) adds the KS distance or the largest
    share difference to each title.
    """
    import matplotlib.pyplot as plt

    n = len(marginals)
    cols = min(4, max(n, 1))
    rows = int(np.ceil(n / cols)) if n else 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.3 * rows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.axis("off")
            continue
        m = marginals[k]
        real = reference[m.name] if reference is not None else None
        if isinstance(m, DiscreteMarginal):
            _discrete_panel(ax, m, table[m.name], real)
        else:
            _continuous_panel(ax, m, table[m.name].to_numpy(dtype=float),
                              None if real is None else real.dropna().to_numpy(dtype=float))
            ax.set_yticks([])
        title = m.name + (f" ({units[m.name]})" if units and units.get(m.name) else "")
        stats = (fidelity or {}).get(m.name) or {}
        if stats.get("ks") is not None:
            title += f"\nKS {stats['ks']:.3f}"
        elif stats.get("max_abs_diff") is not None:
            title += f"\nmax |Δp| {stats['max_abs_diff']:.3f}"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    axes.ravel()[0].legend(fontsize=7, frameon=False)
    fig.suptitle("Virtual cohort against its reference: marginal distributions", fontsize=10)
    fig.tight_layout()
    return fig


def correlation_figure(rank_correlation: Mapping[str, Any], *, reference_label: str = "real"
                       ) -> Any:
    """Spearman correlations of the reference (below the diagonal) and the virtual cohort (above)
    side by side with their difference; from ``cohort.json``'s ``fidelity.rank_correlation``."""
    import matplotlib.pyplot as plt

    names = list(rank_correlation["names"])
    target = np.asarray(rank_correlation["target"], dtype=float)
    synth = np.asarray(rank_correlation["synthetic"], dtype=float)
    k = len(names)
    both = np.where(np.tril(np.ones((k, k), dtype=bool), -1), target, synth)
    np.fill_diagonal(both, np.nan)
    diff = synth - target
    np.fill_diagonal(diff, np.nan)
    limit = max(2 * float(rank_correlation.get("threshold") or 0.05),
                float(np.nanmax(np.abs(diff))) if k > 1 else 0.0)
    size = 2.2 + 0.38 * k
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.2, size))
    panels = ((both, "RdBu_r", 1.0, f"Spearman ρ: {reference_label} (lower), virtual (upper)"),
              (diff, "PuOr_r", limit, f"virtual − {reference_label} "
                                      f"(threshold ±{rank_correlation.get('threshold', 0.05):g})"))
    for ax, (mat, cmap, vmax, title) in zip(axes, panels, strict=True):
        im = ax.imshow(mat, cmap=cmap, vmin=-vmax, vmax=vmax)
        ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(k), names, fontsize=7)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def cohort_figures(table: pd.DataFrame, report: Mapping[str, Any], marginals: Sequence[Marginal],
                   reference: pd.DataFrame | None, *,
                   units: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``marginals`` and (with two or more covariates) ``correlations`` figures of a cohort."""
    fidelity = report.get("fidelity") or {}
    label = "real" if reference is not None else "target"
    out = {"marginals": marginals_figure(table, marginals, reference,
                                         fidelity=fidelity.get("covariates"), units=units)}
    rank = fidelity.get("rank_correlation") or {}
    if len(rank.get("names") or []) >= 2:
        out["correlations"] = correlation_figure(rank, reference_label=label)
    return out
