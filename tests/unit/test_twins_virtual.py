"""Virtual patients from a population posterior: pairing, covariates, correlation, conditioning."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from twintrial.exceptions import CohortError
from twintrial.models.base import CovariateEffect, Model, Parameter, Prior, ResidualError
from twintrial.twins.engine import CovariateTerm
from twintrial.twins.virtual import sample_virtual_patients


class Line(Model):
    """y = a_i + b_i t; 'a' identity with an age effect, 'b' log-normal (toy model)."""

    name = "toy_line"
    observed_variable = "y"
    time_unit = "h"
    parameters = (
        Parameter("a", "u", "intercept", 1.0, Prior("Normal", {"mu": 1.0, "sigma": 2.0}),
                  "identity", iiv=Prior("HalfNormal", {"sigma": 1.0}),
                  covariates=(CovariateEffect("age", "linear", 50.0, 10.0),)),
        Parameter("b", "u/h", "slope", 0.5, Prior("Normal", {"mu": 0.0, "sigma": 1.0}), "log",
                  iiv=Prior("HalfNormal", {"sigma": 0.5})),
    )
    residual = ResidualError("additive", {"sigma_add": Prior("HalfNormal", {"sigma": 1.0})})

    def __init__(self, correlated: bool = False) -> None:
        self.correlated_random_effects = correlated

    def predict(self, xp, params, t, design):  # noqa: ANN001, D102
        return params["a"] + params["b"] * t


def posterior(n_draws: int = 50, corr: float | None = None, seed: int = 0) -> xr.DataTree:
    rng = np.random.default_rng(seed)
    shape = (2, n_draws)
    vars_ = {"mu_a": rng.normal(1.0, 0.01, shape), "mu_b": rng.normal(np.log(0.5), 0.01, shape),
             "beta_a_age": rng.normal(0.8, 0.01, shape), "omega_a": np.full(shape, 0.6),
             "omega_b": np.full(shape, 0.3), "sigma_add": np.full(shape, 0.4)}
    ds = xr.Dataset({k: (("chain", "draw"), v) for k, v in vars_.items()},
                    coords={"chain": [0, 1], "draw": np.arange(n_draws)})
    if corr is not None:
        L = np.linalg.cholesky(np.array([[1.0, corr], [corr, 1.0]]))
        ds["corr_chol"] = (("chain", "draw", "re_param", "re_param_bis"),
                           np.broadcast_to(L, (*shape, 2, 2)).copy())
        ds = ds.assign_coords(re_param=["a", "b"], re_param_bis=["a", "b"])
    tree = xr.DataTree.from_dict({"posterior": ds})
    tree.attrs["covariate_terms"] = json.dumps(
        [CovariateTerm("a", "age", "linear", 50.0, 10.0, None).to_dict()])
    return tree


def cohort(n: int, start: int = 0, **extra: np.ndarray) -> pd.DataFrame:
    vid = np.arange(start, start + n, dtype=np.int64)
    return pd.DataFrame({"vid": vid, "age": 30.0 + (vid % 40), **extra})


def test_results_do_not_depend_on_chunking() -> None:
    post, model = posterior(), Line()
    whole = sample_virtual_patients(post, cohort(5000), model=model, seed=7)
    parts = [sample_virtual_patients(post, cohort(n, start), model=model, seed=7)
             for start, n in ((0, 1500), (1500, 2048), (3548, 1452))]
    for key in ("draw", "a", "b", "sigma_add"):
        np.testing.assert_array_equal(whole[key], np.concatenate([p[key] for p in parts]))
    shuffled = cohort(5000).sample(frac=1.0, random_state=1)
    again = sample_virtual_patients(post, shuffled, model=model, seed=7)
    np.testing.assert_array_equal(again["a"], whole["a"][shuffled["vid"].to_numpy()])
    other = sample_virtual_patients(post, cohort(5000), model=model, seed=8)
    assert not np.array_equal(other["a"], whole["a"])


def test_each_patient_is_paired_with_a_posterior_draw() -> None:
    post, model = posterior(), Line()
    out = sample_virtual_patients(post, cohort(20000), model=model, seed=3)
    assert out["draw"].min() >= 0 and out["draw"].max() < 100
    counts = np.bincount(out["draw"], minlength=100)
    assert counts.min() > 100  # every draw used (uniform pairing)
    mu_a = post["posterior"]["mu_a"].values.reshape(-1)
    resid = out["a"] - mu_a[out["draw"]] - 0.8 * (cohort(20000)["age"].to_numpy() - 50) / 10
    assert abs(resid.mean()) < 0.02 and resid.std() == pytest.approx(0.6, rel=0.03)


def test_population_distribution_and_correlation_are_reproduced() -> None:
    out = sample_virtual_patients(posterior(corr=0.7), cohort(100_000, age=np.full(100_000, 50.0)),
                                  model=Line(correlated=True), seed=11)
    eta_a = out["a"] - 1.0
    eta_b = np.log(out["b"]) - np.log(0.5)
    assert eta_a.std() == pytest.approx(0.6, rel=0.02)
    assert eta_b.std() == pytest.approx(0.3, rel=0.02)
    assert np.corrcoef(eta_a, eta_b)[0, 1] == pytest.approx(0.7, abs=0.01)


def test_baseline_conditioning_matches_gaussian_posterior() -> None:
    # y0 = a + e at t = 0: eta_a | y0 ~ N(k (y0 - m), k s^2) with k = om^2 / (om^2 + s^2)
    n = 200_000
    y0 = np.full(n, 2.5)
    out = sample_virtual_patients(posterior(), cohort(n, age=np.full(n, 50.0), y=y0),
                                  model=Line(), seed=5)
    assert out["conditioned"].all()
    om2, s2 = 0.36, 0.16
    k = om2 / (om2 + s2)
    eta = out["a"] - 1.0
    assert eta.mean() == pytest.approx(k * 1.5, abs=0.01)
    assert eta.std() == pytest.approx(np.sqrt(k * s2), rel=0.02)
    assert np.log(out["b"]).std() == pytest.approx(0.3, rel=0.02)  # untouched by the baseline
    off = sample_virtual_patients(posterior(), cohort(n, age=np.full(n, 50.0), y=y0),
                                  model=Line(), condition_on_baseline=False, seed=5)
    assert not off["conditioned"].any() and off["a"].std() == pytest.approx(0.6, rel=0.02)


def test_missing_covariate_is_a_cohort_error() -> None:
    with pytest.raises(CohortError, match="cohort: column 'age' missing"):
        sample_virtual_patients(posterior(), pd.DataFrame({"vid": [0, 1]}), model=Line(), seed=1)


def test_a_million_virtual_patients_in_seconds() -> None:
    n = 1_000_000
    c = cohort(n)
    t0 = time.perf_counter()
    out = sample_virtual_patients(posterior(corr=0.3), c, model=Line(correlated=True), seed=2)
    elapsed = time.perf_counter() - t0
    assert len(out["a"]) == n and np.isfinite(out["b"]).all()
    assert elapsed < 10.0, elapsed
