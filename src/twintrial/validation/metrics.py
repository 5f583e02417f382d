"""Predictive-validation metrics: interval coverage, CRPS, point errors, PIT, by time band.

All functions are vectorised over observations: ``observed`` has shape ``(n,)`` and predictive
draws have shape ``(n, m)`` (one row of ``m`` draws per observation). Missing observations (NaN)
are dropped by the summaries and counted.

References
----------
Gneiting T, Raftery AE (2007). Strictly proper scoring rules, prediction, and estimation.
JASA 102:359-378 (CRPS, energy form and closed form for the normal).
Czado C, Gneiting T, Held L (2009). Predictive model assessment for count data. Biometrics
65:1254-1261 (randomised PIT).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from twintrial.exceptions import AnalysisError

FloatArray = npt.NDArray[np.float64]

DEFAULT_LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
_CHUNK_ELEMENTS = 1 << 22  # draws processed per block by the sorting metrics (32 MB of float64)


# --------------------------------------------------------------------------- checks
def _as_obs_draws(observed: npt.ArrayLike, draws: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    y = np.asarray(observed, dtype=np.float64).reshape(-1)
    x = np.asarray(draws, dtype=np.float64)
    if x.ndim == 1:
        x = x.reshape(-1, 1) if y.size != 1 else x.reshape(1, -1)
    if x.ndim != 2 or x.shape[0] != y.size:
        raise AnalysisError(f"draws: must have shape (n_observations, n_draws) = ({y.size}, m); "
                            f"got {x.shape}. Put one row of predictive draws per observation.")
    if x.shape[1] < 2:
        raise AnalysisError(f"draws: need at least 2 predictive draws per observation; got "
                            f"{x.shape[1]}. Simulate more posterior predictive draws.")
    if np.isnan(x).any():
        raise AnalysisError("draws: contains NaN. Remove failed simulations before validating.")
    return y, x


def _check_levels(levels: Sequence[float]) -> FloatArray:
    lv = np.asarray(levels, dtype=np.float64).reshape(-1)
    if lv.size == 0 or np.any((lv <= 0) | (lv >= 1)):
        raise AnalysisError(f"levels: each interval level must be in (0, 1); got {list(levels)}. "
                            "Use e.g. [0.5, 0.8, 0.9, 0.95].")
    return lv


# --------------------------------------------------------------------------- coverage
def central_intervals(draws: npt.ArrayLike, levels: Sequence[float] = DEFAULT_LEVELS
                      ) -> tuple[FloatArray, FloatArray]:
    """Equal-tailed (central) predictive intervals from draws.

    Parameters
    ----------
    draws
        ``(n, m)`` predictive draws.
    levels
        Nominal levels in (0, 1).

    Returns
    -------
    lower, upper
        Arrays of shape ``(n, len(levels))`` (sample quantiles, linear interpolation).
    """
    x = np.asarray(draws, dtype=np.float64)
    lv = _check_levels(levels)
    probs = np.concatenate([(1 - lv) / 2, (1 + lv) / 2])
    q = np.quantile(x, probs, axis=-1)  # (2L, n)
    return q[: lv.size].T, q[lv.size:].T


def covered_from_quantiles(observed: npt.ArrayLike, lower: npt.ArrayLike,
                           upper: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether each observation lies in its closed interval ``[lower, upper]``.

    ``lower``/``upper`` broadcast against ``observed[:, None]`` (shape ``(n, L)``).
    """
    y = np.asarray(observed, dtype=np.float64).reshape(-1, 1)
    return (y >= np.asarray(lower, dtype=np.float64)) & (y <= np.asarray(upper, dtype=np.float64))


def covered_from_draws(observed: npt.ArrayLike, draws: npt.ArrayLike,
                       levels: Sequence[float] = DEFAULT_LEVELS) -> npt.NDArray[np.bool_]:
    """Whether each observation lies in its central predictive interval, ``(n, L)`` booleans."""
    y, x = _as_obs_draws(observed, draws)
    lo, hi = central_intervals(x, levels)
    return covered_from_quantiles(y, lo, hi)


def coverage(observed: npt.ArrayLike, draws: npt.ArrayLike,
             levels: Sequence[float] = DEFAULT_LEVELS) -> dict[float, float]:
    """Empirical coverage of the central predictive intervals at each nominal level.

    Observations that are NaN are ignored. Under a calibrated model the coverage is within
    ``sqrt(level (1 - level) / n)`` (binomial Monte-Carlo error, independent observations) of the
    nominal level.

    Returns
    -------
    dict
        ``{level: fraction covered}``.
    """
    y, x = _as_obs_draws(observed, draws)
    keep = ~np.isnan(y)
    cov = covered_from_draws(y[keep], x[keep], levels)
    return {float(lv): float(c) for lv, c in zip(_check_levels(levels), cov.mean(axis=0), strict=True)}


# --------------------------------------------------------------------------- CRPS
def crps_samples(observed: npt.ArrayLike, draws: npt.ArrayLike, *, fair: bool = False) -> FloatArray:
    """CRPS of a sample-based predictive distribution (energy form), per observation.

    ``CRPS = E|X - y| - 0.5 E|X - X'|``, computed in ``O(m log m)`` per observation from sorted
    draws: ``E|X - X'| = 2 / m^2 * sum_i (2 i - m - 1) x_(i)``.

    Parameters
    ----------
    observed
        ``(n,)`` observations.
    draws
        ``(n, m)`` predictive draws.
    fair
        If True, use the unbiased ("fair") estimator of ``E|X - X'|`` (divide by ``m (m - 1)``
        instead of ``m^2``); the default is the empirical-distribution CRPS.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` CRPS values (NaN where the observation is NaN); lower is better.
    """
    y, x = _as_obs_draws(observed, draws)
    m = x.shape[1]
    w = 2.0 * np.arange(1, m + 1) - m - 1.0
    denom = m * (m - 1) if fair else m * m
    out = np.empty(y.size)
    step = max(1, _CHUNK_ELEMENTS // m)  # bound the temporary copies
    for s in range(0, y.size, step):
        xs = np.sort(x[s:s + step], axis=1)
        e_abs = np.mean(np.abs(xs - y[s:s + step, None]), axis=1)
        pair_sum = 2.0 * (xs @ w)  # sum over all ordered pairs |x_i - x_j|
        out[s:s + step] = e_abs - 0.5 * pair_sum / denom
    return out


def crps_normal(observed: npt.ArrayLike, mu: npt.ArrayLike, sigma: npt.ArrayLike) -> FloatArray:
    """Closed-form CRPS of a normal predictive distribution N(mu, sigma^2).

    ``CRPS = sigma * (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))`` with ``z = (y - mu) / sigma``
    (Gneiting & Raftery 2007, eq. 21).
    """
    y = np.asarray(observed, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    if np.any(s <= 0):
        raise AnalysisError("sigma: must be > 0 for the normal CRPS; got a value <= 0.")
    z = (y - np.asarray(mu, dtype=np.float64)) / s
    return s * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


# --------------------------------------------------------------------------- point errors
def point_errors(observed: npt.ArrayLike, predicted: npt.ArrayLike) -> dict[str, float]:
    """RMSE, MAE and bias (mean of predicted - observed) over non-missing pairs.

    Returns
    -------
    dict
        ``{"n", "rmse", "mae", "bias"}`` (NaN metrics when no pair is available).
    """
    y = np.asarray(observed, dtype=np.float64).reshape(-1)
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise AnalysisError(f"predicted: must have the same length as observed ({y.size}); got {p.size}.")
    keep = ~(np.isnan(y) | np.isnan(p))
    e = p[keep] - y[keep]
    if e.size == 0:
        return {"n": 0, "rmse": float("nan"), "mae": float("nan"), "bias": float("nan")}
    return {"n": int(e.size), "rmse": float(np.sqrt(np.mean(e**2))),
            "mae": float(np.mean(np.abs(e))), "bias": float(np.mean(e))}


# --------------------------------------------------------------------------- PIT
def pit_values(observed: npt.ArrayLike, draws: npt.ArrayLike, *,
               rng: np.random.Generator | None = None) -> FloatArray:
    """Probability integral transform values from predictive draws.

    With ``r`` the number of draws below ``y`` (ties split at random), ``PIT = (r + U) / (m + 1)``
    with ``U ~ Uniform(0, 1)``: exactly Uniform(0, 1) when ``y`` and the draws are exchangeable
    (the model is true). Without ``rng`` the deterministic midpoint ``U = 0.5`` is used.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` PIT values in (0, 1); NaN where the observation is NaN.
    """
    y, x = _as_obs_draws(observed, draws)
    m = x.shape[1]
    below = np.sum(x < y[:, None], axis=1).astype(np.float64)
    ties = np.sum(x == y[:, None], axis=1)
    if rng is None:
        r, u = below + ties / 2.0, 0.5
    else:
        r, u = below + rng.binomial(ties, 0.5), rng.uniform(size=y.size)
    out = (r + u) / (m + 1)
    out[np.isnan(y)] = np.nan
    return out


def pit_calibration(pit: npt.ArrayLike, *, n_bins: int = 10) -> dict[str, float | list[int]]:
    """Calibration statistics of PIT values against Uniform(0, 1).

    Returns
    -------
    dict
        ``n``; ``ks_statistic`` and ``ks_pvalue`` (Kolmogorov-Smirnov); ``ece``: the mean absolute
        difference between the PIT empirical CDF and the identity on a grid of 99 points (0 for
        perfect calibration); ``histogram``: counts in ``n_bins`` equal bins.
        The KS p-value assumes independent PIT values; repeated observations within a patient are
        correlated, so treat it as descriptive.
    """
    p = np.asarray(pit, dtype=np.float64).reshape(-1)
    p = p[~np.isnan(p)]
    if p.size == 0:
        return {"n": 0, "ks_statistic": float("nan"), "ks_pvalue": float("nan"),
                "ece": float("nan"), "histogram": [0] * n_bins}
    ks = stats.kstest(p, "uniform")
    grid = np.linspace(0.01, 0.99, 99)
    ecdf = np.searchsorted(np.sort(p), grid, side="right") / p.size
    hist, _ = np.histogram(p, bins=n_bins, range=(0.0, 1.0))
    return {"n": int(p.size), "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
            "ece": float(np.mean(np.abs(ecdf - grid))), "histogram": [int(h) for h in hist]}


# --------------------------------------------------------------------------- summaries
def observation_scores(observed: npt.ArrayLike, draws: npt.ArrayLike, *,
                       levels: Sequence[float] = DEFAULT_LEVELS,
                       rng: np.random.Generator | None = None) -> dict[str, FloatArray]:
    """Per-observation scores from one sort of each row of draws (blockwise, bounded memory).

    Returns
    -------
    dict
        ``covered`` ``(n, L)`` (central intervals, linear-interpolation quantiles as
        :func:`numpy.quantile`), ``crps`` ``(n,)`` (as :func:`crps_samples`), ``mean`` ``(n,)``
        (mean of the draws) and ``pit`` ``(n,)`` (as :func:`pit_values`).
    """
    y, x = _as_obs_draws(observed, draws)
    lv = _check_levels(levels)
    n, m = x.shape
    probs = np.concatenate([(1 - lv) / 2, (1 + lv) / 2])
    h = (m - 1) * probs
    lo_i = np.floor(h).astype(np.int64)
    hi_i = np.minimum(lo_i + 1, m - 1)
    frac = h - lo_i
    w = 2.0 * np.arange(1, m + 1) - m - 1.0
    out = {"covered": np.empty((n, lv.size), dtype=bool), "crps": np.empty(n),
           "mean": np.empty(n), "pit": np.empty(n)}
    step = max(1, _CHUNK_ELEMENTS // m)
    for s in range(0, n, step):
        xs = np.sort(x[s:s + step], axis=1)
        yy = y[s:s + step]
        q = xs[:, lo_i] + frac * (xs[:, hi_i] - xs[:, lo_i])
        out["covered"][s:s + step] = covered_from_quantiles(yy, q[:, : lv.size], q[:, lv.size:])
        out["crps"][s:s + step] = np.mean(np.abs(xs - yy[:, None]), axis=1) - (xs @ w) / (m * m)
        out["mean"][s:s + step] = xs.mean(axis=1)
        below = np.sum(xs < yy[:, None], axis=1).astype(np.float64)
        ties = np.sum(xs == yy[:, None], axis=1)
        if rng is None:
            r, u = below + ties / 2.0, 0.5
        else:
            r, u = below + rng.binomial(ties, 0.5), rng.uniform(size=yy.size)
        out["pit"][s:s + step] = (r + u) / (m + 1)
    return out


def _summarise(y: FloatArray, scores: Mapping[str, FloatArray], lv: FloatArray) -> dict[str, float]:
    keep = ~np.isnan(y)
    out: dict[str, float] = {"n": float(keep.sum())}
    if not keep.any():
        for level in lv:
            out[f"coverage_{level:g}"] = float("nan")
        out.update({k: float("nan") for k in ("crps", "rmse", "mae", "bias", "pit_ks",
                                              "pit_ks_pvalue", "pit_ece")})
        return out
    cov = scores["covered"][keep].mean(axis=0)
    for level, c in zip(lv, cov, strict=True):
        out[f"coverage_{level:g}"] = float(c)
    out["crps"] = float(np.mean(scores["crps"][keep]))
    pe = point_errors(y[keep], scores["mean"][keep])
    out.update({"rmse": pe["rmse"], "mae": pe["mae"], "bias": pe["bias"]})
    cal = pit_calibration(scores["pit"][keep])
    out.update({"pit_ks": cal["ks_statistic"], "pit_ks_pvalue": cal["ks_pvalue"],
                "pit_ece": cal["ece"]})
    return out


def predictive_summary(observed: npt.ArrayLike, draws: npt.ArrayLike, *,
                       levels: Sequence[float] = DEFAULT_LEVELS,
                       rng: np.random.Generator | None = None) -> dict[str, float]:
    """All predictive metrics for one set of observations: coverage, CRPS, point errors, PIT.

    The point prediction is the mean of the draws. Keys: ``n``, ``coverage_<level>`` (e.g.
    ``coverage_0.9``), ``crps``, ``rmse``, ``mae``, ``bias``, ``pit_ks``, ``pit_ks_pvalue``,
    ``pit_ece``. NaN observations are ignored.
    """
    y, x = _as_obs_draws(observed, draws)
    return _summarise(y, observation_scores(y, x, levels=levels, rng=rng), _check_levels(levels))


def band_labels(time: npt.ArrayLike, bands: Sequence[float]) -> pd.Categorical:
    """Assign each time to a band ``[b_k, b_{k+1})`` (last band closed); outside -> NaN.

    Labels read ``"[0, 30)"`` etc., in band order.
    """
    t = np.asarray(time, dtype=np.float64)
    edges = np.asarray(bands, dtype=np.float64)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise AnalysisError(f"time_bands: need >= 2 strictly increasing edges; got {list(bands)}.")
    labels = [f"[{edges[k]:g}, {edges[k + 1]:g}{']' if k == edges.size - 2 else ')'}"
              for k in range(edges.size - 1)]
    idx = np.searchsorted(edges, t, side="right") - 1
    idx[t == edges[-1]] = edges.size - 2
    idx[(t < edges[0]) | (t > edges[-1]) | np.isnan(t)] = -1
    return pd.Categorical.from_codes(idx, categories=labels)


def metrics_by_time_band(observed: npt.ArrayLike, draws: npt.ArrayLike, time: npt.ArrayLike, *,
                         bands: Sequence[float] | None = None,
                         levels: Sequence[float] = DEFAULT_LEVELS,
                         rng: np.random.Generator | None = None) -> pd.DataFrame:
    """:func:`predictive_summary` overall (band ``"all"``) and within each time band.

    Returns
    -------
    pandas.DataFrame
        One row per band (``"all"`` first), columns ``band`` then the summary keys.
    """
    y, x = _as_obs_draws(observed, draws)
    t = np.asarray(time, dtype=np.float64).reshape(-1)
    if t.size != y.size:
        raise AnalysisError(f"time: must have one entry per observation ({y.size}); got {t.size}.")
    lv = _check_levels(levels)
    scores = observation_scores(y, x, levels=lv, rng=rng)
    rows = [{"band": "all", **_summarise(y, scores, lv)}]
    if bands is not None:
        lab = band_labels(t, bands)
        codes = np.asarray(lab.codes)
        for k, name in enumerate(lab.categories):
            sel = codes == k
            rows.append({"band": str(name),
                         **_summarise(y[sel], {key: v[sel] for key, v in scores.items()}, lv)})
    df = pd.DataFrame(rows)
    df["n"] = df["n"].astype(np.int64)
    return df
