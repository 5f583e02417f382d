"""Known answers: two-sample t power (noncentral t vs rpact / simulation) and type I error.

References: rpact ``getSampleSizeMeans(alternative = 0.5, stDev = 1.1, sided = 2, alpha = 0.05,
beta = 0.1, normalApproximation = FALSE)`` gives 103 per arm (206 in total). Monte-Carlo
tolerances are 3 standard errors, sqrt(p (1 - p) / R), of the simulated rate.
"""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.analysis import (
    binary_sampler,
    exponential_sampler,
    normal_sampler,
    prognostic_normal_sampler,
    simulate_operating_characteristics,
    t_test_power,
    t_test_sample_size,
)

DELTA, SD, ALPHA = 0.5, 1.1, 0.05


def test_analytic_power_and_sample_size_match_rpact():
    assert float(t_test_power(103, delta=DELTA, sd=SD, alpha=ALPHA)) >= 0.90
    assert float(t_test_power(102, delta=DELTA, sd=SD, alpha=ALPHA)) < 0.90
    assert t_test_sample_size(delta=DELTA, sd=SD, alpha=ALPHA, power=0.90) == 103


def test_simulated_power_at_103_agrees_with_noncentral_t():
    r = 20_000
    out = simulate_operating_characteristics(normal_sampler(delta=DELTA, sd=SD), n_grid=[103],
                                             n_replicates=r, test="t", alpha=ALPHA, seed=20260101,
                                             endpoint="ka_t_power", true_effect=DELTA).iloc[0]
    analytic = float(t_test_power(103, delta=DELTA, sd=SD, alpha=ALPHA))
    mc_se = np.sqrt(analytic * (1 - analytic) / r)
    assert abs(out["rejection_rate"] - analytic) < 3 * mc_se
    assert abs(out["bias"]) < 3 * out["bias_mc_se"]
    assert abs(out["coverage"] - 0.95) < 3 * np.sqrt(0.95 * 0.05 / r)


NULL_CASES = {
    "t": normal_sampler(delta=0.0, sd=SD),
    "ancova": prognostic_normal_sampler(delta=0.0, sd=SD, rho=0.5),
    "logrank": exponential_sampler(hazard_control=0.2, hazard_ratio=1.0, followup=4.0),
    "chi_square": binary_sampler(p_control=0.4, p_treated=0.4),
}


@pytest.mark.parametrize("test", sorted(NULL_CASES))
def test_type_one_error_is_nominal(test):
    r = 20_000
    out = simulate_operating_characteristics(NULL_CASES[test], n_grid=[100], n_replicates=r,
                                             test=test, alpha=ALPHA, seed=7,
                                             endpoint=f"ka_null_{test}").iloc[0]
    assert abs(out["rejection_rate"] - ALPHA) < 3 * np.sqrt(ALPHA * (1 - ALPHA) / r), out
    assert out["n_failed"] == 0
