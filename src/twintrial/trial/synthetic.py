"""A synthetic outcomes table with known effects (tests and benchmarks of the analysis stage).

:func:`synthetic_trial` returns an outcomes table with the columns of
:mod:`twintrial.arms.simulate` for three estimands with analytic truths:

- ``change`` (continuous, higher is better): prognostic score ``s = sd rho z``, control outcome
  ``y0 = s + sd sqrt(1 - rho**2) e``, treated ``y1 = y0 + delta_d (+ subgroup_delta if female)``
  with ``delta_d ~ N(delta, delta_tau)`` per posterior draw, so ``corr(s, y0) = rho``;
- ``resp`` (responder): ``y0 = u < p_control``, ``y1 = u < p_treated`` (common uniform ``u``);
- ``os`` (time to event): exponential with hazard ``hazard`` (control) and ``hazard *
  hazard_ratio`` (treated) from a common ``Exp(1)``, censored at ``horizon``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from twintrial.arms_config import (
    ArmConfig,
    EndpointConfig,
    EstimandConfig,
    arms_from_list,
    endpoints_from_list,
    estimands_from_list,
)
from twintrial.rng import generator

__all__ = ["SyntheticTrial", "synthetic_trial"]


@dataclass(frozen=True)
class SyntheticTrial:
    """Inputs of :func:`twintrial.trial.analyze_trial` with known truths."""

    outcomes: pd.DataFrame
    cohort: pd.DataFrame
    arms: tuple[ArmConfig, ...]
    endpoints: tuple[EndpointConfig, ...]
    estimands: tuple[EstimandConfig, ...]


def synthetic_trial(n_patients: int, *, n_draws: int = 200, delta: float = 0.5,
                    sd: float = 1.1, rho: float = 0.6, delta_tau: float = 0.0,
                    subgroup_delta: float = 0.0, p_control: float = 0.3,
                    p_treated: float = 0.45, hazard: float = 0.2, hazard_ratio: float = 0.7,
                    horizon: float = 3.0, seed: int) -> SyntheticTrial:
    """Build the synthetic trial (module docstring); arms ``placebo`` (control) and ``active``."""
    n = int(n_patients)
    rng = generator(seed, "synthetic-trial")
    draw = rng.integers(0, n_draws, n)
    female = rng.random(n) < 0.5
    cohort = pd.DataFrame({"vid": np.arange(n, dtype=np.int64),
                           "sex": pd.array(np.where(female, "f", "m"), dtype="str"),
                           "age": rng.uniform(30, 80, n)})
    z, e = rng.standard_normal(n), rng.standard_normal(n)
    score = sd * rho * z
    y0 = score + sd * np.sqrt(1 - rho**2) * e
    delta_d = delta + delta_tau * rng.standard_normal(n_draws)
    y1 = y0 + delta_d[draw] + subgroup_delta * female
    u = rng.random(n)
    expo = rng.standard_exponential(n)
    t0, t1 = expo / hazard, expo / (hazard * hazard_ratio)
    cols = {
        "change": (y1, y0), "change_prognostic": (score, score),
        "resp": ((u < p_treated) * 1.0, (u < p_control) * 1.0),
        "resp_prognostic": (np.full(n, p_control), np.full(n, p_control)),
        "os": (np.minimum(t1, horizon), np.minimum(t0, horizon)),
        "os_event": ((t1 <= horizon).astype(np.int8), (t0 <= horizon).astype(np.int8)),
        "os_prognostic": (np.full(n, np.log(hazard * horizon)),) * 2,
    }
    data: dict[str, object] = {"vid": np.repeat(np.arange(n, dtype=np.int64), 2),
                               "arm": pd.array(np.tile(["placebo", "active"], n), dtype="str"),
                               "draw": np.repeat(draw.astype(np.int64), 2)}
    inf = np.full(2 * n, np.inf)
    data.update(dropout_time=inf, rescue_time=inf, discontinuation_time=inf)
    for name, (treated, control) in cols.items():
        arr = np.empty(2 * n, dtype=np.asarray(treated).dtype)
        arr[0::2], arr[1::2] = control, treated
        data[name] = arr
    arms = arms_from_list([{"name": "placebo", "control": True},
                           {"name": "active", "effects": [{"parameter": "slope", "size": 0.7}]}])
    endpoints = endpoints_from_list([
        {"name": "change", "type": "continuous", "time": 1.0, "higher_is_better": True},
        {"name": "resp", "type": "responder", "time": 1.0, "threshold": 0.0},
        {"name": "os", "type": "time_to_event", "horizon": horizon}])
    estimands = estimands_from_list([
        {"name": "change", "endpoint": "change", "treatment": "active"},
        {"name": "resp", "endpoint": "resp", "treatment": "active"},
        {"name": "os", "endpoint": "os", "treatment": "active"}])
    return SyntheticTrial(outcomes=pd.DataFrame(data), cohort=cohort, arms=arms,
                          endpoints=endpoints, estimands=estimands)
