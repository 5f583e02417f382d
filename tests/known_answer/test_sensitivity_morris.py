"""Morris screening on functions with known elementary effects and importance ordering.

For ``y = 2 x2 + 0.5 x3`` on the unit cube every elementary effect of x2 is exactly 2 and of x3
exactly 0.5 (a linear function's finite difference is its slope), and an absent input has
elementary effects 0. Adding ``4 x1^2`` gives x1 effects between 4 * delta and 4 * (2 - delta)
(delta = p / (2 (p - 1)) for p levels), so mu*(x1) = 4 on a symmetric design of x1's levels
and sigma(x1) > 0 (non-linear), whereas sigma = 0 for the linear inputs (Morris 1991;
Campolongo et al. 2007).
"""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.sensitivity import (
    SensitivityConfig,
    analyze_sensitivity,
    describe_drivers,
    evaluate_sensitivity,
    sample_sensitivity,
)


def _model(X: np.ndarray, names: list[str]) -> np.ndarray:
    return (4.0 * X[:, 0] ** 2 + 2.0 * X[:, 1] + 0.5 * X[:, 2] + 0.0 * X[:, 3])[:, None]


def test_morris_ranking_and_exact_linear_effects() -> None:
    cfg = SensitivityConfig.from_dict({
        "method": "morris",
        "inputs": [{"name": f"x{i}", "kind": "model", "target": f"model.x{i}", "low": 0.0,
                    "high": 1.0} for i in (1, 2, 3, 4)],
        "outputs": [{"name": "response", "quantity": "responder_rate"}],
        "morris": {"trajectories": 40, "levels": 4},
        "convergence": {"tolerance": 0.2},
    })
    samples = sample_sensitivity(cfg, seed=17)
    assert samples.X.shape == (40 * 5, 4)
    res = analyze_sensitivity(samples, evaluate_sensitivity(samples, _model), seed=3)
    idx = res.indices["response"]
    order = list(np.argsort(-idx["mu_star"]))
    assert order == [0, 1, 2, 3]
    assert idx["mu_star"][1:] == pytest.approx([2.0, 0.5, 0.0], abs=1e-9)
    assert idx["mu"][1:] == pytest.approx([2.0, 0.5, 0.0], abs=1e-9)
    assert idx["sigma"][1:] == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    assert idx["sigma"][0] > 0.5  # x1 acts non-linearly
    # every x1 effect lies in [4 delta, 4 (2 - delta)] with delta = 2/3 for 4 levels
    assert 4 * 2 / 3 - 1e-9 <= idx["mu_star"][0] <= 4 * 4 / 3 + 1e-9
    assert res.converged
    text = describe_drivers(res)["response"]
    assert text.startswith("Ranked by mu* (mean absolute elementary effect), x1 has the largest")
    assert "x4 has mu* below 5% of the largest" in text
