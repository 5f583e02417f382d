"""Unit tests of the continuous-endpoint tests (t, Welch, ANCOVA) against scipy / lstsq."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from twintrial.analysis import ancova, t_test, welch_test
from twintrial.exceptions import AnalysisError


@pytest.fixture
def arms() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.normal(0.4, 1.0, (5, 30)), rng.normal(0.0, 1.5, (5, 25))


@pytest.mark.parametrize(("func", "equal_var"), [(t_test, True), (welch_test, False)])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_t_tests_match_scipy(arms, func, equal_var, alternative):
    y1, y0 = arms
    res = func(y1, y0, alternative=alternative)
    ref = stats.ttest_ind(y1, y0, axis=-1, equal_var=equal_var, alternative=alternative)
    np.testing.assert_allclose(res.statistic, ref.statistic, rtol=1e-10)
    np.testing.assert_allclose(res.p_value, ref.pvalue, rtol=1e-9)
    np.testing.assert_allclose(res.df, ref.df, rtol=1e-10)
    ci = ref.confidence_interval(0.95)
    np.testing.assert_allclose(res.ci_low, ci.low, rtol=1e-9)
    np.testing.assert_allclose(res.ci_high, ci.high, rtol=1e-9)
    np.testing.assert_allclose(res.estimate, y1.mean(-1) - y0.mean(-1))


def test_t_test_1d_gives_scalars_and_nan_drops_patient(arms):
    y1, y0 = arms[0][0].copy(), arms[1][0]
    y1[3] = np.nan
    res = t_test(y1, y0)
    assert res.estimate.shape == ()
    ref = stats.ttest_ind(np.delete(y1, 3), y0)
    np.testing.assert_allclose(res.p_value, ref.pvalue, rtol=1e-10)


def test_t_test_errors_name_the_problem():
    with pytest.raises(AnalysisError, match=r"treated/control: replicate shapes differ"):
        t_test(np.zeros((3, 5)), np.zeros((4, 5)))
    with pytest.raises(AnalysisError, match=r"control: needs at least 2"):
        t_test(np.ones(5), np.array([1.0, np.nan]))
    with pytest.raises(AnalysisError, match=r"alpha: must be in \(0, 1\)"):
        t_test(np.ones(5), np.ones(5), alpha=5)
    with pytest.raises(AnalysisError, match=r"alternative: must be one of"):
        t_test(np.ones(5), np.ones(5), alternative="two_sided")


def test_ancova_matches_per_replicate_least_squares():
    rng = np.random.default_rng(2)
    r, n1, n0 = 4, 20, 15
    x1, x0 = rng.normal(size=(r, n1, 2)), rng.normal(size=(r, n0, 2))
    y1 = 1.0 + 0.5 + x1 @ [0.8, -0.3] + rng.normal(size=(r, n1))
    y0 = 1.0 + x0 @ [0.8, -0.3] + rng.normal(size=(r, n0))
    res = ancova(y1, y0, x1, x0)
    for i in range(r):
        design = np.column_stack([np.ones(n1 + n0), np.r_[np.ones(n1), np.zeros(n0)],
                                  np.vstack([x1[i], x0[i]])])
        y = np.r_[y1[i], y0[i]]
        beta, rss, *_ = np.linalg.lstsq(design, y, rcond=None)
        df = n1 + n0 - 4
        se = np.sqrt(rss[0] / df * np.linalg.inv(design.T @ design)[1, 1])
        assert res.estimate[i] == pytest.approx(beta[1], rel=1e-9)
        assert res.se[i] == pytest.approx(se, rel=1e-9)
        assert res.df[i] == df
        assert res.p_value[i] == pytest.approx(2 * stats.t.sf(abs(beta[1] / se), df), rel=1e-8)


def test_ancova_single_covariate_and_missing_covariate():
    rng = np.random.default_rng(3)
    x1, x0 = rng.normal(size=40), rng.normal(size=40)
    y1, y0 = 2 * x1 + 1 + rng.normal(size=40), 2 * x0 + rng.normal(size=40)
    full = ancova(y1, y0, x1, x0)
    assert full.df == 77
    x1m = x1.copy()
    x1m[0] = np.nan
    dropped = ancova(y1, y0, x1m, x0)
    ref = ancova(y1[1:], y0, x1[1:], x0)
    assert dropped.estimate == pytest.approx(float(ref.estimate), rel=1e-10)
    assert dropped.se == pytest.approx(float(ref.se), rel=1e-10)


def test_ancova_rank_deficient_replicate_gives_nan():
    y = np.random.default_rng(4).normal(size=(2, 10))
    x = np.ones((2, 10))
    x[1] = np.arange(10.0)
    res = ancova(y, y + 1, x, x)
    assert np.isnan(res.estimate[0]) and np.isfinite(res.estimate[1])


def test_ancova_covariate_shape_error():
    with pytest.raises(AnalysisError, match=r"covariate_treated: shape must be"):
        ancova(np.ones((2, 5)), np.ones((2, 5)), np.ones((2, 4)), np.ones((2, 5)))


def test_replicate_with_too_few_patients_is_nan_not_an_error():
    y1 = np.ones((2, 4)) + np.arange(4)
    y1[1, 1:] = np.nan
    res = t_test(y1, np.zeros((2, 4)) + np.arange(4))
    assert np.isfinite(res.p_value[0]) and np.isnan(res.p_value[1])
    assert not res.reject(0.05)[1]
    frame = res.to_frame()
    assert list(frame.columns[:3]) == ["estimate", "se", "ci_low"] and len(frame) == 2
    assert (frame["method"] == "Student t-test").all()
