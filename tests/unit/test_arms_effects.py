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
