"""The trial simulator as a sensitivity model: same numbers as the arms stage, batch-invariant."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from twintrial.analysis import logrank_power, t_test_power
from twintrial.arms import simulate_arms
from twintrial.arms.synthetic import synthetic_virtual_patients
from twintrial.arms_config import (
    RescueConfig,
    arms_from_list,
    endpoints_from_list,
    estimands_from_list,
)
from twintrial.exceptions import ConfigError
from twintrial.models import get_model
from twintrial.sensitivity import (
    SensitivityConfig,
    evaluate_sensitivity,
    run_sensitivity,
    sample_sensitivity,
)
from twintrial.sensitivity.simulator import (
    TrialSensitivityModel,
    logrank_power_vec,
    t_power,
    two_proportion_power,
)

SEED = 4242
EVENT = {"weibull_shape": 1.3, "weibull_scale": 6.0, "association": 1.2}
MODEL = get_model("biomarker_progression", biomarker_center=0.4, covariates={
    "intercept": [{"covariate": "bili", "form": "power", "center": 1.4, "fixed": 1.0}],
    "slope": [{"covariate": "bili", "form": "power", "center": 1.4, "fixed": 0.05}]})
ARMS = arms_from_list([
    {"name": "placebo", "control": True, "dropout_rate": 0.05},
    {"name": "active", "dropout_rate": 0.05, "effects": [
        {"parameter": "slope", "size": {"dist": "lognormal", "median": 0.7, "sigma": 0.15}}]}])
ENDPOINTS = endpoints_from_list([
    {"name": "dlogbili", "type": "continuous", "time": 2.0, "scale": "log", "visit_interval": 0.5},
    {"name": "resp", "type": "responder", "time": 2.0, "scale": "log", "threshold": 0.0},
    {"name": "death", "type": "time_to_event", "horizon": 5.0}])
ESTIMANDS = estimands_from_list([
    {"name": "bili_tp", "endpoint": "dlogbili", "treatment": "active"},
    {"name": "resp_comp", "endpoint": "resp", "treatment": "active", "intercurrent": "composite"},
    {"name": "os_tp", "endpoint": "death", "treatment": "active"}])
N = 300


@pytest.fixture(scope="module")
def population() -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    cohort = pd.DataFrame({"vid": np.arange(N, dtype=np.int64),
                           "bili": np.exp(rng.normal(np.log(1.4), 0.9, N))})
    return cohort, _redraw(cohort)


def _redraw(cohort: pd.DataFrame) -> dict[str, np.ndarray]:
    return synthetic_virtual_patients(MODEL, cohort, n_draws=50, seed=SEED, event=EVENT)


def _cfg(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], n: int = 64
         ) -> SensitivityConfig:
    return SensitivityConfig.from_dict({"inputs": inputs, "outputs": outputs,
                                        "sobol": {"n_base_samples": n},
                                        "convergence": {"tolerance": 1.0}})


def _model(population: Any, cfg: SensitivityConfig, **kw: Any) -> TrialSensitivityModel:
    cohort, vp = population
    return TrialSensitivityModel(vp, cohort, MODEL, ARMS, ENDPOINTS, ESTIMANDS, cfg,
                                 n_patients=N, redraw=_redraw, seed=SEED, **kw)


EIGHT = [
    {"name": "slope", "kind": "model", "target": "model.slope_typical", "low": 0.05, "high": 0.2},
    {"name": "assoc", "kind": "model", "target": "model.association", "low": 0.6, "high": 1.6},
    {"name": "effect", "kind": "treatment", "target": "arms.active.effect", "low": 0.5,
     "high": 0.9},
    {"name": "visit", "kind": "design", "target": "design.visit_time", "low": 1.0, "high": 3.0},
    {"name": "n_arm", "kind": "design", "target": "design.n_per_arm", "low": 100, "high": 400,
     "integer": True},
    {"name": "dropout", "kind": "operational", "target": "operational.dropout_rate",
     "low": 0.0, "high": 0.3},
    {"name": "adherence", "kind": "operational", "target": "operational.adherence",
     "low": 0.6, "high": 1.0},
    {"name": "bili", "kind": "cohort", "target": "cohort.scale.bili", "low": 0.75, "high": 1.5},
]
THREE_OUT = [{"name": "effect", "quantity": "mean_effect", "endpoint": "dlogbili"},
             {"name": "resp", "quantity": "responder_rate", "endpoint": "resp"},
             {"name": "power", "quantity": "power", "endpoint": "dlogbili"}]


@pytest.mark.parametrize("rescue", [False, True])
def test_nominal_inputs_reproduce_the_arms_stage(population: Any, rescue: bool) -> None:
    cohort, vp = population
    cfg = _cfg([{"name": "dummy", "kind": "model", "target": "none.dummy", "low": 0, "high": 1}],
               [{"name": "d", "quantity": "mean_effect", "endpoint": "dlogbili"},
                {"name": "r", "quantity": "responder_rate", "endpoint": "resp"}])
    arms = ARMS
    if rescue:  # rescue in the treated arm: stops its effect (policy) and fails (composite)
        arms = (ARMS[0], replace(ARMS[1], rescue=RescueConfig(threshold=2.0, visit_interval=0.5)))
    Y = TrialSensitivityModel(vp, cohort, MODEL, arms, ENDPOINTS, ESTIMANDS, cfg, n_patients=N,
                              seed=SEED)(np.array([[0.5]]), ["dummy"])
    out = simulate_arms(vp, cohort, arms, ENDPOINTS, ESTIMANDS[:2], model=MODEL, seed=SEED)
    if rescue:
        assert np.isfinite(out["rescue_time"]).mean() > 0.05
    act, pla = out[out["arm"] == "active"], out[out["arm"] == "placebo"]
    expected = act["bili_tp"].to_numpy() - pla["bili_tp"].to_numpy()
    np.testing.assert_allclose(Y[0, 0], expected.mean(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Y[0, 1], act["resp_comp"].mean(), rtol=1e-12)


def test_deterministic_for_any_batch_size(population: Any) -> None:
    cfg = _cfg(EIGHT, THREE_OUT, n=16)
    samples = sample_sensitivity(cfg, seed=3)
    model = _model(population, cfg)
    whole = model(samples.X, samples.names)
    for step in (1, 7, 100):
        parts = [model(samples.X[s:s + step], samples.names)
                 for s in range(0, len(samples.X), step)]
        assert np.array_equal(np.concatenate(parts), whole)
    assert np.isfinite(whole).all()
    assert np.all((whole[:, 1:] >= 0) & (whole[:, 1:] <= 1))
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:  # tasks in other processes (the model is pickled)
        remote = evaluate_sensitivity(samples, model, client=pool, batch_size=50)
    assert np.array_equal(remote, whole)


def test_each_input_moves_the_outputs_the_right_way(population: Any) -> None:
    cfg = _cfg(EIGHT, THREE_OUT + [{"name": "pos", "quantity": "probability_of_success",
                                    "endpoint": "dlogbili"}])
    model = _model(population, cfg)
    base = np.array([[0.1, 1.2, 0.7, 2.0, 200, 0.05, 1.0, 1.0]])

    def at(j: int, v: float) -> np.ndarray:
        x = base.copy()
        x[0, j] = v
        return model(x, cfg.input_names)[0]

    y0 = at(0, 0.1)
    assert at(2, 0.5)[0] < y0[0] < at(2, 0.9)[0] < 0          # stronger effect, larger benefit
    assert at(0, 0.2)[0] < y0[0]                               # faster progression, more to slow
    assert at(3, 3.0)[0] < y0[0]                               # later visit, larger effect
    assert at(4, 400)[2] > y0[2] and np.isclose(at(4, 400)[0], y0[0])  # n only moves power
    assert at(6, 0.6)[0] > y0[0]                               # poor adherence dilutes
    assert at(5, 0.3)[0] > y0[0]                               # dropout stops the effect
    assert at(1, 0.6)[0] == y0[0]                              # association: TTE only
    assert at(7, 1.5)[0] != y0[0]                              # bilirubin scale acts via slope
    assert np.isclose(y0[3], y0[2])                            # effect is an input: PoS = power


def test_null_input_has_zero_total_index_and_effect_dominates(population: Any) -> None:
    inputs = [EIGHT[0], EIGHT[2], EIGHT[5],
              {"name": "nothing", "kind": "model", "target": "none.nothing", "low": 0, "high": 1}]
    cfg = _cfg(inputs, THREE_OUT[:1], n=256)
    run = run_sensitivity(cfg, _model(population, cfg), seed=9)
    idx = run.result.indices["effect"]
    st = dict(zip(run.result.inputs, idx["ST"], strict=True))
    assert abs(st["nothing"]) < 1e-12 and abs(idx["S1"][3]) < 1e-12
    assert st["effect"] == max(st.values()) and st["effect"] > 0.4


def test_probability_of_success_averages_power_over_the_effect_distribution(
        population: Any) -> None:
    inputs = [EIGHT[0]]
    cfg = _cfg(inputs, [{"name": "p", "quantity": "power", "endpoint": "dlogbili"},
                        {"name": "pos", "quantity": "probability_of_success",
                         "endpoint": "dlogbili"}])
    Y = _model(population, cfg)(np.array([[0.1], [0.2]]), ["slope"])
    assert np.all((Y > 0) & (Y < 1)) and not np.allclose(Y[:, 0], Y[:, 1])


def test_time_to_event_outputs(population: Any) -> None:
    cfg = _cfg([EIGHT[1], EIGHT[2]], [{"name": "lhr", "quantity": "mean_effect",
                                       "endpoint": "death"},
                                      {"name": "p", "quantity": "power", "endpoint": "death"}])
    Y = _model(population, cfg)(np.array([[1.2, 0.7], [0.0, 0.7], [1.2, 1.0]]), ["assoc",
                                                                                 "effect"])
    assert -0.3 < Y[0, 0] < -0.01 and 0.05 < Y[0, 1] < 1  # slower progression: fewer events
    for row in (1, 2):  # no link from the biomarker to the hazard, or no effect: HR 1
        assert abs(Y[row, 0]) < 1e-12 and np.isclose(Y[row, 1], 0.05)


def test_unknown_target_lists_supported(population: Any) -> None:
    cfg = _cfg([{"name": "x", "kind": "model", "target": "model.clearance_typical",
                 "low": 0, "high": 1}], THREE_OUT[:1])
    with pytest.raises(ConfigError, match=r"inputs\[0\]\.target: not supported.*"
                                          r"model\.slope_typical.*cohort\.scale\.bili"):
        _model(population, cfg)
    cfg = _cfg([{"name": "x", "kind": "model", "target": "arms.active.effect",
                 "low": 0, "high": 1}], THREE_OUT[:1])
    with pytest.raises(ConfigError, match=r"inputs\[0\]\.kind: 'arms.active.effect' is a "
                                          "treatment input"):
        _model(population, cfg)


def test_vectorised_power_matches_the_analysis_functions() -> None:
    for delta, sd, n in ((0.3, 1.0, 50), (-0.1, 0.4, 200), (0.0, 2.0, 10)):
        assert np.isclose(t_power(np.array([delta]), np.array([sd]), np.array([n]),
                                  alpha=0.05)[0], float(t_test_power(n, delta=delta, sd=sd)))
    for hr, d in ((0.7, 100), (1.3, 250)):
        assert np.isclose(logrank_power_vec(np.log([hr]), np.array([d]), alpha=0.05)[0],
                          float(logrank_power(d, hazard_ratio=hr)))
    p = two_proportion_power(np.array([0.3, 0.5]), np.array([0.3, 0.3]), np.array([100, 100]),
                             alpha=0.05)
    assert np.isclose(p[0], 0.05) and 0.8 < p[1] < 0.9  # textbook: ~0.83 at n = 100 per arm


def _twins_tree(n_draws: int = 40) -> Any:
    """A small biomarker_progression posterior DataTree in the twins.nc layout."""
    import json

    import xarray as xr

    from twintrial.twins.engine import CovariateTerm

    rng = np.random.default_rng(0)
    shape = (2, n_draws)
    v = {"mu_intercept": rng.normal(0.3, 0.02, shape), "mu_slope": rng.normal(0.1, 0.01, shape),
         "mu_treatment_slope": np.zeros(shape), "beta_slope_bili": rng.normal(0.05, 0.01, shape),
         "omega_intercept": np.full(shape, 0.8), "omega_slope": np.full(shape, 0.15),
         "sigma_add": np.full(shape, 0.25), "mu_weibull_shape": np.full(shape, np.log(1.3)),
         "mu_weibull_scale": np.full(shape, np.log(6.0)), "mu_association": np.full(shape, 1.2)}
    ds = xr.Dataset({k: (("chain", "draw"), x) for k, x in v.items()},
                    coords={"chain": [0, 1], "draw": np.arange(n_draws)})
    L = np.linalg.cholesky(np.array([[1.0, 0.3], [0.3, 1.0]]))
    ds["corr_chol"] = (("chain", "draw", "re_param", "re_param_bis"),
                       np.broadcast_to(L, (*shape, 2, 2)).copy())
    tree = xr.DataTree.from_dict({"posterior": ds})
    tree.attrs["twintrial_model"] = "biomarker_progression"
    tree.attrs["model_options"] = json.dumps({"biomarker_center": 0.4, "covariates": {
        "slope": [{"covariate": "bili", "form": "power", "center": 1.4}]}})
    tree.attrs["covariate_terms"] = json.dumps(
        [CovariateTerm("slope", "bili", "power", 1.4, 1.0, None).to_dict()])
    return tree


def _raw(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "trial": {"name": "t", "seed": 5},
        "arms": [{"name": "placebo", "control": True, "dropout_rate": 0.05},
                 {"name": "active", "dropout_rate": 0.05, "effects": [
                     {"parameter": "slope",
                      "size": {"dist": "lognormal", "median": 0.7, "sigma": 0.15}}]}],
        "endpoints": [{"name": "dlogbili", "type": "continuous", "time": 2.0, "scale": "log"}],
        "analysis": {"alpha": 0.05, "estimands": [
            {"name": "bili_tp", "endpoint": "dlogbili", "treatment": "active"}]},
        "sensitivity": {"inputs": inputs, "outputs": outputs, "sobol": {"n_base_samples": 32},
                        "convergence": {"tolerance": 1.0}, "batch_size": 100,
                        "simulation": {"n_patients": 200, "n_per_arm": 150}},
    }


def test_stage_from_a_twins_datatree_and_reanalysis(population: Any, tmp_path: Any) -> None:
    from twintrial.io import dumps_json, read_table, read_table_provenance, write_table
    from twintrial.provenance import provenance_block
    from twintrial.sensitivity.stage import reanalyze, sensitivity_outputs, sensitivity_stage

    cohort, _ = population
    raw = _raw([EIGHT[0], EIGHT[2], EIGHT[7]], THREE_OUT[:1] + THREE_OUT[2:])
    run = sensitivity_stage(cohort, _twins_tree(), raw, seed=5)
    assert run.Y.shape == (32 * 8, 2) and np.isfinite(run.Y).all()
    st = run.result.indices["effect"]["ST"]
    assert st[2] > 0.01                       # the bilirubin scale acts through beta_slope_bili
    out = sensitivity_outputs(run)
    assert list(out.table.columns) == ["row", "slope", "effect", "bili", "y_effect", "y_power"]
    assert set(out.figures) == {"sensitivity_sobol"}
    dumps_json(out.payload)                   # strict JSON
    path = tmp_path / "sensitivity.parquet"  # as the pipeline writes it, metadata in provenance
    write_table(out.table, path, provenance=provenance_block(raw, stage="sensitivity", seed=5,
                                                             extra=out.table_metadata))
    again = reanalyze(read_table(path), read_table_provenance(path), seed=5)
    np.testing.assert_array_equal(again.indices["power"]["ST"], run.result.indices["power"]["ST"])
    bad = out.table.copy()
    bad.loc[0, "slope"] += 1e-9
    with pytest.raises(Exception, match="x_sha256"):
        reanalyze(bad, out.table_metadata, seed=5)


def test_config_check_of_targets_and_endpoints() -> None:
    from twintrial.sensitivity_config import semantic_problems

    raw = _raw([EIGHT[0], {**EIGHT[7], "target": "cohort.scale.albumin"},
                {**EIGHT[1], "kind": "design"}],
               [{"name": "r", "quantity": "responder_rate", "endpoint": "dlogbili"},
                {"name": "x", "quantity": "power", "endpoint": "nope"}])
    raw["twins"] = {"model": {"name": "biomarker_progression"}}
    raw["cohort"] = {"covariates": [{"name": "bili"}, {"name": "sex", "type": "categorical"}]}
    problems = semantic_problems(raw)
    assert len(problems) == 4 and all("\n" not in p for p in problems)
    assert problems[0].startswith("sensitivity.inputs[1].target: not supported by this trial; "
                                  "got 'cohort.scale.albumin'. Use one of model.intercept_typical")
    assert "cohort.scale.bili" in problems[0] and "cohort.shift.sex" not in problems[0]
    assert problems[1].startswith("sensitivity.inputs[2].kind: 'model.association' is a model")
    assert problems[2].startswith("sensitivity.outputs[0].endpoint: responder_rate needs")
    assert problems[3].startswith("sensitivity.outputs[1].endpoint: not among the endpoints")
    del raw["arms"]  # no trial configured: targets are not checked (engine-only use)
    assert len(semantic_problems(raw)) == 0


def test_simulation_defaults_match_the_schema() -> None:
    from importlib import resources

    import yaml

    from twintrial.sensitivity_config import DEFAULTS

    schema = yaml.safe_load(resources.files("twintrial.schemas")
                            .joinpath("sensitivity.schema.yaml").read_text(encoding="utf-8"))
    props = schema["properties"]["simulation"]["properties"]
    assert {k: v["default"] for k, v in props.items()} == DEFAULTS["simulation"]
    cfg = SensitivityConfig.from_dict({"inputs": EIGHT[:1], "outputs": THREE_OUT[:1],
                                       "simulation": {"n_per_arm": 50}})
    assert (cfg.simulation.n_patients, cfg.simulation.n_per_arm) == (1000, 50)
