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

from twintrial import io
from twintrial.provenance import provenance_block
from twintrial.rng import job_seed

log = logging.getLogger("twintrial")

#: stages in workflow order (the report is always last)
STAGES: tuple[str, ...] = ("cohort",)

#: stages that can be run alone from the CLI (the report included)
CLI_STAGES: tuple[str, ...] = (*STAGES, "report")

#: output file names of each stage, under results/<trial>/
OUTPUTS: dict[str, tuple[str, ...]] = {
    "cohort": ("cohort.parquet", "cohort.json"),
}

#: config sections each stage depends on (edits elsewhere do not rerun it)
SECTIONS: dict[str, tuple[str, ...]] = {
    "cohort": ("trial", "data", "cohort", "compute"),
    "report": ("trial", "data", "cohort", "twins", "arms", "endpoints", "analysis",
               "sensitivity", "validation", "report", "compute"),
}


def stage_config(config: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The sections of the resolved ``config`` that ``stage`` depends on."""
    return {k: config[k] for k in SECTIONS[stage] if k in config}


def _paths_in(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("path", "summary_file") and isinstance(value, str):
                yield value
            else:
                yield from _paths_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from _paths_in(item)


def stage_data_inputs(config: Mapping[str, Any], stage: str) -> list[str]:
    """Data files named in the sections ``stage`` reads (keys ``path`` / ``summary_file``)."""
    sections = stage_config(config, stage)
    return sorted({p for name, sec in sections.items() if name != "compute"
                   for p in _paths_in(sec)})


def enabled_stages(config: Mapping[str, Any]) -> list[str]:
    """Stages this configuration runs (a stage whose section is disabled is skipped)."""
    out = []
    for stage in STAGES:
        section = config.get(stage, {})
        if isinstance(section, Mapping) and section.get("enabled", True) is False:
            continue
        out.append(stage)
    return out


def _stamp(config: Mapping[str, Any], stage: str, seed: int | None,
           inputs: list[str]) -> dict[str, Any]:
    return provenance_block(stage_config(config, stage), stage=stage, seed=seed, inputs=inputs,
                            extra={"sections": list(SECTIONS[stage])})


# --------------------------------------------------------------------------- cohort
def run_cohort(config: Mapping[str, Any], *, results_dir: str | Path) -> list[Path]:
    """Build the virtual cohort: ``cohort.parquet`` and ``cohort.json``."""
    from twintrial.cohort import CohortConfig, build_cohort, load_summary_definition
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
    log.info("cohort: %d virtual patients in %.1f s", len(result.table), time.perf_counter() - t0)
    return paths


# --------------------------------------------------------------------------- report
def run_report(config: Mapping[str, Any], *, results_dir: str | Path,
               report_dir: str | Path | None = None) -> list[Path]:
    """Assemble ``summary.json`` from the stage outputs and render ``report.html`` from it."""
    from twintrial.report import build_summary, render_report

    results = Path(results_dir)
    out = Path(report_dir) if report_dir else Path("reports") / config["trial"]["name"]
    stage_outputs = {}
    for stage in enabled_stages(config):
        path = results / f"{stage}.json"
        if path.exists():
            stage_outputs[stage] = io.read_json(path)
    benchmarks = {p.stem: p for p in sorted((results / "benchmarks").glob("*.tsv"))}
    figures = {p.stem: p for p in sorted((results / "figures").glob("*.png"))}
    summary = build_summary(dict(config), stage_outputs, benchmarks=benchmarks)
    html = render_report(summary, figures)
    paths = [out / "summary.json", out / "report.html"]
    io.write_json(summary, paths[0])
    io.write_text(html, paths[1])
    return paths
