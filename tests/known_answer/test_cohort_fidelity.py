"""Known answer: a virtual PBC cohort reproduces the real randomized patients (and a Table 1).

Reference: the 312 randomized patients of the Mayo Clinic PBC trial (survival::pbc, trt in 1, 2;
Dickson et al., NEJM 1985). Thresholds are the config defaults (KS < 0.06, |SMD| < 0.05,
proportions within 0.02, Spearman error < 0.05); at N = 10,000 the Monte Carlo standard error of a
synthetic SMD or proportion is about 0.01 and 0.004, so a failure means a real defect.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from twintrial.cohort import CohortConfig, CohortSummary, build_cohort
from twintrial.cohort.copula import spearman_matrix
from twintrial.cohort.fidelity import numeric_codes

ROOT = Path(__file__).resolve().parents[2]
PBC_CANDIDATES = [ROOT.parent / "shared" / "data" / "pbc.csv", ROOT / "cohorts" / "pbc" / "pbc.csv"]
CONTINUOUS = ["age", "bili", "chol", "albumin", "copper", "alk.phos", "ast", "trig", "platelet",
              "protime"]
BINARY = ["ascites", "hepato", "spiders"]
BOUNDS = {"age": [18, 100], "bili": [0.1, 40], "chol": [100, 2000], "albumin": [1.5, 5.5],
          "copper": [1, 700], "alk.phos": [200, 15000], "ast": [20, 600], "trig": [30, 700],
          "platelet": [30, 800], "protime": [8, 20]}


def pbc_subjects() -> pd.DataFrame:
    path = next((p for p in PBC_CANDIDATES if p.is_file()), None)
    if path is None:
        pytest.skip("pbc.csv not available")
    d = pd.read_csv(path)
    d = d[d["trt"].isin([1, 2])].copy()
    assert len(d) == 312
    d["id"] = d["id"].astype(str)
    d["arm"] = d["trt"].map({1: "dpenicillamine", 2: "placebo"}).astype("str")
    return d[["id", "arm", *CONTINUOUS, "sex", *BINARY, "edema", "stage"]].reset_index(drop=True)


def pbc_config(n: int = 10_000) -> CohortConfig:
    covs = ([{"name": c, "bounds": BOUNDS[c]} for c in CONTINUOUS]
            + [{"name": "sex", "type": "categorical"}]
            + [{"name": c, "type": "binary"} for c in BINARY]
            + [{"name": "edema", "type": "categorical"}, {"name": "stage", "type": "categorical"}])
    return CohortConfig.from_dict({"n": n, "covariates": covs, "fidelity": {"warn": False}})


def test_pbc_cohort_fidelity_and_privacy() -> None:
    subj = pbc_subjects()
    res = build_cohort(subj, pbc_config(), seed=20240601)
    t, rep = res.table, res.report
    assert len(t) == 10_000
    fid = rep["fidelity"]["covariates"]
    for c in CONTINUOUS:
        assert fid[c]["ks"] < 0.06, (c, fid[c])
        assert abs(fid[c]["smd"]) < 0.05, (c, fid[c])
        lo, hi = BOUNDS[c]
        assert t[c].between(lo, hi).all()
    for c in ["sex", *BINARY, "edema", "stage"]:
        assert fid[c]["max_abs_diff"] < 0.02, (c, fid[c])
    corr = rep["fidelity"]["rank_correlation"]
    assert corr["max_abs_error"] < 0.05, corr["worst_pair"]
    assert rep["fidelity"]["pass"]
    # independent check of the rank-correlation claim, not using the report
    names = [*CONTINUOUS, "sex", *BINARY, "edema", "stage"]
    from twintrial.cohort.build import _plan_from_data  # the same marginals define the codes
    plan = _plan_from_data(subj, pbc_config().covariates)
    codes_r = [numeric_codes(subj[m.name], m) for m in plan.marginals]
    codes_s = [numeric_codes(t[m.name], m) for m in plan.marginals]
    err = np.abs(spearman_matrix(codes_r) - spearman_matrix(codes_s))
    assert np.nanmax(err) < 0.05, names
    # privacy: no copies, synthetic records not closer to real ones than new real patients
    priv = rep["privacy"]
    assert priv["exact_copies"] == 0
    assert priv["share_synthetic_closer_than_holdout_p05"] < 0.10
    assert priv["dcr_synthetic_to_train"]["median"] > 0.8 * priv["dcr_holdout_to_train"]["median"]


def test_pbc_criteria_restrict_but_keep_conditional_distribution() -> None:
    """With a criterion, the kept patients are the source distribution conditioned on it."""
    subj = pbc_subjects()
    cfg = CohortConfig.from_dict({**_raw(pbc_config(20_000)),
                                  "criteria": ["age < 60 and stage in [3, 4]"]})
    res = build_cohort(subj, cfg, seed=7)
    t = res.table
    assert (t["age"] < 60).all() and t["stage"].isin([3.0, 4.0]).all()
    real = subj[(subj["age"] < 60) & subj["stage"].isin([3, 4])]
    expected_rate = len(real) / len(subj)
    assert res.report["acceptance"]["rate"] == pytest.approx(expected_rate, abs=0.03)
    assert t["bili"].median() == pytest.approx(real["bili"].median(), rel=0.15)
    # fidelity is measured against the 184 real patients meeting the criterion: the copula's
    # conditional distribution must match it (KS noise with 184 real patients is about 0.05)
    fid = res.report["fidelity"]
    assert fid["reference"] == f"real patients meeting the criteria ({len(real)} of 312)"
    for c in CONTINUOUS:
        assert fid["covariates"][c]["ks"] < 0.08, (c, fid["covariates"][c])
    for c in ["sex", *BINARY, "edema", "stage"]:
        assert fid["covariates"][c]["max_abs_diff"] < 0.05, c


def _raw(cfg: CohortConfig) -> dict:
    return {"n": cfg.n, "fidelity": {"warn": False}, "covariates": [
        {"name": c.name, "type": c.type, "bounds": [c.low, c.high]} for c in cfg.covariates]}


def test_summary_cohort_matches_table1_targets() -> None:
    path = ROOT / "cohorts" / "pbc_summary" / "cohort.yaml"
    summary = CohortSummary.from_dict(yaml.safe_load(path.read_text()), source=str(path))
    cfg = CohortConfig.from_dict({"source": "summary", "n": 40_000, "summary_file": str(path)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = build_cohort(summary, cfg, seed=3)
    t = res.table
    # moments and quantiles (Monte Carlo SE at N = 40,000: 0.005 SD, 0.0025 in probability)
    for c in summary.covariates:
        if c.type == "continuous" and c.mean is not None:
            assert t[c.name].mean() == pytest.approx(c.mean, abs=0.03 * c.sd)
            assert t[c.name].std() == pytest.approx(c.sd, rel=0.03)
        elif c.type == "continuous":
            for p, v in c.quantiles:
                assert np.mean(t[c.name] <= v) == pytest.approx(p, abs=0.012), (c.name, p)
            assert t[c.name].between(c.low, c.high).all()
        else:
            got = t[c.name].astype(str).value_counts(normalize=True)
            for level, p in zip(c.levels, c.probs, strict=True):
                key = str(float(level)) if isinstance(level, int | float) else str(level)
                assert got.get(key, 0.0) == pytest.approx(p, abs=0.008), (c.name, level)
    # correlations: Spearman of the virtual cohort vs the published matrix
    corr = res.report["fidelity"]["rank_correlation"]
    target = np.array(corr["target"])
    np.testing.assert_allclose(target, summary.correlation, atol=1e-9)
    assert corr["max_abs_error"] < 0.05
    assert res.report["fidelity"]["pass"]
    # the rounded pairwise-complete matrix is not PD: repaired, and the report says so
    assert any("nearest correlation matrix" in w for w in res.report["warnings"])
    assert any("nearest correlation matrix" in str(w.message) for w in caught)
