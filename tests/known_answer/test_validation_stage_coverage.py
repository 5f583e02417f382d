"""End-to-end coverage of the validation stage on data simulated from the fitted model itself.

Data: 40 patients from the one-compartment oral PK model with known population values, IIV and
combined residual error (the model the twins fit). Whatever the split, the held-out observations
are then draws from the model, so the twins' central prediction intervals must cover them at
their nominal level up to Monte-Carlo error, and the twins must beat both baselines. Within a
patient the held-out observations share his parameter uncertainty, so the binomial error is
inflated by a design effect of 2 (3 SE accepted).
"""

from __future__ import annotations

import numpy as np
import pytest
from _support.pk_data import tiny_pk

from twintrial.models import get_model
from twintrial.twins_config import GateConfig, TwinsConfig
from twintrial.validation.stage import validate

pytestmark = pytest.mark.slow


CFG = TwinsConfig(chains=2, draws=500, tune=500,
                  gate=GateConfig(rhat_max=1.05, ess_bulk_min=150, ess_tail_min=100))


def _assert_nominal(pred: dict, n: int) -> None:
    for lv in (0.5, 0.8, 0.9, 0.95):
        got = pred[f"coverage_{round(100 * lv)}"]
        tol = 3 * np.sqrt(2 * lv * (1 - lv) / n)
        assert abs(got - lv) <= tol, (lv, got, tol)


def test_time_split_coverage_is_nominal() -> None:
    ds = tiny_pk(40, seed=21)
    res = validate(ds, get_model("pk_1cmt_oral"), twins_cfg=CFG,
                   validation_cfg={"split": {"kind": "time", "cutoff": {"value": 6, "unit": "h"}}},
                   seed=5, cores=2, n_draws=400)
    twin = res.summary["predictive"]["twin"]
    assert twin["n"] == 40 * 3
    _assert_nominal(twin, twin["n"])
    assert res.summary["crps_ratio"]["population"] < 1 and res.summary["crps_ratio"]["locf"] < 1
    # 3 nominal times x 3 percentiles, each outside its 90% band with probability 0.1
    assert res.summary["vpc"]["n_bins"] == 3 and res.summary["vpc"]["outside_fraction"] <= 0.5


def test_subject_split_predicts_new_patients_at_nominal_coverage() -> None:
    ds = tiny_pk(40, seed=22)
    res = validate(ds, get_model("pk_1cmt_oral"), twins_cfg=CFG,
                   validation_cfg={"split": {"kind": "subjects", "holdout_fraction": 0.3,
                                             "stratify": None}},
                   seed=6, cores=2, n_draws=400)
    s = res.summary
    assert s["split"]["n_test_subjects"] == 12 and s["split"]["n_train_subjects"] == 28
    twin = s["predictive"]["twin"]
    _assert_nominal(twin, twin["n"])
    # new patients have no earlier value: LOCF cannot predict them and is left out, said so
    assert set(s["predictive"]) == {"twin", "population"}
    assert any("locf baseline cannot predict" in w for w in res.warnings)
    assert s["crps_ratio"]["population"] < 1
