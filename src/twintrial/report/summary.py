"""Build ``summary.json``: every number the report shows, from the stage outputs.

The HTML report is rendered *from* this summary (one source of truth); the layout of the summary is
documented key by key in ``docs/summary_json.md``. Stage outputs follow the contract of
``docs/contracts.md``: ``{"summary": {...}, "warnings": [...], "provenance": {...}, ...}``; a stage
missing from ``stage_outputs`` is recorded as ``"not_run"`` and its report section says so.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

import twintrial
from twintrial.io import dumps_json
from twintrial.provenance import config_hash, git_commit, package_versions
from twintrial.report.benchmarks import format_hms, read_benchmark
from twintrial.report.cohort_view import cohort_view
from twintrial.report.errors import ReportError
from twintrial.report.keys import figure_key, lookup
from twintrial.report.stage_views import (
    analysis_key_results,
    analysis_metrics,
    sensitivity_view,
    twins_view,
    validation_view,
)

SCHEMA_VERSION = 1

#: Pipeline stages in run order (``arms`` writes no JSON today; it may later).
STAGES = ("cohort", "twins", "arms", "analysis", "sensitivity", "validation")

#: Report sections in order: (html id, title, stage whose output fills it or None).
SECTIONS = (
    ("executive", "Executive summary", None),
    ("design", "Trial design", "analysis"),
    ("cohort", "Data and virtual cohort", "cohort"),
    ("twins", "Digital twins", "twins"),
    ("results", "Trial results", "analysis"),
    ("sensitivity", "Sensitivity analysis", "sensitivity"),
    ("validation", "Validation", "validation"),
    ("credibility", "Credibility assessment", "validation"),
    ("limitations", "Limitations and applicability domain", None),
    ("provenance", "Provenance", None),
)

#: What the reader loses when a stage was not run (shown under Limitations).
_NOT_RUN_CONSEQUENCE = {
    "cohort": "no virtual cohort was generated, so covariate fidelity and privacy are unassessed.",
    "twins": "no digital twins were fitted; model parameters and diagnostics are not reported.",
    "arms": "no treatment arms were simulated.",
    "analysis": "no trial analysis was run: there are no effect estimates or power results.",
    "sensitivity": "no global sensitivity analysis was run: influential inputs are unknown.",
    "validation": "no validation was run: the model's predictive credibility is unassessed.",
}


def _plain(data: Any) -> Any:
    """Strict-JSON copy keeping key order (numpy scalars -> Python, NaN -> None)."""
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple | np.ndarray):
        return [_plain(v) for v in data]
    if isinstance(data, np.generic):
        data = data.item()
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if data is None or isinstance(data, bool | int | float | str):
        return data
    return str(data)


def _check_stage(stage: str, out: Any) -> list[str]:
    problems = []
    if stage not in STAGES:
        problems.append(f"stage_outputs['{stage}']: unknown stage; expected one of "
                        f"{', '.join(STAGES)}")
        return problems
    if not isinstance(out, Mapping):
        return [f"stage_outputs['{stage}']: must be the parsed stage JSON (a mapping); got "
                f"{type(out).__name__}"]
    if not isinstance(out.get("summary"), Mapping):
        problems.append(f"stage_outputs['{stage}'].summary: required mapping is missing; got "
                        f"keys {sorted(out)!r}. Re-run the {stage} stage")
    warnings = out.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        problems.append(f"stage_outputs['{stage}'].warnings: must be a list of strings; got "
                        f"{warnings!r:.60}")
    return problems


def _status(stage: str, outs: Mapping[str, Any]) -> str:
    """``run`` / ``not_run``; arms writes only a table, so an analysis implies it ran."""
    if stage in outs or (stage == "arms" and "analysis" in outs):
        return "run"
    return "not_run"


def _cohort_metrics(cohort: Mapping[str, Any]) -> dict[str, Any]:
    covs = cohort.get("covariates") or {}
    order = [n for n in cohort.get("covariate_order") or [] if n in covs]  # JSON sorts keys
    order += [n for n in covs if n not in order]
    levels = {}
    for name, cov in covs.items():
        seen: list[str] = [str(lv) for lv in cov.get("levels") or []]
        for side in ("real", "virtual"):
            seen += [lv for lv in ((cov.get(side) or {}).get("proportions") or {}) if lv not in seen]
        if seen:
            levels[name] = seen
    fid = [c.get("fidelity") or {} for c in covs.values()]
    assessed = [f["pass"] for f in fid if isinstance(f.get("pass"), bool)]
    ks = [f["ks"] for f in fid if isinstance(f.get("ks"), int | float)]
    smd = [abs(f["smd"]) for f in fid if isinstance(f.get("smd"), int | float)]
    return {
        "covariates": len(covs),
        "covariate_order": order,
        "levels": levels,
        "fidelity_assessed": len(assessed),
        "fidelity_pass": sum(assessed),
        "max_ks": max(ks) if ks else None,
        "max_abs_smd": max(smd) if smd else None,
    }


def _default_cohort_results(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    candidates = [
        {"label": "Virtual patients generated", "key": "cohort.n_virtual", "fmt": "int"},
        {"label": "Real patients in the source data", "key": "cohort.n_real", "fmt": "int"},
        {"label": "Cohort fidelity (all covariates and correlations)",
         "key": "cohort.fidelity.pass", "fmt": "passfail"},
        {"label": "Covariates within fidelity thresholds",
         "key": "metrics.cohort.fidelity_pass", "of": "metrics.cohort.fidelity_assessed",
         "fmt": "int"},
        {"label": "Largest KS distance (virtual vs reference)", "key": "metrics.cohort.max_ks"},
        {"label": "Largest |SMD| (virtual vs reference)", "key": "metrics.cohort.max_abs_smd"},
        {"label": "Largest rank-correlation error (virtual vs reference)",
         "key": "cohort.fidelity.corr_max_abs_error"},
        {"label": "Acceptance rate of inclusion/exclusion criteria",
         "key": "cohort.acceptance_rate", "fmt": "pct"},
        {"label": "Virtual patients identical to a real record",
         "key": "cohort.privacy.exact_copies", "fmt": "int"},
        {"label": "Median distance to closest real record",
         "key": "cohort.privacy.dcr_median"},
    ]
    return [c for c in candidates if lookup(summary, c["key"], default=None) is not None]


def _stage_key_results(stage: str, out: Mapping[str, Any], summary: Mapping[str, Any]
                       ) -> list[dict[str, Any]]:
    """Key results a stage declares (``key_results``: keys relative to its summary)."""
    results = []
    for i, item in enumerate(out.get("key_results") or []):
        where = f"stage_outputs['{stage}'].key_results[{i}]"
        if not isinstance(item, Mapping) or "label" not in item or "key" not in item:
            raise ReportError(f"{where}: needs 'label' and 'key'; got {item!r:.60}")
        entry = {"label": str(item["label"]), "key": f"{stage}.{item['key']}",
                 "fmt": item.get("fmt", "auto")}
        if "of" in item:
            entry["of"] = f"{stage}.{item['of']}"
        if "interval" in item:
            entry["interval"] = [f"{stage}.{k}" for k in item["interval"]]
            entry["interval_label"] = str(item.get("interval_label", "interval"))
        for k in [entry["key"], entry.get("of"), *entry.get("interval", [])]:
            if k is not None and lookup(summary, k, default=KeyError) is KeyError:
                raise ReportError(f"{where}.key: '{k}' is not in the {stage} summary; "
                                  "fix the stage's key_results")
        results.append(entry)
    return results


def _credibility(validation: Mapping[str, Any] | None) -> dict[str, Any]:
    cred = (validation or {}).get("credibility")
    if isinstance(cred, Mapping) and cred.get("conclusion"):
        return {"assessed": True, "adequate": cred.get("adequate"),
                "conclusion": str(cred["conclusion"])}
    why = ("the validation stage was not run in this configuration" if validation is None else
           "the validation stage recorded no credibility conclusion")
    return {"assessed": False, "adequate": None,
            "conclusion": f"Not assessed: {why}, so no result below is yet supported by "
                          "validation evidence."}


def _host() -> dict[str, Any]:
    return {"hostname": platform.node(), "platform": platform.platform(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version()}


def _wall_times(benchmarks: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stage, bench in (benchmarks or {}).items():
        rec = dict(bench) if isinstance(bench, Mapping) else read_benchmark(bench)
        rec["hms"] = format_hms(rec.get("s"))
        out[str(stage)] = rec
    return out


def _provenance(config_raw: Mapping[str, Any], outs: Mapping[str, Mapping[str, Any]],
                benchmarks: Mapping[str, Any] | None, host: Mapping[str, Any] | None,
                warnings: list[dict[str, str]]) -> dict[str, Any]:
    chash = config_hash(config_raw)
    versions = package_versions()
    commit = git_commit()
    stages: dict[str, Any] = {}
    inputs: list[dict[str, str]] = []
    differences: list[dict[str, str]] = []
    for stage in STAGES:
        if stage not in outs:
            continue
        prov = outs[stage].get("provenance") or {}
        stages[stage] = {"seed": prov.get("seed"), "config_hash": prov.get("config_hash"),
                         "git_commit": prov.get("git_commit")}
        for path, sha in sorted((prov.get("inputs") or {}).items()):
            inputs.append({"stage": stage, "path": path, "sha256": sha})
        # stages stamp the hash of the config sections they depend on (provenance.sections)
        sections = prov.get("sections")
        expected = config_hash({k: config_raw[k] for k in sections if k in config_raw}) \
            if isinstance(sections, list) else chash
        if prov.get("config_hash") not in (None, expected):
            warnings.append({"stage": "report", "message": (
                f"{stage}: produced with config hash {prov['config_hash']} but the current "
                f"config gives {expected}; re-run the pipeline so all stages share one config")})
        if prov.get("git_commit") and commit and prov["git_commit"] != commit:
            warnings.append({"stage": "report", "message": (
                f"{stage}: produced at git commit {prov['git_commit']} but the report at "
                f"{commit}; results may come from different code")})
        for pkg, ver in sorted((prov.get("versions") or {}).items()):
            if pkg in versions and versions[pkg] != ver:
                differences.append({"stage": stage, "package": pkg, "stage_version": ver,
                                    "report_version": versions[pkg]})
    if differences:
        pkgs = ", ".join(sorted({d["package"] for d in differences}))
        warnings.append({"stage": "report", "message": (
            f"package versions differ between stages and the report ({pkgs}); see Provenance")})
    walls = _wall_times(benchmarks)
    total = sum(w["s"] for w in walls.values() if w.get("s") is not None)
    return {
        "config": config_raw,
        "config_hash": chash,
        "root_seed": (config_raw.get("trial") or {}).get("seed"),
        "stages": stages,
        "inputs": inputs,
        "versions": versions,
        "version_differences": differences,
        "git_commit": commit,
        "wall_time": walls,
        "total_wall_time_s": total if walls else None,
        "total_wall_time_hms": format_hms(total) if walls else None,
        "host": dict(host) if host is not None else _host(),
    }


def build_summary(config_raw: Mapping[str, Any], stage_outputs: Mapping[str, Any], *,
                  benchmarks: Mapping[str, Any] | None = None,
                  host: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Collect every number, warning and provenance fact the report shows.

    Parameters
    ----------
    config_raw
        The resolved configuration (``StudyConfig.raw``), shown as run.
    stage_outputs
        Stage name (one of :data:`STAGES`) -> parsed stage JSON. Missing stages are allowed.
    benchmarks
        Stage name -> Snakemake benchmark TSV path, or an already parsed record
        (:func:`~twintrial.report.benchmarks.parse_benchmark_tsv`).
    host
        Facts about the machine (default: this host's name, platform, CPU count, Python).

    Returns
    -------
    dict
        The content of ``summary.json`` (strict-JSON types only); see ``docs/summary_json.md``.

    Raises
    ------
    ReportError
        If a stage output breaks the stage contract (all problems listed together).
    """
    problems = [p for stage, out in stage_outputs.items() for p in _check_stage(stage, out)]
    if problems:
        raise ReportError(problems)
    outs: dict[str, dict[str, Any]] = {s: _plain(dict(stage_outputs[s])) for s in STAGES
                                       if s in stage_outputs}
    config_raw = _plain(dict(config_raw))
    trial = config_raw.get("trial") or {}
    report_cfg = config_raw.get("report") or {}

    warnings = [{"stage": s, "message": w} for s in STAGES if s in outs
                for w in outs[s].get("warnings", [])]
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generator": f"twintrial {twintrial.__version__}",
        "title": report_cfg.get("title") or f"In-silico trial report: {trial.get('name', '?')}",
        "trial": {
            "name": trial.get("name"),
            "seed": trial.get("seed"),
            "description": trial.get("description", ""),
            "question": trial.get("question", ""),
            "context_of_use": report_cfg.get("context_of_use") or trial.get("description", ""),
        },
        "stages": {s: {"status": _status(s, outs)} for s in STAGES},
        "design": {k: config_raw[k] for k in ("arms", "endpoints", "analysis")
                   if config_raw.get(k)},
    }
    for stage in STAGES:
        summary[stage] = outs[stage]["summary"] if stage in outs else None
    if summary["cohort"] is not None:
        summary["cohort"] = cohort_view(outs["cohort"], config_raw)
    for stage, view in (("twins", lambda o: twins_view(o, config_raw)),
                        ("sensitivity", sensitivity_view), ("validation", validation_view)):
        if stage in outs:
            summary[stage] = view(outs[stage])
    summary["metrics"] = {"cohort": _cohort_metrics(summary["cohort"])} if summary["cohort"] else {}
    if summary["analysis"] is not None and analysis_metrics(summary["analysis"], config_raw):
        summary["metrics"]["analysis"] = analysis_metrics(summary["analysis"], config_raw)
    summary["figures"] = {figure_key(name): str(caption) for s in STAGES if s in outs
                          for name, caption in (outs[s].get("figures") or {}).items()}

    # the trial's answer first (effects, power), then validation, then the cohort
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for stage in STAGES:
        if stage in outs:
            by_stage[stage] = _stage_key_results(stage, outs[stage], summary)
    if "analysis" in outs and not outs["analysis"].get("key_results"):
        by_stage["analysis"] = analysis_key_results(summary["analysis"],
                                                     summary["metrics"].get("analysis"))
    if "cohort" in outs and not outs["cohort"].get("key_results"):
        by_stage["cohort"] = _default_cohort_results(summary)
    order = ("analysis", "validation", "sensitivity", "twins", "arms", "cohort")
    key_results = [r for stage in order for r in by_stage.get(stage, [])]
    summary["executive"] = {"key_results": key_results,
                            "credibility": _credibility(summary["validation"])}

    limitations = [{"source": "config", "text": str(t)} for t in report_cfg.get("limitations", [])]
    limitations += [{"source": s, "text": str(t)} for s in STAGES if s in outs
                    for t in outs[s].get("limitations") or []]
    limitations += [{"source": s, "text": f"The {s} stage was not run in this configuration: "
                                          f"{_NOT_RUN_CONSEQUENCE[s]}"}
                    for s in STAGES if _status(s, outs) == "not_run"]
    summary["limitations"] = limitations
    summary["provenance"] = _provenance(config_raw, outs, benchmarks, host, warnings)
    summary["warnings"] = warnings
    for stage in STAGES:
        summary["stages"][stage]["warnings"] = sum(w["stage"] == stage for w in warnings)
    # key order as in summary.json (sorted), so rendering from memory or from the file agree
    return json.loads(dumps_json(_plain(summary)))
