"""Unit tests of twintrial.validation.survival: calibration tables, landmark comparison, errors."""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.exceptions import AnalysisError
from twintrial.validation.survival import (
    brier_score,
    c_index_at_landmarks,
    compare_survival_at_landmarks,
    concordance_index,
    kaplan_meier,
    step_at,
    survival_calibration,
)


def exponential_data(seed: int, n: int = 1500):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    rate = 0.1 * np.exp(0.7 * x)
    t = rng.exponential(1 / rate)
    c = rng.uniform(0, 30, n)
    return np.minimum(t, c), (t <= c).astype(float), rate


def test_calibration_of_the_true_model_and_a_wrong_one():
    time, event, rate = exponential_data(1)
    lm = [3.0, 8.0]
    true_s = np.exp(-rate[:, None] * np.array(lm))
    cal = survival_calibration(time, event, true_s, lm, n_groups=5)
    assert len(cal) == 10 and cal["n"].sum() == 2 * len(time)
    assert cal["inside"].mean() >= 0.8
    # predicted survival ordered like observed survival across risk groups
    for _, g in cal.groupby("landmark"):
        assert np.all(np.diff(g["observed"].to_numpy()) > -0.05)
    wrong = survival_calibration(time, event, true_s ** 3, lm, n_groups=5)
    assert wrong["inside"].mean() < 0.3


def test_compare_survival_at_landmarks():
    time, event, rate = exponential_data(2)
    lm = np.array([5.0, 10.0])
    rng = np.random.default_rng(0)
    # KM survival of replicate trials simulated from the true model for the same patients
    reps = []
    for _ in range(200):
        t = rng.exponential(1 / rate)
        c = rng.uniform(0, 30, rate.size)
        km = kaplan_meier(np.minimum(t, c), (t <= c).astype(float))
        reps.append(step_at(km["time"], km["survival"], lm))
    reps = np.asarray(reps)
    out = compare_survival_at_landmarks(time, event, reps, lm)
    assert out["observed_in_predicted"].all() and out["intervals_overlap"].all()
    assert (out["obs_lower"] < out["observed"]).all() and (out["observed"] < out["obs_upper"]).all()
    shifted = compare_survival_at_landmarks(time, event, reps - 0.2, lm)
    assert not shifted["observed_in_predicted"].any()
    with pytest.raises(AnalysisError, match="predicted_draws"):
        compare_survival_at_landmarks(time, event, reps[:, :1], lm)


def test_input_errors_name_the_argument():
    with pytest.raises(AnalysisError, match="event: must be 0"):
        kaplan_meier([1.0, 2.0], [1, 2])
    with pytest.raises(AnalysisError, match="time: event/censoring times"):
        kaplan_meier([-1.0], [1])
    with pytest.raises(AnalysisError, match="risk"):
        concordance_index([1.0, 2.0], [1, 1], [0.5])
    with pytest.raises(AnalysisError, match="method"):
        concordance_index([1.0, 2.0], [1, 1], [0.5, 0.2], method="gonen")
    with pytest.raises(AnalysisError, match="surv_pred"):
        brier_score([1.0, 2.0], [1, 1], np.ones((2, 3)), [1.0])
    with pytest.raises(AnalysisError, match="surv_pred"):
        c_index_at_landmarks([1.0, 2.0], [1, 1], np.ones((2, 3)), [1.0])


def test_step_at_left_and_right_limits():
    assert step_at([1.0, 2.0], [0.8, 0.5], [0.5, 1.0, 1.5, 2.0]).tolist() == [1.0, 0.8, 0.8, 0.5]
    assert step_at([1.0, 2.0], [0.8, 0.5], [1.0, 2.0], left_limit=True).tolist() == [1.0, 0.8]


def test_c_index_chunking_does_not_change_the_result():
    time, event, rate = exponential_data(3, n=700)
    a = concordance_index(time, event, rate, tau=10, chunk=7)
    b = concordance_index(time, event, rate, tau=10, chunk=10_000)
    assert a == pytest.approx(b, rel=1e-12)


def test_plot_survival_check():
    import pandas as pd
    from matplotlib.figure import Figure

    from twintrial.validation.survival import plot_survival_check

    time, event, _ = exponential_data(4, n=200)
    grid = np.linspace(0, 20, 21)
    pred = pd.DataFrame({"time": grid, "median": np.exp(-0.1 * grid),
                         "lower": np.exp(-0.12 * grid), "upper": np.exp(-0.08 * grid)})
    fig = plot_survival_check(kaplan_meier(time, event), predicted=pred, landmarks=[5, 10])
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "observed (Kaplan-Meier)" in labels and "predicted interval" in labels
