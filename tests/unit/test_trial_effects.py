"""Population-average effects over posterior draws: ANOVA deconvolution and influence values."""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.analysis import cox_test
from twintrial.exceptions import AnalysisError
from twintrial.trial import cox_contributions, draw_effect, log_odds_contributions


def test_posterior_sd_is_separated_from_patient_noise() -> None:
    rng = np.random.default_rng(1)
    n, k, tau, sigma = 6000, 3000, 0.3, 1.0          # ~2 patients per posterior draw
    draw = rng.integers(0, k, n)
    theta = 0.5 + tau * rng.standard_normal(k)
    y = theta[draw] + sigma * rng.standard_normal(n)
    out = draw_effect(y, draw, ci_prob=0.95)
    assert out["identifiable"] and out["n_draws_shared"] > 1000
    assert out["posterior_sd"] == pytest.approx(tau, abs=0.06)
    # the raw spread of per-draw means would be ~sigma: the interval must not be that wide
    assert out["ci_high"] - out["ci_low"] < 2 * 1.96 * 0.4
    assert out["ci_low"] < 0.5 < out["ci_high"]
    assert out["mc_se"] == pytest.approx(np.sqrt((sigma**2 + tau**2 * 3) / n), rel=0.3)


def test_no_posterior_uncertainty_gives_the_monte_carlo_interval() -> None:
    rng = np.random.default_rng(2)
    n = 4000
    draw = rng.integers(0, 50, n)
    y = 1.0 + rng.standard_normal(n)
    out = draw_effect(y, draw, ci_prob=0.9, benefit="less")
    assert out["posterior_sd"] < 0.05
    assert out["se"] == pytest.approx(1 / np.sqrt(n), rel=0.3)
    assert out["prob_benefit"] < 1e-6            # benefit is "less" and the effect is +1


def test_one_patient_per_draw_is_not_identifiable() -> None:
    y = np.random.default_rng(3).standard_normal(100)
    out = draw_effect(y, np.arange(100))
    assert not out["identifiable"] and out["posterior_sd"] is None and out["mc_se"] > 0


def test_bad_inputs() -> None:
    with pytest.raises(AnalysisError, match="draw"):
        draw_effect(np.zeros(5), np.zeros(4))
    with pytest.raises(AnalysisError, match=">= 2 patients"):
        draw_effect(np.array([1.0, np.nan]), np.array([0, 1]))


def test_cox_contributions_match_the_breslow_fit() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    e = rng.standard_exponential(n)
    t0, t1 = e / 0.3, e / (0.3 * 0.6)
    h = 4.0
    ev0, ev1 = (t0 < h) * 1.0, (t1 < h) * 1.0
    t0, t1 = np.minimum(t0, h), np.minimum(t1, h)
    beta, se, contrib = cox_contributions(t1, ev1, t0, ev0)
    ref = cox_test(t1, ev1, t0, ev0, ties="breslow")
    assert beta == pytest.approx(float(ref.estimate), abs=1e-8)
    assert se == pytest.approx(float(ref.se), rel=1e-6)
    assert np.mean(contrib) == pytest.approx(beta, abs=1e-9)   # scores sum to zero at the MLE
    assert beta == pytest.approx(np.log(0.6), abs=3 * se)
    # the paired (common random numbers) influence SE is below the independent-rows model SE
    assert np.std(contrib, ddof=1) / np.sqrt(n) < se


def test_cox_needs_events_in_both_arms() -> None:
    with pytest.raises(AnalysisError, match="no events"):
        cox_contributions(np.ones(5), np.zeros(5), np.ones(5), np.ones(5))


def test_log_odds_contributions_average_to_the_log_odds_ratio() -> None:
    rng = np.random.default_rng(5)
    u = rng.random(5000)
    y1, y0 = (u < 0.5) * 1.0, (u < 0.3) * 1.0
    log_or, c = log_odds_contributions(y1, y0)
    assert log_or == pytest.approx(np.log(y1.mean() / (1 - y1.mean()))
                                   - np.log(y0.mean() / (1 - y0.mean())))
    assert c.mean() == pytest.approx(log_or, abs=1e-9)
    with pytest.raises(AnalysisError, match="odds_ratio"):
        log_odds_contributions(np.ones(10), y0[:10])
