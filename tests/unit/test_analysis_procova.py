"""Unit tests of the PROCOVA helpers."""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.analysis import (
    ancova,
    procova_sample_size,
    procova_test,
    prognostic_correlation,
    prognostic_normal_sampler,
    variance_factor,
)
from twintrial.exceptions import AnalysisError


def test_variance_factor_simple_and_general():
    assert variance_factor(0.6) == pytest.approx(0.64)
    assert variance_factor(0.0) == pytest.approx(1.0)
    # general Yang–Tsiatis ratio computed by brute force with a large simulated population
    rng = np.random.default_rng(0)
    n, p, r0, r1, s1 = 400_000, 0.6, 0.5, 0.3, 1.4
    x = rng.standard_normal(n)
    y0 = r0 * x + np.sqrt(1 - r0**2) * rng.standard_normal(n)
    y1 = s1 * (r1 * x + np.sqrt(1 - r1**2) * rng.standard_normal(n))
    b = p * np.cov(y1, x)[0, 1] + (1 - p) * np.cov(y0, x)[0, 1]
    adj = np.var(y1 - b * x) / p + np.var(y0 - b * x) / (1 - p)
    raw = np.var(y1) / p + np.var(y0) / (1 - p)
    assert variance_factor(r0, rho_treated=r1, sd_ratio=s1, allocation=p) == pytest.approx(
        adj / raw, abs=0.01)


def test_procova_sample_size_saving_is_about_rho_squared():
    out = procova_sample_size(delta=0.5, sd=1.1, rho=0.6, power=0.9)
    assert out["n_unadjusted"] == 103
    assert out["n_procova"] == 67
    assert out["saving"] == pytest.approx(out["expected_saving"], abs=0.02)
    with pytest.raises(AnalysisError, match=r"rho: correlation must be in \(-1, 1\)"):
        procova_sample_size(delta=0.5, sd=1.1, rho=1.0)


def test_procova_test_is_ancova_on_the_score():
    data = prognostic_normal_sampler(delta=0.5, sd=1.0, rho=0.7)(50, 3, np.random.default_rng(1))
    a = procova_test(data["y_treated"], data["y_control"], data["x_treated"], data["x_control"])
    b = ancova(data["y_treated"], data["y_control"], data["x_treated"], data["x_control"])
    np.testing.assert_array_equal(a.estimate, b.estimate)
    assert a.method.startswith("PROCOVA")


def test_prognostic_correlation_and_sampler_correlation():
    data = prognostic_normal_sampler(delta=0.0, sd=2.0, rho=0.5)(20_000, 1, np.random.default_rng(2))
    est = prognostic_correlation(data["y_control"][0], data["x_control"][0])
    assert est["ci_low"] < 0.5 < est["ci_high"]
    assert est["n"] == 20_000
    with pytest.raises(AnalysisError, match=r"outcome: need >= 4 complete pairs"):
        prognostic_correlation([1.0, 2.0, 3.0], [1.0, 2.0, 2.5])
