"""Unit tests of individual counterfactual effects and their summaries."""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.analysis import (
    average_effect,
    average_effects,
    effect_distribution,
    individual_effects,
    patient_effects,
)
from twintrial.exceptions import AnalysisError


@pytest.fixture
def draws() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    n_draws, n = 2000, 300
    base = rng.normal(size=(1, n)) + rng.normal(scale=0.1, size=(n_draws, n))
    true_effect = np.linspace(-1.0, 3.0, n)  # per-patient effect, mean 1
    return base + true_effect + rng.normal(scale=0.2, size=(n_draws, n)), base


def test_individual_and_average_effect(draws):
    y1, y0 = draws
    eff = individual_effects(y1, y0)
    assert eff.shape == y1.shape
    summary = average_effect(eff)
    assert summary["mean"] == pytest.approx(1.0, abs=0.01)
    assert summary["ci_low"] < 1.0 < summary["ci_high"]
    assert summary["prob_benefit"] == 1.0
    per_draw = eff.mean(axis=1)
    assert average_effect(per_draw)["median"] == pytest.approx(summary["median"])
    lo, hi = np.quantile(per_draw, [0.025, 0.975])
    assert summary["ci_low"] == pytest.approx(lo) and summary["ci_high"] == pytest.approx(hi)


def test_effect_distribution_and_patient_table(draws):
    eff = individual_effects(*draws)
    dist = effect_distribution(eff)
    truth = np.linspace(-1.0, 3.0, 300)
    assert dist["q50"] == pytest.approx(np.median(truth), abs=0.05)
    assert dist["share_benefit"] == pytest.approx(np.mean(truth > 0), abs=0.02)
    assert dist["sd_between"] == pytest.approx(np.sqrt(truth.var(ddof=1) + 0.2**2), rel=0.03)
    table = patient_effects(eff, vid=np.arange(300) + 10)
    assert list(table.columns) == ["vid", "mean", "ci_low", "ci_high", "prob_benefit"]
    assert table["vid"].iloc[0] == 10
    assert table["prob_benefit"].iloc[0] < 0.01 and table["prob_benefit"].iloc[-1] > 0.99


def test_average_effects_per_endpoint_and_direction():
    rng = np.random.default_rng(5)
    out = average_effects({"fev1": rng.normal(0.2, 0.05, 500), "deaths": rng.normal(-0.1, 0.01, 500)},
                          benefit={"deaths": "less"})
    assert list(out["endpoint"]) == ["fev1", "deaths"]
    assert (out["prob_benefit"] > 0.99).all()


def test_effect_errors():
    with pytest.raises(AnalysisError, match=r"treated/control: paired outcomes must have the same"):
        individual_effects(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(AnalysisError, match=r"effect: must be \(n_draws,\)"):
        average_effect(np.ones(1))
    with pytest.raises(AnalysisError, match=r"benefit: must be 'greater' or 'less'"):
        average_effect(np.ones(5), benefit="up")
    with pytest.raises(AnalysisError, match=r"ci_prob: must be in"):
        average_effect(np.ones(5), ci_prob=95)
