"""Benchmark of the twins fit: wall time (cold and warm compile), min ESS, ESS/s, nutpie vs pm.sample.

Cases: theophylline (12 patients, cohorts/theoph), the default PBC joint model (312 patients,
cohorts/pbc/pbcseq.csv) and synthetic one-compartment PK cohorts of 100, 300 and 1000 patients.
Each (case, sampler) runs in a fresh subprocess:

* ``cold``: empty compile cache (new temporary ``compute.cache_dir``);
* ``warm_disk``: new process, compile cache populated by the cold run;
* ``warm``: second fit in the same process (compiled model reused with new data; nutpie only).

Samplers: ``nutpie`` (the engine's path: compile once, ``with_data`` reuse) and ``pymc`` (PyMC's
own NUTS, ``pm.sample(nuts_sampler="pymc")``). Note that a *plain* ``pm.sample`` in PyMC 6
dispatches to nutpie whenever nutpie is installed.

Run: ``python benchmarks/twins.py [--cases theoph,pk100,...] [--samplers nutpie,pymc]``.
Results: ``benchmarks/results/twins.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("theoph", "pbc", "pk100", "pk300", "pk1000")
TARGETS = {"theoph": "under 30 s cold on 2 cores", "pk1000": "under 120 s with R-hat <= 1.01",
           "pbc": "under 5 minutes, passes the gate"}


def load_case(case: str):  # noqa: ANN201
    """(dataset, model) of a benchmark case."""
    import numpy as np
    import pandas as pd

    from twintrial.data.dataset import Dataset
    from twintrial.models import get_model

    empty_events = pd.DataFrame({"id": pd.Series([], dtype="str"),
                                 "time": pd.Series([], dtype=float),
                                 "event": pd.Series([], dtype=np.int8)})
    if case == "theoph":
        raw = pd.read_csv(ROOT / "cohorts/theoph/pk_theoph.csv")
        raw["id"] = raw["Subject"].astype(str)
        subj = raw.groupby("id", sort=False).first().reset_index()
        subjects = pd.DataFrame({"id": subj["id"], "arm": pd.Series([pd.NA] * len(subj), dtype="str"),
                                 "wt": subj["Wt"].astype(float)})
        obs = raw[raw["Time"] > 0]
        observations = pd.DataFrame({"id": obs["id"], "time": obs["Time"].astype(float),
                                     "variable": "conc", "value": obs["conc"].astype(float),
                                     "cens": np.int8(0)})
        doses = pd.DataFrame({"id": subj["id"], "time": 0.0, "amount": subj["Dose"] * subj["Wt"],
                              "route": "oral", "duration": 0.0})
        return Dataset(subjects, observations, doses, empty_events, time_unit="h"), \
            get_model("pk_1cmt_oral")
    if case == "pbc":
        seq = pd.read_csv(ROOT / "cohorts/pbc/pbcseq.csv")
        seq["id"] = seq["id"].astype(str)
        base = seq.groupby("id", sort=False).first().reset_index()
        arm = np.where(base["trt"] == 1, "D-penicillamine", "placebo")
        subjects = pd.DataFrame({"id": base["id"], "arm": pd.Series(arm, dtype="str"),
                                 "age": base["age"].astype(float)})
        observations = pd.DataFrame({"id": seq["id"], "time": seq["day"] / 365.25,
                                     "variable": "bili", "value": seq["bili"].astype(float),
                                     "cens": np.int8(0)})
        events = pd.DataFrame({"id": base["id"], "time": base["futime"] / 365.25,
                               "event": (base["status"] == 2).astype(np.int8)})
        doses = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": [], "amount": [],
                              "route": pd.Series([], dtype="str"), "duration": []})
        return Dataset(subjects, observations, doses, events, time_unit="year"), \
            get_model("biomarker_progression")
    n = int(case.removeprefix("pk"))
    rng = np.random.default_rng(n)
    model = get_model("pk_1cmt_oral")
    from twintrial.models.backend import NUMPY

    times = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0])
    wt = rng.uniform(50, 100, n)
    par = {"ka": 1.5 * np.exp(0.4 * rng.standard_normal(n)),
           "CL": 2.8 * (wt / 70) ** 0.75 * np.exp(0.25 * rng.standard_normal(n)),
           "V": 32.0 * (wt / 70) * np.exp(0.15 * rng.standard_normal(n))}
    design = {"dose_time": np.zeros((n, 1, 1)), "dose_amount": np.full((n, 1, 1), 320.0)}
    f = model.predict(NUMPY, {k: v[:, None] for k, v in par.items()}, times[None, :], design)
    y = f + np.sqrt(0.1 ** 2 + (0.1 * f) ** 2) * rng.standard_normal(f.shape)
    ids = [f"s{i:04d}" for i in range(n)]
    observations = pd.DataFrame({"id": np.repeat(ids, len(times)), "time": np.tile(times, n),
                                 "variable": "conc", "value": y.ravel(), "cens": np.int8(0)})
    subjects = pd.DataFrame({"id": ids, "arm": pd.Series([pd.NA] * n, dtype="str"), "wt": wt})
    doses = pd.DataFrame({"id": ids, "time": 0.0, "amount": 320.0, "route": "oral",
                          "duration": 0.0})
    return Dataset(subjects, observations, doses, empty_events, time_unit="h"), model


def run_one(case: str, sampler: str, cache_dir: str, repeat: int) -> list[dict]:
    """Fit ``case`` ``repeat`` times in this process; return one record per fit."""
    from twintrial.twins.fit import configure_compile_cache

    configure_compile_cache(cache_dir)
    t_import = time.perf_counter()
    from twintrial.twins.fit import fit_twins
    from twintrial.twins_config import TwinsConfig

    ds, model = load_case(case)
    cfg = TwinsConfig(sampler=sampler, chains=4, draws=1000, tune=1000, allow_unconverged=True)
    out = []
    for r in range(repeat):
        t0 = time.perf_counter()
        fit = fit_twins(ds, model, cfg, cores=2, seed=100 + r)
        total = time.perf_counter() - t0
        d = fit.diagnostics
        out.append({"case": case, "sampler": sampler, "fit_in_process": r + 1,
                    "wall_time_s": round(total, 2), "compile_time_s": d["compile_time_s"],
                    "max_rhat": d["max_rhat"], "min_ess_bulk": d["min_ess_bulk"],
                    "min_ess_tail": d["min_ess_tail"], "divergences": d["divergences"],
                    "ess_per_s": d["min_ess_bulk"] / total, "gate_passed": d["gate_passed"],
                    "parameterization": d["parameterization"], "n_patients": d["n_patients"],
                    "n_observations": d["n_observations"],
                    "import_s": round(t0 - t_import, 2)})
    return out


def _subprocess(case: str, sampler: str, cache_dir: str, repeat: int) -> list[dict]:
    cmd = [sys.executable, __file__, "--worker", case, sampler, cache_dir, str(repeat)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if res.returncode != 0:
        return [{"case": case, "sampler": sampler, "error": res.stderr.strip().splitlines()[-1:]}]
    recs = json.loads(res.stdout.strip().splitlines()[-1])
    for r in recs:
        r["process_wall_s"] = round(time.perf_counter() - t0, 2)
    return recs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--samplers", default="nutpie,pymc")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/twins.json"))
    args = ap.parse_args()
    if args.worker:
        case, sampler, cache, repeat = args.worker
        print(json.dumps(run_one(case, sampler, cache, int(repeat))))
        return
    records = []
    for case in args.cases.split(","):
        for sampler in args.samplers.split(","):
            with tempfile.TemporaryDirectory(prefix="twins-bench-") as cache:
                cold = _subprocess(case, sampler, cache, 2 if sampler == "nutpie" else 1)
                for r, label in zip(cold, ("cold", "warm"), strict=False):
                    r["compile"] = label
                warm = _subprocess(case, sampler, cache, 1)
                for r in warm:
                    r["compile"] = "warm_disk"
                records += cold + warm
                print(json.dumps(cold + warm), flush=True)
    summary = {}
    for case in args.cases.split(","):
        rec = {r["sampler"] + "_" + r["compile"]: r for r in records
               if r["case"] == case and "error" not in r}
        n, p = rec.get("nutpie_cold"), rec.get("pymc_cold")
        summary[case] = {
            "target": TARGETS.get(case, ""),
            "nutpie_cold_s": n and n["wall_time_s"], "pymc_cold_s": p and p["wall_time_s"],
            "nutpie_warm_s": rec.get("nutpie_warm", {}).get("wall_time_s"),
            "nutpie_warm_disk_s": rec.get("nutpie_warm_disk", {}).get("wall_time_s"),
            "ess_per_s_ratio_nutpie_over_pymc": (n["ess_per_s"] / p["ess_per_s"]
                                                 if n and p and p["ess_per_s"] > 0 else None),
        }
    import platform

    doc = {"summary": summary, "records": records,
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                       "load_average_at_end": os.getloadavg()},
           "settings": {"chains": 4, "draws": 1000, "tune": 1000, "cores": 2}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2, default=float))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
