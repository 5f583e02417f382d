"""Benchmark of the virtual cohort stage: 10^6 PBC virtual patients on 2 cores.

Two sources, through the public API (``build_cohort``, fidelity and privacy reports included):

- ``data``: the 312 randomized patients of the Mayo PBC trial (``cohorts/pbc/pbc.csv``, shipped by
  the data stage; skipped if absent), 16 covariates, empirical marginals, one criterion;
- ``summary``: the Table 1 definition ``cohorts/pbc_summary/cohort.yaml``, no criterion.

Baseline, measured in the same run on a subset: a naive per-patient loop doing the same maths
(one ``multivariate_normal`` draw, then each covariate through its own ``scipy.stats``/NumPy
quantile call), which is how such samplers are often written. The speed-up is the ratio of
patients per second (build_cohort, all reports included, vs the loop's sampling alone).

Run: ``.venv/bin/python benchmarks/cohort.py [--n 1000000] [--baseline 2000]``
Writes ``benchmarks/results/cohort.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import special

from twintrial import io
from twintrial.cohort import CohortConfig, CohortSummary, build_cohort
from twintrial.cohort.build import _latent_cholesky, _plan_from_data, _sample, _table
from twintrial.cohort.marginals import DiscreteMarginal
from twintrial.expressions import parse_expression

ROOT = Path(__file__).resolve().parents[1]
CONTINUOUS = ["age", "bili", "chol", "albumin", "copper", "alk.phos", "ast", "trig", "platelet",
              "protime"]
DISCRETE = [("sex", "categorical"), ("ascites", "binary"), ("hepato", "binary"),
            ("spiders", "binary"), ("edema", "categorical"), ("stage", "categorical")]


def pbc_subjects() -> pd.DataFrame | None:
    path = ROOT / "cohorts" / "pbc" / "pbc.csv"
    if not path.is_file():
        return None
    d = pd.read_csv(path)
    d = d[d["trt"].isin([1, 2])].copy()
    d["id"] = d["id"].astype(str)
    d["arm"] = d["trt"].map({1: "dpenicillamine", 2: "placebo"}).astype("str")
    return d[["id", "arm", *CONTINUOUS, *(n for n, _ in DISCRETE)]].reset_index(drop=True)


def data_config(n: int) -> CohortConfig:
    covs = [{"name": c} for c in CONTINUOUS] + [{"name": n, "type": t} for n, t in DISCRETE]
    return CohortConfig.from_dict({"n": n, "covariates": covs, "criteria": ["age >= 30"],
                                   "fidelity": {"warn": False}})


def naive_loop(subjects: pd.DataFrame, cfg: CohortConfig, n: int, seed: int) -> float:
    """Patients per second of a per-patient loop with the same marginals and copula."""
    plan = _plan_from_data(subjects, cfg.covariates)
    latent, _, _ = _latent_cholesky(plan, None)
    g = np.random.default_rng(seed)
    mean = np.zeros(latent.shape[0])
    t0 = time.perf_counter()
    rows = []
    for _ in range(n):
        z = g.multivariate_normal(mean, latent)
        row = {}
        for j, m in enumerate(plan.marginals):
            u = float(special.ndtr(z[j]))
            if isinstance(m, DiscreteMarginal):
                row[m.name] = m.levels[int(np.searchsorted(np.cumsum(m.probs)[:-1], u))]
            else:
                row[m.name] = float(np.interp(u, m.knots_p, m.knots_x))  # type: ignore[union-attr]
        if row["age"] >= 30:
            rows.append(row)
    pd.DataFrame(rows)
    return n / (time.perf_counter() - t0)


def timed(label: str, func: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = func()
    dt = time.perf_counter() - t0
    print(f"{label}: {dt:.2f} s")
    return out, dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    results: dict[str, Any] = {"n": args.n, "machine": {"cpus": os.cpu_count(),
                                                       "python": platform.python_version()}}
    warnings.simplefilter("ignore")

    subjects = pbc_subjects()
    if subjects is not None:
        cfg = data_config(args.n)
        build_cohort(subjects, data_config(2000), seed=args.seed)  # warm caches
        res, dt = timed(f"data source, N={args.n}", lambda: build_cohort(subjects, cfg,
                                                                         seed=args.seed))
        loop_rate = naive_loop(subjects, cfg, args.baseline, args.seed)
        plan = _plan_from_data(subjects, cfg.covariates)
        _, chol, _ = _latent_cholesky(plan, None)
        crit = [parse_expression(t) for t in cfg.criteria]
        _, dts = timed("  sampling only (no fidelity/privacy report)", lambda: _table(
            _sample(plan, chol, crit, args.n, cfg, args.seed, 1 << 16)[0], plan, args.n))
        results["data"] = {
            "seconds": dt, "patients_per_s": args.n / dt,
            "acceptance_rate": res.report["acceptance"]["rate"],
            "fidelity_pass": res.report["fidelity"]["pass"],
            "rank_corr_error": res.report["fidelity"]["rank_correlation"]["max_abs_error"],
            "max_ks": max(v.get("ks", 0.0) for v in res.report["fidelity"]["covariates"].values()),
            "exact_copies": res.report["privacy"]["exact_copies"],
            "baseline": {"what": "per-patient loop (multivariate_normal + per-covariate quantile)",
                         "n": args.baseline, "patients_per_s": loop_rate},
            "speedup_vs_baseline": (args.n / dt) / loop_rate,
            "sampling_only": {"seconds": dts, "patients_per_s": args.n / dts,
                              "speedup_vs_baseline": (args.n / dts) / loop_rate},
        }
        print(f"  {args.n / dt:,.0f} patients/s vs naive loop {loop_rate:,.0f}/s: "
              f"x{(args.n / dt) / loop_rate:,.0f}")
        chunk_sizes = {}
        for chunk in (8192, 1 << 17):
            _, dtc = timed(f"  chunk_size={chunk}", lambda c=chunk: build_cohort(
                subjects, cfg, seed=args.seed, chunk_size=c))
            chunk_sizes[str(chunk)] = dtc
        results["data"]["seconds_by_chunk_size"] = chunk_sizes
    else:
        print("cohorts/pbc/pbc.csv not found: data-source benchmark skipped")

    path = ROOT / "cohorts" / "pbc_summary" / "cohort.yaml"
    summary = CohortSummary.from_dict(yaml.safe_load(path.read_text()), source=str(path))
    scfg = CohortConfig.from_dict({"source": "summary", "n": args.n,
                                   "fidelity": {"warn": False}})
    res, dt = timed(f"summary source, N={args.n}", lambda: build_cohort(summary, scfg,
                                                                        seed=args.seed))
    results["summary"] = {"seconds": dt, "patients_per_s": args.n / dt,
                          "fidelity_pass": res.report["fidelity"]["pass"],
                          "rank_corr_error":
                              res.report["fidelity"]["rank_correlation"]["max_abs_error"]}
    print(f"  {args.n / dt:,.0f} patients/s")
    out = ROOT / "benchmarks" / "results" / "cohort.json"
    io.write_json(results, out)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
