"""Unit tests of the binary-endpoint tests against scipy and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from twintrial.analysis import chi_square_test, logistic_test, two_proportion_test
from twintrial.exceptions import AnalysisError


def _flags(k: int, n: int) -> np.ndarray:
    return np.r_[np.ones(k), np.zeros(n - k)]


@pytest.mark.parametrize("correction", [False, True])
def test_chi_square_matches_scipy(correction):
    y1, y0 = _flags(38, 55), _flags(17, 52)  # MRC streptomycin trial 1948
    res = chi_square_test(y1, y0, correction=correction)
    ref = stats.chi2_contingency([[38, 17], [17, 35]], correction=correction)
    assert float(res.statistic) == pytest.approx(ref.statistic, rel=1e-10)
    assert float(res.p_value) == pytest.approx(ref.pvalue, rel=1e-10)
    assert float(res.estimate) == pytest.approx(38 / 55 - 17 / 52)


def test_two_proportion_z_squared_is_chi_square_and_ci_is_wald():
    y1 = np.stack([_flags(38, 55), _flags(20, 55)])
    y0 = np.stack([_flags(17, 52), _flags(22, 52)])
    z = two_proportion_test(y1, y0)
    chi = chi_square_test(y1, y0)
    np.testing.assert_allclose(z.statistic**2, chi.statistic, rtol=1e-10)
    np.testing.assert_allclose(z.p_value, chi.p_value, rtol=1e-10)
    p1, p0 = 38 / 55, 17 / 52
    se = np.sqrt(p1 * (1 - p1) / 55 + p0 * (1 - p0) / 52)
    assert z.ci_low[0] == pytest.approx(p1 - p0 - stats.norm.isf(0.025) * se)


def test_two_proportion_degenerate_table_is_not_significant():
    res = two_proportion_test(np.zeros(10), np.zeros(12))
    assert float(res.p_value) == 1.0


def test_logistic_without_covariates_is_the_log_odds_ratio():
    res = logistic_test(_flags(38, 55), _flags(17, 52))
    a, b, c, d = 38, 17, 17, 35
    assert float(res.estimate) == pytest.approx(np.log(a * d / (b * c)), rel=1e-8)
    assert float(res.se) == pytest.approx(np.sqrt(1 / a + 1 / b + 1 / c + 1 / d), rel=1e-6)


def test_logistic_with_covariate_and_separation():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 2, 200))
    p = 1 / (1 + np.exp(-(0.3 + 0.8 * x)))
    y = (rng.random((3, 2, 200)) < p).astype(float)
    y[2, 0] = 1.0  # all responders on treatment: separation
    res = logistic_test(y[:, 0], y[:, 1], x[:, 0], x[:, 1])
    assert np.all(np.isfinite(res.estimate[:2])) and np.isnan(res.estimate[2])


def test_binary_rejects_non_binary_values():
    with pytest.raises(AnalysisError, match=r"treated: responder outcomes must be 0 or 1"):
        two_proportion_test(np.array([0, 2.0]), np.array([0, 1.0]))
    with pytest.raises(AnalysisError, match=r"give both or neither"):
        logistic_test(np.ones(4), np.zeros(4), np.ones(4))


def test_empty_arm_in_one_replicate_is_nan():
    y1 = np.array([[1.0, 0.0, 1.0], [np.nan, np.nan, np.nan]])
    y0 = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    for test in (two_proportion_test, chi_square_test):
        res = test(y1, y0)
        assert np.isfinite(res.p_value[0]) and np.isnan(res.p_value[1])
