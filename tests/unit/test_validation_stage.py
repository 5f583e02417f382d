"""The validation stage: prediction helpers (known answers), trial replication, cohort checks,
credibility rows, and one end-to-end run on a tiny real fit (time split)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _support.pk_data import tiny_pk

from twintrial.data.dataset import Dataset
from twintrial.io import dumps_json
from twintrial.models import get_model
from twintrial.twins_config import GateConfig, TwinsConfig
from twintrial.validation.checks import cohort_checks, credibility_summary
from twintrial.validation.credibility import assess_credibility, evidence_item
from twintrial.validation.predict import (
    ParameterDraws,
    new_patient_draws,
    predict_rows,
    survival_probabilities,
)
from twintrial.validation.replicate import potential_followup, simulate_completed_trial
from twintrial.validation.trial_level import cox_hazard_ratio
from twintrial.validation_config import CredibilityConfig

# ----------------------------------------------------------------------------- helpers


def posterior(values: dict[str, float | np.ndarray], n_draws: int = 400) -> xr.DataTree:
    """A posterior whose every draw holds the given value (a known, degenerate posterior)."""
    data = {k: (("chain", "draw"), np.full((1, n_draws), float(v))) for k, v in values.items()}
    return xr.DataTree.from_dict({"posterior": xr.Dataset(data)})


def biomarker_fit(*, hazard_log_hr: float, omega: float = 0.3) -> SimpleNamespace:
    """A fitted-twins container (posterior + model) of the joint model with known values:
    no association (alpha = 0) and a direct treatment log hazard ratio."""
    model = get_model("biomarker_progression", treatment_hazard=True, biomarker_center=0.0,
                      treated_arms=["active"])
    tree = posterior({"mu_intercept": 0.3, "mu_slope": 0.1, "mu_treatment_slope": 0.0,
                      "omega_intercept": omega, "omega_slope": 0.05, "sigma_add": 0.2,
                      "mu_weibull_shape": np.log(1.3), "mu_weibull_scale": np.log(6.0),
                      "mu_association": 0.0, "mu_treatment_hazard": hazard_log_hr})
    return SimpleNamespace(idata=tree, model=model, data=SimpleNamespace(terms=()), ids=())


# ----------------------------------------------------------------------------- predictions


def test_survival_probabilities_match_the_weibull_closed_form() -> None:
    fit = biomarker_fit(hazard_log_hr=0.0)
    n, m = 5, 3
    params = {"intercept": np.full((m, n), 0.2), "slope": np.full((m, n), 0.1),
              "treatment_slope": np.zeros((m, n)), "weibull_shape": np.full((m, n), 1.3),
              "weibull_scale": np.full((m, n), 6.0), "association": np.zeros((m, n)),
              "treatment_hazard": np.zeros((m, n))}
    draws = ParameterDraws(tuple(f"p{i}" for i in range(n)), params,
                           {"sigma_add": np.full((m, n), 0.2)},
                           {"treatment": np.zeros(n)})
    t = np.array([1.0, 3.0, 8.0])
    s = survival_probabilities(fit.model, draws, t)
    np.testing.assert_allclose(s, np.broadcast_to(np.exp(-(t / 6.0) ** 1.3), (m, n, 3)), rtol=1e-9)
    cond = survival_probabilities(fit.model, draws, t, given=2.0)
    expect = np.where(t > 2.0, np.exp(-((t / 6.0) ** 1.3 - (2.0 / 6.0) ** 1.3)), 1.0)
    np.testing.assert_allclose(cond[0, 0], expect, rtol=1e-9)


def test_predict_rows_is_the_one_compartment_solution_plus_noise() -> None:
    model = get_model("pk_1cmt_oral")
    ka, cl, v, dose = 1.5, 2.8, 32.0, 320.0
    m = 4000
    draws = ParameterDraws(("a",), {"ka": np.full((m, 1), ka), "CL": np.full((m, 1), cl),
                                    "V": np.full((m, 1), v)},
                           {k: np.full((m, 1), s) for k, s in (("sigma_add", 0.1),
                                                               ("sigma_prop", 0.1))},
                           {"dose_time": np.zeros((1, 1)), "dose_amount": np.full((1, 1), dose)})
    t = np.array([1.0, 6.0, 12.0])
    f, y = predict_rows(model, draws, ["a"] * 3, t, rng=np.random.default_rng(0))
    ke = cl / v
    exact = dose * ka / (v * (ka - ke)) * (np.exp(-ke * t) - np.exp(-ka * t))
    np.testing.assert_allclose(f[0], exact, rtol=1e-10)
    sd = np.sqrt(0.1**2 + (0.1 * exact) ** 2)
    np.testing.assert_allclose(y.std(axis=0), sd, rtol=0.06)
    np.testing.assert_allclose(y.mean(axis=0), exact, atol=4 * sd.max() / np.sqrt(m))


def test_new_patient_draws_spread_like_the_population() -> None:
    fit = biomarker_fit(hazard_log_hr=0.0, omega=0.4)
    subjects = pd.DataFrame({"id": ["x", "y"], "arm": ["control", "active"]})
    d = new_patient_draws(fit, subjects, None, n_draws=3000, condition_on_baseline=False, seed=3)
    assert d.params["intercept"].shape == (3000, 2)
    assert d.params["intercept"].std() == pytest.approx(0.4, rel=0.06)
    assert d.params["intercept"].mean() == pytest.approx(0.3, abs=0.03)
    np.testing.assert_array_equal(d.design["treatment"], [0.0, 1.0])
    again = new_patient_draws(fit, subjects, None, n_draws=3000, condition_on_baseline=False, seed=3)
    np.testing.assert_array_equal(d.params["slope"], again.params["slope"])


# ----------------------------------------------------------------------------- trial replication


def test_potential_followup_keeps_censoring_and_extends_events() -> None:
    t = np.array([1.0, 2.0, 5.0, 7.0, 9.0])
    e = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
    f = potential_followup(t, e, 50, seed=1)
    np.testing.assert_array_equal(f[:, [1, 3, 4]], np.broadcast_to(t[[1, 3, 4]], (50, 3)))
    assert np.all(f[:, 0] > 1.0) and set(np.unique(f[:, 0])) <= {2.0, 7.0, 9.0}
    assert set(np.unique(f[:, 2])) <= {7.0, 9.0} and len(np.unique(f[:, 2])) == 2


def test_replicated_trial_recovers_a_known_hazard_ratio() -> None:
    hr = 0.6
    fit = biomarker_fit(hazard_log_hr=np.log(hr))
    n = 300
    rng = np.random.default_rng(5)
    patients = pd.DataFrame({"id": [f"p{i}" for i in range(n)],
                             "arm": np.where(np.arange(n) % 2 == 0, "control", "active"),
                             "time": rng.uniform(2.0, 10.0, n), "event": np.zeros(n)})
    out = simulate_completed_trial(fit, patients, None, control="control", treatment="active",
                                   landmarks=[3.0], n_replicates=60, condition_on_baseline=False,
                                   seed=11)
    p = out["predicted"]
    assert p["hr"].shape == (60,) and np.all(np.isfinite(p["hr"]))
    # the median simulated HR is the true one (SE of one replicate's log HR ~ 0.17)
    assert np.exp(np.median(p["log_hr"])) == pytest.approx(hr, rel=0.12)
    # arm-level KM at 3 years ~ exp(-(3/6)^1.3 * HR^z)
    s0 = np.exp(-(3 / 6.0) ** 1.3)
    assert np.median(p["control:survival@3"]) == pytest.approx(s0, abs=0.04)
    assert np.median(p["active:survival@3"]) == pytest.approx(s0 ** hr, abs=0.04)
    # the Cox estimate used for replicates is the one used for the observed trial
    one = cox_hazard_ratio(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 1.0, 0.0]),
                           np.array([0.0, 1.0, 0.0, 1.0]))
    assert 0 < one["lower"] < one["hr"] < one["upper"]


# ----------------------------------------------------------------------------- report views


def test_cohort_checks_carry_thresholds_and_verdicts() -> None:
    report = {"fidelity": {"covariates": {
                  "age": {"ks": 0.02, "smd": 0.01, "pass": True},
                  "sex": {"max_abs_diff": 0.05, "pass": False}},
                  "rank_correlation": {"max_abs_error": 0.03, "threshold": 0.05, "pass": True}},
              "privacy": {"exact_copies": 2, "share_synthetic_closer_than_holdout_p05": 0.2,
                          "n_synthetic_compared": 1000}}
    checks = cohort_checks(report, {"fidelity": {"ks": 0.06, "smd": 0.05, "proportion": 0.02}})
    assert checks["age (KS, SMD)"]["threshold"] == "KS < 0.06 and |SMD| < 0.05"
    assert checks["age (KS, SMD)"]["passed"] is True
    assert checks["sex (max |diff| of proportions)"]["passed"] is False
    assert checks["privacy: exact copies of real records"]["passed"] is False
    assert checks["privacy: share closer than real hold-out p05"]["passed"] is False
    assert all("." not in k for k in checks)


def test_credibility_rows_follow_the_report_contract() -> None:
    items = [evidence_item("90% coverage", 0.9, factors=["output_comparison", "in_vivo_validation"],
                           level=2, passed=True, threshold="0.9 +/- 0.05", artifact="d.csv",
                           sha256="ab"),
             evidence_item("max R-hat", 1.2, factors=["numerical_solver_error"], level=3,
                           passed=False, threshold="<= 1.01")]
    a = assess_credibility(items, CredibilityConfig(model_influence="low", decision_consequence="low"))
    view = credibility_summary(a)
    names = [r["name"] for r in view["factors"]]
    assert "Output comparison" in names and "FDA: In vivo validation" in names
    row = {r["id"]: r for r in view["factors"]}
    assert row["output_comparison"]["adequate"] is True
    assert row["numerical_solver_error"]["adequate"] is False
    assert "FAILED" in row["numerical_solver_error"]["evidence"]
    assert row["bench_test_validation"]["adequate"] is None  # not required
    assert view["adequate"] is False and "Numerical solver error" in view["conclusion"]
    assert view["n_gaps"] == len(view["gaps"]) > 0


# ----------------------------------------------------------------------------- a tiny real run


FAST = TwinsConfig(chains=2, draws=600, tune=400, parameterization="noncentered",
                   gate=GateConfig(rhat_max=1.05, ess_bulk_min=100, ess_tail_min=100))


def test_validate_time_split_end_to_end(tmp_path) -> None:
    from twintrial.validation.stage import validate

    ds = tiny_pk()
    res = validate(ds, get_model("pk_1cmt_oral"), twins_cfg=FAST,
                   validation_cfg={"split": {"kind": "time", "cutoff": {"value": 6, "unit": "h"}},
                                   "time_bands": [6, 10, 25]},
                   seed=2, cores=2, n_draws=100,
                   artifacts={"data": ("cohorts/x.csv", "f" * 64)})
    s = res.summary
    assert s["split"]["kind"] == "time" and s["split"]["n_test_observations"] == 3 * 10
    assert s["split"]["refit_gate_passed"] and s["convergence"]["source"] == "validation refit"
    assert set(s["predictive"]) == {"twin", "population", "locf"}
    for model_row in s["predictive"].values():
        assert {"coverage_50", "coverage_80", "coverage_90", "coverage_95", "crps", "rmse", "mae",
                "bias", "pit_ks_pvalue"} <= set(model_row)
        assert model_row["n"] == 30
    # data simulated from the model: the twins beat both baselines on the same rows
    assert s["crps_ratio"]["population"] < 1 and s["crps_ratio"]["locf"] < 1
    assert set(s["predictive_by_band"]) == {"[6, 10)", "[10, 25]"}
    assert s["vpc"]["prediction_corrected"] is True  # body weights differ
    assert set(res.figures) == {"vpc", "pit"}
    cred = s["credibility"]
    assert cred["factors"] and {"name", "evidence", "adequate"} <= set(cred["factors"][0])
    ev = [i for i in res.details["evidence"] if "coverage" in i["metric"]]
    assert len(ev) == 4 and all(i["sha256"] == "f" * 64 for i in ev)
    doc = json.loads(dumps_json(res.to_json()))
    assert doc["figures"] == {"validation_vpc.png": doc["figures"]["validation_vpc.png"],
                              "validation_pit.png": doc["figures"]["validation_pit.png"]}
    assert {k["key"] for k in doc["key_results"]} >= {"predictive.twin.coverage_90",
                                                     "crps_ratio.locf"}


def _trial_dataset(n: int = 240, hr: float = 0.6, seed: int = 8) -> Dataset:
    """Two-arm trial whose event times follow the known model (Weibull k 1.3, scale 6 years)."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i}" for i in range(n)]
    arm = np.where(np.arange(n) % 2 == 0, "control", "active")
    rate = np.where(arm == "active", hr, 1.0)
    t_event = 6.0 * (rng.standard_exponential(n) / rate) ** (1 / 1.3)
    follow = rng.uniform(3.0, 9.0, n)
    subjects = pd.DataFrame({"id": ids, "arm": pd.Series(arm, dtype="str")})
    events = pd.DataFrame({"id": ids, "time": np.minimum(t_event, follow),
                           "event": (t_event <= follow).astype(np.int8)})
    empty_obs = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": pd.Series([], dtype=float),
                              "variable": pd.Series([], dtype="str"),
                              "value": pd.Series([], dtype=float),
                              "cens": pd.Series([], dtype=np.int8)})
    doses = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": pd.Series([], dtype=float),
                          "amount": pd.Series([], dtype=float), "route": pd.Series([], dtype="str"),
                          "duration": pd.Series([], dtype=float)})
    return Dataset(subjects, empty_obs, doses, events, time_unit="year")


@pytest.mark.parametrize("observed", ["data", "published"])
def test_trial_replication_rows_state_inside_or_outside(observed: str) -> None:
    from twintrial.validation.heldout import HeldOut
    from twintrial.validation.stage import _trial
    from twintrial.validation_config import ValidationConfig

    ds = _trial_dataset()
    fit = biomarker_fit(hazard_log_hr=np.log(0.6))
    ho = HeldOut(kind="time", names=["known posterior"], cutoff=None, train=pd.DataFrame(),
                 test=pd.DataFrame(), draws=np.empty((0, 2)), pred=np.empty(0), baselines=[],
                 fits=[fit], n_train_subjects=[0])
    published = {"citation": "Invented et al. (2026) for this test", "hr": 0.2, "hr_ci": [0.1, 0.4],
                 "arms": [{"arm": "control", "survival": [{"time": 3, "value": 0.66}]}]}
    cfg = ValidationConfig.from_dict({"landmarks": [3], "trial_replication": {
        "enabled": True, "control": "control", "treatment": "active", "observed": observed,
        "published": published if observed == "published" else {}}})
    summary, evidence, figs, tables = _trial(ds, ho, cfg, condition=False, n_replicates=80,
                                             where={"artifact": None, "sha256": None}, seed=4)
    tr = summary["trial_replication"]
    assert tr["n_control"] == tr["n_treatment"] == 120
    if observed == "data":
        # the data follow the simulated model: the observed HR lies inside the interval
        assert tr["hr"]["inside"] is True and {"control:survival@3", "active:survival@3"} <= set(tr)
        assert "trial_replication" in figs
    else:
        # a published HR of 0.2 is far outside what the model predicts (about 0.6); said so
        assert tr["hr"]["inside"] is False and "OUTSIDE" in tr["hr"]["statement"]
        assert tr["hr"]["source"].startswith("Invented") and tr["control:survival@3"]["inside"]
    assert {e["passed"] for e in evidence} == ({True} if observed == "data" else {True, False})
