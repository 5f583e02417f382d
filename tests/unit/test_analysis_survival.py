"""Unit tests of Kaplan–Meier, log-rank and Cox PH (against hand calculations and scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from twintrial.analysis import cox_test, kaplan_meier, km_median, logrank_test
from twintrial.exceptions import AnalysisError


def test_kaplan_meier_hand_computed_example():
    time = np.array([1, 2, 2, 3, 4, 5.0])
    event = np.array([1, 1, 0, 1, 0, 1.0])
    km = kaplan_meier(time, event)
    np.testing.assert_array_equal(km["time"], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(km["n_risk"], [6, 5, 3, 2, 1])
    np.testing.assert_array_equal(km["n_event"], [1, 1, 1, 0, 1])
    np.testing.assert_array_equal(km["n_censor"], [0, 1, 0, 1, 0])
    np.testing.assert_allclose(km["survival"], [5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0])
    # Greenwood at t=3: (4/9)^2 * (1/30 + 1/20 + 1/6) = (4/9)^2 / 4
    assert km["std_err"].iloc[2] == pytest.approx(2 / 9)
    assert km_median(km) == 3.0
    # log-log CI at t=1 by hand
    s, v = 5 / 6, 1 / 30
    se_ll = np.sqrt(v) / abs(np.log(s))
    z = stats.norm.isf(0.025)
    assert km["ci_low"].iloc[0] == pytest.approx(s ** np.exp(z * se_ll))
    assert km["ci_high"].iloc[0] == pytest.approx(s ** np.exp(-z * se_ll))
    plain = kaplan_meier(time, event, conf_type="plain")
    assert plain["ci_low"].iloc[1] == pytest.approx(2 / 3 - z * 2 / 3 * np.sqrt(1 / 30 + 1 / 20))


def test_kaplan_meier_rejects_bad_input():
    with pytest.raises(AnalysisError, match=r"event_group: must be 0 \(censored\) or 1"):
        kaplan_meier([1, 2], [1, 2])
    with pytest.raises(AnalysisError, match=r"time_group: times must be >= 0"):
        kaplan_meier([-1, 2], [1, 1])
    with pytest.raises(AnalysisError, match=r"conf_type"):
        kaplan_meier([1, 2], [1, 1], conf_type="arcsine")


def _trials(rng: np.random.Generator, r: int, n: int, ties: bool | str) -> tuple[np.ndarray, ...]:
    t1 = rng.exponential(1 / 0.7, (r, n))
    t0 = rng.exponential(1.0, (r, n + 3))
    e1 = (rng.random((r, n)) < 0.8).astype(float)
    e0 = (rng.random((r, n + 3)) < 0.8).astype(float)
    if ties == "admin":  # continuous event times, many censorings tied at the end of follow-up
        e1, e0 = np.where(t1 < 1.2, 1.0, 0.0), np.where(t0 < 1.2, 1.0, 0.0)
        t1, t0 = np.minimum(t1, 1.2), np.minimum(t0, 1.2)
    elif ties:
        t1, t0 = np.ceil(t1 * 4) / 4, np.ceil(t0 * 4) / 4
    return t1, e1, t0, e0


@pytest.mark.parametrize("ties", [False, True, "admin"])
def test_logrank_matches_scipy_per_replicate(ties):
    t1, e1, t0, e0 = _trials(np.random.default_rng(6), 4, 30, ties)
    res = logrank_test(t1, e1, t0, e0)
    for i in range(4):
        x = stats.CensoredData.right_censored(t1[i], e1[i] == 0)
        y = stats.CensoredData.right_censored(t0[i], e0[i] == 0)
        ref = stats.logrank(x, y)
        assert res.p_value[i] == pytest.approx(ref.pvalue, rel=1e-8)
        # same sign convention: (O1 - E1)/sqrt(V) for the first (treated) sample
        assert res.statistic[i] == pytest.approx(ref.statistic, rel=1e-8)


def test_logrank_missing_patients_drop_out():
    t1, e1, t0, e0 = _trials(np.random.default_rng(7), 1, 20, True)
    t1m = t1.copy()
    t1m[0, :5] = np.nan
    a = logrank_test(t1m, e1, t0, e0)
    b = logrank_test(t1[:, 5:], e1[:, 5:], t0, e0)
    np.testing.assert_allclose(a.statistic, b.statistic, rtol=1e-12)


def _efron_reference(time, event, x, ties):
    def negll(beta):
        ll = 0.0
        for t in np.unique(time[event == 1]):
            risk, tied = time >= t, (time == t) & (event == 1)
            d = tied.sum()
            s_risk, s_tied = np.exp(beta * x[risk]).sum(), np.exp(beta * x[tied]).sum()
            ll += beta * x[tied].sum()
            for k in range(d):
                ll -= np.log(s_risk - (k / d if ties == "efron" else 0.0) * s_tied)
        return -ll

    beta = optimize.minimize_scalar(negll, bounds=(-5, 5), method="bounded",
                                    options={"xatol": 1e-10}).x
    h = 1e-4
    info = (negll(beta + h) - 2 * negll(beta) + negll(beta - h)) / h**2
    return beta, 1 / np.sqrt(info)


@pytest.mark.parametrize("data", [True, "admin"])
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_matches_direct_partial_likelihood(ties, data):
    t1, e1, t0, e0 = _trials(np.random.default_rng(8), 3, 25, data)
    res = cox_test(t1, e1, t0, e0, ties=ties)
    for i in range(3):
        time, event = np.r_[t1[i], t0[i]], np.r_[e1[i], e0[i]]
        x = np.r_[np.ones(t1.shape[1]), np.zeros(t0.shape[1])]
        beta, se = _efron_reference(time, event, x, ties)
        assert res.estimate[i] == pytest.approx(beta, abs=1e-6)
        assert res.se[i] == pytest.approx(se, rel=1e-4)


def test_cox_efron_equals_breslow_without_ties():
    t1, e1, t0, e0 = _trials(np.random.default_rng(9), 5, 40, False)
    a, b = cox_test(t1, e1, t0, e0), cox_test(t1, e1, t0, e0, ties="breslow")
    np.testing.assert_allclose(a.estimate, b.estimate, rtol=1e-10)


def test_cox_without_events_in_one_arm_is_nan():
    t = np.arange(1.0, 11.0)
    res = cox_test(t, np.zeros(10), t + 0.5, np.ones(10))
    assert np.isnan(res.estimate)
    with pytest.raises(AnalysisError, match=r"ties: must be 'efron' or 'breslow'"):
        cox_test(t, np.ones(10), t, np.ones(10), ties="exact")
