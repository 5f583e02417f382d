"""The I/O layer of the workflow: one function per stage, reading inputs and writing outputs.

Snakemake scripts and the per-stage CLI commands call these functions; the science lives in the
stage modules, which do no file I/O. Each runner takes the resolved config (the sections the stage
depends on, as plain dicts) and the results directory, writes its outputs atomically with their
provenance, and returns the paths written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from twintrial import io
from twintrial.provenance import provenance_block
from twintrial.rng import job_seed

log = logging.getLogger("twintrial")

#: stages in workflow order (the report is always last)
STAGES: tuple[str, ...] = ("cohort", "twins", "arms", "analysis", "sensitivity", "validation")

#: stages that can be run alone from the CLI (the report included)
CLI_STAGES: tuple[str, ...] = (*STAGES, "report")

#: output file names of each stage, under results/<trial>/
OUTPUTS: dict[str, tuple[str, ...]] = {
    "cohort": ("cohort.parquet", "cohort.json"),
    "twins": ("twins.nc", "twins.json"),
    "arms": ("outcomes.parquet", "arms.json"),
    "analysis": ("trial.json",),
    "sensitivity": ("sensitivity.parquet", "sensitivity.json"),
    "validation": ("validation.json",),
}

#: config sections each stage depends on (edits elsewhere do not rerun it)
SECTIONS: dict[str, tuple[str, ...]] = {
    "cohort": ("trial", "data", "cohort", "compute"),
    "twins": ("trial", "data", "twins", "compute"),
    "arms": ("trial", "data", "cohort", "twins", "arms", "endpoints", "analysis", "compute"),
    "analysis": ("trial", "data", "cohort", "twins", "arms", "endpoints", "analysis", "compute"),
    "sensitivity": ("trial", "data", "cohort", "twins", "arms", "endpoints", "analysis",
                    "sensitivity", "compute"),
    "validation": ("trial", "data", "cohort", "twins", "endpoints", "analysis", "validation",
                   "compute"),
    "report": ("trial", "data", "cohort", "twins", "arms", "endpoints", "analysis",
               "sensitivity", "validation", "report", "compute"),
}


#: sections of which a stage reads only some keys (edits to the other keys do not rerun it):
#: validation takes the trial's context of use from the estimands' endpoints
SECTION_KEYS: dict[tuple[str, str], tuple[str, ...]] = {("validation", "analysis"): ("estimands",)}


def stage_config(config: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The sections of the resolved ``config`` that ``stage`` depends on (only the keys it reads
    of a section listed in :data:`SECTION_KEYS`)."""
    out = {}
    for k in SECTIONS[stage]:
        if k not in config:
            continue
        keys = SECTION_KEYS.get((stage, k))
        out[k] = config[k] if keys is None else {key: config[k][key] for key in keys
                                                  if key in (config[k] or {})}
    return out


def _paths_in(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("path", "summary_file", "test_report") and isinstance(value, str):
                if value:
                    yield value
            else:
                yield from _paths_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from _paths_in(item)


def stage_data_inputs(config: Mapping[str, Any], stage: str) -> list[str]:
    """Data files named in the sections ``stage`` reads (keys ``path``, ``summary_file`` and
    ``test_report``)."""
    sections = stage_config(config, stage)
    return sorted({p for name, sec in sections.items() if name != "compute"
                   for p in _paths_in(sec)})


def enabled_stages(config: Mapping[str, Any]) -> list[str]:
    """Stages this configuration runs.

    The cohort always runs; twins when a model is configured (``twins.model``); arms and analysis
    when arms and endpoints are configured; sensitivity when it has inputs; validation unless its
    split is ``none``.
    """
    out = ["cohort"]
    if config.get("twins", {}).get("model"):
        out.append("twins")
        if config.get("arms") and config.get("endpoints"):
            out += ["arms", "analysis"]
            if config.get("sensitivity", {}).get("inputs"):
                out.append("sensitivity")
        if config.get("validation", {}).get("split", {}).get("kind", "none") != "none":
            out.append("validation")
    return out


def _stamp(config: Mapping[str, Any], stage: str, seed: int | None,
           inputs: list[str | Path]) -> dict[str, Any]:
    return provenance_block(stage_config(config, stage), stage=stage, seed=seed, inputs=inputs,
                            extra={"sections": list(SECTIONS[stage])})


def _upstream_warnings(*stage_jsons: Path) -> list[str]:
    """Warnings of upstream stages that every downstream output must repeat."""
    out: list[str] = []
    for path in stage_jsons:
        if path.exists():
            out += [w for w in io.read_json(path).get("warnings", []) if w not in out]
    return out


def _save_figures(figures: Mapping[str, Any], out: Path, prefix: str) -> list[Path]:
    paths = []
    for name, fig in figures.items():
        path = out / "figures" / f"{prefix}_{name}.png"
        io.save_figure(fig, path, dpi=110, bbox_inches="tight")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- cohort
def run_cohort(config: Mapping[str, Any], *, results_dir: str | Path,
               cores: int | None = None) -> list[Path]:
    """Build the virtual cohort: ``cohort.parquet`` and ``cohort.json``."""
    from twintrial.cohort import CohortConfig, build_cohort, load_summary_definition
    from twintrial.cohort.plots import cohort_figures
    from twintrial.data import DataConfig, load_dataset

    out = Path(results_dir)
    t0 = time.perf_counter()
    cfg = CohortConfig.from_dict(config["cohort"])
    seed = job_seed(config["trial"]["seed"], "cohort")
    if cfg.source == "summary":
        source: Any = load_summary_definition(cfg.summary_file)
        inputs = [cfg.summary_file]
    else:
        dataset = load_dataset(DataConfig.from_dict(config["data"]))
        source = dataset.subjects
        inputs = sorted(set(dataset.source.values()))
    result = build_cohort(source, cfg, seed=seed)
    stamp = _stamp(config, "cohort", seed, inputs)
    paths = [out / "cohort.parquet", out / "cohort.json"]
    io.write_table(result.table, paths[0], provenance=stamp)
    report = dict(result.report)
    io.write_json({"summary": report.pop("summary", report), "warnings":
                   report.pop("warnings", []), **report}, paths[1], provenance=stamp)
    units = {c.name: c.unit for c in cfg.covariates if c.unit}
    paths += _save_figures(cohort_figures(result.table, result.report, result.marginals,
                                          result.reference, units=units), out, "cohort")
    log.info("cohort: %d virtual patients in %.1f s", len(result.table), time.perf_counter() - t0)
    return paths


# --------------------------------------------------------------------------- twins
def _load_data(config: Mapping[str, Any]) -> Any:
    from twintrial.data import DataConfig, load_dataset

    return load_dataset(DataConfig.from_dict(config["data"]))


def run_twins(config: Mapping[str, Any], *, results_dir: str | Path,
              cores: int | None = None) -> list[Path]:
    """Fit the digital twins: ``twins.nc`` (posterior DataTree) and ``twins.json``."""
    from twintrial.twins import run_twins as fit_configured_twins
    from twintrial.twins.io import save_twins, twins_summary
    from twintrial.twins.plots import twins_figures

    out = Path(results_dir)
    dataset = _load_data(config)
    seed = job_seed(config["trial"]["seed"], "twins")
    fit = fit_configured_twins(dataset, dict(config["twins"]),
                               cache_dir=config["compute"]["cache_dir"], cores=cores, seed=seed)
    stamp = _stamp(config, "twins", seed, sorted(set(dataset.source.values())))
    fit.idata.attrs["provenance"] = io.dumps_json(stamp)
    paths = [save_twins(fit.idata, out / "twins.nc"), out / "twins.json"]
    io.write_json(twins_summary(fit), paths[1], provenance=stamp)
    paths += _save_figures(twins_figures(fit), out, "twins")
    log.info("twins: %d patients, gate passed: %s", fit.data.n_patients,
             fit.diagnostics.get("gate_passed"))
    return paths


# --------------------------------------------------------------------------- arms
def run_arms(config: Mapping[str, Any], *, results_dir: str | Path,
             cores: int | None = None) -> list[Path]:
    """Simulate every arm for every virtual patient on Dask: ``outcomes.parquet``, ``arms.json``."""
    from twintrial.arms import simulate_trial_outcomes
    from twintrial.arms_config import trial_design
    from twintrial.compute import dask_client
    from twintrial.config import DaskConfig
    from twintrial.twins.io import load_twins, model_from_attrs
    from twintrial.twins.virtual import sample_virtual_patients
    from twintrial.twins_config import TwinsConfig

    out = Path(results_dir)
    t0 = time.perf_counter()
    cohort = io.read_table(out / "cohort.parquet")
    idata = load_twins(out / "twins.nc")
    model = model_from_attrs(idata.attrs)
    twins_cfg = TwinsConfig.from_dict(config["twins"])
    arms, endpoints, estimands = trial_design(config)
    seed = job_seed(config["trial"]["seed"], "arms")
    virtual = sample_virtual_patients(idata, cohort, model=model,
                                      condition_on_baseline=twins_cfg.condition_on_baseline,
                                      seed=job_seed(config["trial"]["seed"], "virtual"))
    dask_cfg = DaskConfig.from_dict(config["compute"]["dask"])
    # thread workers unless configured: vectorised NumPy, nothing copied between processes
    # (measured on 2 cores: 1.2-1.6x faster end to end for the default model, about the same for
    # PK; benchmarks/results/arms.json)
    with dask_client(dask_cfg, cores=cores, processes=False) as client:
        table = simulate_trial_outcomes(virtual, cohort, arms, endpoints, estimands, model=model,
                                        seed=seed, client=client, chunk_size=dask_cfg.chunk_size)
    inputs = [out / "cohort.parquet", out / "twins.nc"]
    stamp = _stamp(config, "arms", seed, inputs)
    paths = [out / "outcomes.parquet", out / "arms.json"]
    io.write_table(table, paths[0], provenance=stamp)
    summary = {"n_virtual_patients": int(len(cohort)), "arms": [a.name for a in arms],
               "estimands": [e.name for e in estimands], "n_rows": int(len(table)),
               "posterior_draws_used": int(len(np.unique(virtual["draw"]))),
               "wall_time_s": time.perf_counter() - t0}
    io.write_json({"summary": summary,
                   "warnings": _upstream_warnings(out / "twins.json")}, paths[1],
                  provenance=stamp)
    return paths


# --------------------------------------------------------------------------- analysis
def run_analysis(config: Mapping[str, Any], *, results_dir: str | Path,
                 cores: int | None = None) -> list[Path]:
    """Analyse the simulated trial: ``trial.json`` and figures."""
    from twintrial.analysis import AnalysisConfig
    from twintrial.arms_config import trial_design
    from twintrial.trial import analyze_trial

    out = Path(results_dir)
    outcomes = io.read_table(out / "outcomes.parquet")
    cohort = io.read_table(out / "cohort.parquet")
    arms, endpoints, estimands = trial_design(config)
    seed = job_seed(config["trial"]["seed"], "analysis")
    result = analyze_trial(outcomes, cohort, arms=arms, endpoints=endpoints, estimands=estimands,
                           cfg=AnalysisConfig.from_dict(config["analysis"]), seed=seed)
    stamp = _stamp(config, "analysis", seed, [out / "outcomes.parquet", out / "cohort.parquet"])
    payload = result.to_json()
    payload["warnings"] = _upstream_warnings(out / "arms.json") + list(payload.get("warnings", []))
    io.write_json(payload, out / "trial.json", provenance=stamp)
    return [out / "trial.json", *_save_figures(result.figures, out, "analysis")]


# --------------------------------------------------------------------------- twin update
def _with_observation_path(data_cfg: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The data section with its observation file replaced by ``path`` (same format/columns)."""
    import copy

    cfg = copy.deepcopy(dict(data_cfg))
    fmt = cfg.get("format", "tidy")
    if fmt == "tidy":
        cfg["observations"]["path"] = path
        cfg.pop("events", None)
        cfg.pop("doses", None)
    else:
        cfg[fmt]["path"] = path
    return cfg


def run_update(config: Mapping[str, Any], *, results_dir: str | Path, new_data: str | Path,
               cores: int | None = None) -> list[Path]:
    """Add new observations to the twins and refit: ``update/twins.nc``, ``update/changes.json``.

    The previous fit is rebuilt from ``twins.nc`` and the original data; ``changes`` says, per
    patient, how much the predicted trajectory moved and how much narrower its band became.
    """
    from twintrial.data import DataConfig, load_dataset
    from twintrial.exceptions import DataError
    from twintrial.twins.engine import prepare_data
    from twintrial.twins.fit import TwinFit
    from twintrial.twins.io import load_twins, model_from_attrs, save_twins, twins_summary
    from twintrial.twins.update import update_twins
    from twintrial.twins_config import TwinsConfig

    out = Path(results_dir)
    if not Path(new_data).is_file():
        raise DataError(f"{new_data}: new data file not found")
    if not (out / "twins.nc").is_file():
        raise DataError(f"{out / 'twins.nc'}: no fitted twins to update; run the twins stage "
                        "first (twintrial twins CONFIG)")
    old = _load_data(config)
    new = load_dataset(DataConfig.from_dict(_with_observation_path(config["data"], str(new_data))))
    cfg = TwinsConfig.from_dict(config["twins"])
    idata = load_twins(out / "twins.nc")
    model = model_from_attrs(idata.attrs)
    engine_data = prepare_data(old.subjects, old.observations, old.doses, old.events, model,
                               fit_window=cfg.fit_window, parameterization=cfg.parameterization,
                               auto_threshold=cfg.auto_threshold)
    previous = TwinFit(idata=idata, diagnostics=io.read_json(out / "twins.json")["diagnostics"],
                       data=engine_data, model=model, config=cfg)
    seed = job_seed(config["trial"]["seed"], "twins", "update")
    result = update_twins(previous, old, new, cfg=cfg, cache_dir=config["compute"]["cache_dir"],
                          cores=cores, seed=seed)
    stamp = _stamp(config, "twins", seed, [*sorted(set(old.source.values())), new_data,
                                           out / "twins.nc"])
    upd = out / "update"
    changes = result.changes
    paths = [save_twins(result.fit.idata, upd / "twins.nc"), upd / "twins.json",
             upd / "changes.json"]
    io.write_json(twins_summary(result.fit), paths[1], provenance=stamp)
    io.write_json({"summary": {
        "n_patients_existing": int((changes["status"] == "existing").sum()),
        "n_patients_new": int((changes["status"] == "new").sum()),
        "median_change_rel": float(changes["change_rel"].median()),
        "max_change_rel": float(changes["change_rel"].max())},
        "changes": changes.to_dict(orient="records"), "warnings": list(result.fit.warnings)},
        paths[2], provenance=stamp)
    return paths


# --------------------------------------------------------------------------- sensitivity
def run_sensitivity(config: Mapping[str, Any], *, results_dir: str | Path,
                    cores: int | None = None) -> list[Path]:
    """Global sensitivity analysis on the arms simulator: ``sensitivity.parquet`` + ``.json``."""
    from twintrial.compute import dask_client
    from twintrial.config import DaskConfig
    from twintrial.sensitivity import sensitivity_outputs, sensitivity_stage
    from twintrial.twins.io import load_twins

    out = Path(results_dir)
    root = config["trial"]["seed"]
    seed = job_seed(root, "sensitivity")
    # worker processes unless configured: the evaluator's batches hold the GIL (measured: 2.7-3.2x
    # faster than thread workers on 2 cores, benchmarks/results/sensitivity.json)
    with dask_client(DaskConfig.from_dict(config["compute"]["dask"]), cores=cores,
                     processes=True) as client:
        run = sensitivity_stage(io.read_table(out / "cohort.parquet"), load_twins(out / "twins.nc"),
                                config, client=client, arms_seed=job_seed(root, "arms"),
                                twins_seed=job_seed(root, "virtual"), seed=seed)
    res = sensitivity_outputs(run)
    stamp = _stamp(config, "sensitivity", seed, [out / "cohort.parquet", out / "twins.nc"])
    stamp["sampling"] = res.table_metadata
    paths = [out / "sensitivity.parquet", out / "sensitivity.json"]
    io.write_table(res.table, paths[0], provenance=stamp)
    payload = dict(res.payload)
    payload["warnings"] = _upstream_warnings(out / "twins.json") + list(payload.get("warnings", []))
    io.write_json(payload, paths[1], provenance=stamp)
    figures = {k.removeprefix("sensitivity_"): v for k, v in res.figures.items()}
    return paths + _save_figures(figures, out, "sensitivity")


# --------------------------------------------------------------------------- validation
def run_validation(config: Mapping[str, Any], *, results_dir: str | Path,
                   cores: int | None = None) -> list[Path]:
    """Held-out predictive, survival and trial-level validation; credibility: ``validation.json``."""
    from twintrial.arms_config import trial_design
    from twintrial.models import get_model
    from twintrial.twins_config import TwinsConfig
    from twintrial.validation.stage import context_of_use, validate

    out = Path(results_dir)
    dataset = _load_data(config)
    tw = TwinsConfig.from_dict(config["twins"])
    model = get_model(tw.model, **dict(tw.model_options))
    _, endpoints, estimands = trial_design(config)
    quantities, horizon = context_of_use(endpoints, estimands,
                                         observed_variable=model.observed_variable)
    seed = job_seed(config["trial"]["seed"], "validation")
    inputs = sorted(set(dataset.source.values()))
    observed = dataset.source.get("observations") or next(iter(dataset.source.values()))
    artifacts = {"data": observed, "cohort": out / "cohort.json", "twins": out / "twins.json"}
    test_results, test_note = _test_report(config)
    if test_results:
        artifacts["tests"] = config["validation"]["credibility"]["test_report"]
        inputs.append(artifacts["tests"])
    result = validate(dataset, model, twins_cfg=tw,
                      validation_cfg=config["validation"], seed=seed,
                      cache_dir=config["compute"]["cache_dir"], cores=cores,
                      cohort_report=io.read_json(out / "cohort.json"),
                      cohort_cfg=config["cohort"], twins_report=io.read_json(out / "twins.json"),
                      artifacts=artifacts, question=config["trial"].get("question"),
                      cou_quantities=quantities or None, cou_horizon=horizon,
                      test_results=test_results or None)
    stamp = _stamp(config, "validation", seed, [*inputs, out / "cohort.json", out / "twins.json"])
    payload = result.to_json()
    payload["warnings"] = (_upstream_warnings(out / "twins.json") + list(payload.get("warnings", []))
                           + ([test_note] if test_note else []))
    io.write_json(payload, out / "validation.json", provenance=stamp)
    return [out / "validation.json", *_save_figures(result.figures, out, "validation")]


def _test_report(config: Mapping[str, Any]) -> tuple[dict[str, tuple[int, int]], str | None]:
    """Test counts of ``validation.credibility.test_report`` if it tested this commit, else
    ``{}`` and a warning saying why it is not used (``({}, None)`` when none is configured)."""
    from twintrial.provenance import git_commit
    from twintrial.validation.evidence import junit_results

    path = ((config.get("validation") or {}).get("credibility") or {}).get("test_report")
    if not path:
        return {}, None
    counts, tested = junit_results(path)
    here = git_commit()
    if here is None or tested is None or tested != here or here.endswith("+dirty"):
        return {}, (f"validation: test report {path} not used as credibility evidence: it tested "
                    f"commit {tested or 'unknown'}, this run uses {here or 'unknown'} (run the "
                    "tests on a clean checkout of this commit)")
    return counts, None


# --------------------------------------------------------------------------- report
def run_report(config: Mapping[str, Any], *, results_dir: str | Path,
               report_dir: str | Path | None = None, cores: int | None = None) -> list[Path]:
    """Assemble ``summary.json`` from the stage outputs and render ``report.html`` from it."""
    from twintrial.report import build_summary, render_report

    results = Path(results_dir)
    out = Path(report_dir) if report_dir else Path("reports") / config["trial"]["name"]
    stage_outputs = {}
    for stage in enabled_stages(config):
        path = results / next(p for p in OUTPUTS[stage] if p.endswith(".json"))
        if path.exists():
            stage_outputs[stage] = io.read_json(path)
    benchmarks = {p.stem: p for p in sorted((results / "benchmarks").glob("*.tsv"))}
    stages = set(enabled_stages(config))  # not the leftovers of another configuration's run
    figures = {p.stem: p for p in sorted((results / "figures").glob("*.png"))
               if p.stem.split("_", 1)[0] in stages}
    summary = build_summary(dict(config), stage_outputs, benchmarks=benchmarks)
    html = render_report(summary, figures)
    paths = [out / "summary.json", out / "report.html"]
    io.write_json(summary, paths[0])
    io.write_text(html, paths[1])
    return paths
