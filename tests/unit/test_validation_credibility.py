"""Unit tests of the credibility assessment (V&V 40 risk matrix, factors, FDA categories, gaps)
and of the rules turning validation metrics into evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twintrial.exceptions import AnalysisError
from twintrial.validation.credibility import (
    CATEGORY_IDS,
    FACTOR_IDS,
    achieved_level,
    assess_credibility,
    credibility_frame,
    default_targets,
    evidence_item,
    model_risk,
)
from twintrial.validation.evidence import (
    applicability_evidence,
    checks_table,
    cohort_evidence,
    convergence_evidence,
    predictive_evidence,
    suite_evidence,
    survival_evidence,
    trial_evidence,
)
from twintrial.validation_config import CredibilityConfig, ThresholdsConfig

SHA = "0" * 64


def test_risk_matrix():
    expected = {("low", "low"): 1, ("low", "medium"): 2, ("low", "high"): 3,
                ("medium", "low"): 2, ("medium", "medium"): 3, ("medium", "high"): 4,
                ("high", "low"): 3, ("high", "medium"): 4, ("high", "high"): 5}
    for (inf, cons), risk in expected.items():
        assert model_risk(inf, cons) == risk
    with pytest.raises(AnalysisError, match="validation.credibility.model_influence"):
        model_risk("very high", "low")


def test_factor_lists_are_complete():
    assert len(FACTOR_IDS) == 13 and len(set(FACTOR_IDS)) == 13
    assert {"software_quality_assurance", "numerical_code_verification", "discretization_error",
            "numerical_solver_error", "use_error", "model_form", "model_inputs", "test_samples",
            "test_conditions", "equivalency_of_input_parameters", "output_comparison",
            "relevance_of_quantities_of_interest", "relevance_of_validation_activities"} == set(FACTOR_IDS)
    assert set(CATEGORY_IDS) == {"code_verification", "model_calibration", "bench_test_validation",
                                 "in_vivo_validation", "population_based_validation",
                                 "emergent_model_behavior", "model_plausibility",
                                 "calculation_verification"}
    t = default_targets(5)
    assert t["output_comparison"] == 3 and t["bench_test_validation"] == 0
    assert default_targets(1)["output_comparison"] == 1


def test_achieved_level_rule():
    ok3 = evidence_item("a", 1.0, factors=["model_form"], level=3, passed=True)
    ok2 = evidence_item("b", 1.0, factors=["model_form"], level=2, passed=True)
    bad3 = evidence_item("c", 1.0, factors=["model_form"], level=3, passed=False)
    bad2 = evidence_item("d", 1.0, factors=["model_form"], level=2, passed=False)
    doc = evidence_item("e", "documented", factors=["model_form"], level=2)
    assert achieved_level([]) == 0
    assert achieved_level([ok3]) == 3
    assert achieved_level([ok3, bad3]) == 2
    assert achieved_level([ok2, bad2]) == 1
    assert achieved_level([bad3]) == 0
    assert achieved_level([doc]) == 2
    with pytest.raises(AnalysisError, match="unknown factor"):
        evidence_item("x", 1.0, factors=["vibes"], level=1)


def test_gaps_listed_when_achieved_below_target():
    cfg = CredibilityConfig(question="Q?", context_of_use="COU", model_influence="high",
                            decision_consequence="medium",
                            targets={"use_error": 1, "model_form": 0})
    evidence = [
        evidence_item("90% interval coverage", 0.71, factors=["output_comparison", "in_vivo_validation"],
                      level=3, passed=False, threshold="0.9 +/- 0.05", artifact="v.json", sha256=SHA),
        evidence_item("50% interval coverage", 0.49, factors=["output_comparison"], level=3,
                      passed=True, artifact="v.json", sha256=SHA),
        evidence_item("config validated", "yes", factors=["use_error"], level=1, passed=True),
        evidence_item("prior predictive check", 0.3, factors=["model_inputs"], level=2, passed=False),
        *convergence_evidence(1.003, 900.0, thresholds=ThresholdsConfig(), artifact="t.json", sha256=SHA),
    ]
    res = assess_credibility(evidence, cfg)
    assert res["model_risk"] == 4
    rows = {r["id"]: r for r in res["factors"] + res["fda_categories"]}
    assert rows["output_comparison"]["achieved"] == 2 and rows["output_comparison"]["target"] == 3
    assert rows["output_comparison"]["status"] == "gap"
    assert rows["numerical_solver_error"]["status"] == "met"
    assert rows["calculation_verification"]["status"] == "met"
    assert rows["use_error"]["status"] == "met"
    assert rows["model_form"]["status"] == "not required"
    assert rows["bench_test_validation"]["status"] == "not required"
    gaps = "\n".join(res["gaps"])
    assert "Output comparison: achieved level 2 (medium) is below the target 3 (high)" in gaps
    assert "90% interval coverage = 0.71 (threshold 0.9 +/- 0.05), FAILED" in gaps
    assert "Discretization error: achieved level 0 (none)" in gaps
    assert "no evidence was produced in this run" in gaps
    assert "FDA category In vivo validation" in gaps
    assert "Model inputs: achieved level 0 (none)" in gaps
    assert "Evidence without an artifact hash: prior predictive check." in gaps
    # every factor not met (and required) appears in the gap list, and only those
    n_gap = sum(r["status"] == "gap" for r in rows.values())
    assert len(res["gaps"]) == n_gap == res["summary"]["n_gaps"]
    assert res["summary"]["sufficient_for_cou"] is False
    frame = credibility_frame(res)
    assert len(frame) == 21
    assert "v.json (sha256 " in frame.set_index("id").loc["output_comparison", "artifacts"]


def test_all_met_when_evidence_suffices():
    cfg = CredibilityConfig(model_influence="low", decision_consequence="low")  # risk 1 -> target 1
    items = {fid: [{"metric": f"m-{fid}", "value": 1.0, "level": 1, "passed": True,
                    "artifact": "a", "sha256": SHA}] for fid in FACTOR_IDS + CATEGORY_IDS}
    res = assess_credibility(items, cfg)
    assert res["gaps"] == [] and res["summary"]["sufficient_for_cou"]
    with pytest.raises(AnalysisError, match="targets.nonsense"):
        assess_credibility({}, CredibilityConfig(targets={"nonsense": 1}))


def test_predictive_evidence_rules():
    th = ThresholdsConfig()
    good = {"n": 400, "coverage_0.5": 0.51, "coverage_0.9": 0.89, "crps": 1.0, "pit_ks_pvalue": 0.3}
    items = predictive_evidence(good, split_kind="subjects", levels=[0.5, 0.9], thresholds=th,
                                n_test_subjects=120, baselines={"locf": {"crps": 1.5}})
    assert all(i["passed"] for i in items)
    assert {i["level"] for i in items if "output_comparison" in i["factors"]} == {3}
    assert [i["level"] for i in items if i["factors"] == ["test_samples"]] == [3]
    bad = {**good, "coverage_0.9": 0.7, "crps": 2.0}
    items = predictive_evidence(bad, split_kind="time", levels=[0.5, 0.9], thresholds=th,
                                n_test_subjects=20, baselines={"population": {"crps": 1.5}})
    failed = [i["metric"] for i in items if i["passed"] is False]
    assert failed == ["90% interval coverage (time split)", "CRPS twin / CRPS population baseline"]
    assert achieved_level([i for i in items if "output_comparison" in i["factors"]]) == 1
    insample = predictive_evidence(good, split_kind="none", levels=[0.5], thresholds=th,
                                   n_test_subjects=0)
    assert "model_calibration" in insample[0]["factors"] and insample[0]["level"] == 1
    with pytest.raises(AnalysisError, match="split_kind"):
        predictive_evidence(good, split_kind="random", levels=[0.5], thresholds=th, n_test_subjects=1)


def test_other_evidence_builders():
    th = ThresholdsConfig()
    cal = pd.DataFrame({"inside": [True, True, True, False, True]})
    s = survival_evidence([0.72, 0.55], cal, split_kind="subjects", thresholds=th, landmarks=[1, 2])
    assert [i["passed"] for i in s] == [True, False, True]
    tr = pd.DataFrame({"quantity": ["hr", "x"], "observed": [1.06, 2.0], "inside": [True, None],
                       "pred_lower": [0.8, np.nan], "pred_upper": [1.3, np.nan],
                       "source": ["Dickson 1985", "data"]})
    t = trial_evidence(tr, independent=True)
    assert len(t) == 1 and t[0]["level"] == 3 and "population_based_validation" in t[0]["factors"]
    ka = suite_evidence(12, 0, kind="known_answer")
    assert ka[0]["passed"] and "numerical_code_verification" in ka[0]["factors"]
    assert not suite_evidence(11, 1, kind="unit")[0]["passed"]
    checks = checks_table({"max_smd": {"value": 0.08, "threshold": 0.1, "direction": "max"},
                           "dcr_5th_percentile": {"value": 0.1, "threshold": 0.5, "direction": "min"},
                           "given": {"value": 1, "threshold": 2, "passed": True}})
    assert checks["passed"].tolist() == [True, False, True]
    assert [i["passed"] for i in cohort_evidence(checks)] == [True, False, True]
    with pytest.raises(AnalysisError, match="checks.x"):
        checks_table({"x": {"value": 1}})
    app = applicability_evidence(["hr", "survival@5y"], ["hr"], cou_horizon=5.0, validated_horizon=3.0)
    q = [i for i in app if i["factors"] == ["relevance_of_quantities_of_interest"]]
    assert achieved_level(q) == 2
    cond = [i for i in app if "test_conditions" in i["factors"]]
    assert achieved_level(cond) == 2
