"""Benchmark of the sensitivity stage on the real trial simulator (default PBC-like model).

8 inputs (model, treatment, design, operational, cohort), Sobol' N = 1024 with second order:
18,432 evaluations, each simulating 1,000 virtual patients under both arms (paired, common random
numbers) through :class:`twintrial.sensitivity.simulator.TrialSensitivityModel`; outputs: mean
effect on the change in log bilirubin at the visit, responder rate, t-test power at n per arm.
Virtual patients come from ``results/pbc_dpen/twins.nc`` when it exists, else from the synthetic
population posterior (:func:`twintrial.arms.synthetic.synthetic_virtual_patients`).

Measured: sampling, evaluation in this process (1 core) and on a 2-worker ``LocalCluster``
as the pipeline starts it (worker processes) and on 2 thread workers (``_threads``)
(best of 2 each; identical results checked), analysis (S1, ST, S2 with bootstrap CIs, N vs N/2 convergence).
Baseline, in the same run: the per-sample loop a user would write without the vectorised
evaluator: for each sample, rebuild the virtual patients (cohort scale) and the arms/endpoints
configuration and call :func:`twintrial.arms.simulate_arms` (one sample at a time), then compute
the outputs from the outcomes table; run on ``--baseline`` samples and extrapolated.
Optional ``--tte``: the same with a time-to-event power output added (hazard quadrature).

Run: ``.venv/bin/python benchmarks/sensitivity.py [--n 1024] [--patients 1000] [--workers 2]``
Writes ``benchmarks/results/sensitivity.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twintrial.arms import simulate_arms
from twintrial.arms.synthetic import synthetic_virtual_patients
from twintrial.arms_config import arms_from_list, endpoints_from_list, estimands_from_list
from twintrial.exceptions import SensitivityWarning
from twintrial.models import get_model
from twintrial.sensitivity import (
    SensitivityConfig,
    analyze_sensitivity,
    describe_drivers,
    evaluate_sensitivity,
    sample_sensitivity,
)
from twintrial.sensitivity.simulator import TrialSensitivityModel, t_power

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261121
EVENT = {"weibull_shape": 1.3, "weibull_scale": 6.0, "association": 1.2}
INPUTS = [
    {"name": "slope_typical", "kind": "model", "target": "model.slope_typical", "low": 0.05,
     "high": 0.2, "unit": "log(mg/dL)/year"},
    {"name": "association", "kind": "model", "target": "model.association", "low": 0.6,
     "high": 1.8, "unit": "1/log(mg/dL)"},
    {"name": "effect", "kind": "treatment", "target": "arms.active.effect", "dist": "lognormal",
     "log_mean": float(np.log(0.7)), "log_sd": 0.15, "unit": "slope multiplier"},
    {"name": "visit_time", "kind": "design", "target": "design.visit_time", "low": 1.0,
     "high": 3.0, "unit": "year"},
    {"name": "n_per_arm", "kind": "design", "target": "design.n_per_arm", "low": 100,
     "high": 400, "integer": True},
    {"name": "dropout", "kind": "operational", "target": "operational.dropout_rate", "low": 0.0,
     "high": 0.2, "unit": "1/year"},
    {"name": "adherence", "kind": "operational", "target": "operational.adherence",
     "dist": "triangular", "low": 0.6, "mode": 0.9, "high": 1.0},
    {"name": "bili_scale", "kind": "cohort", "target": "cohort.scale.bili", "low": 0.75,
     "high": 1.5},
]
OUTPUTS = [{"name": "mean_effect", "quantity": "mean_effect", "endpoint": "dlogbili"},
           {"name": "responder_rate", "quantity": "responder_rate", "endpoint": "resp"},
           {"name": "power", "quantity": "power", "endpoint": "dlogbili"}]
TTE_OUTPUT = {"name": "power_death", "quantity": "power", "endpoint": "death"}
ARMS = [{"name": "placebo", "control": True, "dropout_rate": 0.05},
        {"name": "active", "dropout_rate": 0.05, "effects": [
            {"parameter": "slope", "size": {"dist": "lognormal", "median": 0.7, "sigma": 0.15}}]}]
ENDPOINTS = [
    {"name": "dlogbili", "type": "continuous", "time": 2.0, "scale": "log", "visit_interval": 0.5},
    {"name": "resp", "type": "responder", "time": 2.0, "scale": "log", "threshold": 0.0},
    {"name": "death", "type": "time_to_event", "horizon": 5.0}]
ESTIMANDS = [{"name": "bili_tp", "endpoint": "dlogbili", "treatment": "active"},
             {"name": "resp_comp", "endpoint": "resp", "treatment": "active",
              "intercurrent": "composite"},
             {"name": "death_tp", "endpoint": "death", "treatment": "active"}]


def population(n: int) -> tuple[Any, pd.DataFrame, dict[str, np.ndarray], Any, str]:
    """Model, cohort, virtual patients, redraw function and where they came from."""
    twins = ROOT / "results" / "pbc_dpen" / "twins.nc"
    cohort_path = ROOT / "results" / "pbc_dpen" / "cohort.parquet"
    if twins.exists() and cohort_path.exists():
        import functools

        from twintrial.twins.io import load_twins, model_from_attrs
        from twintrial.twins.virtual import sample_virtual_patients

        tree = load_twins(twins)
        model = model_from_attrs(tree.attrs)
        cohort = pd.read_parquet(cohort_path).iloc[:n].reset_index(drop=True)
        redraw = functools.partial(sample_virtual_patients, tree, model=model, seed=SEED)
        return model, cohort, redraw(cohort), redraw, str(twins.relative_to(ROOT))
    model = get_model("biomarker_progression", biomarker_center=0.4, covariates={
        "intercept": [{"covariate": "bili", "form": "power", "center": 1.4, "fixed": 1.0}],
        "slope": [{"covariate": "bili", "form": "power", "center": 1.4, "fixed": 0.05}]})
    rng = np.random.default_rng(1)
    cohort = pd.DataFrame({"vid": np.arange(n, dtype=np.int64),
                           "bili": np.exp(rng.normal(np.log(1.4), 0.9, n))})

    def redraw(c: pd.DataFrame) -> dict[str, np.ndarray]:
        return synthetic_virtual_patients(model, c, n_draws=1000, seed=SEED, event=EVENT)

    return model, cohort, redraw(cohort), redraw, "synthetic population posterior"


def baseline_loop(X: np.ndarray, names: list[str], model: Any, cohort: pd.DataFrame,
                  redraw: Any) -> np.ndarray:
    """Per-sample loop over :func:`simulate_arms` (the un-vectorised way), same outputs."""
    Y = np.empty((len(X), 3))
    ref = float(np.mean(redraw(cohort)["slope"]))  # the typical-value reference (unshifted)
    for i, x in enumerate(X):
        v = dict(zip(names, x, strict=True))
        vp = dict(redraw(cohort.assign(bili=cohort["bili"] * v["bili_scale"])))
        vp["slope"] = vp["slope"] + (v["slope_typical"] - ref)
        vp["association"] = np.full(len(cohort), v["association"])
        arms = arms_from_list([
            {"name": "placebo", "control": True, "dropout_rate": v["dropout"]},
            {"name": "active", "dropout_rate": v["dropout"], "adherence": v["adherence"],
             "effects": [{"parameter": "slope", "size": float(v["effect"])}]}])
        eps = endpoints_from_list([{**e, "time": v["visit_time"]} for e in ENDPOINTS[:2]])
        out = simulate_arms(vp, cohort, arms, eps, estimands_from_list(ESTIMANDS[:2]),
                            model=model, seed=SEED)
        act, pla = out[out["arm"] == "active"], out[out["arm"] == "placebo"]
        d_t, d_c = act["bili_tp"].to_numpy(), pla["bili_tp"].to_numpy()
        sd = np.sqrt(0.5 * (d_t.var(ddof=1) + d_c.var(ddof=1)))
        Y[i] = [np.mean(d_t - d_c), act["resp_comp"].mean(),
                t_power(np.array([d_t.mean() - d_c.mean()]), np.array([sd]),
                        np.array([v["n_per_arm"]]), alpha=0.05)[0]]
    return Y


def _timed(f: Any) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main() -> None:  # noqa: D103
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024, help="Sobol' base samples N")
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--baseline", type=int, default=40, help="samples run by the baseline loop")
    ap.add_argument("--tte", action="store_true", help="also time a time-to-event power output")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sensitivity.json"))
    args = ap.parse_args()
    model, cohort, virtual, redraw, source = population(args.patients)
    arms, eps = arms_from_list(ARMS), endpoints_from_list(ENDPOINTS)
    ests = estimands_from_list(ESTIMANDS)
    cfg = SensitivityConfig.from_dict({"inputs": INPUTS, "outputs": OUTPUTS,
                                       "sobol": {"n_base_samples": args.n,
                                                 "calc_second_order": True},
                                       "batch_size": args.batch_size})
    out: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": list(os.getloadavg())},
        "virtual_patients": source, "n_base_samples": args.n, "n_inputs": len(INPUTS),
        "n_patients": args.patients, "batch_size": args.batch_size,
        "outputs": [o["name"] for o in OUTPUTS]}

    t0 = time.perf_counter()
    sm = TrialSensitivityModel(virtual, cohort, model, arms, eps, ests, cfg,
                               n_patients=args.patients, redraw=redraw, seed=SEED)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = sample_sensitivity(cfg, seed=1)
    t1 = time.perf_counter()
    Y = evaluate_sensitivity(samples, sm, batch_size=args.batch_size)
    t2 = time.perf_counter()
    t1 = t2 - min(t2 - t1, _timed(lambda: evaluate_sensitivity(samples, sm,
                                                               batch_size=args.batch_size)))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always", SensitivityWarning)
        result = analyze_sensitivity(samples, Y, seed=2)
    t3 = time.perf_counter()
    n_eval = len(samples.X)
    out.update(n_evaluations=n_eval, init_s=round(t_init, 3), sample_s=round(t1 - t0, 3),
               evaluate_1core_s=round(t2 - t1, 3), analyze_s=round(t3 - t2, 3),
               total_1core_s=round(t_init + t3 - t0, 3),
               evaluations_per_s_1core=round(n_eval / (t2 - t1)),
               patient_arm_simulations_per_s_1core=round(2 * n_eval * args.patients / (t2 - t1)))

    from twintrial.compute import dask_client
    from twintrial.config import DaskConfig

    # as the pipeline starts it (compute.dask defaults: worker processes for this stage), then
    # on thread workers (compute.dask.processes: false)
    for label, processes in (("", True), ("_threads", False)):
        with dask_client(DaskConfig(n_workers=args.workers, processes=processes)) as client:
            client.run(lambda: None)  # workers up before timing
            t4 = time.perf_counter()
            Y_dask = evaluate_sensitivity(samples, sm, client=client, batch_size=args.batch_size)
            t5 = time.perf_counter()
            t4 = t5 - min(t5 - t4, _timed(lambda c=client: evaluate_sensitivity(
                samples, sm, client=c, batch_size=args.batch_size)))
        out.update({f"evaluate_dask{label}_s": round(t5 - t4, 3),
                    f"evaluations_per_s_dask{label}": round(n_eval / (t5 - t4)),
                    f"total_dask{label}_s": round(t_init + (t1 - t0) + (t5 - t4) + (t3 - t2), 3),
                    f"dask{label}_identical_to_1core": bool(np.array_equal(Y, Y_dask))})
    out.update(dask_workers=args.workers, target_s=10.0, converged=result.converged,
               drivers=describe_drivers(result))

    rows = np.linspace(0, n_eval - 1, args.baseline).round().astype(int)
    t6 = time.perf_counter()
    Y_loop = baseline_loop(samples.X[rows], samples.names, model, cohort, redraw)
    t7 = time.perf_counter()
    per_s = args.baseline / (t7 - t6)
    # at the nominal visit both use the same noise column: they must agree to rounding
    X_nom = samples.X[rows].copy()
    X_nom[:, samples.names.index("visit_time")] = 2.0
    nominal_diff = np.abs(baseline_loop(X_nom, samples.names, model, cohort, redraw)
                          - sm(X_nom, samples.names)).max(axis=0)
    out["baseline"] = {
        "method": "per-sample loop over simulate_arms (redraw twins, rebuild config, outcomes "
                  "table, outputs), extrapolated",
        "samples_run": args.baseline, "evaluations_per_s": round(per_s, 1),
        "extrapolated_s": round(n_eval / per_s, 1),
        "max_abs_diff_at_nominal_visit": dict(zip(out["outputs"], nominal_diff.tolist(),
                                                  strict=True)),
        "max_abs_diff_other_visits": dict(zip(out["outputs"],
                                              np.abs(Y_loop - Y[rows]).max(axis=0).tolist(),
                                              strict=True)),
        "note": "a visit time off the nominal grid changes which noise column simulate_arms "
                "uses (its visit grid changes); the evaluator keeps the nominal visit's column "
                "for every sample (common random numbers across samples), so responder rates "
                "and power differ by Monte Carlo noise there, not by model"}
    out["speedup_1core_vs_baseline"] = round(out["evaluations_per_s_1core"] / per_s, 1)
    out["speedup_dask_vs_baseline"] = round(out["evaluations_per_s_dask"] / per_s, 1)

    if args.tte:
        cfg_t = SensitivityConfig.from_dict({"inputs": INPUTS, "outputs": OUTPUTS + [TTE_OUTPUT],
                                             "sobol": {"n_base_samples": args.n}})
        sm_t = TrialSensitivityModel(virtual, cohort, model, arms, eps, ests, cfg_t,
                                     n_patients=args.patients, redraw=redraw, seed=SEED)
        sub = samples.X[:2048]
        t8 = time.perf_counter()
        sm_t(sub, samples.names)
        dt = time.perf_counter() - t8
        out["tte"] = {"samples_timed": len(sub), "evaluations_per_s_1core": round(len(sub) / dt),
                      "extrapolated_1core_s": round(n_eval * dt / len(sub), 1)}
    out["machine"]["load_average_at_end"] = list(os.getloadavg())
    text = json.dumps(out, indent=2, sort_keys=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
