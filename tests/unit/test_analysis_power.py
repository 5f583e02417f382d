"""Unit tests of analytic power / sample size and of the operating-characteristics simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from twintrial.analysis import (
    event_probability_exponential,
    logrank_power,
    normal_sampler,
    population_sampler,
    randomize_and_observe,
    schoenfeld_events,
    simulate_operating_characteristics,
    t_test_power,
    t_test_sample_size,
)
from twintrial.exceptions import AnalysisError


def test_textbook_sample_sizes():
    # R power.t.test(delta = 0.5, sd = 1, power = 0.8) -> n = 63.77 -> 64 per arm
    assert t_test_sample_size(delta=0.5, sd=1.0, power=0.8) == 64
    assert t_test_sample_size(delta=1.0, sd=1.0, power=0.9) == 23  # power.t.test: 22.02 -> 23
    # one-sided needs fewer; negative delta with 'less' is the mirror image
    n_one = t_test_sample_size(delta=0.5, sd=1.0, power=0.8, alternative="greater")
    assert n_one < 64
    assert t_test_sample_size(delta=-0.5, sd=1.0, power=0.8, alternative="less") == n_one


def test_power_is_vectorised_and_increasing():
    p = t_test_power(np.arange(10, 200, 10), delta=0.5, sd=1.1)
    assert p.shape == (19,) and np.all(np.diff(p) > 0)
    assert float(t_test_power(50, delta=0.0, sd=1.0)) == pytest.approx(0.05)


def test_variance_factor_and_covariates_in_t_power():
    full = float(t_test_power(60, delta=0.5, sd=1.0))
    reduced = float(t_test_power(60, delta=0.5, sd=1.0, variance_factor=0.5, n_covariates=1))
    ref = float(t_test_power(60, delta=0.5, sd=math.sqrt(0.5)))
    assert reduced > full and reduced == pytest.approx(ref, abs=2e-4)


def test_schoenfeld_formula():
    z = stats.norm.isf(0.025) + stats.norm.isf(0.2)
    expected = z**2 / (0.25 * math.log(0.7) ** 2)
    assert schoenfeld_events(hazard_ratio=0.7, power=0.8) == math.ceil(expected)  # 247
    assert float(logrank_power(expected, hazard_ratio=0.7)) == pytest.approx(0.8, abs=1e-4)
    # 2:1 allocation needs more events
    assert schoenfeld_events(hazard_ratio=0.7, power=0.8, allocation=2 / 3) > 247


def test_event_probability_exponential():
    assert event_probability_exponential(0.1, followup=5) == pytest.approx(1 - math.exp(-0.5))
    p = event_probability_exponential(0.1, followup=2, accrual=3)
    grid = np.linspace(2, 5, 200001)
    assert p == pytest.approx(np.mean(1 - np.exp(-0.1 * grid)), rel=1e-5)


def test_power_input_errors():
    with pytest.raises(AnalysisError, match=r"delta: must be a non-zero"):
        t_test_sample_size(delta=0.0, sd=1.0)
    with pytest.raises(AnalysisError, match=r"delta: sign"):
        t_test_sample_size(delta=0.5, sd=1.0, alternative="less")
    with pytest.raises(AnalysisError, match=r"sd: must be a positive"):
        t_test_power(10, delta=1, sd=-1)
    with pytest.raises(AnalysisError, match=r"power: must be in"):
        schoenfeld_events(hazard_ratio=0.7, power=80)


def test_simulation_is_deterministic_and_keyed_by_n():
    sampler = normal_sampler(delta=0.3, sd=1.0)
    a = simulate_operating_characteristics(sampler, n_grid=[20, 40], n_replicates=300, test="t",
                                           seed=11, true_effect=0.3)
    b = simulate_operating_characteristics(sampler, n_grid=[40], n_replicates=300, test="t",
                                           seed=11, true_effect=0.3)
    assert a.iloc[1].equals(b.iloc[0])  # the n=40 stream does not depend on the other sizes
    c = simulate_operating_characteristics(sampler, n_grid=[40], n_replicates=300, test="t",
                                           seed=12, true_effect=0.3)
    assert c["rejection_rate"].iloc[0] != b["rejection_rate"].iloc[0]
    assert set(a.columns) >= {"rejection_rate", "rejection_mc_se", "prob_success", "bias",
                              "coverage", "coverage_mc_se", "n_failed"}


def test_simulation_blocks_cover_all_replicates():
    out = simulate_operating_characteristics(normal_sampler(delta=0.0, sd=1.0), n_grid=[5],
                                             n_replicates=250, test="welch", seed=1,
                                             block_size=100)
    assert out["n_replicates"].iloc[0] == 250
    with pytest.raises(AnalysisError, match=r"test: unknown test 'z'"):
        simulate_operating_characteristics(normal_sampler(delta=0.0, sd=1.0), n_grid=[5],
                                           n_replicates=10, test="z", seed=1)
    with pytest.raises(AnalysisError, match=r"test 'logrank': the trial data lack"):
        simulate_operating_characteristics(normal_sampler(delta=0.0, sd=1.0), n_grid=[5],
                                           n_replicates=10, test="logrank", seed=1)


def test_randomize_and_observe_uses_distinct_patients_and_assigned_arm():
    vid = np.arange(100.0)
    out = randomize_and_observe({"y": 1000 + vid}, {"y": vid}, {"x": -vid}, n_per_arm=30,
                                n_replicates=50, rng=np.random.default_rng(0))
    both = np.concatenate([out["vid_treated"], out["vid_control"]], axis=1)
    assert all(len(set(row)) == 60 for row in both)
    np.testing.assert_array_equal(out["y_treated"], 1000 + out["vid_treated"])
    np.testing.assert_array_equal(out["y_control"], out["vid_control"])
    np.testing.assert_array_equal(out["x_treated"], -out["vid_treated"])
    # every patient is equally likely to be treated
    counts = np.bincount(out["vid_treated"].ravel(), minlength=100)
    assert counts.sum() == 1500 and counts.max() < 40
    with pytest.raises(AnalysisError, match=r"n_per_arm: 2 x 60 exceeds the 100"):
        randomize_and_observe({"y": vid}, {"y": vid}, n_per_arm=60, n_replicates=2,
                              rng=np.random.default_rng(0))


def test_population_sampler_recovers_the_population_effect():
    rng = np.random.default_rng(1)
    y0 = rng.normal(size=5000)
    sampler = population_sampler({"y": y0 + 0.4}, {"y": y0})
    out = simulate_operating_characteristics(sampler, n_grid=[100], n_replicates=2000, test="t",
                                             seed=3, true_effect=0.4)
    assert abs(out["bias"].iloc[0]) < 4 * out["bias_mc_se"].iloc[0]
