"""Figures of the twins stage: individual fits (data + twin prediction band) and population posteriors.

Each figure carries the convergence warning in its title when the gate was overridden.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twintrial.twins.posterior import population_summary


def _title_suffix(fit: Any) -> str:
    return "" if fit.diagnostics.get("gate_passed", True) else "  [UNCONVERGED: see warnings]"


def individual_fits_figure(fit: Any, *, max_patients: int = 12, interval: float = 0.9) -> Any:
    """Observed data and the twin's median and central ``interval`` band, one panel per patient."""
    import matplotlib.pyplot as plt

    idata, data = fit.idata, fit.data
    n = min(max_patients, data.n_patients)
    cols = 4
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False,
                             sharex=False)
    have_grid = "predictions" in idata.children
    if have_grid:
        f = np.asarray(idata["predictions"]["f"].values)
        grid = np.asarray(idata["predictions"]["grid_time"].values)
        lo, med, hi = np.quantile(f, [(1 - interval) / 2, 0.5, (1 + interval) / 2], axis=0)
    for k in range(rows * cols):
        ax = axes[k // cols][k % cols]
        if k >= n:
            ax.axis("off")
            continue
        sel = data.obs_patient == k
        cens = data.obs_cens[sel]
        ax.plot(data.obs_time[sel][~cens], data.obs_y[sel][~cens], "o", ms=3, color="k")
        if cens.any():
            ax.plot(data.obs_time[sel][cens], data.obs_y[sel][cens], "v", ms=3, color="grey")
        if have_grid:
            ax.fill_between(grid[k], lo[k], hi[k], alpha=0.3, color="C0", lw=0)
            ax.plot(grid[k], med[k], color="C0", lw=1.2)
        ax.set_title(str(data.ids[k]), fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{fit.model.name}: twins (median, {interval:.0%} band) and data"
                 + _title_suffix(fit), fontsize=10)
    fig.tight_layout()
    return fig


def population_figure(fit: Any) -> Any:
    """Posterior median and 90%/95% intervals of every population parameter (forest plot)."""
    import matplotlib.pyplot as plt

    tab = population_summary(fit.idata, fit.model)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(tab) + 1.2))
    y = np.arange(len(tab))[::-1]
    ax.hlines(y, tab["lower95"], tab["upper95"], color="C0", lw=1)
    ax.hlines(y, tab["lower90"], tab["upper90"], color="C0", lw=3)
    ax.plot(tab["median"], y, "o", color="k", ms=4)
    ax.set_yticks(y, [f"{p} ({u})" if u else p for p, u in zip(tab["parameter"], tab["unit"],
                                                               strict=True)], fontsize=8)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_title("Population posterior (median, 90% and 95% intervals)" + _title_suffix(fit),
                 fontsize=9)
    fig.tight_layout()
    return fig


def twins_figures(fit: Any) -> dict[str, Any]:
    """All twins-stage figures by name (``individual_fits``, ``population``)."""
    return {"individual_fits": individual_fits_figure(fit), "population": population_figure(fit)}
