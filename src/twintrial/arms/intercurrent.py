"""Intercurrent events (dropout, rescue) and the ICH E9(R1) strategies that handle them.

Dropout here is discontinuation of the randomised treatment at ``T_d = E / rate`` with
``E ~ Exp(1)`` per patient from the ``dropout`` stream, the same ``E`` in every arm (common random
numbers: arms with equal rates have equal dropout times). Rescue is detected at scheduled visits
while on treatment, on the arm's own observed biomarker (prediction plus the shared residual
noise); the patient stops the randomised treatment at the rescue visit. Discontinuation time is
``min(dropout, rescue)``; ``inf`` means never.

Strategies (what the endpoint value is):

- ``hypothetical``: as if no patient discontinued: the full-treatment trajectory, no censoring
  other than administrative.
- ``treatment_policy``: regardless of discontinuation: the trajectory with the effect stopped at
  discontinuation (doses after it not given; parameter effects windowed, see
  :class:`~twintrial.arms.effects.WindowedModel`), observed after it.
- ``while_on_treatment``: the last scheduled visit at or before discontinuation (continuous,
  responder); events censored at discontinuation (time to event).
- ``composite``: discontinuation at or before the visit is a failure (responder = 0); for time
  to event, discontinuation before the event is an event at the discontinuation time.
"""

from __future__ import annotations

import numpy as np

from twintrial.arms_config import RescueConfig
from twintrial.models.backend import NUMPY
from twintrial.models.base import Model

STRATEGIES = ("treatment_policy", "hypothetical", "while_on_treatment", "composite")


def dropout_times(exponentials: np.ndarray, rate: float) -> np.ndarray:
    """Dropout (treatment discontinuation) times ``E / rate``; ``inf`` when ``rate == 0``."""
    e = np.asarray(exponentials, dtype=float)
    if rate <= 0:
        return np.full(e.shape, np.inf)
    with np.errstate(over="ignore"):
        return e / rate


def rescue_visits(rescue: RescueConfig, end: float) -> np.ndarray:
    """Rescue visit times: every ``visit_interval`` from one interval up to ``end`` (inclusive)."""
    k = int(np.floor(end / rescue.visit_interval + 1e-9))
    return np.round(rescue.visit_interval * np.arange(1, k + 1, dtype=float), 12)


def rescue_times(y: np.ndarray, times: np.ndarray, rescue: RescueConfig, *, model: Model,
                 before: np.ndarray) -> np.ndarray:
    """First visit time at which the observed value crosses the rescue threshold, else ``inf``.

    Parameters
    ----------
    y
        ``(n, V)`` observations on the model's prediction scale at ``times``.
    times
        ``(V,)`` visit times (the rescue visits).
    rescue
        Threshold (data units, mapped with ``model.observation_transform``) and direction.
    model
        The structural model.
    before
        ``(n,)`` times after which the patient is off treatment (dropout): no rescue then.
    """
    thr = float(np.asarray(model.observation_transform(NUMPY, np.asarray(rescue.threshold, float))))
    crossed = y > thr if rescue.direction == "above" else y < thr
    crossed &= np.asarray(times)[None, :] < np.asarray(before, float)[:, None]
    hit = crossed.any(axis=1)
    first = np.argmax(crossed, axis=1)
    return np.where(hit, np.asarray(times, float)[first] if len(times) else np.inf, np.inf)


def last_visit_on_treatment(times: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Index into sorted ``times`` of the last visit at or before ``stop`` (0 = the first visit)."""
    idx = np.searchsorted(np.asarray(times, float), np.asarray(stop, float), side="right") - 1
    return np.maximum(idx, 0)


def time_to_event_strategy(strategy: str, full: tuple[np.ndarray, np.ndarray],
                           policy: tuple[np.ndarray, np.ndarray] | None, stop: np.ndarray,
                           horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Event time and indicator under ``strategy``.

    ``full`` are (time, event) on full treatment, ``policy`` with the effect stopped at ``stop``
    (needed for ``treatment_policy``); both already administratively censored at ``horizon``.
    """
    time, event = (np.asarray(full[0], float), np.asarray(full[1], float))
    stop = np.asarray(stop, float)
    if strategy == "hypothetical":
        return time.copy(), event.copy()
    if strategy == "treatment_policy":
        if policy is None:
            raise ValueError("policy: the treatment-policy event times are required")
        return np.asarray(policy[0], float).copy(), np.asarray(policy[1], float).copy()
    early = (stop < time) & (stop < horizon)
    if strategy == "while_on_treatment":
        return np.where(early, stop, time), np.where(early, 0.0, event)
    if strategy == "composite":
        return np.where(early, stop, time), np.where(early, 1.0, event)
    raise ValueError(f"unknown strategy {strategy!r}; use one of {STRATEGIES}")
