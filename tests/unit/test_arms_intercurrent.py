"""Intercurrent-event strategies on hand-checkable patients (noise-free linear biomarker).

Every patient has log-biomarker ``m(t) = t`` untreated and slope x 0.5 on treatment, residual
SD 0, so each strategy's value follows from the simulated dropout time by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twintrial.arms import simulate_arms
from twintrial.arms.intercurrent import (
    dropout_times,
    last_visit_on_treatment,
    rescue_times,
    time_to_event_strategy,
)
from twintrial.arms_config import (
    RescueConfig,
    arms_from_list,
    endpoints_from_list,
    estimands_from_list,
)
from twintrial.models import get_model

N = 3000
STRATS = ["treatment_policy", "hypothetical", "while_on_treatment"]


@pytest.fixture(scope="module")
def linear() -> tuple:
    model = get_model("biomarker_progression", biomarker_center=0.0)
    virtual = {"vid": np.arange(N), "draw": np.zeros(N, np.int64), "intercept": np.zeros(N),
               "slope": np.ones(N), "treatment_slope": np.zeros(N), "sigma_add": np.zeros(N),
               "weibull_shape": np.ones(N), "weibull_scale": np.full(N, 4.0),
               "association": np.zeros(N)}
    cohort = pd.DataFrame({"vid": np.arange(N)})
    arms = arms_from_list([
        {"name": "placebo", "control": True, "dropout_rate": 0.4},
        {"name": "active", "dropout_rate": 0.4,
         "effects": [{"parameter": "slope", "type": "multiplier", "size": 0.5}]}])
    eps = endpoints_from_list([
        {"name": "y", "type": "continuous", "time": 2.0, "scale": "log", "visit_interval": 0.5},
        {"name": "r", "type": "responder", "time": 2.0, "scale": "log", "threshold": 1.5,
         "visit_interval": 0.5},
        {"name": "tte", "type": "time_to_event", "horizon": 3.0}])
    ests = estimands_from_list(
        [{"name": f"{e}_{s}", "endpoint": e, "treatment": "active", "intercurrent": s}
         for e in ("y", "r", "tte") for s in STRATS]
        + [{"name": f"{e}_composite", "endpoint": e, "treatment": "active",
            "intercurrent": "composite"} for e in ("r", "tte")])
    out = simulate_arms(virtual, cohort, arms, eps, ests, model=model, seed=7)
    return out[out.arm == "active"].reset_index(drop=True), out[out.arm == "placebo"]


def test_continuous_strategies_by_hand(linear) -> None:
    act, _ = linear
    td = act.dropout_time.to_numpy()
    assert ((td < 2).mean() > 0.4) and ((td > 2).mean() > 0.3)
    np.testing.assert_allclose(act.y_hypothetical, 1.0)
    u = np.minimum(td, 2.0)
    np.testing.assert_allclose(act.y_treatment_policy, 0.5 * u + (2.0 - u))
    last = np.minimum(np.floor(td / 0.5) * 0.5, 2.0)
    np.testing.assert_allclose(act.y_while_on_treatment, 0.5 * last)


def test_responder_and_composite_by_hand(linear) -> None:
    act, _ = linear
    td = act.dropout_time.to_numpy()
    np.testing.assert_array_equal(act.r_hypothetical, 1.0)  # 1.0 < 1.5
    expected_tp = (0.5 * np.minimum(td, 2) + 2 - np.minimum(td, 2) < 1.5).astype(float)
    np.testing.assert_array_equal(act.r_treatment_policy, expected_tp)
    np.testing.assert_array_equal(act.r_composite, (td > 2).astype(float))


def test_time_to_event_strategies_by_hand(linear) -> None:
    act, pla = linear
    td = act.dropout_time.to_numpy()
    t, ev = act.tte_hypothetical.to_numpy(), act.tte_hypothetical_event.to_numpy()
    # association 0: the hazard does not see the biomarker, so events equal the placebo arm's
    np.testing.assert_array_equal(t, pla.tte_hypothetical.to_numpy())
    # (to rounding: after discontinuation its cumulative hazard is summed piece by piece)
    np.testing.assert_allclose(act.tte_treatment_policy, t, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(act.tte_treatment_policy_event, ev)
    assert t.max() == 3.0 and set(np.unique(ev)) == {0, 1}
    assert np.all(t[ev == 0] == 3.0)
    early = td < t
    np.testing.assert_allclose(act.tte_while_on_treatment, np.where(early, td, t))
    np.testing.assert_array_equal(act.tte_while_on_treatment_event, np.where(early, 0, ev))
    np.testing.assert_allclose(act.tte_composite, np.where(early, td, t))
    np.testing.assert_array_equal(act.tte_composite_event, np.where(early, 1, ev))


def test_dropout_is_exponential_and_common_across_arms(linear) -> None:
    act, pla = linear
    np.testing.assert_array_equal(act.dropout_time.to_numpy(), pla.dropout_time.to_numpy())
    assert act.dropout_time.mean() == pytest.approx(1 / 0.4, rel=0.06)
    assert np.all(np.isinf(dropout_times(np.ones(3), 0.0)))


def test_rescue_first_crossing_visit_while_on_treatment() -> None:
    model = get_model("biomarker_progression", biomarker_center=0.0)
    times = np.array([0.5, 1.0, 1.5])
    y = np.log(np.array([[1.0, 3.0, 5.0], [1.0, 1.0, 1.0], [4.0, 1.0, 4.0], [1.0, 2.5, 3.0]]))
    res = RescueConfig(threshold=2.0, visit_interval=0.5)
    got = rescue_times(y, times, res, model=model, before=np.array([np.inf, np.inf, np.inf, 0.8]))
    assert got.tolist() == [1.0, np.inf, 0.5, np.inf]
    below = RescueConfig(threshold=2.0, visit_interval=0.5, direction="below")
    assert rescue_times(y, times, below, model=model, before=np.full(4, np.inf))[2] == 1.0


def test_last_visit_and_strategy_errors() -> None:
    assert last_visit_on_treatment(np.array([0, 0.5, 1.0]), np.array([0.2, 0.5, 9, 0.0])
                                   ).tolist() == [0, 1, 2, 0]
    with pytest.raises(ValueError, match="unknown strategy"):
        time_to_event_strategy("nope", (np.ones(1), np.ones(1)), None, np.ones(1), 1.0)
