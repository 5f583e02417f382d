"""Known answers for time-to-event analysis: the Mayo PBC trial, Schoenfeld's formula, Cox bias.

PBC reference (R 4.x, survival 3.x)::

    library(survival)
    d <- subset(pbc, !is.na(trt))                 # 312 randomised patients
    coxph(Surv(time, status == 2) ~ I(trt == 1), d)   # Efron ties (default)
    # HR D-penicillamine vs placebo 1.06 (0.75-1.50), Wald   (../shared/data/CATALOG.md)
    survdiff(Surv(time, status == 2) ~ trt, d)    # printed: Chisq= 0.1 on 1 df, p= 0.7

The exact partial-likelihood maximum of our Cox code is checked separately against a direct
(loop) implementation in tests/unit/test_analysis_survival.py.

Data: Therneau & Grambsch (2000), ``survival::pbc`` (LGPL >= 2); Dickson et al., NEJM 312:1011 (1985).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twintrial.analysis import (
    cox_test,
    exponential_sampler,
    logrank_power,
    logrank_test,
    simulate_operating_characteristics,
)

ROOT = Path(__file__).resolve().parents[2]
PBC_PATHS = (ROOT / "cohorts" / "pbc" / "pbc.csv", ROOT.parent / "shared" / "data" / "pbc.csv")


@pytest.fixture(scope="module")
def pbc() -> pd.DataFrame:
    path = next((p for p in PBC_PATHS if p.exists()), None)
    if path is None:
        pytest.skip(f"PBC data not found at {[str(p) for p in PBC_PATHS]}")
    data = pd.read_csv(path)
    if not {"time", "status", "trt"} <= set(data.columns):
        pytest.skip(f"{path} lacks the survival::pbc columns time/status/trt")
    data = data[data["trt"].notna()]
    assert len(data) == 312
    return data


def _arms(pbc: pd.DataFrame) -> tuple[np.ndarray, ...]:
    dpen = (pbc["trt"] == 1).to_numpy()
    time = pbc["time"].to_numpy(float)
    death = (pbc["status"] == 2).to_numpy(float)
    return time[dpen], death[dpen], time[~dpen], death[~dpen]


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_pbc_cox_hazard_ratio_matches_r(pbc, ties):
    res = cox_test(*_arms(pbc), ties=ties)
    hr, lo, hi = np.exp([float(res.estimate), float(res.ci_low), float(res.ci_high)])
    assert (round(hr, 2), round(lo, 2), round(hi, 2)) == (1.06, 0.75, 1.50)
    assert round(float(res.p_value), 2) == 0.75


def test_pbc_logrank_matches_survdiff(pbc):
    res = logrank_test(*_arms(pbc))
    assert round(float(res.statistic) ** 2, 1) == 0.1
    assert round(float(res.p_value), 1) == 0.7
    assert float(res.statistic) > 0  # slightly more deaths than expected on D-penicillamine


# Schoenfeld's formula is an approximation (variance under the null, p(1-p)D); at HR 0.7 with
# 1:1 allocation it overstates power by ~1 percentage point, hence the extra 0.02 allowance.
SCHOENFELD_TOLERANCE = 0.02


@pytest.mark.parametrize(("followup", "n_per_arm"), [(math.inf, 124), (1.5, 180)])
def test_logrank_power_agrees_with_schoenfeld(followup, n_per_arm):
    r, hazard, hr = 10_000, 0.8, 0.7
    sampler = exponential_sampler(hazard_control=hazard, hazard_ratio=hr, followup=followup)
    out = simulate_operating_characteristics(sampler, n_grid=[n_per_arm], n_replicates=r,
                                             test="logrank", seed=99, favourable="less",
                                             endpoint="ka_schoenfeld").iloc[0]
    events = n_per_arm * (2 - math.exp(-hazard * followup) - math.exp(-hazard * hr * followup))
    expected = float(logrank_power(events, hazard_ratio=hr))
    mc_se = math.sqrt(expected * (1 - expected) / r)
    assert abs(out["rejection_rate"] - expected) < 3 * mc_se + SCHOENFELD_TOLERANCE


def test_cox_log_hazard_ratio_is_unbiased_and_covers():
    r, hr = 10_000, 0.6
    sampler = exponential_sampler(hazard_control=0.5, hazard_ratio=hr, followup=2.0)
    out = simulate_operating_characteristics(sampler, n_grid=[150], n_replicates=r, test="cox",
                                             seed=5, true_effect=math.log(hr), favourable="less",
                                             endpoint="ka_cox").iloc[0]
    assert out["n_failed"] == 0
    # the MLE's O(1/events) small-sample bias is ~0.002 here: allow it on top of 3 MC SE
    assert abs(out["bias"]) < 3 * out["bias_mc_se"] + 0.003, out
    assert abs(out["coverage"] - 0.95) < 3 * math.sqrt(0.95 * 0.05 / r)
    assert out["mean_se"] == pytest.approx(out["empirical_se"], rel=0.03)
