"""Endpoint values from simulated trajectories: continuous, responder, time to event.

Trajectories ``y`` are ``(n, V)`` arrays on the model's prediction scale at the study visit grid
(``log`` biomarker for ``biomarker_progression``, mg/L for ``pk_1cmt_oral``). The analysis scale
``natural`` is the data unit (``exp(y)`` for log-observed models); ``log`` is the log of it
(``y`` itself for log-observed models; ``log(y)``, NaN where ``y <= 0``, otherwise).
"""

from __future__ import annotations

import numpy as np

from twintrial.arms.intercurrent import last_visit_on_treatment
from twintrial.arms_config import EndpointConfig
from twintrial.models.base import Model


def log_observed(model: Model) -> bool:
    """Whether the model predicts the log of the data variable."""
    return bool(getattr(model, "log_observed", False))


def to_scale(y: np.ndarray, *, model: Model, scale: str) -> np.ndarray:
    """Map prediction-scale values to the endpoint's analysis scale."""
    y = np.asarray(y, dtype=float)
    if log_observed(model):
        return np.exp(y) if scale == "natural" else y
    if scale == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(y > 0, np.log(np.where(y > 0, y, 1.0)), np.nan)
    return y


def visit_index(grid: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Positions of ``times`` in the sorted visit ``grid`` (both rounded to 1e-12)."""
    grid = np.round(np.asarray(grid, float), 12)
    t = np.round(np.atleast_1d(np.asarray(times, float)), 12)
    idx = np.searchsorted(grid, t)
    if np.any(idx >= grid.size) or np.any(grid[np.minimum(idx, grid.size - 1)] != t):
        raise ValueError(f"times {t.tolist()} not all on the visit grid {grid.tolist()}")
    return idx


def value_at(y: np.ndarray, grid: np.ndarray, ep: EndpointConfig, *, model: Model,
             column: np.ndarray | None = None) -> np.ndarray:
    """Continuous endpoint value: value (or change from baseline) at the visit, analysis scale.

    ``column`` gives a per-patient grid column (while-on-treatment); default the endpoint visit.
    """
    n = y.shape[0]
    j_t = visit_index(grid, [ep.time])[0] if column is None else column
    at = to_scale(y[np.arange(n), j_t] if column is not None else y[:, j_t], model=model,
                  scale=ep.scale)
    if not ep.change_from_baseline:
        return at
    return at - to_scale(y[:, visit_index(grid, [0.0])[0]], model=model, scale=ep.scale)


def responder(value: np.ndarray, ep: EndpointConfig) -> np.ndarray:
    """1.0 when ``value`` is beyond the threshold in the endpoint's direction, NaN if missing."""
    thr = float(ep.threshold if ep.threshold is not None else np.nan)
    hit = value < thr if ep.direction == "below" else value > thr
    return np.where(np.isnan(value), np.nan, hit.astype(float))


def continuous_outcome(strategy: str, full: np.ndarray, policy: np.ndarray | None,
                       grid: np.ndarray, stop: np.ndarray, ep: EndpointConfig, *,
                       model: Model) -> np.ndarray:
    """Continuous or responder endpoint value under an intercurrent-event ``strategy``.

    ``full``/``policy`` are observed trajectories ``(n, V)`` on full treatment and with the effect
    stopped at ``stop`` (discontinuation times).
    """
    if strategy == "treatment_policy":
        if policy is None:
            raise ValueError("policy: the treatment-policy trajectory is required")
        value = value_at(policy, grid, ep, model=model)
    elif strategy == "while_on_treatment":
        visits = ep.visits()
        last = last_visit_on_treatment(visits, stop)
        value = value_at(full, grid, ep, model=model, column=visit_index(grid, visits)[last])
    else:  # hypothetical, composite: the full-treatment value
        value = value_at(full, grid, ep, model=model)
    if ep.type == "continuous":
        return value
    resp = responder(value, ep)
    if strategy == "composite":
        resp = np.where(np.asarray(stop, float) <= float(ep.time or 0.0), 0.0, resp)
    return resp
