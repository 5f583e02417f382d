"""Paired counterfactual simulation: control reproduces the untreated twin, determinism, PK arms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twintrial.arms import simulate_arms, simulate_trial_outcomes
from twintrial.arms.synthetic import synthetic_virtual_patients
from twintrial.arms_config import arms_from_list, endpoints_from_list, estimands_from_list
from twintrial.config import DaskConfig
from twintrial.io import write_table
from twintrial.models import get_model
from twintrial.models.simulate import predict_numpy

EVENT = {"weibull_shape": 1.3, "weibull_scale": 6.0, "association": 1.2}
ENDPOINTS = endpoints_from_list([
    {"name": "dlogbili", "type": "continuous", "time": 2.0, "scale": "log", "visit_interval": 0.5},
    {"name": "resp", "type": "responder", "time": 2.0, "scale": "log", "threshold": 0.0},
    {"name": "death", "type": "time_to_event", "horizon": 5.0}])
ESTIMANDS = estimands_from_list([
    {"name": "tp", "endpoint": "dlogbili", "treatment": "active"},
    {"name": "hyp", "endpoint": "dlogbili", "treatment": "active", "intercurrent": "hypothetical"},
    {"name": "resp_c", "endpoint": "resp", "treatment": "active", "intercurrent": "composite"},
    {"name": "os_tp", "endpoint": "death", "treatment": "active"},
    {"name": "os_hyp", "endpoint": "death", "treatment": "active", "intercurrent": "hypothetical"}])


def pbc_arms(size: object = None, rescue: bool = True) -> tuple:
    size = size if size is not None else {"dist": "lognormal", "median": 0.7, "sigma": 0.15}
    active = {"name": "active", "dropout_rate": 0.1,
              "effects": [{"parameter": "slope", "type": "multiplier", "size": size}]}
    if rescue:
        active["rescue"] = {"threshold": 6.0, "visit_interval": 0.5}
    return arms_from_list([{"name": "placebo", "control": True, "dropout_rate": 0.1}, active])


@pytest.fixture(scope="module")
def pbc() -> tuple:
    model = get_model("biomarker_progression", biomarker_center=0.4)
    n = 2500
    cohort = pd.DataFrame({"vid": np.arange(n, dtype=np.int64), "age": np.linspace(30, 70, n)})
    virtual = synthetic_virtual_patients(model, cohort, n_draws=50, event=EVENT, seed=3)
    return model, cohort, virtual


def test_control_arm_reproduces_the_untreated_twin(pbc) -> None:
    model, cohort, virtual = pbc
    out = simulate_arms(virtual, cohort, pbc_arms(), ENDPOINTS, ESTIMANDS, model=model, seed=1)
    assert len(out) == 2 * len(cohort)
    assert out.vid.tolist()[:4] == [0, 0, 1, 1] and out.arm.tolist()[:2] == ["placebo", "active"]
    params = {k: virtual[k] for k in model.parameter_names}
    f = predict_numpy(model, params, np.array([0.0, 2.0]), {"treatment": np.zeros(len(cohort))})
    ctl = out[out.arm == "placebo"]
    np.testing.assert_allclose(ctl.tp_prognostic, f[:, 1] - f[:, 0], rtol=1e-12, atol=1e-12)
    # noise-free twins: the observed control outcome is exactly the untreated prediction
    quiet = {**virtual, "sigma_add": np.zeros(len(cohort))}
    q = simulate_arms(quiet, cohort, pbc_arms(), ENDPOINTS, ESTIMANDS, model=model, seed=1)
    np.testing.assert_allclose(q[q.arm == "placebo"].tp, f[:, 1] - f[:, 0], atol=1e-12)
    # the prognostic score is the same in both arms of a patient and ignores the noise
    np.testing.assert_array_equal(out.tp_prognostic.to_numpy()[0::2], out.tp_prognostic.to_numpy()[1::2])


def test_multiplier_one_gives_identical_outcomes_in_every_arm(pbc) -> None:
    model, cohort, virtual = pbc
    out = simulate_arms(virtual, cohort, pbc_arms(size=1.0, rescue=False), ENDPOINTS, ESTIMANDS,
                        model=model, seed=2)
    a = out[out.arm == "active"].drop(columns="arm").reset_index(drop=True)
    p = out[out.arm == "placebo"].drop(columns="arm").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, p)


def test_effect_is_paired_and_in_the_right_direction(pbc) -> None:
    model, cohort, virtual = pbc
    out = simulate_arms(virtual, cohort, pbc_arms(rescue=False), ENDPOINTS, ESTIMANDS,
                        model=model, seed=4)
    a, p = out[out.arm == "active"], out[out.arm == "placebo"]
    # hypothetical change in log bilirubin: treated slope x s, same noise => difference is
    # exactly (s - 1) * slope * 2 per patient (s drawn per posterior draw, median 0.7)
    diff = a.hyp.to_numpy() - p.hyp.to_numpy()
    ratio = diff / (2 * virtual["slope"])
    assert np.median(ratio + 1) == pytest.approx(0.7, abs=0.05)
    by_draw = pd.Series(ratio).groupby(virtual["draw"]).agg(["min", "max"])
    np.testing.assert_allclose(by_draw["min"], by_draw["max"], atol=1e-9)
    # event times with a slower biomarker: hypothetical >= treatment policy >= control (slope > 0)
    pos = virtual["slope"] > 0
    t_h, t_tp, t_c = a.os_hyp.to_numpy(), a.os_tp.to_numpy(), p.os_hyp.to_numpy()
    shrink = (ratio < 0) & pos
    assert np.all(t_h[shrink] >= t_tp[shrink] - 1e-9) and np.all(t_tp[shrink] >= t_c[shrink] - 1e-9)
    assert (t_h[shrink] > t_tp[shrink] + 1e-6).any()


def _bytes(df: pd.DataFrame, path: Path) -> bytes:
    write_table(df, path)
    return path.read_bytes()


def test_chunk_size_does_not_change_a_byte(pbc, tmp_path: Path) -> None:
    model, cohort, virtual = pbc
    kw = dict(model=model, seed=9)
    a = simulate_trial_outcomes(virtual, cohort, pbc_arms(), ENDPOINTS, ESTIMANDS, chunk_size=1024,
                                **kw)
    b = simulate_trial_outcomes(virtual, cohort, pbc_arms(), ENDPOINTS, ESTIMANDS, chunk_size=3000,
                                **kw)
    assert (a.rescue_time < np.inf).any() and (a.dropout_time < 2).any()
    assert _bytes(a, tmp_path / "a.parquet") == _bytes(b, tmp_path / "b.parquet")
    c = simulate_trial_outcomes(virtual, cohort, pbc_arms(), ENDPOINTS, ESTIMANDS, chunk_size=1024,
                                model=model, seed=10)
    assert _bytes(c, tmp_path / "c.parquet") != _bytes(a, tmp_path / "a.parquet")


def test_one_and_two_dask_workers_give_identical_bytes(pbc, tmp_path: Path) -> None:
    from twintrial.compute import dask_client

    model, cohort, virtual = pbc
    kw = dict(model=model, seed=9, chunk_size=1024)
    local = _bytes(simulate_trial_outcomes(virtual, cohort, pbc_arms(), ENDPOINTS, ESTIMANDS, **kw),
                   tmp_path / "local.parquet")
    for workers, processes in ((1, False), (2, False), (2, True)):
        with dask_client(DaskConfig(n_workers=workers, processes=processes)) as client:
            df = simulate_trial_outcomes(virtual, cohort, pbc_arms(), ENDPOINTS, ESTIMANDS,
                                         client=client, **kw)
        assert _bytes(df, tmp_path / f"w{workers}{processes}.parquet") == local


def test_pk_regimens_linear_in_dose_and_per_kg() -> None:
    model = get_model("pk_1cmt_oral")
    n = 1500
    cohort = pd.DataFrame({"vid": np.arange(n), "wt": np.linspace(50, 90, n)})
    virtual = synthetic_virtual_patients(model, cohort, sigmas={"sigma_add": 0.0, "sigma_prop": 0.0},
                                         seed=4)
    arms = arms_from_list([
        {"name": "placebo", "control": True},
        {"name": "q12_300", "regimen": {"dose": 300, "interval": 12, "n_doses": 6}},
        {"name": "q12_600", "regimen": {"dose": 600, "interval": 12, "n_doses": 6}},
        {"name": "mgkg", "regimen": {"dose": 4, "unit": "mg/kg", "interval": 12, "n_doses": 6}},
        {"name": "titrated", "adherence": 0.5,
         "regimen": {"dose": 300, "interval": 12, "n_doses": 6,
                     "titration": [{"from_dose": 4, "dose": 600}]}}])
    eps = endpoints_from_list([{"name": "ctrough", "type": "continuous", "time": 72.0,
                                "change_from_baseline": False}])
    ests = estimands_from_list([{"name": "c72", "endpoint": "ctrough", "treatment": "q12_300",
                                 "intercurrent": "hypothetical"}])
    out = simulate_arms(virtual, cohort, arms, eps, ests, model=model, seed=5)
    c = {a: out[out.arm == a].c72.to_numpy() for a in out.arm.unique()}
    assert np.all(c["placebo"] == 0)
    np.testing.assert_allclose(c["q12_600"], 2 * c["q12_300"], rtol=1e-12)
    np.testing.assert_allclose(c["mgkg"], c["q12_300"] * cohort.wt.to_numpy() * 4 / 300, rtol=1e-12)
    assert np.all(c["titrated"] <= c["q12_600"] + 1e-12)
    assert (c["titrated"] < c["q12_300"]).mean() > 0.2  # missed doses


def test_pk_discontinuation_stops_dosing_under_treatment_policy() -> None:
    model = get_model("pk_1cmt_oral")
    n = 2000
    cohort = pd.DataFrame({"vid": np.arange(n), "wt": np.full(n, 70.0)})
    virtual = synthetic_virtual_patients(model, cohort, sigmas={"sigma_add": 0.0, "sigma_prop": 0.0},
                                         seed=6)
    arms = arms_from_list([
        {"name": "placebo", "control": True},
        {"name": "bid", "dropout_rate": 0.01, "regimen": {"dose": 300, "interval": 12, "n_doses": 8}}])
    eps = endpoints_from_list([{"name": "c", "type": "continuous", "time": 96.0,
                                "change_from_baseline": False, "visit_interval": 12.0}])
    ests = estimands_from_list([
        {"name": f"c_{s}", "endpoint": "c", "treatment": "bid", "intercurrent": s}
        for s in ("treatment_policy", "hypothetical", "while_on_treatment")])
    out = simulate_arms(virtual, cohort, arms, eps, ests, model=model, seed=3)
    bid = out[out.arm == "bid"]
    td = bid.dropout_time.to_numpy()
    early = td < 84.0  # at least the last dose (t = 84) is not given
    assert 0.2 < early.mean() < 0.8
    tp, hyp, wot = (bid[f"c_{s}"].to_numpy() for s in ("treatment_policy", "hypothetical",
                                                       "while_on_treatment"))
    assert np.all(tp[early] < hyp[early]) and np.all(tp[~early] == hyp[~early])
    # while on treatment: the concentration at the last 12-hourly visit before dropout
    last = np.minimum(np.floor(td / 12.0) * 12.0, 96.0)
    from twintrial.arms.regimens import regimen_doses

    doses = regimen_doses(arms[1].regimen, n)
    params = {k: virtual[k] for k in model.parameter_names}
    f = predict_numpy(model, params, np.arange(0, 97, 12.0), doses)
    np.testing.assert_allclose(wot, f[np.arange(n), (last / 12).astype(int)], rtol=1e-12)


def test_chunks_carry_only_the_columns_the_simulation_reads() -> None:
    from twintrial.arms.inputs import needed_columns

    model = get_model("biomarker_progression", biomarker_center=0.4)
    v = {k: np.zeros(3) for k in ("vid", "draw", "intercept", "slope", "treatment_slope",
                                  "weibull_shape", "weibull_scale", "association", "sigma_add",
                                  "unrelated")}
    cont = endpoints_from_list([{"name": "d", "type": "continuous", "time": 1.0}])
    tte = endpoints_from_list([{"name": "e", "type": "time_to_event", "horizon": 5.0}])
    plain = arms_from_list([{"name": "p", "control": True}])
    on_hazard = arms_from_list([{"name": "p", "control": True}, {"name": "a", "effects": [
        {"parameter": "association", "size": {"dist": "fixed", "value": 0.5}}]}])
    event = {"weibull_shape", "weibull_scale", "association"}
    assert set(needed_columns(v, model, plain, cont)) == {"vid", "draw", "sigma_add",
                                                          *model.parameter_names}
    assert event <= set(needed_columns(v, model, plain, tte))
    assert event <= set(needed_columns(v, model, on_hazard, cont))
    assert "unrelated" not in needed_columns(v, model, plain, tte)
    del v["slope"]  # missing: everything is passed on and the check names what is missing
    assert set(needed_columns(v, model, plain, cont)) == set(v)
