"""Known-answer checks of the predictive metrics on data simulated from a known model.

Model: a linear growth curve with a random intercept, y = a_i + b t + e, a_i ~ N(10, 2^2),
e ~ N(0, 1), one observation per patient at a random time, so observations are independent and
the exact predictive distribution of a new patient's observation is N(10 + b t, sqrt(4 + 1)).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from twintrial.validation.metrics import (
    DEFAULT_LEVELS,
    coverage,
    crps_normal,
    crps_samples,
    metrics_by_time_band,
    pit_calibration,
    pit_values,
)

N, M, B = 4000, 1000, 0.5
SD = np.sqrt(5.0)


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(20240611)
    t = rng.uniform(0, 24, N)
    mean = 10 + B * t
    y = mean + rng.normal(0, 2, N) + rng.normal(0, 1, N)
    # posterior predictive draws of the true model (known parameters): same generative process
    draws = mean[:, None] + rng.normal(0, 2, (N, M)) + rng.normal(0, 1, (N, M))
    return t, y, draws


def test_coverage_is_nominal_within_monte_carlo_error(simulated):
    _, y, draws = simulated
    cov = coverage(y, draws, DEFAULT_LEVELS)
    for level in DEFAULT_LEVELS:
        # binomial MC error of the observed coverage + quantile error of M draws (small)
        tol = 3.5 * np.sqrt(level * (1 - level) / N) + 0.005
        assert abs(cov[level] - level) < tol, (level, cov[level])


def test_coverage_detects_a_miscalibrated_model(simulated):
    _, y, draws = simulated
    centre = draws.mean(axis=1, keepdims=True)
    too_narrow = centre + 0.5 * (draws - centre)
    cov = coverage(y, too_narrow, DEFAULT_LEVELS)
    for level in DEFAULT_LEVELS:
        assert cov[level] < level - 0.1


def test_pit_is_uniform_under_the_true_model(simulated):
    _, y, draws = simulated
    pit = pit_values(y, draws, rng=np.random.default_rng(1))
    assert abs(pit.mean() - 0.5) < 3 * np.sqrt(1 / 12 / N)
    assert abs(pit.var() - 1 / 12) < 0.005
    cal = pit_calibration(pit)
    assert cal["ks_pvalue"] > 0.01
    assert cal["ece"] < 0.02


def test_pit_rejects_a_biased_model(simulated):
    _, y, draws = simulated
    cal = pit_calibration(pit_values(y, draws + 1.0, rng=np.random.default_rng(1)))
    assert cal["ks_pvalue"] < 1e-6


def test_sample_crps_matches_closed_form_normal(simulated):
    t, y, draws = simulated
    exact = crps_normal(y, 10 + B * t, SD)
    fair = crps_samples(y, draws, fair=True)
    # per-observation estimator error ~ SD / sqrt(M); the mean over N observations is tighter
    assert abs(fair.mean() - exact.mean()) < 0.01
    assert np.max(np.abs(fair - exact)) < 0.25
    # the known expected CRPS of a calibrated normal forecast: sigma / sqrt(pi)
    assert exact.mean() == pytest.approx(SD / np.sqrt(np.pi), rel=0.03)


def test_crps_samples_equals_the_energy_definition():
    rng = np.random.default_rng(3)
    y = rng.normal(size=5)
    x = rng.normal(size=(5, 7))
    brute = np.abs(x - y[:, None]).mean(1) - 0.5 * np.abs(x[:, :, None] - x[:, None, :]).mean((1, 2))
    np.testing.assert_allclose(crps_samples(y, x), brute, rtol=1e-12)
    fair = np.abs(x - y[:, None]).mean(1) - 0.5 * np.abs(x[:, :, None] - x[:, None, :]).sum((1, 2)) / 42
    np.testing.assert_allclose(crps_samples(y, x, fair=True), fair, rtol=1e-12)


def test_crps_normal_known_value():
    # y = mu: CRPS = sigma (2 phi(0) - 1/sqrt(pi)) = sigma (sqrt(2) - 1) / sqrt(pi)
    assert crps_normal(0.0, 0.0, 2.0) == pytest.approx(2 * (np.sqrt(2) - 1) / np.sqrt(np.pi))
    z = 1.3
    ref = z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi)
    assert crps_normal(1.3, 0.0, 1.0) == pytest.approx(ref)


def test_metrics_by_time_band_under_the_true_model(simulated):
    t, y, draws = simulated
    df = metrics_by_time_band(y, draws, t, bands=[0, 8, 16, 24])
    assert list(df["band"]) == ["all", "[0, 8)", "[8, 16)", "[16, 24]"]
    assert df["n"].iloc[1:].sum() == N
    for _, row in df.iterrows():
        n = row["n"]
        assert abs(row["coverage_0.9"] - 0.9) < 3.5 * np.sqrt(0.09 / n) + 0.005
        assert abs(row["bias"]) < 4 * SD / np.sqrt(n)
        assert row["rmse"] == pytest.approx(SD, rel=0.08)
