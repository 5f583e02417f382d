"""Known answers for PROCOVA (Schuler et al. 2021; EMA qualification opinion 2022).

With a prognostic score correlated rho with the outcome in both arms, the ANCOVA estimate has
variance (1 - rho**2) x that of the unadjusted difference in means, so equal power needs ~(1 - rho**2)
of the patients; the type I error stays nominal because the score is a baseline quantity.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from twintrial.analysis import (
    ancova,
    procova_sample_size,
    prognostic_normal_sampler,
    simulate_operating_characteristics,
    t_test,
    t_test_power,
)
from twintrial.analysis.simulation import TrialBatch

DELTA, SD, RHO, R = 0.5, 1.1, 0.6, 20_000


def test_ancova_variance_is_one_minus_rho_squared_of_unadjusted():
    data = prognostic_normal_sampler(delta=DELTA, sd=SD, rho=RHO)(100, R, np.random.default_rng(1))
    adj = ancova(data["y_treated"], data["y_control"], data["x_treated"], data["x_control"])
    raw = t_test(data["y_treated"], data["y_control"])
    ratio = np.var(adj.estimate) / np.var(raw.estimate)
    # ANCOVA's finite-sample inflation with a random covariate is 1 + 1/(N - 4) ~ 1.005 at N = 200;
    # the MC relative SE of the ratio is ~1% (sqrt(2/R) for each variance, positively correlated)
    expected = (1 - RHO**2) * (1 + 1 / (200 - 4))
    assert ratio == pytest.approx(expected, rel=0.03)
    assert np.mean(adj.se**2) / np.mean(raw.se**2) == pytest.approx(expected, rel=0.01)


def test_sample_size_saving_follows_schuler_and_keeps_power():
    plan = procova_sample_size(delta=DELTA, sd=SD, rho=RHO, power=0.9)
    assert plan["n_unadjusted"] == 103 and plan["n_procova"] == 67
    assert plan["n_procova"] == pytest.approx(plan["n_unadjusted"] * (1 - RHO**2), abs=1.5)
    sampler = prognostic_normal_sampler(delta=DELTA, sd=SD, rho=RHO)
    out = simulate_operating_characteristics(sampler, n_grid=[plan["n_procova"]], n_replicates=R,
                                             test="ancova", seed=31, endpoint="ka_procova",
                                             true_effect=DELTA).iloc[0]
    analytic = float(t_test_power(plan["n_procova"], delta=DELTA, sd=SD, n_covariates=1,
                                  variance_factor=1 - RHO**2))
    assert analytic >= 0.9
    assert abs(out["rejection_rate"] - analytic) < 3 * math.sqrt(analytic * (1 - analytic) / R)
    assert abs(out["bias"]) < 3 * out["bias_mc_se"]
    assert abs(out["coverage"] - 0.95) < 3 * math.sqrt(0.95 * 0.05 / R)
    # unadjusted at the same n loses ~15 points of power
    unadj = simulate_operating_characteristics(sampler, n_grid=[plan["n_procova"]], n_replicates=R,
                                               test="t", seed=31, endpoint="ka_procova").iloc[0]
    assert unadj["rejection_rate"] < 0.8


def _skewed_score_sampler(n: int, reps: int, rng: np.random.Generator) -> TrialBatch:
    """Null trial with a miscalibrated, skewed prognostic score and heteroscedastic outcomes."""
    z = rng.standard_normal((2, reps, n))
    score = np.exp(z)  # a monotone but non-linear function of the true prognostic factor
    y = 3.0 + 2.0 * z + (1.0 + 0.5 * np.abs(z)) * rng.standard_normal((2, reps, n))
    return {"y_treated": y[0], "y_control": y[1], "x_treated": score[0], "x_control": score[1]}


@pytest.mark.parametrize("case", ["correct_score", "miscalibrated_score"])
def test_procova_type_one_error_is_nominal(case):
    sampler = (prognostic_normal_sampler(delta=0.0, sd=SD, rho=RHO) if case == "correct_score"
               else _skewed_score_sampler)
    out = simulate_operating_characteristics(sampler, n_grid=[60], n_replicates=R, test="ancova",
                                             seed=17, endpoint=f"ka_procova_null_{case}").iloc[0]
    assert abs(out["rejection_rate"] - 0.05) < 3 * math.sqrt(0.05 * 0.95 / R), out
