"""Visual predictive checks (VPC) and prediction-corrected VPCs (pcVPC).

The observed percentiles of each time bin are compared with the distribution, over simulated
replicates of the same design, of the same percentiles (the "percentile bands").
With ``pred`` given, observed and simulated values are prediction-corrected before binning
(Bergstrand et al. 2011): ``pcY = lb + (Y - lb) (PRED_bin - lb) / (PRED - lb)``, where ``PRED`` is
the population (typical-subject) prediction for the observation's own design and covariates,
``PRED_bin`` its median in the bin and ``lb`` a lower bound of the variable (0 for concentrations;
``None`` for an additive, unbounded variable: ``pcY = Y + PRED_bin - PRED``). Variability
correction (pvcVPC) is not applied.

Reference: Bergstrand M, Hooker AC, Wallin JE, Karlsson MO (2011). Prediction-corrected visual
predictive checks for diagnosing nonlinear mixed-effects models. AAPS J 13:143-151.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial.exceptions import AnalysisError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = npt.NDArray[np.float64]


def time_bins(time: npt.ArrayLike, bins: int | Sequence[float]) -> FloatArray:
    """Bin edges: given edges, or at most ``bins`` bins of the observed times.

    With a number of bins, each distinct time gets its own bin when there are at most ``bins`` of
    them; times sampled around a modest number of nominal times (clusters
    separated by gaps more than 5 times the median gap between distinct times, at most
    ``2 * bins`` clusters) are binned by cluster, cutting at the ``bins - 1`` largest gaps, so no
    nominal time is split across bins; otherwise bins hold equal counts.
    """
    t = np.asarray(time, dtype=np.float64)
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise AnalysisError(f"bins: must be >= 1; got {bins}.")
        ut = np.unique(t)
        if 1 < ut.size <= bins:  # few distinct (nominal) times: one bin each
            return np.concatenate([[ut[0]], (ut[1:] + ut[:-1]) / 2, [ut[-1]]])
        if ut.size > 2 and bins > 1:
            gaps = np.diff(ut)
            big = np.flatnonzero(gaps > 5 * np.median(gaps))
            if 0 < big.size < 2 * bins:
                cut = np.sort(big[np.argsort(gaps[big], kind="stable")[::-1][: int(bins) - 1]])
                return np.concatenate([[ut[0]], (ut[cut] + ut[cut + 1]) / 2, [ut[-1]]])
        edges = np.unique(np.quantile(t, np.linspace(0, 1, int(bins) + 1)))
        if edges.size < 2:
            edges = np.array([t.min(), t.min() + 1.0])
        return edges
    edges = np.asarray(bins, dtype=np.float64)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise AnalysisError(f"bins: edges must be >= 2 strictly increasing values; got {list(bins)}.")
    return edges


def prediction_correct(values: npt.ArrayLike, pred: npt.ArrayLike, bin_index: npt.ArrayLike, *,
                       lower_bound: float | None = 0.0) -> FloatArray:
    """Prediction-correct values (last axis = observations) per Bergstrand et al. (2011)."""
    y = np.asarray(values, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    b = np.asarray(bin_index)
    pbin = np.full(p.shape, np.nan)
    for k in np.unique(b[b >= 0]):
        pbin[b == k] = np.median(p[b == k])
    if lower_bound is None:
        return y + (pbin - p)
    if np.any(p <= lower_bound):
        raise AnalysisError(f"pred: population predictions must exceed the lower bound "
                            f"{lower_bound} for prediction correction; got min {p.min():g}. "
                            "Use lower_bound=None for an additive variable.")
    return lower_bound + (y - lower_bound) * (pbin - lower_bound) / (p - lower_bound)


def vpc(observed: pd.DataFrame, simulated: npt.ArrayLike, *, bins: int | Sequence[float] = 8,
        percentiles: Sequence[float] = (0.05, 0.5, 0.95), ci_level: float = 0.9,
        pred: npt.ArrayLike | None = None, lower_bound: float | None = 0.0) -> pd.DataFrame:
    """(Prediction-corrected) VPC statistics.

    Parameters
    ----------
    observed
        Observations of one variable: columns ``time`` and ``value`` (and optionally ``cens``;
        rows with ``cens == 1`` are dropped from observed and simulated alike).
    simulated
        ``(n_replicates, n_observations)`` simulated values for the rows of ``observed`` (same
        design, doses and covariates).
    bins
        Number of equal-count time bins, or bin edges.
    percentiles
        Percentiles (as fractions) summarised in each bin.
    ci_level
        Width of the simulated percentile bands.
    pred
        Population predictions per observation: given, a pcVPC is computed.
    lower_bound
        Lower bound used by the prediction correction (``None``: additive correction).

    Returns
    -------
    pandas.DataFrame
        One row per bin and percentile: ``bin``, ``t_low``, ``t_high``, ``t_mid`` (median observed
        time), ``n``, ``percentile``, ``observed``, ``sim_lower``, ``sim_median``, ``sim_upper``,
        ``outside`` (observed percentile outside the simulated band), ``corrected``.
    """
    for col in ("time", "value"):
        if col not in observed.columns:
            raise AnalysisError(f"observed: missing column '{col}'; got {list(observed.columns)}.")
    t = observed["time"].to_numpy(dtype=np.float64)
    y = observed["value"].to_numpy(dtype=np.float64)
    sim = np.asarray(simulated, dtype=np.float64)
    if sim.ndim != 2 or sim.shape[1] != y.size:
        raise AnalysisError(f"simulated: must have shape (n_replicates, {y.size}); got {sim.shape}.")
    keep = ~np.isnan(y)
    if "cens" in observed.columns:
        keep &= observed["cens"].to_numpy() == 0
    p = None if pred is None else np.asarray(pred, dtype=np.float64).reshape(-1)[keep]
    t, y, sim = t[keep], y[keep], sim[:, keep]
    edges = time_bins(t, bins)
    b = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, edges.size - 2)
    b[(t < edges[0]) | (t > edges[-1])] = -1
    if p is not None:
        y = prediction_correct(y, p, b, lower_bound=lower_bound)
        sim = prediction_correct(sim, p, b, lower_bound=lower_bound)
    pc = np.asarray(percentiles, dtype=np.float64)
    band = [(1 - ci_level) / 2, 0.5, (1 + ci_level) / 2]
    rows = []
    for k in range(edges.size - 1):
        sel = b == k
        if not sel.any():
            continue
        obs_q = np.quantile(y[sel], pc)
        sim_q = np.quantile(sim[:, sel], pc, axis=1)  # (P, R)
        bands = np.quantile(sim_q, band, axis=1)  # (3, P)
        for j, q in enumerate(pc):
            rows.append({"bin": k, "t_low": edges[k], "t_high": edges[k + 1],
                         "t_mid": float(np.median(t[sel])), "n": int(sel.sum()),
                         "percentile": float(q), "observed": float(obs_q[j]),
                         "sim_lower": float(bands[0, j]), "sim_median": float(bands[1, j]),
                         "sim_upper": float(bands[2, j])})
    out = pd.DataFrame(rows)
    out["outside"] = (out["observed"] < out["sim_lower"]) | (out["observed"] > out["sim_upper"])
    out["corrected"] = p is not None
    return out


def plot_vpc(stats_: pd.DataFrame, *, observed: pd.DataFrame | None = None,
             title: str = "Visual predictive check", ylabel: str = "value",
             xlabel: str = "time", log_y: bool = False) -> Figure:
    """Draw a VPC: simulated percentile bands (shaded), observed percentiles (lines).

    Parameters
    ----------
    stats_
        Output of :func:`vpc`.
    observed
        Optional observations (``time``, ``value``) drawn as points (not prediction-corrected).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    if observed is not None and not stats_["corrected"].any():
        ax.plot(observed["time"], observed["value"], "o", ms=2.5, color="0.6", alpha=0.5,
                label="observed")
    colours = {0.5: "tab:red"}
    for q, grp in stats_.groupby("percentile"):
        grp = grp.sort_values("t_mid")
        c = colours.get(float(q), "tab:blue")
        ax.fill_between(grp["t_mid"], grp["sim_lower"], grp["sim_upper"], color=c, alpha=0.2,
                        lw=0, label=f"simulated P{100 * q:g} band")
        ax.plot(grp["t_mid"], grp["observed"], "-", color=c, lw=1.5, label=f"observed P{100 * q:g}")
        out = grp[grp["outside"]]
        ax.plot(out["t_mid"], out["observed"], "x", color="black", ms=7)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(("prediction-corrected " if stats_["corrected"].any() else "") + ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncols=2)
    return fig
