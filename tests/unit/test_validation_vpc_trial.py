"""Unit tests of twintrial.validation.vpc and twintrial.validation.trial_level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from twintrial.exceptions import AnalysisError
from twintrial.validation.trial_level import (
    ObservedQuantity,
    compare_interval,
    cox_hazard_ratio,
    observed_from_patient_level,
    observed_from_published,
    trial_replication,
)
from twintrial.validation.vpc import plot_vpc, prediction_correct, time_bins, vpc


def pk_like(rng, n=200, doses=(50.0, 200.0)):
    """One-compartment-like profiles with dose-proportional concentrations and lognormal noise."""
    t = np.tile([0.5, 1, 2, 4, 8, 12, 24.0], n)
    dose = np.repeat(rng.choice(doses, n), 7)
    pred = dose / 10 * np.exp(-0.1 * t)
    eta = np.repeat(rng.normal(0, 0.3, n), 7)
    y = pred * np.exp(eta + rng.normal(0, 0.1, t.size))
    sim = pred * np.exp(np.repeat(rng.normal(0, 0.3, (300, n)), 7, axis=1)
                        + rng.normal(0, 0.1, (300, t.size)))
    return pd.DataFrame({"time": t, "value": y}), sim, pred


def test_vpc_true_model_is_inside_bands():
    edges = [0, 0.75, 1.5, 3, 6, 10, 18, 30]
    plain, corrected = [], []
    for seed in range(12):
        obs, sim, pred = pk_like(np.random.default_rng(seed), n=100)
        stats_ = vpc(obs, sim, bins=edges)
        pc = vpc(obs, sim, bins=edges, pred=pred)
        plain.append(stats_["outside"].mean())
        corrected.append(pc["outside"].mean())
    assert stats_["bin"].nunique() == 7 and len(stats_) == 21 and pc["corrected"].all()
    # observed and simulated data are exchangeable: ~10% of bin-percentiles fall outside the 90%
    # bands on average (strongly correlated across bins, hence the average over replicates)
    assert 0.02 < np.mean(plain) < 0.22
    assert 0.02 < np.mean(corrected) < 0.22
    # prediction correction removes the dose spread: the pc P5-P95 range is narrower
    width = stats_.pivot(index="bin", columns="percentile", values="observed")
    pcw = pc.pivot(index="bin", columns="percentile", values="observed")
    assert ((pcw[0.95] - pcw[0.05]) < (width[0.95] - width[0.05])).all()


def test_vpc_detects_a_wrong_model():
    obs, sim, _ = pk_like(np.random.default_rng(2))
    stats_ = vpc(obs, sim * 2.0, bins=7)
    assert stats_["outside"].mean() > 0.5


def test_prediction_correction_formula():
    y = np.array([2.0, 8.0])
    pred = np.array([1.0, 4.0])
    b = np.array([0, 0])
    # PRED_bin = median(1, 4) = 2.5; pcY = Y * 2.5 / PRED
    np.testing.assert_allclose(prediction_correct(y, pred, b), [5.0, 5.0])
    np.testing.assert_allclose(prediction_correct(y, pred, b, lower_bound=None), [3.5, 6.5])
    with pytest.raises(AnalysisError, match="lower bound"):
        prediction_correct(y, np.array([0.0, 1.0]), b)


def test_time_bins_and_plot():
    assert time_bins([1, 2, 3, 4], 2).tolist() == [1.0, 2.5, 4.0]
    with pytest.raises(AnalysisError, match="bins"):
        time_bins([1.0], [3, 1])
    obs, sim, _ = pk_like(np.random.default_rng(3), n=30)
    fig = plot_vpc(vpc(obs, sim, bins=5), observed=obs, log_y=True)
    assert isinstance(fig, Figure) and fig.axes[0].get_yscale() == "log"


def test_compare_interval():
    draws = np.arange(1001.0)  # quantiles exact
    c = compare_interval(draws, 990.0, level=0.95, observed_ci=(900.0, 1100.0))
    assert (c["pred_lower"], c["pred_median"], c["pred_upper"]) == pytest.approx((25.0, 500.0, 975.0))
    assert not c["inside"] and c["intervals_overlap"]
    assert c["tail_probability"] == pytest.approx(2 * 11 / 1001)
    assert compare_interval(draws, 500.0)["inside"]
    with pytest.raises(AnalysisError, match="predicted_draws"):
        compare_interval([1.0], 0.0)


def test_observed_from_patient_level_and_replication():
    rng = np.random.default_rng(4)
    n = 400
    arm = np.repeat(["placebo", "drug"], n // 2)
    change = np.where(arm == "drug", -5.0, 0.0) + rng.normal(0, 10, n)
    hazard = np.where(arm == "drug", 0.05, 0.1)
    t = rng.exponential(1 / hazard)
    data = pd.DataFrame({"arm": arm, "change": change, "time": np.minimum(t, 20),
                         "event": (t <= 20).astype(int)})
    obs = observed_from_patient_level(data, control="placebo", treatment="drug",
                                      value_col="change", time_col="time", event_col="event",
                                      landmarks=[5.0, 10.0])
    byname = {q.name: q for q in obs}
    assert set(byname) == {"placebo:mean_change", "drug:mean_change", "effect", "hr",
                           "placebo:survival@5", "placebo:survival@10", "drug:survival@5",
                           "drug:survival@10"}
    eff = byname["effect"]
    assert eff.value == pytest.approx(change[arm == "drug"].mean() - change[arm == "placebo"].mean())
    assert eff.lower < -5 < eff.upper
    assert byname["hr"].lower < 0.5 < byname["hr"].upper
    assert byname["placebo:survival@10"].value == pytest.approx(np.exp(-1), abs=0.06)
    # simulated trials from the true model: effect and HR distributions
    predicted = {"effect": rng.normal(-5, 10 * np.sqrt(2 / 200), 500),
                 "hr": np.exp(rng.normal(np.log(0.5), 0.15, 500))}
    table = trial_replication(predicted, obs)
    assert table.set_index("quantity").loc["effect", "inside"]
    assert table.set_index("quantity").loc["hr", "inside"]
    assert table.set_index("quantity").loc["drug:mean_change", "inside"] is None
    assert "not simulated" in table.set_index("quantity").loc["drug:mean_change", "statement"]
    assert "lies inside the predicted 95% interval" in table.set_index("quantity").loc["effect", "statement"]
    with pytest.raises(AnalysisError, match="arm 'active' not found"):
        observed_from_patient_level(data, control="placebo", treatment="active", value_col="change")


def test_observed_from_published_and_outside_statement():
    pub = {"citation": "Dickson ER et al. NEJM 1985;312:1011", "hr": 1.06, "hr_ci": [0.75, 1.5],
           "arms": [{"arm": "placebo", "mean_change": -1.0, "se": 0.5,
                     "survival": [{"time": 1825, "value": 0.7, "ci": [0.62, 0.78]}]}]}
    obs = observed_from_published(pub)
    names = [q.name for q in obs]
    assert names == ["hr", "placebo:mean_change", "placebo:survival@1825"]
    assert obs[1].lower == pytest.approx(-1.0 - 1.96 * 0.5, abs=1e-3)
    assert all(q.source.startswith("Dickson") for q in obs)
    table = trial_replication({"hr": np.linspace(0.3, 0.6, 101)}, obs, level=0.9)
    assert "OUTSIDE" in table.loc[0, "statement"] and not table.loc[0, "inside"]


def test_cox_errors_and_symmetry():
    t = np.array([1.0, 2, 3, 4, 5, 6])
    e = np.array([1.0, 1, 1, 1, 1, 0])
    x = np.array([1.0, 0, 1, 0, 1, 0])
    a = cox_hazard_ratio(t, e, x)
    b = cox_hazard_ratio(t, e, 1 - x)
    assert a["hr"] == pytest.approx(1 / b["hr"]) and a["se"] == pytest.approx(b["se"])
    with pytest.raises(AnalysisError, match="not estimable"):
        cox_hazard_ratio(t, x, x * 0 + 1)
    assert ObservedQuantity("hr", 1.0).source == "patient-level data"
