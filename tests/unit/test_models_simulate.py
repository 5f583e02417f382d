"""Batched NumPy simulation: individual parameters, predictions, residual noise, event times."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.integrate import quad

from twintrial.exceptions import ModelError
from twintrial.models import NUMPY, get_model
from twintrial.models.simulate import (
    add_residual_noise,
    individual_parameters,
    predict_numpy,
    simulate_event_times,
)

POP = {"mu_intercept": 0.4, "mu_slope": 0.1, "mu_treatment_slope": -0.05, "weibull_shape": 1.5,
       "weibull_scale": 8.0, "association": 0.0}


@pytest.fixture(scope="module")
def joint():
    return get_model("biomarker_progression", biomarker_center=0.5)


def test_individual_parameters_covariate_transforms():
    m = get_model("biomarker_progression", biomarker_center=0.0, covariates={
        "intercept": [{"covariate": "age", "form": "linear", "center": 50, "scale": 10},
                      {"covariate": "female", "form": "binary"}],
        "slope": [{"covariate": "albumin", "form": "power", "center": 3.5, "fixed": -1.0}]})
    cov = pd.DataFrame({"age": [40.0, 70.0], "female": [0.0, 1.0], "albumin": [3.5, 7.0]})
    pop = {**POP, "beta_intercept_age": 0.2, "beta_intercept_female": -0.3}
    eta = np.array([[0.1, 0.0], [0.0, 0.05]])
    p = individual_parameters(m, pop, cov, eta)
    np.testing.assert_allclose(p["intercept"], [0.4 + 0.2 * (-1.0) + 0.1, 0.4 + 0.2 * 2.0 - 0.3])
    np.testing.assert_allclose(p["slope"], [0.1, 0.1 - np.log(2.0) + 0.05])
    np.testing.assert_allclose(p["treatment_slope"], [-0.05, -0.05])
    np.testing.assert_allclose(p["weibull_shape"], [1.5, 1.5])
    by_name = individual_parameters(m, pop, cov, {"intercept": eta[:, 0], "slope": eta[:, 1]})
    for k in p:
        np.testing.assert_array_equal(p[k], by_name[k])


def test_individual_parameters_log_scale_and_event_mu(joint):
    pk = get_model("pk_1cmt_oral", covariates={"CL": [], "V": []})
    pop = {"mu_ka": np.log(1.5), "mu_CL": np.array([np.log(2.0), np.log(4.0)]), "mu_V": np.log(30.0)}
    p = individual_parameters(pk, pop, {}, np.array([[0.0, 0.0, 0.0], [np.log(2.0), 0.0, 0.0]]))
    np.testing.assert_allclose(p["ka"], [1.5, 3.0])
    np.testing.assert_allclose(p["CL"], [2.0, 4.0])
    pop2 = {k: v for k, v in POP.items() if k != "weibull_scale"} | {"mu_weibull_scale": np.log(8.0)}
    p2 = individual_parameters(joint, pop2, None, n=3)
    np.testing.assert_allclose(p2["weibull_scale"], [8.0] * 3)


def test_individual_parameters_errors(joint):
    with pytest.raises(ModelError, match="mu_slope"):
        individual_parameters(joint, {"mu_intercept": 0.0}, None, n=2)
    with pytest.raises(ModelError, match=r"eta: must have shape \(n_patients, 2\)"):
        individual_parameters(joint, POP, None, np.zeros((2, 3)))
    pk = get_model("pk_1cmt_oral")
    with pytest.raises(ModelError, match="missing column 'wt'"):
        individual_parameters(pk, {"mu_ka": 0.0, "mu_CL": 0.0, "mu_V": 0.0}, {"age": [1.0]})


def test_predict_numpy_shapes_and_design(joint):
    p = individual_parameters(joint, POP, None, n=4)
    design = {"treatment": np.array([0.0, 1.0, 0.0, 1.0])}
    f = predict_numpy(joint, p, np.array([0.0, 1.0, 2.0]), design)
    assert f.shape == (4, 3)
    np.testing.assert_allclose(f[1] - f[0], [0.0, -0.05, -0.10])
    per_patient_t = np.tile([0.0, 1.0, 2.0], (4, 1)) + np.arange(4)[:, None]
    assert predict_numpy(joint, p, per_patient_t, design).shape == (4, 3)


def test_residual_noise_matches_combined_sd():
    pk = get_model("pk_1cmt_oral")
    f = np.full((2, 100_000), 5.0)
    f[1] = 0.5
    y = add_residual_noise(pk, f, {"sigma_add": 0.3, "sigma_prop": 0.1}, np.random.default_rng(3))
    sd = (y - f).std(axis=1)
    np.testing.assert_allclose(sd, np.sqrt(0.3**2 + (0.1 * f[:, 0]) ** 2), rtol=0.01)
    with pytest.raises(ModelError, match="sigma_prop"):
        add_residual_noise(pk, f, {"sigma_add": 0.3}, np.random.default_rng(3))


def test_event_times_follow_weibull_when_alpha_zero(joint):
    n, k, lam, horizon = 20_000, 1.5, 8.0, 10.0
    p = individual_parameters(joint, POP, None, n=n)
    design = {"treatment": np.zeros(n)}
    t, e = simulate_event_times(joint, p, design, horizon=horizon, rng=np.random.default_rng(7))
    s_h = np.exp(-((horizon / lam) ** k))
    assert abs((1 - e.mean()) - s_h) < 4 * np.sqrt(s_h * (1 - s_h) / n)
    assert np.all(t[e == 0] == horizon) and np.all(t[e == 1] < horizon)
    cdf = lambda x: (1 - np.exp(-((x / lam) ** k))) / (1 - s_h)  # noqa: E731  conditional on event
    assert stats.kstest(t[e == 1], cdf).pvalue > 0.01


def test_event_times_invert_cumulative_hazard_exactly(joint):
    rng = np.random.default_rng(11)
    n = 5_000
    pop = {**POP, "association": 1.2, "weibull_shape": 0.8}
    eta = rng.normal(0, [1.0, 0.3], (n, 2))
    p = individual_parameters(joint, pop, None, eta)
    design = {"treatment": (rng.random(n) < 0.5).astype(float)}
    horizon = rng.uniform(2, 15, n)
    t, e = simulate_event_times(joint, p, design, horizon=horizon, rng=np.random.default_rng(5))
    log_e = np.log(np.random.default_rng(5).standard_exponential(n))  # documented draw order
    ev = e == 1
    lch = joint.event.log_cumulative_hazard(NUMPY, t, p, design, joint)
    np.testing.assert_allclose(lch[ev], log_e[ev], atol=1e-9)
    assert np.all(lch[~ev] < log_e[~ev]) and np.all(t[~ev] == horizon[~ev])


def test_event_times_with_link_have_right_survival(joint):
    n, horizon = 20_000, 12.0
    pop = {**POP, "association": 1.0, "weibull_shape": 1.2}
    p = individual_parameters(joint, pop, None, n=n)
    design = {"treatment": np.zeros(n)}
    t, e = simulate_event_times(joint, p, design, horizon=horizon, rng=np.random.default_rng(9))
    one = {k: v[:1] for k, v in p.items()}
    d1 = {"treatment": np.zeros(1)}

    h = lambda s: np.exp(joint.event.log_hazard(NUMPY, np.array([s]), one, d1, joint))[0]  # noqa: E731
    grid = np.linspace(0.0, horizon, 601)
    big_h = np.concatenate([[0.0], np.cumsum([quad(h, lo, hi, epsrel=1e-12)[0]
                                              for lo, hi in zip(grid[:-1], grid[1:], strict=True)])])
    f_h = 1 - np.exp(-big_h[-1])
    cdf = lambda x: (1 - np.exp(-np.interp(x, grid, big_h))) / f_h  # noqa: E731
    assert stats.kstest(t[e == 1], cdf).pvalue > 0.01


def test_event_simulation_is_deterministic_and_checks_inputs(joint):
    p = individual_parameters(joint, POP, None, n=50)
    d = {"treatment": np.zeros(50)}
    a = simulate_event_times(joint, p, d, horizon=5.0, rng=np.random.default_rng(1))
    b = simulate_event_times(joint, p, d, horizon=5.0, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ModelError, match="horizon"):
        simulate_event_times(joint, p, d, horizon=0.0, rng=np.random.default_rng(1))
    pk = get_model("pk_1cmt_oral")
    with pytest.raises(ModelError, match="no time-to-event submodel"):
        simulate_event_times(pk, {"ka": np.ones(2)}, {}, horizon=1.0, rng=np.random.default_rng(1))


def test_event_times_that_do_not_converge_are_an_error_not_a_result(joint):
    # with association 0 the first Newton step is exact (log H is linear in log t)
    p = individual_parameters(joint, {**POP, "association": 1.0}, None, n=50)
    d = {"treatment": np.zeros(50)}
    t, e = simulate_event_times(joint, p, d, horizon=5.0, rng=np.random.default_rng(1))
    assert e.sum() > 0
    # one iteration allowed: some patients' first steps are not yet within tol
    with pytest.raises(ModelError, match=r"did not converge for [1-9]\d* of 50 patients \(max_iter=1"):
        simulate_event_times(joint, p, d, horizon=5.0, rng=np.random.default_rng(1), max_iter=1)


def test_time_major_prediction_is_the_patient_major_one_bit_for_bit(joint):
    rng = np.random.default_rng(3)
    n = 257
    p = {"intercept": rng.normal(0.4, 0.5, n), "slope": rng.normal(0.1, 0.2, n),
         "treatment_slope": rng.normal(-0.05, 0.02, n)}
    design = {"treatment": (rng.random(n) < 0.5).astype(float)}
    grid = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 7.25])
    f = predict_numpy(joint, p, grid, design)
    ref = joint.predict(NUMPY, {k: v[:, None] for k, v in p.items()}, grid[None, :],
                        {k: v[:, None] for k, v in design.items()})
    assert f.shape == (n, grid.size) and f.flags.f_contiguous
    assert np.ascontiguousarray(f).tobytes() == np.ascontiguousarray(ref).tobytes()


@pytest.mark.parametrize("kind", ["additive", "proportional", "combined"])
def test_residual_observations_are_the_generic_formula_bit_for_bit(kind):
    from twintrial.models.simulate import residual_observations

    model = get_model("pk_1cmt_oral", residual=kind)
    rng = np.random.default_rng(5)
    n, t = 300, 7
    f = np.asfortranarray(rng.lognormal(0.0, 2.0, (n, t)))
    f[0, 0] = 0.0
    z = np.asfortranarray(rng.standard_normal((n, t)))
    sig = {k: rng.uniform(0.01, 0.5, n) for k in model.residual.priors}
    ref = f + model.residual.sd(NUMPY, f, {k: v[:, None] for k, v in sig.items()}) * z
    got = residual_observations(model, f, sig, z)
    assert got.shape == (n, t)
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(ref).tobytes()


def test_nodes_first_quadrature_agrees_and_does_not_depend_on_the_batch(joint):
    from twintrial.models.base import EventModel, nodes_first

    rng = np.random.default_rng(12)
    n = 400
    pop = {**POP, "association": 1.2, "weibull_shape": 0.8}
    p = individual_parameters(joint, pop, None, rng.normal(0, [1.0, 0.3], (n, 2)))
    p = {k: np.broadcast_to(v, (n,)).copy() for k, v in p.items()}
    design = {"treatment": (rng.random(n) < 0.5).astype(float)}
    T = rng.uniform(0.01, 15, n)
    assert nodes_first(NUMPY, T, p, design, joint)
    for rule in (joint.event.log_cumulative_hazard,  # exact Weibull baseline, graded nodes
                 lambda *a: EventModel.log_cumulative_hazard(joint.event, *a)):  # generic rule
        fast = rule(NUMPY, T, p, design, joint)
        # the trailing node axis, as in the PyTensor likelihood (T of shape (n, 1))
        slow = rule(NUMPY, T[:, None], {k: v[:, None] for k, v in p.items()},
                    {k: v[:, None] for k, v in design.items()}, joint)[:, 0]
        np.testing.assert_allclose(fast, slow, rtol=1e-13, atol=1e-13)
        for rows in (slice(0, 1), slice(5, 6), slice(37, 300)):
            part = rule(NUMPY, T[rows], {k: v[rows] for k, v in p.items()},
                        {k: v[rows] for k, v in design.items()}, joint)
            assert part.tobytes() == fast[rows].tobytes()
