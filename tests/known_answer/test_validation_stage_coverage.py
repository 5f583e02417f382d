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
import pandas as pd
import pytest

from twintrial.data.dataset import Dataset
from twintrial.models import get_model
from twintrial.models.backend import NUMPY
from twintrial.twins_config import GateConfig, TwinsConfig
from twintrial.validation.stage import validate

pytestmark = pytest.mark.slow

TIMES = np.array([0.5, 1.0, 2.0, 4.0, 6.0, 9.0, 12.0, 24.0])


def tiny_pk(n: int = 10, seed: int = 4) -> Dataset:
    """Data simulated from the one-compartment model itself (known population values)."""
    rng = np.random.default_rng(seed)
    model = get_model("pk_1cmt_oral")
    ids = [f"s{i:02d}" for i in range(n)]
    wt = rng.uniform(55, 90, n)
    p = {"ka": 1.5 * np.exp(0.3 * rng.standard_normal(n)),
         "CL": 2.8 * (wt / 70) ** 0.75 * np.exp(0.25 * rng.standard_normal(n)),
         "V": 32.0 * (wt / 70) * np.exp(0.15 * rng.standard_normal(n))}
    design = {"dose_time": np.zeros((n, 1, 1)), "dose_amount": np.full((n, 1, 1), 320.0)}
    f = model.predict(NUMPY, {k: v[:, None] for k, v in p.items()}, TIMES[None, :], design)
    y = f + np.sqrt(0.1**2 + (0.1 * f) ** 2) * rng.standard_normal(f.shape)
    obs = pd.DataFrame({"id": np.repeat(ids, TIMES.size), "time": np.tile(TIMES, n),
                        "variable": "conc", "value": y.ravel(), "cens": np.int8(0)})
    subjects = pd.DataFrame({"id": ids, "arm": pd.Series([pd.NA] * n, dtype="str"), "wt": wt})
    doses = pd.DataFrame({"id": ids, "time": 0.0, "amount": 320.0, "route": "oral", "duration": 0.0})
    events = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": pd.Series([], dtype=float),
                           "event": pd.Series([], dtype=np.int8)})
    return Dataset(subjects, obs, doses, events, units={"conc": "mg/L", "wt": "kg"}, time_unit="h")


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
