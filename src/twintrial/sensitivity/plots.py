"""Figures: Sobol' indices with confidence whiskers; Morris mu* versus sigma."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from twintrial.exceptions import AnalysisError

if TYPE_CHECKING:
    from twintrial.sensitivity.analyze import SensitivityResult


def plot_sobol(result: SensitivityResult) -> Figure:
    """Bar chart of S1 and ST per input (one panel per output), with CI whiskers.

    Parameters
    ----------
    result
        A Sobol' :class:`~twintrial.sensitivity.SensitivityResult`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if result.method != "sobol":
        raise AnalysisError(f"plot_sobol: needs a Sobol' result; got method {result.method!r}. "
                            "Use plot_morris.")
    d, n_out = len(result.inputs), len(result.outputs)
    level = float(result.metadata["conf_level"])
    fig = Figure(figsize=(max(5.0, 0.7 * d + 2.0), 2.8 * n_out), layout="constrained")
    axes = fig.subplots(n_out, 1, squeeze=False)[:, 0]
    x = np.arange(d)
    width = 0.38
    for ax, out in zip(axes, result.outputs, strict=True):
        idx = result.indices[out]
        ax.bar(x - width / 2, idx["S1"], width, yerr=idx["S1_conf"], capsize=3,
               label="S1 (first order)", color="#4C72B0")
        ax.bar(x + width / 2, idx["ST"], width, yerr=idx["ST_conf"], capsize=3,
               label="ST (total)", color="#DD8452")
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.set_xticks(x, result.inputs, rotation=30, ha="right")
        ax.set_ylabel("index")
        ax.set_ylim(min(-0.05, float(np.nanmin(idx["S1"] - idx["S1_conf"], initial=0.0))),
                    max(1.05, float(np.nanmax(idx["ST"] + idx["ST_conf"], initial=0.0))))
        ax.set_title(f"{out}: Sobol' indices ({level:.0%} bootstrap CI)", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    return fig


def plot_morris(result: SensitivityResult) -> Figure:
    """Morris mu* against sigma (one panel per output), with mu* CI whiskers.

    Points on or above the line sigma = mu* have non-linear or interacting effects.

    Parameters
    ----------
    result
        A Morris :class:`~twintrial.sensitivity.SensitivityResult`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if result.method != "morris":
        raise AnalysisError(f"plot_morris: needs a Morris result; got method {result.method!r}. "
                            "Use plot_sobol.")
    n_out = len(result.outputs)
    fig = Figure(figsize=(5.0 * n_out, 4.2), layout="constrained")
    axes = fig.subplots(1, n_out, squeeze=False)[0]
    for ax, out in zip(axes, result.outputs, strict=True):
        idx = result.indices[out]
        mu_star, sigma = idx["mu_star"], idx["sigma"]
        ax.errorbar(mu_star, sigma, xerr=idx["mu_star_conf"], fmt="o", capsize=3,
                    color="#4C72B0")
        for name, mx, sy in zip(result.inputs, mu_star, sigma, strict=True):
            ax.annotate(name, (mx, sy), textcoords="offset points", xytext=(4, 4), fontsize=8)
        top = float(np.nanmax(np.r_[mu_star + idx["mu_star_conf"], sigma], initial=0.0)) or 1.0
        line = np.array([0.0, 1.1 * top])
        ax.plot(line, line, linestyle="--", color="grey", linewidth=0.8, label="sigma = mu*")
        ax.set_xlim(0.0, 1.1 * top)
        ax.set_ylim(0.0, 1.1 * top)
        ax.set_xlabel("mu* (mean |elementary effect|)")
        ax.set_ylabel("sigma (sd of elementary effects)")
        ax.set_title(f"{out}: Morris screening", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    return fig
