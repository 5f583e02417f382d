"""Per-patient twins from a fit: parameter draws, posterior predictive trajectories, summaries.

Predictions are on the scale of ``Model.predict`` (the residual model's scale, e.g. log bilirubin),
computed in NumPy from the same formula the likelihood used. Intervals are pinned (0.90 and 0.95
equal-tailed), never ArviZ's version-dependent default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from twintrial.models.backend import NUMPY
from twintrial.models.base import Model
from twintrial.twins.engine import EngineData

INTERVALS = (0.90, 0.95)


def flat_draws(idata: xr.DataTree, name: str) -> np.ndarray:
    """Posterior draws of ``name`` with chain and draw flattened into the first axis."""
    da = idata["posterior"][name]
    arr = np.asarray(da.values)
    return arr.reshape((-1, *arr.shape[2:]))


def n_samples(idata: xr.DataTree) -> int:
    """Number of posterior samples (chains x draws)."""
    post = idata["posterior"]
    return int(post.sizes["chain"] * post.sizes["draw"])


def thin_indices(total: int, n: int) -> np.ndarray:
    """``n`` evenly spaced sample indices out of ``total`` (all of them when ``n >= total``)."""
    if n >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, n).round().astype(np.int64))


def _sigmas(idata: xr.DataTree, model: Model, idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: flat_draws(idata, k)[idx] for k in model.residual.priors}


def predict_observed(idata: xr.DataTree, data: EngineData, model: Model, idx: np.ndarray,
                     *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Structural prediction ``f`` and replicated observation ``y_rep`` at the observed times.

    Returns arrays of shape ``(len(idx), n_obs)``.
    """
    ind = flat_draws(idata, "individual")[idx]                      # (S, n_pat, k)
    rows = data.obs_patient
    params = {p.name: ind[:, rows, j] for j, p in enumerate(model.parameters)}
    design = {k: v[rows] for k, v in data.design.items()}
    f = np.asarray(model.predict(NUMPY, params, data.obs_time[None, :], design), dtype=np.float64)
    sig = {k: v[:, None] for k, v in _sigmas(idata, model, idx).items()}
    sd = np.asarray(model.residual.sd(NUMPY, f, sig))
    rng = np.random.default_rng(seed)
    return f, f + sd * rng.standard_normal(f.shape)


def dense_grid(data: EngineData, n_points: int) -> np.ndarray:
    """Per-patient time grid ``(n_patients, n_points)`` from 0 to each patient's last time."""
    last = np.where(data.last_time > 0, data.last_time, 1.0)
    return last[:, None] * np.linspace(0.0, 1.0, n_points)[None, :]


def predict_grid(individual: np.ndarray, grid: np.ndarray, design: Mapping[str, np.ndarray],
                 model: Model) -> np.ndarray:
    """Structural prediction on a per-patient grid.

    Parameters
    ----------
    individual
        Natural-scale parameters ``(S, n_patients, n_params)``.
    grid
        Times ``(n_patients, n_times)``.
    design
        Per-patient design (first axis patients; dose arrays with a trailing dose axis).
    model
        The structural model.

    Returns
    -------
    ndarray
        ``(S, n_patients, n_times)``.
    """
    params = {p.name: individual[:, :, j, None] for j, p in enumerate(model.parameters)}
    dose_keys = set(getattr(model, "dose_design_keys", ()))
    d = {k: (v[:, None, :] if k in dose_keys else v[:, None]) for k, v in design.items()}
    out = model.predict(NUMPY, params, grid[None, :, :], d)
    return np.broadcast_to(np.asarray(out, dtype=np.float64),
                           (individual.shape[0], *grid.shape)).copy()


def add_predictions(idata: xr.DataTree, data: EngineData, model: Model, *, n_draws: int = 200,
                    grid_points: int = 50, seed: int) -> xr.DataTree:
    """Add ``observed_data``, ``posterior_predictive`` (observed times) and ``predictions``
    (dense grid) groups, computed from ``n_draws`` evenly thinned posterior samples."""
    idx = thin_indices(n_samples(idata), n_draws)
    f, y_rep = predict_observed(idata, data, model, idx, seed=seed)
    ids = np.asarray(data.ids, dtype=object).astype(str)
    obs_coord = {"obs": np.arange(len(data.obs_y))}
    idata["observed_data"] = xr.DataTree(xr.Dataset(
        {"y": ("obs", data.obs_y), "time": ("obs", data.obs_time),
         "patient_index": ("obs", data.obs_patient), "cens": ("obs", data.obs_cens.astype(np.int8)),
         "last_time": ("patient", data.last_time)},
        coords={**obs_coord, "patient": ids}))
    idata["posterior_predictive"] = xr.DataTree(xr.Dataset(
        {"f": (("sample", "obs"), f), "y_rep": (("sample", "obs"), y_rep)},
        coords={"sample": idx, **obs_coord}))
    grid = dense_grid(data, grid_points)
    fg = predict_grid(flat_draws(idata, "individual")[idx], grid, data.design, model)
    idata["predictions"] = xr.DataTree(xr.Dataset(
        {"f": (("sample", "patient", "grid"), fg), "grid_time": (("patient", "grid"), grid)},
        coords={"sample": idx, "patient": ids, "grid": np.arange(grid_points)}))
    return idata


def _interval_columns(x: np.ndarray, axis: int, probs: Sequence[float]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for p in probs:
        lo, hi = np.quantile(x, [(1 - p) / 2, (1 + p) / 2], axis=axis)
        tag = f"{round(p * 100):d}"
        out[f"lower{tag}"], out[f"upper{tag}"] = lo, hi
    return out


def patient_parameter_draws(idata: xr.DataTree, model: Model) -> pd.DataFrame:
    """Long-by-sample table: ``id, sample, <param>...`` (natural scale), one row per patient x draw."""
    ind = flat_draws(idata, "individual")                           # (S, n_pat, k)
    ids = np.asarray(idata["posterior"]["patient"].values).astype(str)
    s, n, k = ind.shape
    out = pd.DataFrame({"id": np.tile(ids, s), "sample": np.repeat(np.arange(s), n)})
    for j, p in enumerate(model.parameters):
        out[p.name] = ind[:, :, j].ravel()
    return out


def patient_parameter_summary(idata: xr.DataTree, model: Model,
                              probs: Sequence[float] = INTERVALS) -> pd.DataFrame:
    """Per-patient posterior median and pinned intervals of every parameter (natural scale)."""
    ind = flat_draws(idata, "individual")
    ids = np.asarray(idata["posterior"]["patient"].values).astype(str)
    frames = []
    for j, p in enumerate(model.parameters):
        x = ind[:, :, j]
        frames.append(pd.DataFrame({"id": ids, "parameter": p.name, "unit": p.unit,
                                    "median": np.median(x, axis=0), "mean": x.mean(axis=0),
                                    **_interval_columns(x, 0, probs)}))
    return pd.concat(frames, ignore_index=True)


def _population_columns(idata: xr.DataTree, model: Model) -> list[tuple[str, str, np.ndarray]]:
    """(label, unit, draws) of every population-level quantity, natural scale for typicals."""
    post = idata["posterior"]
    out: list[tuple[str, str, np.ndarray]] = []
    params = list(model.parameters) + (list(model.event.parameters) if model.event else [])
    for p in params:
        if f"mu_{p.name}" in post:
            mu = flat_draws(idata, f"mu_{p.name}")
            out.append((f"typical_{p.name}", p.unit, np.exp(mu) if p.transform == "log" else mu))
        if f"omega_{p.name}" in post:
            out.append((f"omega_{p.name}", "", flat_draws(idata, f"omega_{p.name}")))
    for v in post.data_vars:
        if str(v).startswith("beta_"):
            out.append((str(v), "", flat_draws(idata, str(v))))
    for k in model.residual.priors:
        out.append((k, "", flat_draws(idata, k)))
    if "corr_chol" in post:
        L = flat_draws(idata, "corr_chol")
        R = L @ np.swapaxes(L, -1, -2)
        names = list(post["corr_chol"]["re_param"].values)
        for a in range(len(names)):
            for b in range(a):
                out.append((f"corr_{names[b]}_{names[a]}", "", R[:, a, b]))
    return out


def population_summary(idata: xr.DataTree, model: Model,
                       probs: Sequence[float] = INTERVALS) -> pd.DataFrame:
    """Population parameters: mean, sd, median and pinned equal-tailed intervals (0.90, 0.95).

    Typical values are on the natural scale (``typical_CL`` in L/h), ``omega_*`` are SDs of the
    random effects on the transformed (log) scale.
    """
    rows = []
    for label, unit, x in _population_columns(idata, model):
        iv = _interval_columns(x, 0, probs)
        rows.append({"parameter": label, "unit": unit, "mean": float(x.mean()),
                     "sd": float(x.std(ddof=1)), "median": float(np.median(x)),
                     **{k: float(v) for k, v in iv.items()}})
    return pd.DataFrame(rows)


def prediction_bands(idata: xr.DataTree, *, interval: float = 0.9) -> pd.DataFrame:
    """Per-patient median and central ``interval`` band of the dense-grid prediction."""
    pr = idata["predictions"]
    f = np.asarray(pr["f"].values)
    lo, hi = np.quantile(f, [(1 - interval) / 2, (1 + interval) / 2], axis=0)
    ids = np.asarray(pr["patient"].values).astype(str)
    g = np.asarray(pr["grid_time"].values)
    n_pat, n_grid = g.shape
    return pd.DataFrame({"id": np.repeat(ids, n_grid), "time": g.ravel(),
                         "median": np.median(f, axis=0).ravel(), "lower": lo.ravel(),
                         "upper": hi.ravel()})


def summary_dict(table: pd.DataFrame) -> dict[str, Any]:
    """``{parameter: {median, lower90, upper90, ...}}`` for JSON."""
    return {r["parameter"]: {k: r[k] for k in table.columns if k not in ("parameter",)}
            for r in table.to_dict("records")}
