"""Real sampling of the one-compartment PK model on data simulated with known parameters (smoke).

One small fit (16 patients, 2 chains x 300 draws) is shared by the tests of this file: recovery of
the true population values, the gate, predictive groups and summaries, save/load, virtual patients
from the saved file, the twin update and a deliberately broken fit stopped
by the gate. The repeated-seed coverage study is in test_twins_recovery.py (slow).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _support.pk_data import TRUE, simulate_pk

from twintrial.data.dataset import Dataset
from twintrial.exceptions import ConvergenceError
from twintrial.models import get_model
from twintrial.twins.fit import fit_twins
from twintrial.twins.io import load_twins, save_twins, twins_summary, warnings_of
from twintrial.twins.plots import twins_figures
from twintrial.twins.posterior import add_predictions, patient_parameter_summary, population_summary
from twintrial.twins.update import update_twins
from twintrial.twins.virtual import sample_virtual_patients
from twintrial.twins_config import GateConfig, TwinsConfig

CFG = TwinsConfig(chains=2, draws=400, tune=400, target_accept=0.9,
                  gate=GateConfig(rhat_max=1.05, ess_bulk_min=150, ess_tail_min=100,
                                  max_divergences=0))


@pytest.fixture(scope="module")
def pk_fit():
    ds = simulate_pk(16, seed=3)
    early = Dataset(ds.subjects, ds.observations[ds.observations["time"] <= 12.0], ds.doses,
                    ds.events, time_unit="h")
    fit = fit_twins(early, get_model("pk_1cmt_oral"), CFG, cores=2, seed=11)
    assert fit.idata["predictions"]["f"].shape[0] == CFG.prediction.draws  # added by fit_twins
    add_predictions(fit.idata, fit.data, fit.model, n_draws=100, grid_points=20, seed=1)
    return ds, early, fit


def test_recovers_known_population_parameters(pk_fit) -> None:
    _, _, fit = pk_fit
    assert fit.diagnostics["gate_passed"] and fit.warnings == []
    pop = population_summary(fit.idata, fit.model).set_index("parameter")
    for p, v in TRUE.items():
        assert pop.loc[f"typical_{p}", "lower95"] < v < pop.loc[f"typical_{p}", "upper95"], p
    assert fit.diagnostics["sampler"] == "nutpie" and fit.diagnostics["divergences"] == 0
    assert fit.diagnostics["backend"] == "jax"  # auto: jax is a dependency


def test_predictions_and_patient_tables(pk_fit) -> None:
    _, early, fit = pk_fit
    pp = fit.idata["posterior_predictive"]
    assert pp["y_rep"].shape == (100, len(early.observations))
    grid = fit.idata["predictions"]
    assert grid["f"].shape == (100, 16, 20)
    # observed concentrations mostly fall in the 95% predictive range of y_rep
    lo, hi = np.quantile(pp["y_rep"].values, [0.025, 0.975], axis=0)
    y = fit.idata["observed_data"]["y"].values
    assert 0.85 < np.mean((y > lo) & (y < hi)) <= 1.0
    tab = patient_parameter_summary(fit.idata, fit.model)
    assert set(tab["parameter"]) == {"ka", "CL", "V"} and len(tab) == 48
    assert (tab["lower90"] < tab["median"]).all() and (tab["median"] < tab["upper90"]).all()


def test_save_load_summary_and_virtual_patients(pk_fit, tmp_path) -> None:
    _, _, fit = pk_fit
    path = save_twins(fit.idata, tmp_path / "twins.zarr")
    tree = load_twins(path)
    assert warnings_of(tree) == []
    summary = twins_summary(fit)
    json.dumps(summary, allow_nan=False)
    assert summary["summary"]["gate_passed"] is True
    cohort = pd.DataFrame({"vid": np.arange(3000), "wt": np.full(3000, 70.0)})
    vp = sample_virtual_patients(tree, cohort, seed=4)          # model rebuilt from attributes
    same = sample_virtual_patients(fit, cohort, seed=4)
    np.testing.assert_allclose(vp["CL"], same["CL"])
    assert np.median(vp["CL"]) == pytest.approx(2.8, rel=0.3)


def test_figures(pk_fit) -> None:
    import matplotlib.pyplot as plt

    figs = twins_figures(pk_fit[2])
    assert set(figs) == {"individual_fits", "population"}
    for fig in figs.values():
        plt.close(fig)


def test_update_refits_with_new_observations(pk_fit) -> None:
    ds, early, fit = pk_fit
    late = Dataset(ds.subjects.iloc[:0], ds.observations[ds.observations["time"] > 12.0],
                   ds.doses.iloc[:0], ds.events, time_unit="h")
    res = update_twins(fit, early, late, cores=2, seed=12)
    assert len(res.dataset.observations) == len(ds.observations)
    assert res.fit.diagnostics["backend"] == fit.diagnostics["backend"]
    ch = res.changes
    assert len(ch) == 16 and (ch["status"] == "existing").all()
    assert (ch["n_observations_after"] > ch["n_observations_before"]).all()
    assert (ch["change_mean_abs"] > 0).all()
    assert ch["band_after"].mean() < ch["band_before"].mean()   # more data, sharper twins


def test_broken_fit_is_stopped_by_the_gate(pk_fit) -> None:
    _, early, _ = pk_fit
    broken = TwinsConfig(chains=1, draws=20, tune=20)
    with pytest.raises(ConvergenceError, match=r"twins: fit did not converge \(R-hat not "
                       r"computable from 1 chain.*worst parameters: .*Try: run at least 2 chains"):
        fit_twins(early, get_model("pk_1cmt_oral"), broken, cores=1, seed=1)
    allowed = fit_twins(early, get_model("pk_1cmt_oral"), broken.replace(allow_unconverged=True),
                        cores=1, seed=1)
    assert not allowed.diagnostics["gate_passed"]
    assert allowed.warnings[0].startswith("twins: UNCONVERGED")
    assert warnings_of(allowed.idata) == allowed.warnings
