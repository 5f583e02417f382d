"""Benchmark of the twins fit: wall time (cold and warm compile), min ESS, ESS/s, nutpie vs pm.sample.

Cases: theophylline and the default PBC joint model exactly as a user runs them (data and
``twins`` section of ``config/examples/theophylline.yaml`` and ``config/config.yaml``: 12 and 312
patients, 4 chains x 1000 and 4 x 3000 draws (2000 when its results were recorded)), and
synthetic one-compartment PK cohorts of 100, 300 and 1000 patients (the twins defaults: 4 chains
x 1000 draws after 500 warm-up). Each (case, engine) runs in a fresh subprocess:

* ``cold``: empty compile cache (new temporary ``compute.cache_dir``), new process: what a
  first ``make run`` pays;
* ``warm_disk``: new process, compile cache populated by the cold run;
* ``warm``: second fit in the same process (compiled model reused with new data; nutpie only).

Engines: ``nutpie-jax`` (the default, ``twins.backend: auto``), ``nutpie-numba`` and ``pymc``
(PyMC's own NUTS, ``pm.sample(nuts_sampler="pymc")``; a *plain* ``pm.sample`` in PyMC 6
dispatches to nutpie whenever nutpie is installed). Wall times include compilation and the
predictive draws that the twins stage adds, not Python start-up and imports (``import_s``).

Run: ``python benchmarks/twins.py [--cases theoph,pk100,...] [--engines nutpie-jax,pymc]``.
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
CONFIGS = {"theoph": ROOT / "config/examples/theophylline.yaml", "pbc": ROOT / "config/config.yaml"}
ENGINES = ("nutpie-jax", "nutpie-numba", "pymc")
DEFAULT_ENGINE = "nutpie-jax"
TARGETS = {"theoph": "under 30 s cold on 2 cores", "pk1000": "under 120 s with R-hat <= 1.01",
           "pbc": "under 5 minutes, passes the gate"}


def default_engine(case: str) -> str:
    """The engine a user gets: the configured ``twins.backend`` for theoph/pbc, else auto (jax)."""
    if case in CONFIGS:
        import yaml

        backend = (yaml.safe_load(CONFIGS[case].read_text()).get("twins") or {}).get("backend")
        if backend in ("jax", "numba"):
            return f"nutpie-{backend}"
    return DEFAULT_ENGINE


def load_configured(case: str):  # noqa: ANN201
    """(dataset, model, twins config) of ``theoph`` or ``pbc`` exactly as their config gives them."""
    from twintrial.config import load_config
    from twintrial.models import get_model
    from twintrial.pipeline import _load_data
    from twintrial.twins_config import TwinsConfig

    study = load_config(CONFIGS[case])
    cfg = TwinsConfig.from_dict(study.section("twins"))
    return _load_data(study.raw), get_model(cfg.model, **dict(cfg.model_options)), cfg


def load_case(case: str):  # noqa: ANN201
    """(dataset, model) of a synthetic PK case ``pk<N>``: N patients, 320 mg, 7 samples."""
    import numpy as np
    import pandas as pd

    from twintrial.data.dataset import Dataset
    from twintrial.models import get_model

    empty_events = pd.DataFrame({"id": pd.Series([], dtype="str"),
                                 "time": pd.Series([], dtype=float),
                                 "event": pd.Series([], dtype=np.int8)})
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


def run_one(case: str, engine: str, cache_dir: str, repeat: int) -> list[dict]:
    """Fit ``case`` ``repeat`` times in this process; return one record per fit."""
    from twintrial.twins.fit import configure_compile_cache

    configure_compile_cache(cache_dir)
    t_import = time.perf_counter()
    from twintrial.twins.fit import fit_twins
    from twintrial.twins_config import TwinsConfig

    sampler, _, backend = engine.partition("-")
    if case in CONFIGS:  # the user's path: the configured data and twins section
        ds, model, cfg = load_configured(case)
    else:
        ds, model = load_case(case)
        cfg = TwinsConfig()  # the defaults: 4 chains x 1000 draws, 500 warm-up
    cfg = cfg.replace(sampler=sampler, backend=backend or "auto", allow_unconverged=True)
    out = []
    for r in range(repeat):
        t0 = time.perf_counter()
        fit = fit_twins(ds, model, cfg, cores=2, seed=100 + r)
        total = time.perf_counter() - t0
        d = fit.diagnostics
        out.append({"case": case, "engine": engine, "fit_in_process": r + 1,
                    "wall_time_s": round(total, 2), "compile_time_s": d["compile_time_s"],
                    "sampling_time_s": round(d["sampling_time_s"], 2),
                    "max_rhat": d["max_rhat"], "min_ess_bulk": d["min_ess_bulk"],
                    "min_ess_tail": d["min_ess_tail"], "divergences": d["divergences"],
                    "ess_per_s": d["min_ess_bulk"] / total, "gate_passed": d["gate_passed"],
                    "parameterization": d["parameterization"], "n_patients": d["n_patients"],
                    "n_observations": d["n_observations"], "chains": cfg.chains,
                    "draws": cfg.draws, "tune": cfg.tune,
                    "import_s": round(t0 - t_import, 2)})
    return out


def _subprocess(case: str, engine: str, cache_dir: str, repeat: int) -> list[dict]:
    cmd = [sys.executable, __file__, "--worker", case, engine, cache_dir, str(repeat)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if res.returncode != 0:
        return [{"case": case, "engine": engine, "error": res.stderr.strip().splitlines()[-1:]}]
    recs = json.loads(res.stdout.strip().splitlines()[-1])
    for r in recs:
        r["process_wall_s"] = round(time.perf_counter() - t0, 2)
    return recs


def _met(case: str, rec: dict | None) -> bool | None:
    if rec is None:
        return None
    limit = {"theoph": 30.0, "pk1000": 120.0, "pbc": 300.0}.get(case)
    if limit is None:
        return None
    ok = rec["wall_time_s"] < limit
    if case == "pk1000":
        ok = ok and rec["max_rhat"] <= 1.01
    if case == "pbc":
        ok = ok and bool(rec["gate_passed"])
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/twins.json"))
    args = ap.parse_args()
    if args.worker:
        case, engine, cache, repeat = args.worker
        print(json.dumps(run_one(case, engine, cache, int(repeat))))
        return
    load_start = os.getloadavg()
    records = []
    for case in args.cases.split(","):
        for engine in args.engines.split(","):
            with tempfile.TemporaryDirectory(prefix="twins-bench-") as cache:
                cold = _subprocess(case, engine, cache, 2 if engine.startswith("nutpie") else 1)
                for r, label in zip(cold, ("cold", "warm"), strict=False):
                    r["compile"] = label
                warm = _subprocess(case, engine, cache, 1)
                for r in warm:
                    r["compile"] = "warm_disk"
                records += cold + warm
                for r in cold + warm:
                    print(json.dumps(r), flush=True)
    summary = {}
    for case in args.cases.split(","):
        rec = {r["engine"] + "_" + r["compile"]: r for r in records
               if r["case"] == case and "error" not in r}
        default = default_engine(case)
        d, p = rec.get(f"{default}_cold"), rec.get("pymc_cold")
        row = {"target": TARGETS.get(case, ""), "default_engine": default,
               "target_met_cold": _met(case, d)}
        for engine in args.engines.split(","):
            for label in ("cold", "warm_disk", "warm"):
                r = rec.get(f"{engine}_{label}")
                if r is not None:
                    row[f"{engine}_{label}_s"] = r["wall_time_s"]
        if d and p and p["ess_per_s"] > 0:
            row["ess_per_s_ratio_default_over_pymc"] = round(d["ess_per_s"] / p["ess_per_s"], 2)
            row["wall_ratio_pymc_over_default"] = round(p["wall_time_s"] / d["wall_time_s"], 2)
        summary[case] = row
    import platform

    doc = {"summary": summary, "records": records,
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                       "load_average_at_start": load_start,
                       "load_average_at_end": os.getloadavg()},
           "settings": {"cores": 2, "pk_chains": 4, "pk_draws": 1000, "pk_tune": 500,
                        "theoph_pbc": "as configured"}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2, default=float))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
