"""Sobol' indices against analytic values, through sample/evaluate/analyze_sensitivity.

References
----------
Ishigami function, a = 7, b = 0.1: S1 = 0.3139, 0.4424, 0; ST = 0.5576, 0.4424, 0.2437;
S2(x1, x3) = 0.2437 (Saltelli et al. 2008, Global Sensitivity Analysis: The Primer, Wiley,
section 4.9; SALib documentation, "Basics" / SALib.test_functions.Ishigami).
Linear model Y = sum a_i X_i with independent inputs: S1_i = ST_i = a_i^2 Var(X_i) /
sum_j a_j^2 Var(X_j), S2 = 0 (the variance of a sum of independent terms is additive).

Tolerance: every estimate must lie within its own 99.9% bootstrap interval of the analytic value
(conf_level 0.999 is set in the config and read back from the sampling metadata), and those
intervals must be narrow enough that the test can fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.sensitivity import (
    SensitivityConfig,
    analyze_sensitivity,
    evaluate_sensitivity,
    ishigami,
    ishigami_indices,
    linear,
    linear_indices,
    sample_sensitivity,
)


def _within(est: np.ndarray, conf: np.ndarray, truth: np.ndarray, max_width: float) -> None:
    assert np.all(conf < max_width), f"intervals too wide to test anything: {conf}"
    assert np.all(np.abs(est - truth) <= conf), f"estimates {est} vs analytic {truth} (±{conf})"


def test_ishigami_published_indices() -> None:
    cfg = SensitivityConfig.from_dict({
        "inputs": [{"name": f"x{i}", "kind": "model", "target": f"model.x{i}",
                    "low": -np.pi, "high": np.pi} for i in (1, 2, 3)],
        "outputs": [{"name": "y", "quantity": "mean_effect"}],
        "sobol": {"n_base_samples": 2048, "calc_second_order": True, "conf_level": 0.999,
                  "num_resamples": 200},
    })
    samples = sample_sensitivity(cfg, seed=20260101)
    Y = evaluate_sensitivity(samples, ishigami, batch_size=4096)
    res = analyze_sensitivity(samples, Y, seed=7)
    idx, truth = res.indices["y"], ishigami_indices(7.0, 0.1)
    # the analytic helper reproduces the published values
    assert truth["S1"] == pytest.approx([0.3139, 0.4424, 0.0], abs=1e-4)
    assert truth["ST"] == pytest.approx([0.5576, 0.4424, 0.2437], abs=1e-4)
    _within(idx["S1"], idx["S1_conf"], truth["S1"], max_width=0.12)
    _within(idx["ST"], idx["ST_conf"], truth["ST"], max_width=0.12)
    pairs = [(0, 1), (0, 2), (1, 2)]
    s2 = np.array([idx["S2"][p] for p in pairs])
    s2_conf = np.array([idx["S2_conf"][p] for p in pairs])
    _within(s2, s2_conf, np.array([truth["S2"][p] for p in pairs]), max_width=0.25)
    assert res.converged  # N/2 vs N within the default tolerance 0.05
    assert res.convergence["y"]["max_abs_change"] < 0.05


@pytest.mark.parametrize("second_order", [True, False])
def test_linear_model_analytic_indices(second_order: bool) -> None:
    inputs = [
        {"name": "slope", "kind": "model", "target": "model.slope_typical",
         "low": 0.0, "high": 2.0},                                    # Var = 4/12
        {"name": "effect", "kind": "treatment", "target": "arms.treatment.effect",
         "dist": "normal", "mean": 1.0, "sd": 0.5},                   # Var = 0.25
        {"name": "dropout", "kind": "operational", "target": "operational.dropout_rate",
         "dist": "triangular", "low": 0.0, "mode": 0.1, "high": 0.4},  # Var = (a²+b²+c²-ab-ac-bc)/18
        {"name": "bili", "kind": "cohort", "target": "cohort.shift.bili",
         "low": -0.1, "high": 0.1},                                   # Var = 0.04/12
    ]
    coef = [1.0, -2.0, 3.0, 0.5]
    a, c, b = 0.0, 0.1, 0.4
    variances = [4 / 12, 0.25, (a * a + b * b + c * c - a * b - a * c - b * c) / 18, 0.04 / 12]
    cfg = SensitivityConfig.from_dict({
        "inputs": inputs, "outputs": [{"name": "effect_size", "quantity": "mean_effect"}],
        "sobol": {"n_base_samples": 2048, "calc_second_order": second_order,
                  "conf_level": 0.999, "num_resamples": 200},
    })
    samples = sample_sensitivity(cfg, seed=4)
    res = analyze_sensitivity(samples, evaluate_sensitivity(samples, linear(coef)), seed=5)
    idx, truth = res.indices["effect_size"], linear_indices(coef, variances)
    assert truth.argmax() == 1 and truth[3] < 0.01
    _within(idx["S1"], idx["S1_conf"], truth, max_width=0.12)
    _within(idx["ST"], idx["ST_conf"], truth, max_width=0.12)
    if second_order:
        iu = np.triu_indices(4, k=1)
        _within(idx["S2"][iu], idx["S2_conf"][iu], np.zeros(6), max_width=0.2)
    else:
        assert "S2" not in idx
    assert res.converged
