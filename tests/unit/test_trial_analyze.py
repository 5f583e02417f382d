"""analyze_trial: layout of trial.json, determinism, populations, errors, real arms outcomes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from twintrial.analysis import AnalysisConfig
from twintrial.arms import simulate_arms
from twintrial.arms.synthetic import synthetic_virtual_patients
from twintrial.arms_config import arms_from_list, endpoints_from_list, estimands_from_list
from twintrial.exceptions import AnalysisError, ConfigError
from twintrial.io import dumps_json
from twintrial.models import get_model
from twintrial.trial import analyze_trial
from twintrial.trial.synthetic import synthetic_trial

CFG = AnalysisConfig.from_dict({"n_per_arm": [20, 60], "replicates": 200,
                                "subgroups": [{"name": "women", "where": "sex == 'f'"}]})


@pytest.fixture(scope="module")
def trial():
    return synthetic_trial(1500, n_draws=300, delta_tau=0.1, seed=4)


@pytest.fixture(scope="module")
def result(trial):
    return analyze_trial(trial.outcomes, trial.cohort, arms=trial.arms, endpoints=trial.endpoints,
                         estimands=trial.estimands, cfg=CFG, seed=11)


def test_summary_layout(result) -> None:
    s = result.summary
    assert set(s["estimands"]) == {"change", "resp", "os"}
    assert s["n_virtual_patients"] == 1500 and s["control"] == "placebo"
    for name, e in s["estimands"].items():
        assert [p["n_per_arm"] for p in e["power"]] == [20, 60], name
        assert e["effect"]["ci_low"] <= e["effect"]["estimate"] <= e["effect"]["ci_high"]
        assert len(e["type1_error"]["by_n"]) == 2 and isinstance(e["type1_error"]["pass"], bool)
        assert [r["variable"] for r in e["subgroups"]] == ["overall", "women", "women"]
        assert set(e["arms"]) == {"active", "placebo"}
    assert s["estimands"]["change"]["procova"]["sample_size"]["n_procova"] < \
        s["estimands"]["change"]["procova"]["sample_size"]["n_unadjusted"]
    assert s["estimands"]["resp"]["procova"] is None
    assert "hazard_ratio" in s["estimands"]["os"]["effect"]
    assert "median_survival" in s["estimands"]["os"]["arms"]["placebo"]
    assert set(s["power_by_n"]["change"]) == {"20", "60"}
    assert "change" in s["procova_saving"]
    text = dumps_json(result.to_json())                 # JSON-ready, no NaN
    assert "NaN" not in text and "Infinity" not in text
    assert set(result.figures) == {"power_curve", "effect_distribution", "forest_change",
                                   "forest_resp", "forest_os", "procova"}
    oc = result.tables["operating_characteristics"]
    assert set(oc["analysis"]) == {"primary", "null_primary", "procova", "null_procova", "cox",
                                   "null_cox"}
    assert len(result.tables["individual_effects"]) == 1500


def test_power_grows_with_n_and_the_null_is_flat(result) -> None:
    for e in result.summary["estimands"].values():
        p = [x["power"] for x in e["power"]]
        assert p[1] > p[0]
        assert all(b["rate"] < 0.15 for b in e["type1_error"]["by_n"])


def test_deterministic_given_the_seed(trial, result) -> None:
    again = analyze_trial(trial.outcomes, trial.cohort, arms=trial.arms,
                          endpoints=trial.endpoints, estimands=trial.estimands[:1], cfg=CFG,
                          seed=11)
    assert again.summary["estimands"]["change"] == result.summary["estimands"]["change"]
    other = analyze_trial(trial.outcomes, trial.cohort, arms=trial.arms,
                          endpoints=trial.endpoints, estimands=trial.estimands[:1], cfg=CFG,
                          seed=12)
    assert other.summary["estimands"]["change"]["power"] != \
        result.summary["estimands"]["change"]["power"]


def test_population_restricts_the_patients(trial) -> None:
    est = dataclasses.replace(trial.estimands[0], population="age >= 60")
    out = analyze_trial(trial.outcomes, trial.cohort, arms=trial.arms, endpoints=trial.endpoints,
                        estimands=[est], cfg=dataclasses.replace(CFG, subgroups=()), seed=1)
    n = int((trial.cohort["age"] >= 60).sum())
    assert out.summary["estimands"]["change"]["n_patients"] == n
    assert out.summary["estimands"]["change"]["population"] == "age >= 60"


def test_too_large_n_is_skipped_with_a_warning(trial) -> None:
    cfg = dataclasses.replace(CFG, n_per_arm=(20, 5000), subgroups=())
    out = analyze_trial(trial.outcomes, trial.cohort, arms=trial.arms, endpoints=trial.endpoints,
                        estimands=trial.estimands[:1], cfg=cfg, seed=1)
    assert [p["n_per_arm"] for p in out.summary["estimands"]["change"]["power"]] == [20]
    assert any("5000" in w for w in out.warnings)


def test_errors_name_the_field(trial) -> None:
    kw = dict(arms=trial.arms, endpoints=trial.endpoints, cfg=CFG, seed=1)
    with pytest.raises(AnalysisError, match="outcomes: missing column"):
        analyze_trial(trial.outcomes.drop(columns="draw"), trial.cohort,
                      estimands=trial.estimands, **kw)
    bad = dataclasses.replace(trial.estimands[0], treatment="placebo")
    with pytest.raises(AnalysisError, match=r"estimands\[0\].treatment"):
        analyze_trial(trial.outcomes, trial.cohort, estimands=[bad], **kw)
    bad = dataclasses.replace(trial.estimands[0], summary="hazard_ratio")
    with pytest.raises(AnalysisError, match=r"estimands\[0\].summary"):
        analyze_trial(trial.outcomes, trial.cohort, estimands=[bad], **kw)
    bad = dataclasses.replace(trial.estimands[0], population="weight > 3")
    with pytest.raises(ConfigError, match=r"estimands\[0\].population"):
        analyze_trial(trial.outcomes, trial.cohort, estimands=[bad], **kw)
    with pytest.raises(AnalysisError, match="no estimand"):
        analyze_trial(trial.outcomes, trial.cohort, estimands=[], **kw)


def test_odds_ratio_summary(trial) -> None:
    est = dataclasses.replace(trial.estimands[1], summary="odds_ratio")
    out = analyze_trial(trial.outcomes, trial.cohort, arms=trial.arms, endpoints=trial.endpoints,
                        estimands=[est], cfg=dataclasses.replace(CFG, subgroups=()), seed=1)
    eff = out.summary["estimands"]["resp"]["effect"]
    p1, p0 = 0.45, 0.3
    assert eff["odds_ratio"] == pytest.approx(p1 / (1 - p1) / (p0 / (1 - p0)), rel=0.25)


def test_runs_on_real_arms_outcomes() -> None:
    """The arms stage's table (biomarker model, dropout, rescue, TTE) goes through unchanged."""
    model = get_model("biomarker_progression", biomarker_center=0.4)
    n = 1200
    cohort = pd.DataFrame({"vid": np.arange(n, dtype=np.int64),
                           "age": np.linspace(30, 70, n)})
    virtual = synthetic_virtual_patients(model, cohort, n_draws=200, seed=3, event={
        "weibull_shape": 1.3, "weibull_scale": 6.0, "association": 1.2})
    arms = arms_from_list([
        {"name": "placebo", "control": True, "dropout_rate": 0.1},
        {"name": "active", "dropout_rate": 0.1, "rescue": {"threshold": 6.0,
                                                           "visit_interval": 0.5},
         "effects": [{"parameter": "slope", "size": {"dist": "lognormal", "median": 0.5,
                                                      "sigma": 0.15}}]}])
    endpoints = endpoints_from_list([
        {"name": "dlogbili", "type": "continuous", "time": 2.0, "scale": "log"},
        {"name": "resp", "type": "responder", "time": 2.0, "scale": "log", "threshold": 0.0},
        {"name": "death", "type": "time_to_event", "horizon": 5.0}])
    estimands = estimands_from_list([
        {"name": "tp", "endpoint": "dlogbili", "treatment": "active"},
        {"name": "resp_c", "endpoint": "resp", "treatment": "active",
         "intercurrent": "composite"},
        {"name": "os", "endpoint": "death", "treatment": "active"}])
    outcomes = simulate_arms(virtual, cohort, arms, endpoints, estimands, model=model, seed=1)
    cfg = AnalysisConfig.from_dict({"n_per_arm": [50, 200], "replicates": 100,
                                    "subgroups": [{"name": "older", "where": "age >= 50"}]})
    out = analyze_trial(outcomes, cohort, arms=arms, endpoints=endpoints, estimands=estimands,
                        cfg=cfg, seed=2)
    tp = out.summary["estimands"]["tp"]
    assert tp["benefit"] == "less" and tp["effect"]["estimate"] < 0   # slower progression
    assert tp["procova"]["rho"] > 0.2
    assert out.summary["estimands"]["os"]["effect"]["hazard_ratio"] < 1
    assert tp["power"][1]["power"] >= tp["power"][0]["power"]
