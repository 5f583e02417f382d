"""Slow statistical studies of the twins fit (run with --run-slow).

* Coverage: PK data simulated with known population parameters over repeated seeds; the true
  typical values fall inside the 90% posterior intervals at about the nominal rate.
* Joint biomarker + Weibull model: data simulated from the model; true values recovered.
* Theophylline: agreement with the published one-compartment fit (Boeckmann, Sheiner & Beal 1994,
  NONMEM Users Guide Part V: ka 1.5 /h, CL/F 0.04 L/h/kg, t1/2 about 8 h).
* PBC: the default joint model passes the convergence gate with the default thresholds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _support import pk_data
from scipy import stats

from twintrial.data.dataset import Dataset
from twintrial.models import get_model
from twintrial.models.simulate import (
    add_residual_noise,
    individual_parameters,
    predict_numpy,
    simulate_event_times,
)
from twintrial.twins.fit import fit_twins
from twintrial.twins.posterior import population_summary
from twintrial.twins_config import TwinsConfig

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_pk_coverage_over_repeated_seeds() -> None:
    cfg = TwinsConfig(chains=4, draws=500, tune=500, allow_unconverged=True)
    hits, total = 0, 0
    for seed in range(20):
        ds = pk_data.simulate_pk(16, seed=100 + seed)
        fit = fit_twins(ds, get_model("pk_1cmt_oral"), cfg, cores=2, seed=seed)
        pop = population_summary(fit.idata, fit.model).set_index("parameter")
        for p, v in pk_data.TRUE.items():
            hits += int(pop.loc[f"typical_{p}", "lower90"] < v < pop.loc[f"typical_{p}", "upper90"])
            total += 1
    # 60 intervals at 90%: a central 99% binomial range
    lo, hi = stats.binom(total, 0.9).ppf([0.005, 0.995])
    assert lo <= hits <= hi, (hits, total)


def test_biomarker_joint_model_recovers_parameters() -> None:
    rng = np.random.default_rng(7)
    n = 250
    model = get_model("biomarker_progression", biomarker_center=0.5)
    pop = {"mu_intercept": 0.4, "mu_slope": 0.15, "mu_treatment_slope": -0.1,
           "weibull_shape": 1.2, "weibull_scale": 15.0, "association": 1.0}
    om = np.array([0.9, 0.2])
    R = np.array([[1.0, 0.4], [0.4, 1.0]])
    eta = rng.multivariate_normal(np.zeros(2), om[:, None] * R * om[None, :], size=n)
    treat = (np.arange(n) % 2).astype(float)
    params = individual_parameters(model, pop, {}, eta, n=n)
    design = {"treatment": treat}
    times = np.arange(0.0, 10.01, 1.0)
    T, event = simulate_event_times(model, params, design, horizon=10.0, rng=rng)
    f = predict_numpy(model, params, np.broadcast_to(times, (n, len(times))), design)
    y = add_residual_noise(model, f, {"sigma_add": 0.3}, rng)
    ids = [f"b{i:03d}" for i in range(n)]
    keep = np.broadcast_to(times, (n, len(times))) <= T[:, None]
    pid = np.repeat(np.arange(n), len(times)).reshape(n, -1)[keep]
    obs = pd.DataFrame({"id": np.asarray(ids)[pid], "time": np.broadcast_to(times, (n, len(times)))[keep],
                        "variable": "bili", "value": np.exp(y[keep]), "cens": np.int8(0)})
    subjects = pd.DataFrame({"id": ids, "arm": pd.Series(np.where(treat == 1, "active", "placebo"),
                                                         dtype="str")})
    events = pd.DataFrame({"id": ids, "time": T, "event": event.astype(np.int8)})
    doses = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": [], "amount": [],
                          "route": pd.Series([], dtype="str"), "duration": []})
    ds = Dataset(subjects, obs, doses, events, time_unit="year")
    fit = fit_twins(ds, model, TwinsConfig(model="biomarker_progression", chains=4, draws=500,
                                           tune=500, allow_unconverged=True), cores=2, seed=3)
    s = population_summary(fit.idata, fit.model).set_index("parameter")
    truth = {"typical_intercept": 0.4, "typical_slope": 0.15, "typical_treatment_slope": -0.1,
             "typical_weibull_shape": 1.2, "typical_weibull_scale": 15.0,
             "typical_association": 1.0, "omega_intercept": 0.9, "omega_slope": 0.2,
             "sigma_add": 0.3}
    inside = {k: bool(s.loc[k, "lower95"] < v < s.loc[k, "upper95"]) for k, v in truth.items()}
    assert sum(inside.values()) >= len(truth) - 1, inside


def _theoph() -> tuple[Dataset, Any, TwinsConfig]:
    bench = _load("twins_bench", ROOT / "benchmarks" / "twins.py")
    return bench.load_configured("theoph")


def test_theophylline_agrees_with_published_fit() -> None:
    ds, model, cfg = _theoph()  # config/examples/theophylline.yaml (literature-centred priors)
    fit = fit_twins(ds, model, cfg, cores=2, seed=1)
    assert fit.diagnostics["gate_passed"]
    post = fit.idata["posterior"]
    ka = np.exp(post["mu_ka"].values.ravel())
    cl_kg = np.exp(post["mu_CL"].values.ravel()) / 70.0       # typical CL/F at 70 kg, per kg
    thalf = np.log(2) * np.exp(post["mu_V"].values.ravel() - post["mu_CL"].values.ravel())
    for draws, published in ((ka, 1.5), (cl_kg, 0.04), (thalf, 8.0)):
        lo, hi = np.quantile(draws, [0.025, 0.975])
        assert lo < published < hi, (published, lo, hi)


def test_default_pbc_fit_passes_the_gate() -> None:
    # draws=3000: with 1000 the slowest-mixing parameter (mu_treatment_slope, correlated with
    # mu_slope) sits at the ESS threshold (398-461 measured over two seeds); with 2000
    # mu_intercept sat at the R-hat gate for 2 of 5 seeds (1.0099-1.0102)
    bench = _load("twins_bench", ROOT / "benchmarks" / "twins.py")
    ds, model, cfg = bench.load_configured("pbc")  # config/config.yaml, as make run fits it
    assert cfg.draws == 3000 and cfg.backend == "numba"
    fit = fit_twins(ds, model, cfg, cores=2, seed=1)
    assert fit.diagnostics["parameterization"] == "noncentered"  # auto: ~5 visits / 2 effects
    assert fit.diagnostics["gate_passed"], fit.diagnostics
