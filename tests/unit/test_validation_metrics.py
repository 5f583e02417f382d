"""Unit tests of twintrial.validation.metrics (shapes, edge cases, error messages)."""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.exceptions import AnalysisError
from twintrial.validation.metrics import (
    band_labels,
    central_intervals,
    coverage,
    covered_from_quantiles,
    crps_normal,
    crps_samples,
    metrics_by_time_band,
    pit_calibration,
    pit_values,
    point_errors,
    predictive_summary,
)


def test_coverage_counts_by_hand():
    draws = np.tile(np.arange(101, dtype=float), (4, 1))  # quantiles are exact: q_p = 100 p
    y = np.array([50.0, 20.0, 5.0, np.nan])
    cov = coverage(y, draws, [0.5, 0.9])
    # 50% interval [25, 75] covers 50 only; 90% interval [5, 95] covers all three
    assert cov == {0.5: pytest.approx(1 / 3), 0.9: pytest.approx(1.0)}


def test_central_intervals_and_quantile_coverage():
    lo, hi = central_intervals(np.tile(np.arange(101.0), (2, 1)), [0.8])
    np.testing.assert_allclose(lo, [[10.0], [10.0]])
    np.testing.assert_allclose(hi, [[90.0], [90.0]])
    cov = covered_from_quantiles([1.0, 5.0], [[0.0], [0.0]], [[2.0], [2.0]])
    assert cov[:, 0].tolist() == [True, False]


def test_crps_point_mass_is_absolute_error():
    y = np.array([1.0, -2.0])
    draws = np.array([[3.0, 3.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(crps_samples(y, draws), [2.0, 2.0])


def test_crps_normal_rejects_nonpositive_sigma():
    with pytest.raises(AnalysisError, match="sigma"):
        crps_normal(0.0, 0.0, 0.0)


def test_point_errors():
    pe = point_errors([1.0, 2.0, np.nan], [2.0, 0.0, 5.0])
    assert pe == {"n": 2, "rmse": pytest.approx(np.sqrt(2.5)), "mae": 1.5, "bias": -0.5}
    assert point_errors([np.nan], [1.0])["n"] == 0
    with pytest.raises(AnalysisError, match="predicted"):
        point_errors([1.0, 2.0], [1.0])


def test_pit_midpoint_and_ties():
    draws = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    pit = pit_values([2.5, 1.0], draws)
    # 2 draws below: (2 + 0.5) / 4; all tied: (0 + 3/2 + 0.5) / 4
    np.testing.assert_allclose(pit, [2.5 / 4, 2.0 / 4])
    rnd = pit_values([2.5, 1.0], draws, rng=np.random.default_rng(0))
    assert 0.5 <= rnd[0] <= 0.75 and 0 < rnd[1] < 1


def test_pit_calibration_outputs():
    cal = pit_calibration(np.linspace(0.005, 0.995, 100))
    assert cal["n"] == 100 and cal["histogram"] == [10] * 10
    assert cal["ks_pvalue"] > 0.9 and cal["ece"] < 0.01
    assert pit_calibration([np.nan])["n"] == 0


def test_shape_errors_name_the_argument():
    with pytest.raises(AnalysisError, match=r"draws: must have shape \(n_observations, n_draws\)"):
        coverage([1.0, 2.0], np.zeros((3, 10)))
    with pytest.raises(AnalysisError, match="at least 2"):
        coverage([1.0], np.zeros((1, 1)))
    with pytest.raises(AnalysisError, match="levels"):
        coverage([1.0], np.zeros((1, 5)), [0.0])
    with pytest.raises(AnalysisError, match="NaN"):
        coverage([1.0], np.full((1, 5), np.nan))


def test_band_labels_edges():
    lab = band_labels([0, 5, 10, 12, -1], [0, 5, 10])
    assert list(lab.astype(object)) == ["[0, 5)", "[5, 10]", "[5, 10]", np.nan, np.nan]
    with pytest.raises(AnalysisError, match="time_bands"):
        band_labels([1.0], [5, 1])


def test_summary_and_empty_band():
    rng = np.random.default_rng(0)
    y, d = rng.normal(size=50), rng.normal(size=(50, 100))
    s = predictive_summary(y, d)
    assert set(s) >= {"n", "coverage_0.5", "coverage_0.95", "crps", "rmse", "pit_ece"}
    df = metrics_by_time_band(y, d, np.full(50, 1.0), bands=[0, 2, 4])
    assert df["n"].tolist() == [50, 50, 0]
    assert np.isnan(df["crps"].iloc[2])


def test_observation_scores_agree_with_the_single_metrics(monkeypatch):
    from twintrial.validation import metrics

    rng = np.random.default_rng(9)
    y = rng.normal(size=300)
    d = np.round(rng.normal(size=(300, 51)), 1)  # rounding creates ties with y
    y = np.round(y, 1)
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 51 * 7)  # several blocks
    sc = metrics.observation_scores(y, d, levels=[0.5, 0.9])
    np.testing.assert_array_equal(sc["covered"], metrics.covered_from_draws(y, d, [0.5, 0.9]))
    np.testing.assert_allclose(sc["crps"], crps_samples(y, d), rtol=1e-12)
    np.testing.assert_allclose(sc["pit"], pit_values(y, d), rtol=1e-12)
    np.testing.assert_allclose(sc["mean"], d.mean(axis=1), rtol=1e-12, atol=1e-14)
