"""Code and calculation verification: closed forms against ODE solutions, simulator against the
fitted likelihood, hazard quadrature against adaptive quadrature; and that each check fails when
the code it checks is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from twintrial.models import get_model
from twintrial.models.backend import NUMPY
from twintrial.models.biomarker_progression import BiomarkerProgression
from twintrial.validation.credibility import achieved_level
from twintrial.validation.verification import verification_evidence, verify_model


def _biomarker_sets(n: int = 12) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(3)
    params = {"intercept": rng.normal(0.5, 0.8, n), "slope": rng.normal(0.15, 0.2, n),
              "treatment_slope": rng.normal(-0.05, 0.05, n),
              "weibull_shape": rng.uniform(0.8, 1.6, n), "weibull_scale": rng.uniform(5, 40, n),
              "association": rng.uniform(0.5, 1.8, n)}
    return params, {"treatment": (np.arange(n) % 2).astype(float)}


def _pk_sets(n: int = 6) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(4)
    params = {"ka": rng.uniform(0.3, 4.0, n), "CL": rng.uniform(1.0, 5.0, n),
              "V": rng.uniform(20, 50, n)}
    params["ka"][0] = params["CL"][0] / params["V"][0]  # ka == ke: the kernel's series branch
    times = np.tile(12.0 * np.arange(5), (n, 1))
    times[1] += 1.5  # one patient with its own dose times
    amounts = rng.uniform(200, 400, (n, 5))
    amounts[2, 3:] = 0.0  # padding: doses not given
    return params, {"dose_time": times, "dose_amount": amounts}


def test_biomarker_model_passes_every_check() -> None:
    model = get_model("biomarker_progression", biomarker_center=0.4)
    params, design = _biomarker_sets()
    r = verify_model(model, params, design, np.linspace(0, 8, 17))
    assert r["n_sets"] == 12 and r["n_times"] == 17
    assert r["backend_prediction_rel"] <= 1e-12
    assert r["backend_log_cumulative_hazard_abs"] <= 1e-10
    assert r["reference_rel"] <= 1e-10
    assert r["hazard_rel"] <= 1e-7 and r["hazard_nodes"] == 15
    ev = verification_evidence(r, code_tol=1e-6, discretization_tol=1e-6)
    assert all(e["passed"] for e in ev)
    code = [e for e in ev if "numerical_code_verification" in e["factors"]]
    disc = [e for e in ev if "discretization_error" in e["factors"]]
    assert achieved_level(code) == 3 and achieved_level(disc) == 3


def test_pk_closed_form_and_regimen_rule_agree_with_the_ode() -> None:
    model = get_model("pk_1cmt_oral")
    params, design = _pk_sets()
    t = np.unique(np.r_[np.linspace(0, 72, 31), 12.0 * np.arange(5)])  # samples at dose times
    r = verify_model(model, params, design, t)
    assert r["backend_prediction_rel"] <= 1e-12
    assert r["reference_rel"] <= 1e-8
    assert r["reference_regimen_rel"] <= 1e-8
    assert r["hazard_rel"] is None and "backend_log_cumulative_hazard_abs" not in r
    ev = verification_evidence(r, code_tol=1e-6, discretization_tol=1e-6)
    disc = [e for e in ev if "discretization_error" in e["factors"]]
    assert len(disc) == 1 and disc[0]["metric"].startswith("No discretization")
    assert disc[0]["value"] == r["reference_rel"] and achieved_level(disc) == 3


def test_pk_reference_solution_matches_a_hand_computed_single_dose() -> None:
    model = get_model("pk_1cmt_oral")
    ka, cl, v, dose = 1.2, 3.0, 30.0, 320.0
    ke = cl / v
    t = np.array([0.0, 0.5, 2.0, 10.0])
    ref = model.reference_solution({"ka": ka, "CL": cl, "V": v}, t,
                                   {"dose_time": np.array([0.0]), "dose_amount": np.array([dose])})
    exact = dose * ka / (v * (ka - ke)) * (np.exp(-ke * t) - np.exp(-ka * t))
    np.testing.assert_allclose(ref, exact, rtol=1e-9, atol=1e-12)


class _NumpyDrift(BiomarkerProgression):
    """The simulator's NumPy path differs from the likelihood's (a bug the check must catch)."""

    def predict(self, xp: Any, params: Mapping[str, Any], t: Any, design: Mapping[str, Any]
                ) -> Any:
        f = super().predict(xp, params, t, design)
        return f + 1e-3 if xp is NUMPY else f


class _WrongClosedForm(BiomarkerProgression):
    """A closed form that is not the solution of the model's equation (slope 10% too large)."""

    def predict(self, xp: Any, params: Mapping[str, Any], t: Any, design: Mapping[str, Any]
                ) -> Any:
        return super().predict(xp, {**params, "slope": params["slope"] * 1.1}, t, design)


@pytest.mark.parametrize("broken, key", [(_NumpyDrift, "backend_prediction_rel"),
                                         (_WrongClosedForm, "reference_rel")])
def test_a_wrong_model_code_fails_its_check(broken: type, key: str) -> None:
    model = broken(biomarker_center=0.4)
    params, design = _biomarker_sets()
    r = verify_model(model, params, design, np.linspace(0, 8, 17))
    assert r[key] > 1e-4
    ev = verification_evidence(r, code_tol=1e-6, discretization_tol=1e-6)
    code = [e for e in ev if "numerical_code_verification" in e["factors"]]
    assert any(e["passed"] is False for e in code)
    assert achieved_level(code) < 2 if key == "backend_prediction_rel" else achieved_level(code) == 2


def test_a_coarse_hazard_quadrature_shows_as_discretization_error() -> None:
    fine = get_model("biomarker_progression", biomarker_center=0.4)
    coarse = get_model("biomarker_progression", biomarker_center=0.4, n_nodes=3)
    params, design = _biomarker_sets()
    params["association"] = np.full(12, 2.0)
    params["slope"] = np.abs(params["slope"]) + 0.3  # a steep link term over the horizon
    t = np.linspace(0, 12, 13)
    r_fine = verify_model(fine, params, design, t)
    r_coarse = verify_model(coarse, params, design, t)
    assert r_fine["hazard_rel"] < 1e-6 < r_coarse["hazard_rel"]
    ev = verification_evidence(r_coarse, code_tol=1e-6, discretization_tol=1e-6)
    disc = [e for e in ev if "discretization_error" in e["factors"]]
    assert [e["passed"] for e in disc] == [False] and achieved_level(disc) == 0


def test_context_of_use_follows_the_estimands_endpoints() -> None:
    from twintrial.arms_config import endpoints_from_list, estimands_from_list
    from twintrial.validation.stage import context_of_use

    eps = endpoints_from_list([
        {"name": "d2y", "type": "continuous", "time": 2.0},
        {"name": "os5", "type": "time_to_event", "horizon": 5.0},
        {"name": "r3y", "type": "responder", "time": 3.0, "threshold": 0.0}])
    ests = estimands_from_list([{"name": "a", "endpoint": "d2y", "treatment": "x"},
                                {"name": "b", "endpoint": "os5", "treatment": "x"}])
    assert context_of_use(eps, ests, observed_variable="bili") == (["bili", "survival", "hr"], 5.0)
    assert context_of_use(eps, ests[:1], observed_variable="bili") == (["bili"], 2.0)
    assert context_of_use(eps, (), observed_variable="bili") == ([], None)


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<properties><property name="twintrial_git_commit" value="{commit}" /></properties>
<testcase classname="tests.unit.test_a" name="t1" />
<testcase classname="tests.unit.test_a" name="t2"><failure message="boom" /></testcase>
<testcase classname="tests.unit.test_b" name="t3"><skipped message="slow" /></testcase>
<testcase classname="tests.known_answer.test_power" name="t4" />
<testcase classname="tests.known_answer.test_power" name="t5"><error message="x" /></testcase>
</testsuite></testsuites>
"""


def test_junit_report_counts_by_kind_and_names_the_commit(tmp_path) -> None:
    from twintrial.exceptions import DataError
    from twintrial.validation.evidence import junit_results

    path = tmp_path / "junit.xml"
    path.write_text(JUNIT.format(commit="abc123"))
    assert junit_results(path) == ({"unit": (1, 1), "known_answer": (1, 1)}, "abc123")
    with pytest.raises(DataError, match="test_report: file not found"):
        junit_results(tmp_path / "none.xml")
    (tmp_path / "bad.xml").write_text("not xml")
    with pytest.raises(DataError, match="not a JUnit XML report"):
        junit_results(tmp_path / "bad.xml")


@pytest.mark.parametrize("tested, here, used", [("abc123", "abc123", True),
                                                ("abc123", "def456", False),
                                                ("abc123+dirty", "abc123+dirty", False)])
def test_a_test_report_is_evidence_only_for_the_commit_it_tested(tmp_path, monkeypatch, tested,
                                                                 here, used) -> None:
    import twintrial.provenance
    from twintrial.pipeline import _test_report

    path = tmp_path / "junit.xml"
    path.write_text(JUNIT.format(commit=tested))
    monkeypatch.setattr(twintrial.provenance, "git_commit", lambda *a, **k: here)
    counts, note = _test_report({"validation": {"credibility": {"test_report": str(path)}}})
    if used:
        assert counts == {"unit": (1, 1), "known_answer": (1, 1)} and note is None
    else:
        assert counts == {} and "not used as credibility evidence" in note and tested in note
    assert _test_report({"validation": {"credibility": {"test_report": ""}}}) == ({}, None)


def test_the_validation_rule_gets_the_estimands_it_takes_the_context_of_use_from() -> None:
    """Snakemake passes a stage only its sections (pipeline.stage_config): validation must see the
    endpoints and the estimands, and only the estimands of the analysis section (editing the
    replicates or sample sizes must not rerun it)."""
    from twintrial.arms_config import trial_design
    from twintrial.config import load_config
    from twintrial.pipeline import stage_config, stage_data_inputs
    from twintrial.validation.stage import context_of_use

    raw = load_config("config/config.yaml").raw
    sub = stage_config(raw, "validation")
    assert set(sub["analysis"]) == {"estimands"} and sub["endpoints"] == raw["endpoints"]
    assert "arms" not in sub and "sensitivity" not in sub
    _, eps, ests = trial_design(sub)
    assert context_of_use(eps, ests, observed_variable="bili") == (["bili", "survival", "hr"], 5.0)
    with_report = {**raw, "validation": {**raw["validation"], "credibility": {
        **raw["validation"]["credibility"], "test_report": "reports/tests/junit.xml"}}}
    assert "reports/tests/junit.xml" in stage_data_inputs(with_report, "validation")
