"""pk_1cmt_oral: NumPy vs PyTensor agreement and analytic pharmacokinetic identities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from twintrial.exceptions import ModelError
from twintrial.models import NUMPY, get_model, pytensor_namespace
from twintrial.models.pk_1cmt_oral import absorption_kernel, regimen_design
from twintrial.models.simulate import individual_parameters, predict_numpy


@pytest.fixture(scope="module")
def model():
    return get_model("pk_1cmt_oral")


def one(model, ka, cl, v, t, times=(0.0,), amounts=(100.0,)):
    """Concentrations of a single patient at times ``t``."""
    params = {"ka": np.array([ka]), "CL": np.array([cl]), "V": np.array([v])}
    design = {"dose_time": np.array([times], float), "dose_amount": np.array([amounts], float)}
    return predict_numpy(model, params, np.atleast_1d(np.asarray(t, float)), design)[0]


def test_numpy_and_pytensor_predict_agree(model):
    import pytensor
    import pytensor.tensor as pt

    rng = np.random.default_rng(0)
    n, d = 400, 4
    ka = np.exp(rng.normal(0.3, 0.8, n))
    cl = np.exp(rng.normal(1.0, 0.5, n))
    v = np.exp(rng.normal(3.4, 0.4, n))
    ka[:50] = cl[:50] / v[:50]  # exactly ka == ke
    ka[50:100] = cl[50:100] / v[50:100] * (1 + 1e-9)
    t = rng.uniform(0, 72, n)
    dt = np.sort(rng.uniform(0, 48, (n, d)), axis=1)
    da = rng.uniform(0, 500, (n, d)) * (rng.random((n, d)) < 0.8)
    sym = {k: pt.dvector(k) for k in ("ka", "CL", "V", "t")}
    sdt, sda = pt.dmatrix("dt"), pt.dmatrix("da")
    out = model.predict(pytensor_namespace(), {k: sym[k] for k in ("ka", "CL", "V")}, sym["t"],
                        {"dose_time": sdt, "dose_amount": sda})
    grad = pt.grad(out.sum(), [sym["ka"], sym["CL"], sym["V"]])
    fn = pytensor.function([sym["ka"], sym["CL"], sym["V"], sym["t"], sdt, sda], [out, *grad])
    got, *grads = fn(ka, cl, v, t, dt, da)
    want = model.predict(NUMPY, {"ka": ka, "CL": cl, "V": v}, t, {"dose_time": dt, "dose_amount": da})
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert all(np.isfinite(g).all() for g in grads)  # gradients finite at ka == ke


def test_auc_equals_dose_over_clearance(model):
    ka, cl, v, dose = 1.59, 2.8, 32.6, 320.0
    auc, _ = quad(lambda s: one(model, ka, cl, v, s, amounts=(dose,))[0], 0, np.inf, limit=200)
    assert auc == pytest.approx(dose / cl, rel=1e-8)


def test_tmax_and_cmax(model):
    ka, cl, v, dose = 1.59, 2.8, 32.6, 320.0
    ke = cl / v
    tmax = np.log(ka / ke) / (ka - ke)
    c = one(model, ka, cl, v, [tmax - 1e-3, tmax, tmax + 1e-3], amounts=(dose,))
    assert c[1] > c[0] and c[1] > c[2]
    assert c[1] == pytest.approx(dose / v * np.exp(-ke * tmax), rel=1e-12)  # C'(tmax)=0 identity


def test_superposition_of_two_doses(model):
    t = np.linspace(0, 48, 97)
    both = one(model, 1.2, 3.0, 30.0, t, times=(0.0, 12.0), amounts=(100.0, 250.0))
    first = one(model, 1.2, 3.0, 30.0, t, times=(0.0,), amounts=(100.0,))
    second = one(model, 1.2, 3.0, 30.0, t, times=(12.0,), amounts=(250.0,))
    np.testing.assert_allclose(both, first + second, rtol=1e-13, atol=1e-14)
    assert np.all(second[t <= 12.0] == 0.0)


def test_steady_state_accumulation(model):
    ka, cl, v, dose, tau, n = 1.5, 2.8, 32.0, 300.0, 12.0, 120
    ke = cl / v
    des = regimen_design(1, amount=dose, interval=tau, n_doses=n)
    p = {"ka": np.array([ka]), "CL": np.array([cl]), "V": np.array([v])}
    s = np.array([0.5, 2.0, 6.0, 11.9])
    css = predict_numpy(model, p, (n - 1) * tau + s, des)[0]
    exact = dose * ka / (v * (ka - ke)) * (np.exp(-ke * s) / (1 - np.exp(-ke * tau))
                                           - np.exp(-ka * s) / (1 - np.exp(-ka * tau)))
    np.testing.assert_allclose(css, exact, rtol=1e-10)
    # accumulation factor 1/(1 - exp(-ke tau)) once absorption is complete (exp(-ka s) ~ 2e-8)
    single = one(model, ka, cl, v, [11.9], amounts=(dose,))[0]
    assert css[-1] / single == pytest.approx(1 / (1 - np.exp(-ke * tau)), rel=1e-6)


def test_ka_equal_ke_limit_is_continuous(model):
    cl, v, dose = 2.0, 20.0, 100.0
    ke = cl / v
    t = np.array([0.1, 1.0, 5.0, 30.0])
    limit = dose * ke * t * np.exp(-ke * t) / v
    np.testing.assert_allclose(one(model, ke, cl, v, t), limit, rtol=1e-14)
    for eps in (1e-12, 1e-8, 1e-6, 1e-4):
        near = one(model, ke * (1 + eps), cl, v, t)
        np.testing.assert_allclose(near, limit, rtol=5 * eps * ke * t.max() + 1e-13)


def test_kernel_is_symmetric_and_never_overflows():
    tau = np.array([0.0, 1.0, 1e3, 1e4])
    a = absorption_kernel(NUMPY, 0.01, 2.0, tau)
    b = absorption_kernel(NUMPY, 2.0, 0.01, tau)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all() and a[0] == 0.0


def test_allometric_weight_effects(model):
    pop = {"mu_ka": np.log(1.5), "mu_CL": np.log(2.8), "mu_V": np.log(32.0)}
    wt = np.array([35.0, 70.0, 140.0])
    p = individual_parameters(model, pop, pd.DataFrame({"wt": wt}))
    np.testing.assert_allclose(p["CL"], 2.8 * (wt / 70) ** 0.75, rtol=1e-14)
    np.testing.assert_allclose(p["V"], 32.0 * (wt / 70), rtol=1e-14)
    np.testing.assert_allclose(p["ka"], 1.5)


def test_design_from_data_pads_doses(model):
    subjects = pd.DataFrame({"id": ["1", "2", "3"]})
    doses = pd.DataFrame({"id": ["2", "1", "2"], "time": [12.0, 0.0, 0.0],
                          "amount": [50.0, 100.0, 75.0], "route": ["oral"] * 3,
                          "duration": [0.0] * 3})
    d = model.design_from_data(subjects, doses)
    np.testing.assert_array_equal(d["dose_time"], [[0, 0], [0, 12], [0, 0]])
    np.testing.assert_array_equal(d["dose_amount"], [[100, 0], [75, 50], [0, 0]])
    bad = doses.assign(route=["oral", "iv_bolus", "oral"])
    with pytest.raises(ModelError, match="iv_bolus"):
        model.design_from_data(subjects, bad)


def test_prediction_before_first_dose_is_zero(model):
    c = one(model, 1.0, 2.0, 20.0, [0.0, 1.0, 2.0], times=(1.5,))
    np.testing.assert_array_equal(c[:2], 0.0)
    assert c[2] > 0


def test_individual_fits_reproduce_published_theophylline_estimates(model):
    """Two-stage check on the real data: per-subject least squares, geometric means.

    Reference: Boeckmann, Sheiner & Beal (1994), NONMEM Users Guide Part V; the nlme SSfol
    population fit of R ``datasets::Theoph`` gives ka 1.59 /h, ke 0.086 /h, CL/F 0.040 L/h/kg.
    """
    from pathlib import Path

    from scipy.optimize import least_squares

    data = pd.read_csv(Path(__file__).parents[2] / "cohorts" / "theoph" / "pk_theoph.csv")
    estimates = []
    for _, g in data.groupby("Subject"):
        wt = g["Wt"].iloc[0]
        design = {"dose_time": np.zeros((1, 1)), "dose_amount": np.array([[g["Dose"].iloc[0] * wt]])}
        t, y = g["Time"].to_numpy(), g["conc"].to_numpy()

        def resid(th, t=t, y=y, design=design):
            p = {"ka": np.exp(th[:1]), "CL": np.exp(th[1:2]), "V": np.exp(th[2:3])}
            return predict_numpy(model, p, t, design)[0] - y

        ka, cl, v = np.exp(least_squares(resid, np.log([1.5, 2.8, 32.0])).x)
        estimates.append((ka, cl / v, cl / wt))
    gm = np.exp(np.log(estimates).mean(axis=0))
    np.testing.assert_allclose(gm, [1.59, 0.086, 0.040], rtol=0.10)


def _population(n, seed=0):
    rng = np.random.default_rng(seed)
    p = {"ka": np.exp(rng.normal(0.4, 0.8, n)), "CL": np.exp(rng.normal(1.0, 0.3, n)),
         "V": np.exp(rng.normal(3.4, 0.2, n))}
    m = min(n, 10)
    p["ka"][:m] = p["CL"][:m] / p["V"][:m] * (1.0 + rng.normal(0.0, 1e-9, m))  # ka ~ ke
    amounts = np.where(rng.random((n, 14)) < 0.8, 300.0, 0.0) * rng.uniform(0.5, 1.5, (n, 1))
    times = np.broadcast_to(12.0 * np.arange(14), (n, 14))
    return p, {"dose_time": times, "dose_amount": amounts}


def test_dose_by_dose_rule_agrees_with_superposition(model):
    # visits before the first dose, at dose times (sampled before the dose), between doses and
    # after the last one
    p, design = _population(500)
    grid = np.unique(np.r_[-2.0, np.arange(0.0, 170.0, 12.0), np.arange(1.0, 170.0, 2.5), 400.0])
    fast = model.predict_on_grid(p, grid, design)
    ref = model.predict(NUMPY, {k: v[:, None] for k, v in p.items()}, grid[None, :],
                        {k: np.ascontiguousarray(v)[:, None, :] for k, v in design.items()}).T
    assert fast.shape == ref.shape == (grid.size, 500)
    assert np.array_equal(fast[ref == 0.0], ref[ref == 0.0])  # before any dose: exactly 0
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-300)


def test_dose_by_dose_rule_only_for_shared_sorted_dose_times(model):
    p, design = _population(4)
    grid = np.array([1.0, 13.0])
    own = {"dose_time": design["dose_time"] + np.arange(4.0)[:, None], **{
        "dose_amount": design["dose_amount"]}}
    assert model.predict_on_grid(p, grid, own) is None
    # equal by chance is not enough: the rule must not depend on which patients are together
    equal = {"dose_time": np.ascontiguousarray(design["dose_time"]),
             "dose_amount": design["dose_amount"]}
    assert model.predict_on_grid(p, grid, equal) is None
    unsorted = {"dose_time": np.broadcast_to([12.0, 0.0], (4, 2)),
                "dose_amount": design["dose_amount"][:, :2]}
    assert model.predict_on_grid(p, grid, unsorted) is None
    # predict_numpy then superposes, and gives the same numbers either way
    sup = predict_numpy(model, p, grid, own)
    by_row = np.vstack([predict_numpy(model, {k: v[i:i + 1] for k, v in p.items()}, grid,
                                      {k: v[i:i + 1] for k, v in own.items()}) for i in range(4)])
    np.testing.assert_allclose(sup, by_row, rtol=1e-12)


def test_predictions_do_not_depend_on_the_patients_next_to_them(model):
    # chunk invariance: any subset of patients gets its rows bit for bit (both rules)
    p, design = _population(300)
    grid = np.arange(0.0, 160.0, 12.0)
    per_patient = {"dose_time": design["dose_time"] + np.linspace(0, 1, 300)[:, None],
                   "dose_amount": design["dose_amount"]}
    for d in (design, per_patient):
        full = predict_numpy(model, p, grid, d)
        for rows in (slice(0, 1), slice(7, 8), slice(100, 300)):
            part = predict_numpy(model, {k: v[rows] for k, v in p.items()}, grid,
                                 {k: v[rows] for k, v in d.items()})
            assert part.tobytes() == np.ascontiguousarray(full[rows]).tobytes()
