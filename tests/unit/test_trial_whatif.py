"""Individual what-if from a patient's own posterior draws (synthetic twins DataTree).

The DataTree has the variables the twins engine writes (``individual`` per patient, event
``mu_*``, ``sigma_add``, the model in the attributes), so :func:`project_patient` runs exactly as
on ``twins.nc``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from twintrial.arms_config import arms_from_list
from twintrial.exceptions import AnalysisError
from twintrial.models import get_model
from twintrial.whatif import plot_whatif, project_patient

MODEL = get_model("biomarker_progression", biomarker_center=0.4)
ARMS = arms_from_list([
    {"name": "placebo", "control": True},
    {"name": "active", "effects": [{"parameter": "slope", "size": 0.5}]},
    {"name": "late", "effects": [{"parameter": "slope", "size": 0.5, "onset": 1.0}]}])


def twins(chains: int = 2, draws: int = 200, seed: int = 0) -> xr.DataTree:
    rng = np.random.default_rng(seed)
    ids = ["p1", "p2", "p3"]
    shape = (chains, draws)
    ind = np.empty((*shape, len(ids), 3))
    ind[..., 0] = np.array([0.2, 0.8, 1.5]) + 0.05 * rng.standard_normal((*shape, 3))
    ind[..., 1] = np.array([0.1, 0.3, 0.05]) + 0.02 * rng.standard_normal((*shape, 3))
    ind[..., 2] = 0.0
    post = xr.Dataset(
        {"individual": (("chain", "draw", "patient", "param"), ind),
         "mu_weibull_shape": (("chain", "draw"), np.log(1.3) + 0.05 * rng.standard_normal(shape)),
         "mu_weibull_scale": (("chain", "draw"), np.log(6.0) + 0.05 * rng.standard_normal(shape)),
         "mu_association": (("chain", "draw"), 1.2 + 0.05 * rng.standard_normal(shape)),
         "sigma_add": (("chain", "draw"), 0.1 + 0.01 * np.abs(rng.standard_normal(shape)))},
        coords={"chain": np.arange(chains), "draw": np.arange(draws), "patient": ids,
                "param": ["intercept", "slope", "treatment_slope"]})
    tree = xr.DataTree.from_dict({"posterior": post})
    tree.attrs.update(twintrial_model=MODEL.name, model_options=json.dumps(MODEL.options))
    return tree


@pytest.fixture(scope="module")
def result():
    return project_patient(twins(), None, "p2", [ARMS[0], ARMS[1]], horizon=4.0, n_grid=41,
                           ci_prob=0.9, seed=1)


def test_trajectories_come_from_the_patients_own_draws(result) -> None:
    post = twins()["posterior"]["individual"].sel(patient="p2").values.reshape(-1, 3)
    tr = result.trajectories
    ctl = tr[tr.arm == "placebo"].reset_index(drop=True)
    f_end = post[:, 0] + post[:, 1] * 4.0
    assert ctl["f_median"].iloc[-1] == pytest.approx(np.median(f_end), abs=1e-9)
    lo, hi = np.quantile(f_end, [0.05, 0.95])
    assert ctl["f_low"].iloc[-1] == pytest.approx(lo)
    assert ctl["f_high"].iloc[-1] == pytest.approx(hi)
    assert (ctl["y_low"] <= ctl["f_low"] + 1e-12).all()          # predictive band is wider
    # a fixed 0.5 slope multiplier: the paired difference is -0.5 * slope * t, draw by draw
    d = result.difference
    assert d["median"].iloc[-1] == pytest.approx(np.median(-0.5 * post[:, 1] * 4.0), abs=1e-9)
    assert d["prob_positive"].iloc[-1] == 0.0
    assert d["median"].iloc[0] == 0.0


def test_survival_is_monotone_and_better_with_slower_progression(result) -> None:
    tr = result.trajectories
    for _, part in tr.groupby("arm"):
        s = part["surv_median"].to_numpy()
        assert s[0] == 1.0 and np.all(np.diff(s) <= 1e-12) and s[-1] < 1.0
    s = result.summary
    assert s["at_horizon"]["active"]["survival"] > s["at_horizon"]["placebo"]["survival"]
    assert s["difference"]["prob_survival_better"] > 0.9
    assert s["difference"]["contrast"] == "active - placebo" and s["n_draws"] == 400
    json.dumps(s)


def test_onset_keeps_the_course_until_the_effect_starts() -> None:
    res = project_patient(twins(), MODEL, "p3", [ARMS[0], ARMS[2]], horizon=3.0, n_grid=31,
                          ci_prob=0.95, seed=1)
    d = res.difference.set_index("time")
    assert np.allclose(d.loc[d.index <= 1.0, "median"], 0.0)
    assert (d.loc[d.index > 1.5, "median"] < 0).all()


def test_plot_and_errors(result) -> None:
    fig = plot_whatif(result)
    assert len(fig.axes) == 3
    with pytest.raises(AnalysisError, match="no patient 'zz'"):
        project_patient(twins(), MODEL, "zz", ARMS[:2], horizon=1.0, seed=1)
    with pytest.raises(AnalysisError, match="at least two arms"):
        project_patient(twins(), MODEL, "p1", ARMS[:1], horizon=1.0, seed=1)


@pytest.mark.slow
def test_whatif_on_a_real_tiny_posterior(tmp_path) -> None:
    """Fit a 20-patient joint model with nutpie, save/load it, project one patient (~1-6 min)."""
    import pandas as pd

    from twintrial.data.dataset import Dataset
    from twintrial.twins.fit import fit_twins
    from twintrial.twins.io import load_twins, save_twins
    from twintrial.twins_config import GateConfig, TwinsConfig

    rng = np.random.default_rng(0)
    n, times = 20, np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    ids = [f"p{i:02d}" for i in range(n)]
    b0, b1 = np.log(1.5) + 0.5 * rng.standard_normal(n), 0.2 + 0.1 * rng.standard_normal(n)
    y = b0[:, None] + b1[:, None] * times + 0.1 * rng.standard_normal((n, times.size))
    obs = pd.DataFrame({"id": np.repeat(ids, times.size), "time": np.tile(times, n),
                        "variable": "bili", "value": np.exp(y.ravel()), "cens": np.int8(0)})
    et = rng.exponential(6.0, n)
    events = pd.DataFrame({"id": ids, "time": np.minimum(et, 4.0),
                           "event": (et < 4.0).astype(np.int8)})
    subjects = pd.DataFrame({"id": ids, "arm": pd.array(np.where(np.arange(n) % 2, "dpen",
                                                                  "placebo"), dtype="str")})
    doses = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": pd.Series([], dtype=float),
                          "amount": pd.Series([], dtype=float),
                          "route": pd.Series([], dtype="str"),
                          "duration": pd.Series([], dtype=float)})
    cfg = TwinsConfig(chains=2, draws=100, tune=150, allow_unconverged=True,
                      gate=GateConfig(rhat_max=2.0, ess_bulk_min=1, ess_tail_min=1,
                                      max_divergences=1000))
    fit = fit_twins(Dataset(subjects, obs, doses, events, time_unit="year"),
                    get_model("biomarker_progression"), cfg, cores=2, seed=1)
    tree = load_twins(save_twins(fit.idata, tmp_path / "twins.zarr"))
    res = project_patient(tree, None, "p03", ARMS[:2], horizon=5.0, n_grid=21, seed=3)
    ind = tree["posterior"]["individual"].sel(patient="p03").values.reshape(-1, 3)
    f_end = ind[:, 0] + ind[:, 1] * 5.0
    ctl = res.trajectories[res.trajectories.arm == "placebo"]
    assert ctl["f_median"].iloc[-1] == pytest.approx(np.median(f_end), abs=1e-9)
    assert res.summary["difference"]["median"] == pytest.approx(
        np.median(-0.5 * ind[:, 1] * 5.0), abs=1e-9)
    assert len(plot_whatif(res).axes) == 3
