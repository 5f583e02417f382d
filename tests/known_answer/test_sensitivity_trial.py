"""Known answer through the trial simulator: the mean effect is a product of three inputs.

With the slope effect a multiplier ``s`` on the slope, no dropout and full adherence, the paired
change-from-baseline difference of patient ``i`` at visit ``T`` is ``slope_i (s - 1) T`` (the
intercept and the shared residual noise cancel), and ``model.slope_typical = v`` makes the cohort
mean of ``slope_i`` equal to ``v``. So ``mean_effect = v (s - 1) T`` exactly, and for independent
uniform ``X = (v, s - 1, T)`` the Sobol' indices of a product are analytic:
``V = prod E[X_j^2] - prod E[X_j]^2``, ``S1_i = Var(X_i) prod_{j != i} E[X_j]^2 / V`` and
``ST_i = 1 - E[X_i]^2 (prod_{j != i} E[X_j^2] - prod_{j != i} E[X_j]^2) / V``
(Saltelli et al. 2008, Global Sensitivity Analysis: The Primer, ch. 4).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twintrial.arms.synthetic import synthetic_virtual_patients
from twintrial.arms_config import arms_from_list, endpoints_from_list, estimands_from_list
from twintrial.models import get_model
from twintrial.sensitivity import SensitivityConfig, run_sensitivity
from twintrial.sensitivity.simulator import TrialSensitivityModel

BOUNDS = {"slope": (0.05, 0.25), "effect": (0.4, 0.9), "visit": (1.0, 3.0)}


def _product_indices() -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([0.05, 0.4 - 1.0, 1.0])
    hi = np.array([0.25, 0.9 - 1.0, 3.0])
    m1, m2 = (lo + hi) / 2, (lo**2 + lo * hi + hi**2) / 3
    var = m2.prod() - (m1**2).prod()
    s1 = np.array([(m2[i] - m1[i] ** 2) * np.prod(np.delete(m1**2, i)) / var for i in range(3)])
    st = np.array([1 - m1[i] ** 2 * (np.prod(np.delete(m2, i)) - np.prod(np.delete(m1**2, i)))
                   / var for i in range(3)])
    return s1, st


def test_trial_simulator_reproduces_product_indices() -> None:
    model = get_model("biomarker_progression", biomarker_center=0.4)
    arms = arms_from_list([{"name": "placebo", "control": True},
                           {"name": "active", "effects": [{"parameter": "slope", "size": 0.7}]}])
    eps = endpoints_from_list([{"name": "d", "type": "continuous", "time": 2.0, "scale": "log"}])
    ests = estimands_from_list([{"name": "d_tp", "endpoint": "d", "treatment": "active"}])
    cohort = pd.DataFrame({"vid": np.arange(200, dtype=np.int64)})
    vp = synthetic_virtual_patients(model, cohort, n_draws=20, seed=3)
    targets = {"slope": "model.slope_typical", "effect": "arms.active.effect",
               "visit": "design.visit_time"}
    kinds = {"slope": "model", "effect": "treatment", "visit": "design"}
    cfg = SensitivityConfig.from_dict({
        "inputs": [{"name": k, "kind": kinds[k], "target": targets[k], "low": lo, "high": hi}
                   for k, (lo, hi) in BOUNDS.items()],
        "outputs": [{"name": "effect", "quantity": "mean_effect"}],
        "sobol": {"n_base_samples": 2048, "conf_level": 0.999}})
    sm = TrialSensitivityModel(vp, cohort, model, arms, eps, ests, cfg, seed=5)
    run = run_sensitivity(cfg, sm, seed=11)
    X = run.samples.X
    np.testing.assert_allclose(run.Y[:, 0], X[:, 0] * (X[:, 1] - 1) * X[:, 2], rtol=1e-10,
                               atol=1e-14)
    s1, st = _product_indices()
    idx = run.result.indices["effect"]
    for key, truth in (("S1", s1), ("ST", st)):
        conf = idx[f"{key}_conf"]
        assert np.all(conf < 0.1), conf
        assert np.all(np.abs(idx[key] - truth) <= conf), (key, idx[key], truth, conf)
