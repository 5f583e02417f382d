"""Benchmark of the sensitivity machinery: 8 inputs, Sobol' N = 1024 with second order.

18,432 evaluations of an analytic, vectorised stand-in for the trial simulator over a fixed
1,000-patient virtual cohort (common random numbers), sampled, evaluated (synchronously and on a
local Dask cluster) and analysed through the public API. Target: under 10 s on 2 cores.
The stand-in will be replaced by the arms-stage simulator once it exists.

Run: ``.venv/bin/python benchmarks/sensitivity.py [--n 1024] [--patients 1000] [--workers 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from typing import Any

import numpy as np
from scipy.special import ndtr

from twintrial.exceptions import SensitivityWarning
from twintrial.rng import generator
from twintrial.sensitivity import (
    SensitivityConfig,
    analyze_sensitivity,
    describe_drivers,
    evaluate_sensitivity,
    sample_sensitivity,
)

INPUTS = [
    {"name": "slope", "kind": "model", "target": "model.slope_typical", "low": 0.5, "high": 1.5,
     "unit": "points/year"},
    {"name": "hazard_assoc", "kind": "model", "target": "model.hazard_association",
     "dist": "normal", "mean": 0.8, "sd": 0.2},
    {"name": "effect", "kind": "treatment", "target": "arms.treatment.effect",
     "dist": "normal", "mean": 0.3, "sd": 0.1},
    {"name": "visit_time", "kind": "design", "target": "design.visit_time", "low": 0.5,
     "high": 2.0, "unit": "year"},
    {"name": "n_per_arm", "kind": "design", "target": "design.n_per_arm", "low": 100,
     "high": 500, "integer": True},
    {"name": "dropout", "kind": "operational", "target": "operational.dropout_rate",
     "low": 0.0, "high": 0.3, "unit": "1/year"},
    {"name": "adherence", "kind": "operational", "target": "operational.adherence",
     "dist": "triangular", "low": 0.6, "mode": 0.9, "high": 1.0},
    {"name": "severity_shift", "kind": "cohort", "target": "cohort.shift.severity",
     "low": -0.5, "high": 0.5},
]
OUTPUTS = [{"name": "mean_effect", "quantity": "mean_effect"},
           {"name": "responder_rate", "quantity": "responder_rate"},
           {"name": "power", "quantity": "power"}]


class TrialProxy:
    """Vectorised stand-in for the simulator: twins in both arms of a 1,000-patient cohort."""

    def __init__(self, n_patients: int, seed: int) -> None:
        rng = generator(seed, "benchmark", "cohort")
        self.z = rng.standard_normal(n_patients)         # baseline severity (standardised)
        self.eta = 0.3 * rng.standard_normal(n_patients)  # random effect on the slope
        self.eps = rng.standard_normal(n_patients)        # residual error of the change
        self.u = rng.uniform(size=n_patients)             # dropout uniforms

    def __call__(self, X: np.ndarray, names: list[str]) -> np.ndarray:
        p = {n: X[:, [j]] for j, n in enumerate(names)}  # (batch, 1) columns broadcast
        z = self.z[None, :] + p["severity_shift"]
        t = p["visit_time"]
        slope = p["slope"] * np.exp(0.4 * z + self.eta[None, :])
        control = slope * t + 0.5 * self.eps[None, :]
        benefit = slope * t * p["effect"] * p["adherence"]
        treated = control - benefit
        hazard = p["dropout"] * np.exp(p["hazard_assoc"] * z)
        stay = self.u[None, :] >= -np.expm1(-hazard * t)
        n_stay = stay.sum(axis=1)
        mean_effect = np.where(stay, benefit, 0.0).sum(axis=1) / np.maximum(n_stay, 1)
        responder = np.where(stay, treated < 0.5 * control.mean(axis=1, keepdims=True), False)
        responder_rate = responder.sum(axis=1) / np.maximum(n_stay, 1)
        sd = np.where(stay, control, np.nan)
        sd = np.sqrt(np.nanvar(sd, axis=1, ddof=1))
        n_eff = p["n_per_arm"][:, 0] * n_stay / len(self.z)
        power = ndtr(mean_effect / (sd * np.sqrt(2.0 / n_eff)) - 1.959963984540054)
        return np.column_stack([mean_effect, responder_rate, power])


def main() -> None:  # noqa: D103
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024, help="Sobol' base samples N")
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1024)
    args = ap.parse_args()
    cfg = SensitivityConfig.from_dict({"inputs": INPUTS, "outputs": OUTPUTS,
                                       "sobol": {"n_base_samples": args.n,
                                                 "calc_second_order": True}})
    model = TrialProxy(args.patients, seed=2026)
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                           "n_base_samples": args.n, "n_inputs": len(INPUTS),
                           "n_patients": args.patients, "batch_size": args.batch_size}

    t0 = time.perf_counter()
    samples = sample_sensitivity(cfg, seed=1)
    t1 = time.perf_counter()
    Y = evaluate_sensitivity(samples, model, batch_size=args.batch_size)
    t2 = time.perf_counter()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always", SensitivityWarning)
        result = analyze_sensitivity(samples, Y, seed=2)
    t3 = time.perf_counter()
    n_eval = len(samples.X)
    out.update(n_evaluations=n_eval, sample_s=round(t1 - t0, 3), evaluate_sync_s=round(t2 - t1, 3),
               analyze_s=round(t3 - t2, 3), total_sync_s=round(t3 - t0, 3),
               evaluations_per_s_sync=round(n_eval / (t2 - t1)),
               patient_evaluations_per_s_sync=round(n_eval * args.patients / (t2 - t1)))

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: None)  # workers up before timing
        t4 = time.perf_counter()
        Y_dask = evaluate_sensitivity(samples, model, client=client, batch_size=args.batch_size)
        t5 = time.perf_counter()
    out.update(evaluate_dask_s=round(t5 - t4, 3), dask_workers=args.workers,
               evaluations_per_s_dask=round(n_eval / (t5 - t4)),
               total_dask_s=round((t1 - t0) + (t5 - t4) + (t3 - t2), 3),
               dask_identical_to_sync=bool(np.array_equal(Y, Y_dask)),
               converged=result.converged, drivers=describe_drivers(result))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
