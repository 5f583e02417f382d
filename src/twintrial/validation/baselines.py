"""Simple reference predictions that every twin must beat: population-only and LOCF.

Both take long observation tables (``id``, ``time``, ``variable``, ``value`` and optionally
``cens``; docs/contracts.md) split into a training part and a test part, and return a predictive
distribution for every test row as ``n_draws`` equally spaced quantiles of an empirical
distribution (deterministic: no random numbers), so that the same metrics (coverage, CRPS, PIT)
apply to twins and baselines alike.

- **Population-only**: the distribution of all training values of the same variable in the same
  time band (all training times when the band holds fewer than ``min_n`` values). It ignores
  everything known about the patient.
- **Last observation carried forward (LOCF)**: the patient's last training value of the variable
  plus the empirical distribution of within-patient changes between consecutive training
  observations of that variable (a random-walk predictive). Test rows of patients without a
  training value (subject-wise splits) get NaN and are counted as not predicted.

Rows below the LLOQ (``cens == 1``) are excluded from the training distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial.exceptions import AnalysisError
from twintrial.validation.metrics import DEFAULT_LEVELS, metrics_by_time_band

_REQUIRED = ("id", "time", "variable", "value")


@dataclass(frozen=True)
class BaselinePrediction:
    """Predictive distribution of a baseline for each test row (in the test table's row order).

    Attributes
    ----------
    name
        ``"population"`` or ``"locf"``.
    point
        ``(n,)`` point prediction (mean of the draws); NaN where not predicted.
    draws
        ``(n, n_draws)`` quantiles of the predictive distribution; NaN rows where not predicted.
    """

    name: str
    point: npt.NDArray[np.float64]
    draws: npt.NDArray[np.float64]

    @property
    def predicted(self) -> npt.NDArray[np.bool_]:
        """Rows with a prediction."""
        return ~np.isnan(self.point)


def _check(df: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise AnalysisError(f"{name}: missing column(s) {missing}; got {list(df.columns)}. "
                            "Pass a long observations table (id, time, variable, value).")
    return df


def _usable(train: pd.DataFrame) -> pd.DataFrame:
    out = train[~np.isnan(train["value"].to_numpy(dtype=np.float64))]
    if "cens" in out.columns:
        out = out[out["cens"].to_numpy() == 0]
    return out


def _quantile_grid(n_draws: int) -> npt.NDArray[np.float64]:
    if n_draws < 2:
        raise AnalysisError(f"n_draws: must be >= 2; got {n_draws}.")
    return (np.arange(n_draws) + 0.5) / n_draws


def population_baseline(train: pd.DataFrame, test: pd.DataFrame, *,
                        bands: Sequence[float] | None = None, min_n: int = 10,
                        n_draws: int = 200) -> BaselinePrediction:
    """Population-only prediction: training values of the same variable (and time band).

    Parameters
    ----------
    train, test
        Long observation tables.
    bands
        Time-band edges; ``None`` pools all times.
    min_n
        Bands with fewer training values fall back to all training times of the variable.
    n_draws
        Number of quantiles returned per row.

    Returns
    -------
    BaselinePrediction
    """
    _check(train, "train")
    _check(test, "test")
    tr = _usable(train)
    grid = _quantile_grid(n_draws)
    draws = np.full((len(test), n_draws), np.nan)
    test_var = test["variable"].astype(str).to_numpy()
    test_t = test["time"].to_numpy(dtype=np.float64)
    edges = np.asarray(bands, dtype=np.float64) if bands is not None else None
    for var in np.unique(test_var):
        sel = test_var == var
        vals_all = tr.loc[tr["variable"].astype(str) == var]
        if vals_all.empty:
            continue
        pooled = np.quantile(vals_all["value"].to_numpy(dtype=np.float64), grid)
        draws[sel] = pooled
        if edges is None:
            continue
        t_tr = vals_all["time"].to_numpy(dtype=np.float64)
        v_tr = vals_all["value"].to_numpy(dtype=np.float64)
        band_tr = np.searchsorted(edges, t_tr, side="right")
        band_te = np.searchsorted(edges, test_t, side="right")
        for b in np.unique(band_te[sel]):
            in_band = v_tr[band_tr == b]
            if in_band.size >= min_n:
                draws[sel & (band_te == b)] = np.quantile(in_band, grid)
    return BaselinePrediction("population", draws.mean(axis=1), draws)


def locf_baseline(train: pd.DataFrame, test: pd.DataFrame, *, n_draws: int = 200,
                  min_changes: int = 5) -> BaselinePrediction:
    """Last observation carried forward, with the empirical distribution of consecutive changes.

    Parameters
    ----------
    train, test
        Long observation tables; for each test row the last training value of the same patient
        and variable at a time <= the test time is carried forward.
    n_draws
        Number of quantiles returned per row.
    min_changes
        With fewer within-patient consecutive changes in training, the spread is zero (a point
        prediction carried as identical draws).

    Returns
    -------
    BaselinePrediction
    """
    _check(train, "train")
    _check(test, "test")
    tr = _usable(train).sort_values(["variable", "id", "time"], kind="stable")
    grid = _quantile_grid(n_draws)
    draws = np.full((len(test), n_draws), np.nan)
    te = test.reset_index(drop=True).assign(_row=np.arange(len(test)))
    te["variable"] = te["variable"].astype(str)
    te["id"] = te["id"].astype(str)
    for var, tr_v in tr.groupby(tr["variable"].astype(str), sort=False):
        ids = tr_v["id"].astype(str).to_numpy()
        vals = tr_v["value"].to_numpy(dtype=np.float64)
        same = ids[1:] == ids[:-1]
        changes = (vals[1:] - vals[:-1])[same]
        spread = np.quantile(changes, grid) if changes.size >= min_changes else np.zeros(n_draws)
        te_v = te[te["variable"] == var]
        if te_v.empty:
            continue
        last = pd.merge_asof(
            te_v[["_row", "id", "time"]].astype({"time": np.float64}).sort_values("time"),
            tr_v[["id", "time", "value"]].assign(id=lambda d: d["id"].astype(str))
            .astype({"time": np.float64}).sort_values("time"),
            on="time", by="id", direction="backward")
        ok = ~np.isnan(last["value"].to_numpy(dtype=np.float64))
        rows = last["_row"].to_numpy()[ok]
        draws[rows] = last["value"].to_numpy(dtype=np.float64)[ok, None] + spread[None, :]
    return BaselinePrediction("locf", draws.mean(axis=1), draws)


def compare_with_baselines(test: pd.DataFrame, twin_draws: npt.NDArray[np.float64],
                           baselines: Sequence[BaselinePrediction], *,
                           bands: Sequence[float] | None = None,
                           levels: Sequence[float] = DEFAULT_LEVELS,
                           twin_name: str = "twin") -> pd.DataFrame:
    """Predictive metrics of the twins and of each baseline on the same test rows.

    Metrics are computed per variable and time band (:func:`metrics_by_time_band`) on the rows
    every model predicted (rows below the LLOQ and rows a baseline cannot predict, e.g. LOCF for
    unseen patients, are excluded for all models alike and counted in ``n_excluded``).

    Parameters
    ----------
    test
        Long test observations (``id``, ``time``, ``variable``, ``value``, optional ``cens``).
    twin_draws
        ``(len(test), m)`` posterior predictive draws of the twins for the test rows.
    baselines
        Baseline predictions for the same rows (:func:`population_baseline`,
        :func:`locf_baseline`).

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``variable``, ``band``, ``n``, ``n_excluded`` and the metric columns.
    """
    _check(test, "test")
    x = np.asarray(twin_draws, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(test):
        raise AnalysisError(f"twin_draws: must have shape ({len(test)}, n_draws); got {x.shape}.")
    y = test["value"].to_numpy(dtype=np.float64)
    ok = ~np.isnan(y) & ~np.isnan(x).any(axis=1)
    if "cens" in test.columns:
        ok &= test["cens"].to_numpy() == 0
    for b in baselines:
        if b.draws.shape[0] != len(test):
            raise AnalysisError(f"baselines: '{b.name}' predicts {b.draws.shape[0]} rows; the test "
                                f"table has {len(test)}. Build it from the same test table.")
        ok &= b.predicted
    t = test["time"].to_numpy(dtype=np.float64)
    var = test["variable"].astype(str).to_numpy()
    models = [(twin_name, x)] + [(b.name, b.draws) for b in baselines]
    frames = []
    for v in np.unique(var):
        sel = ok & (var == v)
        for name, d in models:
            df = metrics_by_time_band(y[sel], d[sel], t[sel], bands=bands, levels=levels)
            df.insert(0, "variable", v)
            df.insert(0, "model", name)
            df.insert(4, "n_excluded", int(np.sum((var == v) & ~ok)))
            frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
