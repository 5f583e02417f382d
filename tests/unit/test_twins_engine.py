"""The hierarchical model built by twintrial.twins.engine: data preparation and exact log density.

The log density of the built PyMC model is compared, at a random point, with the same density
written out by hand with scipy (Gaussian observations, M3 censoring, exponential event likelihood,
normal random effects), for both parameterisations.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from twintrial.exceptions import DataError
from twintrial.models.base import (
    CovariateEffect,
    EventModel,
    Model,
    Parameter,
    Prior,
    ResidualError,
)
from twintrial.twins.engine import build_pymc_model, choose_parameterization, prepare_data


class Line(Model):
    """y = a_i + b_i t with a log-normal 'b' and a covariate on 'a' (toy model for tests)."""

    name = "toy_line"
    observed_variable = "y"
    time_unit = "h"

    def __init__(self, event: bool = False, center: float | None = 50.0) -> None:
        self.parameters = (
            Parameter("a", "u", "intercept", 1.0, Prior("Normal", {"mu": 1.0, "sigma": 2.0}),
                      "identity", iiv=Prior("HalfNormal", {"sigma": 1.0}),
                      covariates=(CovariateEffect("age", "linear", center, 10.0),)),
            Parameter("b", "u/h", "slope", 0.5, Prior("Normal", {"mu": np.log(0.5), "sigma": 1.0}),
                      "log", iiv=Prior("HalfNormal", {"sigma": 0.5})),
        )
        self.residual = ResidualError("additive", {"sigma_add": Prior("HalfNormal", {"sigma": 1.0})})
        self.event = ConstantHazard() if event else None

    def predict(self, xp, params, t, design):  # noqa: ANN001, D102
        return params["a"] + params["b"] * t


class ConstantHazard(EventModel):
    """log h = log lam + 0.1 * a_i (depends on the individual intercept)."""

    parameters = (Parameter("lam", "1/h", "rate", 0.1, Prior("LogNormal", {"mu": -2.0, "sigma": 1.0}),
                            "log"),)

    def log_hazard(self, xp, t, params: Mapping, design, model):  # noqa: ANN001, D102
        return xp.log(params["lam"]) + 0.1 * params["a"] + 0.0 * t


def tables(n: int = 4, cens_last: bool = False) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(0)
    ids = [str(i + 1) for i in range(n)]
    subjects = pd.DataFrame({"id": ids, "arm": pd.Series([pd.NA] * n, dtype="str"),
                             "age": np.linspace(40.0, 70.0, n)})
    rows = []
    for i, pid in enumerate(ids):
        for t in (0.5, 1.0, 2.0, 4.0)[: 2 + i % 3]:
            rows.append((pid, t, "y", 1.0 + 0.5 * t + rng.normal(0, 0.3), 0))
    obs = pd.DataFrame(rows, columns=["id", "time", "variable", "value", "cens"])
    obs["cens"] = obs["cens"].astype(np.int8)
    if cens_last:
        obs.loc[obs.index[-1], ["value", "cens"]] = [0.2, 1]
    doses = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": [], "amount": [],
                          "route": pd.Series([], dtype="str"), "duration": []})
    events = pd.DataFrame({"id": ids, "time": np.linspace(3.0, 9.0, n),
                           "event": np.array([1, 0, 1, 0][:n], dtype=np.int8)})
    return subjects, obs, doses, events


def test_prepare_data_shapes_and_centres() -> None:
    s, o, d, e = tables()
    data = prepare_data(s, o, d, e, Line(center=None), parameterization="noncentered")
    assert data.ids == ("1", "2", "3", "4")
    assert len(data.obs_y) == len(o)
    assert data.terms[0].center == pytest.approx(55.0)  # data mean when center is None
    np.testing.assert_allclose(data.regressors["beta_a_age"], (s["age"] - 55.0) / 10.0)
    assert data.re_params == ("a", "b")
    assert data.event_time is None


def test_fit_window_drops_late_observations_and_censors_events() -> None:
    s, o, d, e = tables()
    data = prepare_data(s, o, d, e, Line(event=True), fit_window=1.5)
    assert data.obs_time.max() <= 1.5
    assert (data.event_time <= 1.5).all() and not data.event_flag.any()


def test_missing_covariate_is_a_data_error() -> None:
    s, o, d, e = tables()
    with pytest.raises(DataError, match="subjects: column 'age' missing"):
        prepare_data(s.drop(columns="age"), o, d, e, Line())


def test_wrong_variable_is_a_data_error() -> None:
    s, o, d, e = tables()
    with pytest.raises(DataError, match="no rows with variable 'y'"):
        prepare_data(s, o.assign(variable="conc"), d, e, Line())


def test_missing_event_row_is_a_data_error() -> None:
    s, o, d, e = tables()
    with pytest.raises(DataError, match="events: no event/censoring row for 1 patient"):
        prepare_data(s, o, d, e.iloc[:3], Line(event=True))


def test_auto_parameterization_follows_data_density() -> None:
    assert choose_parameterization(np.array([2, 3, 2]), 2, requested="auto") == "noncentered"
    assert choose_parameterization(np.array([10, 11, 12]), 2, requested="auto") == "centered"
    assert choose_parameterization(np.array([5, 5, 6]), 2, requested="auto") == "noncentered"
    assert choose_parameterization(np.array([10, 11]), 2, requested="noncentered") == "noncentered"


def _manual_logp(point: dict, data, model: Line, parameterization: str) -> float:
    """The joint log density on the unconstrained space, written out independently."""
    lp = 0.0
    mu_a, mu_b = point["mu_a"], point["mu_b"]
    lp += stats.norm(1.0, 2.0).logpdf(mu_a) + stats.norm(np.log(0.5), 1.0).logpdf(mu_b)
    beta = point["beta_a_age"]
    lp += stats.norm(0, 1).logpdf(beta)
    om = np.exp([point["omega_a_log__"], point["omega_b_log__"]])
    lp += stats.halfnorm(scale=1.0).logpdf(om[0]) + stats.halfnorm(scale=0.5).logpdf(om[1])
    lp += np.log(om).sum()  # log-transform Jacobian
    sig = np.exp(point["sigma_add_log__"])
    lp += stats.halfnorm(scale=1.0).logpdf(sig) + np.log(sig)
    mean = np.stack([mu_a + beta * data.regressors["beta_a_age"],
                     mu_b + np.zeros(data.n_patients)], axis=1)
    if parameterization == "noncentered":
        z = point["z"]
        lp += stats.norm(0, 1).logpdf(z).sum()
        psi = mean + z * om
    else:
        psi = point["psi"]
        lp += stats.norm(mean, om).logpdf(psi).sum()
    a, b = psi[:, 0], np.exp(psi[:, 1])
    f = a[data.obs_patient] + b[data.obs_patient] * data.obs_time
    c = data.obs_cens
    lp += stats.norm(f[~c], sig).logpdf(data.obs_y[~c]).sum()
    lp += stats.norm(f[c], sig).logcdf(data.obs_y[c]).sum()
    if model.event is not None:
        lam = np.exp(point["theta_lam_log__"])
        lp += stats.lognorm(s=1.0, scale=np.exp(-2.0)).logpdf(lam) + np.log(lam)
        log_h = np.log(lam) + 0.1 * a
        H = np.exp(log_h) * data.event_time
        lp += (data.event_flag * log_h - H).sum()
    return float(lp)


@pytest.mark.parametrize("parameterization", ["noncentered", "centered"])
@pytest.mark.parametrize("event", [False, True])
def test_log_density_matches_hand_written(parameterization: str, event: bool) -> None:
    s, o, d, e = tables(cens_last=True)
    model = Line(event=event)
    data = prepare_data(s, o, d, e, model, parameterization=parameterization)
    pm_model = build_pymc_model(data, model)
    rng = np.random.default_rng(1)
    point = {k: rng.normal(0, 0.5, size=np.shape(v)) for k, v in pm_model.initial_point().items()}
    got = float(pm_model.compile_logp(mode="FAST_COMPILE")(point))
    assert got == pytest.approx(_manual_logp(point, data, model, parameterization), rel=1e-9)
