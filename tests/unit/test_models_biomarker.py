"""biomarker_progression: NumPy vs PyTensor, the Weibull-linked hazard and its quadrature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from twintrial.exceptions import ModelError
from twintrial.models import NUMPY, EventModel, get_model, pytensor_namespace
from twintrial.models.pk_1cmt_oral import regimen_design

EVENT_SCALARS = ("weibull_shape", "weibull_scale", "association", "treatment_hazard", "gamma_age")


@pytest.fixture(scope="module")
def model():
    return get_model("biomarker_progression", biomarker_center=0.6, treatment_hazard=True,
                     hazard_covariates=[{"covariate": "age", "center": 50.0, "scale": 10.0}])


def random_inputs(rng, n):
    params = {"intercept": rng.normal(0.5, 1.0, n), "slope": rng.normal(0.1, 0.3, n),
              "treatment_slope": rng.normal(0, 0.2, n), "weibull_shape": np.exp(rng.normal(0, 0.4, n)),
              "weibull_scale": np.exp(rng.normal(2.3, 0.5, n)), "association": rng.normal(1, 0.5, n),
              "treatment_hazard": rng.normal(0, 0.3, n), "gamma_age": rng.normal(0, 0.5, n)}
    design = {"treatment": (rng.random(n) < 0.5).astype(float), "x_age": rng.normal(50, 10, n)}
    return params, design, rng.uniform(0.05, 14, n)


@pytest.mark.parametrize("event_scalars", [False, True])
def test_numpy_and_pytensor_agree(model, event_scalars):
    import pytensor
    import pytensor.tensor as pt

    rng = np.random.default_rng(1)
    params, design, t = random_inputs(rng, 300)
    if event_scalars:  # the PyMC layout: population hazard parameters are scalars
        params.update({k: np.float64(params[k][0]) for k in EVENT_SCALARS})
    sym = {k: (pt.dscalar(k) if np.ndim(v) == 0 else pt.dvector(k)) for k, v in params.items()}
    sd = {k: pt.dvector(k) for k in design}
    st = pt.dvector("t")
    pt_ns = pytensor_namespace()
    outs = [model.predict(pt_ns, sym, st, sd),
            model.event.log_hazard(pt_ns, st, sym, sd, model),
            model.event.log_cumulative_hazard(pt_ns, st, sym, sd, model)]
    inputs = [*sym.values(), *sd.values(), st]
    fn = pytensor.function(inputs, outs)
    got = fn(*params.values(), *design.values(), t)
    want = [model.predict(NUMPY, params, t, design),
            model.event.log_hazard(NUMPY, t, params, design, model),
            model.event.log_cumulative_hazard(NUMPY, t, params, design, model)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def base_params(k, alpha):
    return {"intercept": np.array([0.9]), "slope": np.array([0.25]),
            "treatment_slope": np.array([-0.1]), "weibull_shape": np.array([k]),
            "weibull_scale": np.array([8.0]), "association": np.array([alpha]),
            "treatment_hazard": np.array([0.2]), "gamma_age": np.array([0.3])}


DESIGN = {"treatment": np.array([1.0]), "x_age": np.array([62.0])}


@pytest.mark.parametrize("k", [0.6, 1.0, 1.7, 3.2])
def test_alpha_zero_gives_weibull_exactly(model, k):
    p = base_params(k, 0.0)
    T = np.array([0.01, 0.5, 3.0, 12.0, 40.0])
    pp = {key: np.repeat(v, T.size) for key, v in p.items()}
    dd = {key: np.repeat(v, T.size) for key, v in DESIGN.items()}
    lch = model.event.log_cumulative_hazard(NUMPY, T, pp, dd, model)
    lin = 0.2 + 0.3 * (62.0 - 50.0) / 10.0
    np.testing.assert_allclose(lch, k * np.log(T / 8.0) + lin, rtol=0, atol=1e-14)


@pytest.mark.parametrize("k", [0.5, 1.0, 1.7])
def test_quadrature_matches_scipy_quad_on_smooth_case(model, k):
    p = base_params(k, 1.3)
    for T in (0.7, 5.0, 15.0):
        h = lambda s: np.exp(model.event.log_hazard(NUMPY, np.array([s]), p, DESIGN, model))[0]  # noqa: E731
        ref, _ = quad(h, 0, T, epsabs=0, epsrel=1e-13, limit=200)
        got = np.exp(model.event.log_cumulative_hazard(NUMPY, np.array([T]), p, DESIGN, model))[0]
        assert abs(got / ref - 1) < 1e-8


def test_quadrature_is_accurate_for_large_shape(model):
    p = base_params(3.0, 1.3)
    h = lambda s: np.exp(model.event.log_hazard(NUMPY, np.array([s]), p, DESIGN, model))[0]  # noqa: E731
    ref, _ = quad(h, 0, 10.0, epsabs=0, epsrel=1e-13, limit=200)
    got = np.exp(model.event.log_cumulative_hazard(NUMPY, np.array([10.0]), p, DESIGN, model))[0]
    assert abs(got / ref - 1) < 1e-7  # graded substitution: smooth enough for large k


class ConcentrationHazard(EventModel):
    """An exposure-driven hazard, log h = log(h0) + beta * C(t), using the generic quadrature."""

    parameters = ()
    n_nodes = 40

    def log_hazard(self, xp, t, params, design, model):
        return xp.log(params["h0"]) + params["beta"] * model.predict(xp, params, t, design)


def test_generic_quadrature_with_dose_axis_matches_quad():
    pk = get_model("pk_1cmt_oral")
    ev = ConcentrationHazard()
    des = regimen_design(2, amount=np.array([300.0, 150.0]), interval=12.0, n_doses=3)
    p = {"ka": np.array([1.4, 0.9]), "CL": np.array([2.5, 3.5]), "V": np.array([30.0, 40.0]),
         "h0": np.array([0.01, 0.02]), "beta": np.array([0.1, 0.2])}
    T = np.array([30.0, 30.0])
    got = np.exp(ev.log_cumulative_hazard(NUMPY, T, p, des, pk))
    for i in range(2):
        pi = {k: v[i:i + 1] for k, v in p.items()}
        di = {k: v[i:i + 1] for k, v in des.items()}
        h = lambda s: np.exp(ev.log_hazard(NUMPY, np.array([s]), pi, di, pk))[0]  # noqa: E731,B023
        ref, _ = quad(h, 0, 30.0, points=[12.0, 24.0], epsrel=1e-12, limit=200)
        assert got[i] == pytest.approx(ref, rel=2e-3)  # kinks at doses limit plain Gauss–Legendre


def test_resolve_centers_from_data():
    m = get_model("biomarker_progression",
                  covariates={"intercept": [{"covariate": "age", "scale": 10}]},
                  hazard_covariates=[{"covariate": "age", "scale": 10}])
    assert m.unresolved_centers() == ["covariates.intercept.age", "biomarker_center"]
    subjects = pd.DataFrame({"id": ["1", "2"], "age": [40.0, 60.0]})
    obs = pd.DataFrame({"id": ["1", "1", "2"], "variable": ["bili", "bili", "albumin"],
                        "value": [1.0, np.e ** 2, 3.0], "time": [0.0, 1.0, 0.0], "cens": [0, 0, 0]})
    r = m.resolve_centers(subjects, obs)
    assert r.unresolved_centers() == []
    assert r.options["biomarker_center"] == pytest.approx(1.0)
    assert r.parameter("intercept").covariates[0].center == 50.0
    assert r.event.covariates[0].center == 50.0
    with pytest.raises(ModelError, match="biomarker_center"):
        m.event.log_hazard(NUMPY, np.ones(1), base_params(1, 1), DESIGN, m)
    with pytest.raises(ModelError, match="'age' not in subjects"):
        m.resolve_centers(subjects.drop(columns="age"), obs)


def test_design_from_data_codes_treatment():
    m = get_model("biomarker_progression", biomarker_center=0.0,
                  hazard_covariates=[{"covariate": "age", "center": 50}])
    subjects = pd.DataFrame({"id": ["1", "2", "3"], "arm": pd.array(["placebo", "D-pen", None]),
                             "age": [40.0, 50.0, 60.0]})
    d = m.design_from_data(subjects, None)
    np.testing.assert_array_equal(d["treatment"], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(d["x_age"], [40.0, 50.0, 60.0])
    m2 = get_model("biomarker_progression", biomarker_center=0.0, treated_arms=["placebo"])
    np.testing.assert_array_equal(m2.design_from_data(subjects, None)["treatment"], [1.0, 0.0, 0.0])
    with pytest.raises(ModelError, match="'age' has 1 missing"):
        m.design_from_data(subjects.assign(age=[1.0, np.nan, 2.0]), None)


def test_observation_transform_and_treatment_on_slope(model):
    np.testing.assert_allclose(model.observation_transform(NUMPY, np.array([1.0, np.e])), [0, 1])
    p = base_params(1.0, 0.0)
    t = np.array([0.0, 2.0])
    treated = model.predict(NUMPY, p, t, {"treatment": np.array([1.0])})
    control = model.predict(NUMPY, p, t, {"treatment": np.array([0.0])})
    np.testing.assert_allclose(treated - control, [0.0, -0.2])
