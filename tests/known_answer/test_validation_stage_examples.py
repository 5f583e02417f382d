"""The validation stage on the real example datasets (slow: real fits).

- Theophylline (Boeckmann, Sheiner & Beal 1994; cohorts/theoph): fit every patient's samples up
  to 6 h, predict the later ones; the twins must beat the population-only and LOCF baselines in
  RMSE and CRPS, with honest interval coverage.
- PBC (Dickson et al. 1985; cohorts/pbc, the default trial): time split at 3 years, survival at
  landmarks, replication of the completed trial whose observed hazard ratio is recomputed here
  from the same data, the cohort checks and the credibility table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from twintrial.data import load_dataset
from twintrial.data.config import DataConfig
from twintrial.io import dumps_json
from twintrial.models import get_model
from twintrial.validation.stage import validate
from twintrial.validation.trial_level import cox_hazard_ratio

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

THEOPH_DATA = {"format": "nonmem", "time_unit": "h", "units": {"amount": "mg"},
               "nonmem": {"path": "cohorts/theoph/theoph_nonmem.csv", "time_unit": "h",
                          "dv": {"variable": "conc", "unit": "mg/L"}, "amount_unit": "mg",
                          "route": "oral", "covariates": {"wt": {"column": "WT", "unit": "kg"}}}}


def test_theophylline_fit_to_6h_predicts_later_samples(capsys) -> None:
    ds = load_dataset(DataConfig.from_dict(THEOPH_DATA), base_dir=ROOT)
    res = validate(ds, get_model("pk_1cmt_oral"), twins_cfg={"model": {"name": "pk_1cmt_oral"}},
                   validation_cfg={"split": {"kind": "time", "cutoff": {"value": 6, "unit": "h"}},
                                   "time_bands": [6, 12, 25]},
                   seed=1, cores=2)
    s = res.summary
    assert s["split"]["n_test_subjects"] == 12 and s["split"]["n_test_observations"] == 48
    p = s["predictive"]
    with capsys.disabled():
        for m in ("twin", "population", "locf"):
            print(f"\ntheophylline {m}: " + ", ".join(
                f"{k} {p[m][k]:.3f}" for k in ("coverage_50", "coverage_80", "coverage_90",
                                               "coverage_95", "rmse", "crps", "bias")))
    for base in ("population", "locf"):
        assert p["twin"]["rmse"] < p[base]["rmse"] and p["twin"]["crps"] < p[base]["crps"]
    assert 0.8 <= p["twin"]["coverage_90"] <= 1.0
    assert s["split"]["refit_gate_passed"]


def test_pbc_default_trial_validation(capsys) -> None:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    ds = load_dataset(DataConfig.from_dict(cfg["data"]), base_dir=ROOT)
    model = get_model("biomarker_progression", treated_arms=["dpen"])
    vcfg = {"split": {"kind": "time", "cutoff": {"value": 3, "unit": "year"}},
            "time_bands": [0, 2, 4, 6, 8, 15], "landmarks": [4, 6, 8],
            "trial_replication": {"enabled": True, "control": "placebo", "treatment": "dpen"}}
    res = validate(ds, model, twins_cfg={"model": {"name": "biomarker_progression",
                                                   "options": {"treated_arms": ["dpen"]}}},
                   validation_cfg=vcfg, seed=7, cores=2)
    s = res.summary
    # held-out metrics beside both baselines
    assert set(s["predictive"]) == {"twin", "population", "locf"}
    assert s["split"]["scale"] == "log" and s["split"]["n_test_observations"] > 500
    # the observed hazard ratio is the data's (Cox, treatment vs control), not a constant
    sub = ds.subjects.merge(ds.events, on="id")
    sub = sub[sub["arm"].isin(["dpen", "placebo"])]
    hr = cox_hazard_ratio(sub["time"].to_numpy(float), sub["event"].to_numpy(float),
                          (sub["arm"] == "dpen").to_numpy(float))
    row = s["trial_replication"]["hr"]
    assert row["observed"] == pytest.approx(hr["hr"], rel=1e-9)
    assert isinstance(row["inside"], bool)
    assert row["pred_lower"] < row["pred_median"] < row["pred_upper"]
    assert s["trial_replication"]["n_control"] + s["trial_replication"]["n_treatment"] == len(sub)
    # survival at the landmarks after the cutoff, with KM CI and C-index
    assert set(s["survival"]) == {"t4", "t6", "t8"}
    assert all(0.5 < v["c_index_uno"] <= 1 for v in s["survival"].values())
    cred = s["credibility"]
    assert len(cred["factors"]) == 21 and cred["conclusion"]
    assert {"vpc", "pit", "survival_check", "calibration", "trial_replication"} <= set(res.figures)
    assert s["wall_time_s"]["refit_predict_score"] + s["wall_time_s"]["trial_replication"] < 240
    json.loads(dumps_json(res.to_json()))
    with capsys.disabled():
        print(f"\nPBC: twin {s['predictive']['twin']}\nCRPS ratios {s['crps_ratio']}\n"
              f"HR {row['statement']}\nwall {s['wall_time_s']}")
    assert np.isfinite(s["crps_ratio"]["population"])
