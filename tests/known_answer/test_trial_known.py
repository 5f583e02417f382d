"""Known answers through the analysis stage (analyze_trial) on synthetic outcome tables.

- Normal outcomes, delta 0.5, SD 1.1: power of the t-test at n = 103 per arm is 0.90 (exact
  noncentral t; rpact/G*Power give 103 per arm for 90%); simulated power must match the exact
  power of the realised virtual population within 3 MC SE.
- Null arm (control vs control): type I error within 0.05 +/- 3 MC SE.
- PROCOVA: ANCOVA on a prognostic score with correlation rho reduces the variance of the
  estimate by rho**2 (Schuler et al. 2021).
- A subgroup effect planted in women is found (interaction), none in an unrelated split.
- Exponential survival with HR 0.7: the marginal HR of the virtual population and log-rank power
  against Schoenfeld's approximation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from twintrial.analysis import (
    AnalysisConfig,
    event_probability_exponential,
    logrank_power,
    t_test_power,
)
from twintrial.trial import analyze_trial
from twintrial.trial.synthetic import synthetic_trial

DELTA, SD, RHO, N = 0.5, 1.1, 0.6, 103


@pytest.fixture(scope="module")
def continuous():
    st = synthetic_trial(6000, n_draws=300, delta=DELTA, sd=SD, rho=RHO, subgroup_delta=0.0,
                         seed=21)
    cfg = AnalysisConfig.from_dict({"n_per_arm": [N], "replicates": 4000,
                                    "subgroups": [{"name": "old", "where": "age >= 60"}]})
    res = analyze_trial(st.outcomes, st.cohort, arms=st.arms, endpoints=st.endpoints,
                        estimands=st.estimands[:1], cfg=cfg, seed=5)
    return st, res


def _population(st):
    wide = st.outcomes.pivot(index="vid", columns="arm", values=["change", "change_prognostic"])
    return (wide[("change", "active")].to_numpy(), wide[("change", "placebo")].to_numpy(),
            wide[("change_prognostic", "placebo")].to_numpy())


def test_power_at_103_per_arm_is_090(continuous) -> None:
    st, res = continuous
    y1, y0, _ = _population(st)
    delta, sd = y1.mean() - y0.mean(), np.sqrt((y1.var(ddof=1) + y0.var(ddof=1)) / 2)
    exact = float(t_test_power(N, delta=delta, sd=sd))
    p = res.summary["estimands"]["change"]["power"][0]
    assert abs(p["power"] - exact) < 3 * p["power_mc_se"] + 0.005
    assert p["power"] == pytest.approx(0.90, abs=0.03)
    assert abs(p["bias"]) < 3 * p["bias_mc_se"] + 1e-3
    assert p["coverage"] == pytest.approx(0.95, abs=3 * p["coverage_mc_se"] + 0.005)


def test_null_arm_type1_error_within_tolerance(continuous) -> None:
    _, res = continuous
    t1 = res.summary["estimands"]["change"]["type1_error"]
    b = t1["by_n"][0]
    se = np.sqrt(0.05 * 0.95 / 4000)
    assert abs(b["rate"] - 0.05) <= 3 * se and b["ok"] and t1["pass"]
    assert res.summary["type1_pass"] is True
    for row in res.summary["estimands"]["change"]["procova"]["type1_error"]:
        assert abs(row["rate"] - 0.05) <= 3 * se


def test_procova_variance_reduction_is_rho_squared(continuous) -> None:
    st, res = continuous
    _, y0, x = _population(st)
    rho = np.corrcoef(x, y0)[0, 1]
    proc = res.summary["estimands"]["change"]["procova"]
    assert proc["rho"] == pytest.approx(rho, abs=1e-9)
    assert proc["rho_ci_low"] < RHO < proc["rho_ci_high"]
    assert proc["variance_reduction"] == pytest.approx(rho**2, abs=0.02)
    assert proc["simulated_variance_reduction"] == pytest.approx(rho**2, abs=0.04)
    ss = proc["sample_size"]
    assert ss["saved_percent"] == pytest.approx(100 * rho**2, abs=4)
    pw = proc["power"][0]
    assert pw["power_procova"] > pw["power_unadjusted"] + 0.03


def test_planted_subgroup_effect_is_detected() -> None:
    st = synthetic_trial(3000, n_draws=300, delta=0.3, subgroup_delta=0.5, seed=8)
    cfg = AnalysisConfig.from_dict({"n_per_arm": [50], "replicates": 100, "subgroups": [
        {"name": "women", "where": "sex == 'f'"}, {"name": "old", "where": "age >= 60"}]})
    res = analyze_trial(st.outcomes, st.cohort, arms=st.arms, endpoints=st.endpoints,
                        estimands=st.estimands[:1], cfg=cfg, seed=5)
    sub = {(r["variable"], r["level"]): r for r in
           res.summary["estimands"]["change"]["subgroups"]}
    women, men = sub[("women", "sex == 'f'")], sub[("women", "not (sex == 'f')")]
    assert women["estimate"] == pytest.approx(0.8, abs=1e-9)     # constant effects: exact
    assert men["estimate"] == pytest.approx(0.3, abs=1e-9)
    assert women["p_interaction"] < 1e-6
    assert sub[("old", "age >= 60")]["p_interaction"] > 0.01


def test_posterior_interval_of_the_average_effect() -> None:
    st = synthetic_trial(6000, n_draws=400, delta=0.5, delta_tau=0.15, rho=0.9, seed=9)
    cfg = AnalysisConfig.from_dict({"n_per_arm": [50], "replicates": 50})
    res = analyze_trial(st.outcomes, st.cohort, arms=st.arms, endpoints=st.endpoints,
                        estimands=st.estimands[:1], cfg=cfg, seed=5)
    eff = res.summary["estimands"]["change"]["effect"]
    # individual effects equal the draw's effect: the decomposition recovers tau
    assert eff["posterior_sd"] == pytest.approx(0.15, abs=0.02)
    assert eff["ci_low"] == pytest.approx(0.5 - 1.96 * 0.15, abs=0.05)
    assert eff["ci_high"] == pytest.approx(0.5 + 1.96 * 0.15, abs=0.05)


def test_exponential_survival_with_known_hazard_ratio() -> None:
    hazard, hr, horizon, n = 0.25, 0.7, 3.0, 200
    st = synthetic_trial(8000, n_draws=300, hazard=hazard, hazard_ratio=hr, horizon=horizon,
                         seed=10)
    cfg = AnalysisConfig.from_dict({"n_per_arm": [n], "replicates": 1000})
    res = analyze_trial(st.outcomes, st.cohort, arms=st.arms, endpoints=st.endpoints,
                        estimands=st.estimands[2:], cfg=cfg, seed=5)
    e = res.summary["estimands"]["os"]
    assert e["effect"]["hazard_ratio_ci_low"] < hr < e["effect"]["hazard_ratio_ci_high"]
    assert e["effect"]["estimate"] == pytest.approx(np.log(hr), abs=3 * e["effect"]["se"])
    events = n * (event_probability_exponential(hazard, followup=horizon)
                  + event_probability_exponential(hazard * hr, followup=horizon))
    approx = float(logrank_power(events, hazard_ratio=hr))
    p = e["power"][0]
    assert p["power"] == pytest.approx(approx, abs=0.05)
    assert abs(p["cox_bias"]) < 0.02 and p["cox_coverage"] == pytest.approx(0.95, abs=0.025)
    assert e["type1_error"]["pass"]
    assert e["arms"]["placebo"]["survival_at_horizon"] == pytest.approx(
        np.exp(-hazard * horizon), abs=0.02)
    # individual effect: restricted event-free time gained, never negative with common numbers
    assert e["individual_effects"]["share_harm"] == 0.0
    cfg2 = dataclasses.replace(cfg, tests={**cfg.tests, "time_to_event": "cox"})
    res2 = analyze_trial(st.outcomes, st.cohort, arms=st.arms, endpoints=st.endpoints,
                         estimands=st.estimands[2:], cfg=cfg2, seed=5)
    assert res2.summary["estimands"]["os"]["power"][0]["power"] == pytest.approx(p["power"],
                                                                               abs=0.03)
