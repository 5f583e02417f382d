"""Trial-level effect sizes, their application to parameters, and effect windows."""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.arms.effects import (
    WindowedModel,
    apply_effect,
    arm_parameters,
    draw_effect_sizes,
    windowed_inputs,
)
from twintrial.arms_config import ArmConfig, DistributionSpec, EffectConfig
from twintrial.models import get_model
from twintrial.models.simulate import predict_numpy


def test_effect_size_is_one_value_per_posterior_draw() -> None:
    spec = DistributionSpec.from_value({"dist": "lognormal", "median": 0.7, "sigma": 0.15})
    draws = np.array([3, 3, 2000, 7, 3, 2000])
    s = draw_effect_sizes(spec, draws, arm="active", index=0, seed=11)
    assert s[0] == s[1] == s[4] and s[2] == s[5] and s[0] != s[3]
    # the value of a draw does not depend on which other draws are asked for
    assert draw_effect_sizes(spec, np.array([2000]), arm="active", index=0, seed=11)[0] == s[2]
    assert draw_effect_sizes(spec, draws, arm="other", index=0, seed=11)[0] != s[0]


@pytest.mark.parametrize(("size", "check"), [
    ({"dist": "lognormal", "median": 0.7, "sigma": 0.15},
     lambda x: (np.median(x), np.std(np.log(x)), 0.7, 0.15)),
    ({"dist": "normal", "mean": -0.2, "sd": 0.05}, lambda x: (x.mean(), x.std(), -0.2, 0.05)),
    ({"dist": "uniform", "low": 0.5, "high": 1.5},
     lambda x: (x.mean(), x.std(), 1.0, 1 / np.sqrt(12))),
    ({"dist": "beta", "a": 2.0, "b": 6.0},
     lambda x: (x.mean(), x.std(), 0.25, np.sqrt(2 * 6 / (64 * 9)))),
])
def test_effect_size_distributions_have_the_configured_moments(size, check) -> None:
    x = draw_effect_sizes(DistributionSpec.from_value(size), np.arange(40_000), arm="a", index=0,
                          seed=5)
    loc, scale, loc0, scale0 = check(x)
    assert loc == pytest.approx(loc0, abs=0.01)
    assert scale == pytest.approx(scale0, rel=0.03)


def test_fixed_size_and_effect_types() -> None:
    m = get_model("pk_1cmt_oral")
    v = np.array([2.0, 4.0])
    s = np.array([0.5, 0.5])
    assert apply_effect(v, EffectConfig("CL", DistributionSpec(), "multiplier"), s,
                        model=m).tolist() == [1.0, 2.0]
    assert apply_effect(v, EffectConfig("CL", DistributionSpec(), "additive"), s,
                        model=m).tolist() == [2.5, 4.5]
    np.testing.assert_allclose(apply_effect(v, EffectConfig("CL", DistributionSpec(), "log_additive"),
                                            s, model=m), v * np.exp(0.5))
    # adherence as the fraction of the effect realised
    assert apply_effect(v, EffectConfig("CL", DistributionSpec(), "multiplier"), s, model=m,
                        fraction=0.5).tolist() == [1.5, 3.0]
    b = get_model("biomarker_progression", biomarker_center=0.0)
    assert apply_effect(v, EffectConfig("slope", DistributionSpec(), "log_additive"), s,
                        model=b).tolist() == [2.5, 4.5]  # identity-scale parameter: a shift


def test_arm_without_effects_leaves_parameters_untouched() -> None:
    p = {"slope": np.array([0.1, 0.2])}
    out = arm_parameters(p, ArmConfig("placebo", control=True), np.array([0, 1]),
                         model=get_model("biomarker_progression", biomarker_center=0.0), seed=1)
    assert out["slope"] is p["slope"]


def test_windowed_slope_effect_matches_the_hand_computed_piecewise_line() -> None:
    m = get_model("biomarker_progression", biomarker_center=0.0)
    ctl = {"intercept": np.zeros(3), "slope": np.ones(3), "treatment_slope": np.zeros(3)}
    trt = {**ctl, "slope": np.full(3, 0.5)}
    design = {"treatment": np.zeros(3)}
    t = np.array([0.0, 1.0, 2.0, 3.0])
    stop = np.array([np.inf, 1.0, 2.5])
    wp, wd = windowed_inputs(trt, ctl, design, onset=0.0, stop=stop, names=list(ctl))
    f = predict_numpy(WindowedModel(m), wp, t, wd)
    np.testing.assert_allclose(f[0], 0.5 * t)                          # never stops
    np.testing.assert_allclose(f[1], [0, 0.5, 1.5, 2.5])               # stops at 1
    np.testing.assert_allclose(f[2], [0, 0.5, 1.0, 0.5 * 2.5 + 0.5])  # stops at 2.5
    # onset at 1: untreated until 1, then half slope; stopped before onset: no effect
    wp, wd = windowed_inputs(trt, ctl, design, onset=1.0, stop=np.array([np.inf, 0.5, 2.0]),
                             names=list(ctl))
    f = predict_numpy(WindowedModel(m), wp, t, wd)
    np.testing.assert_allclose(f[0], [0, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(f[1], t)
    np.testing.assert_allclose(f[2], [0, 1.0, 1.5, 2.5])


@pytest.mark.parametrize("shape", [0.7, 1.3])
@pytest.mark.parametrize("onset", [0.0, 0.8])
def test_windowed_cumulative_hazard_integrates_across_the_window_ends(shape: float,
                                                                      onset: float) -> None:
    from scipy.integrate import quad

    from twintrial.models import NUMPY

    model = get_model("biomarker_progression", biomarker_center=0.4)
    rng = np.random.default_rng(3)
    n = 30
    ctl = {"intercept": rng.normal(0.4, 0.8, n), "slope": rng.normal(0.2, 0.3, n),
           "treatment_slope": np.zeros(n), "weibull_shape": np.full(n, shape),
           "weibull_scale": np.full(n, 6.0), "association": np.full(n, 1.2)}
    trt = {**ctl, "slope": ctl["slope"] * 0.4}
    stop = rng.uniform(0.0, 4.0, n)
    stop[:4] = [0.0, np.inf, 0.5, onset]
    design = {"treatment": np.zeros(n)}
    wp, wd = windowed_inputs(trt, ctl, design, onset=onset, stop=stop,
                             names=["intercept", "slope", "treatment_slope"])
    wm = WindowedModel(model)
    T = rng.uniform(0.1, 5.0, n)
    got = wm.event.log_cumulative_hazard(NUMPY, T, wp, wd, wm)
    one_rule = model.event.log_cumulative_hazard(NUMPY, T, wp, wd, wm)  # kinks inside [0, T]
    want = np.empty(n)
    for i in range(n):
        p_i = {k: v[i:i + 1] for k, v in wp.items()}
        d_i = {k: v[i:i + 1] for k, v in wd.items()}

        def hazard(s: float, p_i: dict = p_i, d_i: dict = d_i) -> float:
            return float(np.exp(model.event.log_hazard(NUMPY, np.array([s]), p_i, d_i, wm))[0])

        kinks = [x for x in (onset, stop[i]) if 0 < x < T[i]] or None
        want[i] = np.log(quad(hazard, 0.0, T[i], points=kinks, epsrel=1e-13, epsabs=0.0,
                              limit=200)[0])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)
    assert np.abs(one_rule - want).max() > 1e-4  # what the pieces are for
    # without a window (never stopped, no onset) it is the base model's rule itself
    wp0, wd0 = windowed_inputs(trt, ctl, design, onset=0.0, stop=np.full(n, np.inf),
                               names=["intercept", "slope", "treatment_slope"])
    plain = model.event.log_cumulative_hazard(NUMPY, T, trt, design, model)
    assert wm.event.log_cumulative_hazard(NUMPY, T, wp0, wd0, wm).tobytes() == plain.tobytes()
