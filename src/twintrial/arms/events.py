"""Event times of one arm: on full treatment and under treatment policy (arms stage).

Every patient's ``Exp(1)`` draw comes from the arms stage's ``event`` stream
(:mod:`twintrial.arms.streams`), so a patient's event time is the same in every arm where the
hazard is the same, and does not depend on the chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from twintrial.models.simulate import simulate_event_times, subset_rows

Inputs = tuple[Any, dict[str, np.ndarray], dict[str, np.ndarray]]
"""(model, parameters, design) of a trajectory."""


class FixedExponentials:
    """Feeds precomputed ``Exp(1)`` draws to :func:`simulate_event_times` (its only rng call)."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values

    def standard_exponential(self, n: int) -> np.ndarray:
        if n != self._values.size:
            raise ValueError(f"expected {self._values.size} exponentials, asked for {n}")
        return self._values.copy()


class EventTimes:
    """Event times of one arm per horizon, on full treatment and under treatment policy.

    ``full`` are the arm's (model, parameters, design) on full treatment; ``policy`` gives them
    with the treatment stopped at ``stop`` (called only when treatment-policy times are needed;
    it may return ``full`` itself, when nothing stops). A patient's hazard under treatment policy
    is the full-treatment hazard up to ``stop``, so wherever the full-treatment event (or the
    censoring at the horizon) comes first the two event times are the same: only the patients
    who stop before it are solved again.
    """

    def __init__(self, full: Inputs, policy: Callable[[], Inputs], exponentials: np.ndarray,
                 stop: np.ndarray) -> None:
        self.full_inputs, self.policy_inputs = full, policy
        self.e, self.stop = exponentials, stop
        self.cache: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]] = {}

    def full(self, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        key = ("full", horizon)
        if key not in self.cache:
            self.cache[key] = _event_times(self.full_inputs, self.e, horizon)
        return self.cache[key]

    def policy(self, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        key = ("policy", horizon)
        if key not in self.cache:
            t_full, e_full = self.full(horizon)
            rows = np.flatnonzero(self.stop < t_full)
            inputs = self.policy_inputs() if rows.size else self.full_inputs
            if inputs is self.full_inputs:
                self.cache[key] = (t_full, e_full)
            else:
                m, p, d = inputs
                t_rows, e_rows = _event_times((m, subset_rows(p, rows), subset_rows(d, rows)),
                                              self.e[rows], horizon)
                t, e = t_full.copy(), e_full.copy()
                t[rows], e[rows] = t_rows, e_rows
                self.cache[key] = (t, e)
        return self.cache[key]


def _event_times(inputs: Inputs, exponentials: np.ndarray, horizon: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`simulate_event_times` of ``inputs`` with the given ``Exp(1)`` draws."""
    m, p, d = inputs
    return simulate_event_times(m, p, d, horizon=horizon,
                                rng=FixedExponentials(exponentials))  # type: ignore[arg-type]
