"""Turn this run's validation metrics into credibility evidence items (one rule per metric).

Each builder returns :func:`~twintrial.validation.credibility.evidence_item` dicts naming the V&V 40
factors and FDA categories they inform, the level they support and the artifact (path and SHA-256,
filled in by the pipeline) they were computed in. The level a metric can support depends on how
independent the comparator is:

- held out by patient (``split kind 'subjects'``): up to 3 (high);
- held out by time within patient (``'time'``): up to 2 (medium);
- in-sample (``'none'``): 1 (low), and it counts as model calibration, not validation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twintrial.exceptions import AnalysisError, DataError
from twintrial.validation.credibility import evidence_item

SPLIT_LEVEL: dict[str, int] = {"subjects": 3, "time": 2, "none": 1}


def _split(kind: str) -> tuple[int, list[str]]:
    if kind not in SPLIT_LEVEL:
        raise AnalysisError(f"split_kind: must be one of {', '.join(SPLIT_LEVEL)}; got {kind!r}.")
    held_out = kind != "none"
    return SPLIT_LEVEL[kind], (["output_comparison", "in_vivo_validation"] if held_out
                               else ["output_comparison", "model_calibration"])


def coverage_tolerance(level: float, n: int, tolerance: float) -> float:
    """Accepted |coverage - level|: ``max(tolerance, 2 sqrt(level (1 - level) / n))``."""
    return max(tolerance, 2 * np.sqrt(level * (1 - level) / max(n, 1)))


def predictive_evidence(summary: Mapping[str, Any], *, split_kind: str, levels: Sequence[float],
                        thresholds: Any, n_test_subjects: int,
                        baselines: Mapping[str, Mapping[str, Any]] | None = None,
                        variable: str = "", artifact: str | None = None,
                        sha256: str | None = None) -> list[dict[str, Any]]:
    """Evidence from the overall predictive metrics of one variable.

    Parameters
    ----------
    summary
        The ``"all"`` row of :func:`~twintrial.validation.metrics.metrics_by_time_band`.
    split_kind
        ``"subjects"``, ``"time"`` or ``"none"``.
    levels
        Interval levels whose coverage is in ``summary`` (``coverage_<level>``).
    thresholds
        A :class:`~twintrial.validation_config.ThresholdsConfig`.
    n_test_subjects
        Number of patients with held-out data.
    baselines
        Baseline name -> its summary row; the twin must have the lower CRPS than each.
    """
    lvl, factors = _split(split_kind)
    tag = f"{variable}: " if variable else ""
    where = {"artifact": artifact, "sha256": sha256}
    n = int(summary["n"])
    out = []
    for lv in levels:
        cov = float(summary[f"coverage_{lv:g}"])
        tol = coverage_tolerance(lv, n, thresholds.coverage_tolerance)
        out.append(evidence_item(f"{tag}{100 * lv:g}% interval coverage ({split_kind} split)", cov,
                                 factors=factors, level=lvl, passed=bool(abs(cov - lv) <= tol),
                                 threshold=f"{lv:g} +/- {tol:.3f}", **where))
    p = float(summary["pit_ks_pvalue"])
    out.append(evidence_item(f"{tag}PIT uniformity KS p-value", p, factors=factors, level=lvl,
                             passed=bool(p >= thresholds.pit_ks_pvalue),
                             threshold=f">= {thresholds.pit_ks_pvalue:g}", **where))
    for name, base in (baselines or {}).items():
        ratio = float(summary["crps"]) / float(base["crps"])
        out.append(evidence_item(f"{tag}CRPS twin / CRPS {name} baseline", ratio,
                                 factors=["model_form"], level=min(lvl, 2),
                                 passed=bool(ratio < 1.0), threshold="< 1", **where))
    mts = thresholds.min_test_subjects
    reached = int(sum(n_test_subjects >= m for m in mts))
    out.append(evidence_item(f"{tag}held-out patients", n_test_subjects, factors=["test_samples"],
                             level=max(min(reached, lvl), 1), passed=bool(reached >= 1 and split_kind != "none"),
                             threshold=f">= {mts[0]} / {mts[1]} / {mts[2]} for low / medium / high",
                             **where))
    return out


def survival_evidence(c_index: Sequence[float], calibration: pd.DataFrame, *, split_kind: str,
                      thresholds: Any, landmarks: Sequence[float], artifact: str | None = None,
                      sha256: str | None = None) -> list[dict[str, Any]]:
    """Evidence from the time-dependent C-index and the survival calibration table."""
    lvl, factors = _split(split_kind)
    where = {"artifact": artifact, "sha256": sha256}
    out = [evidence_item(f"C-index at t={t:g}", float(c), factors=factors, level=lvl,
                         passed=bool(c >= thresholds.c_index_min),
                         threshold=f">= {thresholds.c_index_min:g}", **where)
           for t, c in zip(landmarks, c_index, strict=True)]
    if len(calibration):
        frac = float(calibration["inside"].mean())
        out.append(evidence_item("survival calibration: groups with prediction inside KM CI", frac,
                                 factors=factors, level=lvl,
                                 passed=bool(frac >= thresholds.calibration_inside_min),
                                 threshold=f">= {thresholds.calibration_inside_min:g}", **where))
    return out


def vpc_evidence(vpc_stats: pd.DataFrame, *, thresholds: Any, variable: str = "",
                 artifact: str | None = None, sha256: str | None = None) -> list[dict[str, Any]]:
    """Evidence from a (pc)VPC: fraction of bin-percentiles outside the simulated bands."""
    frac = float(vpc_stats["outside"].mean())
    kind = "pcVPC" if bool(vpc_stats["corrected"].any()) else "VPC"
    return [evidence_item(f"{variable + ': ' if variable else ''}{kind} percentiles outside band",
                          frac, factors=["model_form", "output_comparison"], level=2,
                          passed=bool(frac <= thresholds.vpc_outside_max),
                          threshold=f"<= {thresholds.vpc_outside_max:g}", artifact=artifact,
                          sha256=sha256)]


def trial_evidence(table: pd.DataFrame, *, independent: bool, artifact: str | None = None,
                   sha256: str | None = None) -> list[dict[str, Any]]:
    """Evidence from :func:`~twintrial.validation.trial_level.trial_replication`.

    ``independent``: the observed trial was not used to fit the twins (then level 3, else 2).
    """
    out = []
    for _, r in table.iterrows():
        if r.get("inside") is None or pd.isna(r.get("inside")):
            continue
        out.append(evidence_item(f"trial replication: {r['quantity']} observed in predicted interval",
                                 float(r["observed"]),
                                 factors=["output_comparison", "population_based_validation"],
                                 level=3 if independent else 2, passed=bool(r["inside"]),
                                 threshold=f"[{r['pred_lower']:.4g}, {r['pred_upper']:.4g}]",
                                 artifact=artifact, sha256=sha256, note=str(r["source"])))
    return out


def convergence_evidence(rhat_max: float, ess_bulk_min: float, *, thresholds: Any,
                         artifact: str | None = None, sha256: str | None = None) -> list[dict[str, Any]]:
    """Evidence from the MCMC diagnostics of the twin posteriors (worst parameter)."""
    f = ["numerical_solver_error", "calculation_verification"]
    return [evidence_item("max R-hat", float(rhat_max), factors=f, level=3,
                          passed=bool(rhat_max <= thresholds.rhat_max),
                          threshold=f"<= {thresholds.rhat_max:g}", artifact=artifact, sha256=sha256),
            evidence_item("min bulk ESS", float(ess_bulk_min), factors=f, level=3,
                          passed=bool(ess_bulk_min >= thresholds.ess_min),
                          threshold=f">= {thresholds.ess_min:g}", artifact=artifact, sha256=sha256)]


def suite_evidence(n_passed: int, n_failed: int, *, kind: str, artifact: str | None = None,
                        sha256: str | None = None) -> list[dict[str, Any]]:
    """Evidence from a test-suite run: ``kind`` ``"known_answer"`` (analytic results: numerical
    code verification, level 3) or ``"unit"`` (software quality assurance, level 2)."""
    if kind == "known_answer":
        f, lvl = ["numerical_code_verification", "code_verification"], 3
    elif kind == "unit":
        f, lvl = ["software_quality_assurance", "code_verification"], 2
    else:
        raise AnalysisError(f"kind: must be 'known_answer' or 'unit'; got {kind!r}.")
    return [evidence_item(f"{kind} tests passed", f"{n_passed}/{n_passed + n_failed}", factors=f,
                          level=lvl, passed=bool(n_failed == 0 and n_passed > 0),
                          threshold="all pass", artifact=artifact, sha256=sha256)]


def junit_results(path: str | Path) -> tuple[dict[str, tuple[int, int]], str | None]:
    """Passed and failed tests of a pytest JUnit XML report by kind, and the commit it tested.

    Kinds: ``known_answer`` (tests under ``tests/known_answer``: analytic and published results)
    and ``unit`` (every other test); skipped tests are not counted. The commit is the report's
    ``twintrial_git_commit`` suite property (written by the project's test configuration), or
    ``None``.

    Raises
    ------
    DataError
        If the file is missing or not a JUnit XML report.
    """
    import xml.etree.ElementTree as ET

    p = Path(path)
    if not p.is_file():
        raise DataError(f"validation.credibility.test_report: file not found: {str(path)!r} "
                        "(write it with `make test`, or remove the key)")
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{path}: not a JUnit XML report ({exc})") from None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites:
        raise DataError(f"{path}: not a JUnit XML report (no <testsuite>)")
    counts = {"known_answer": [0, 0], "unit": [0, 0]}
    commit = None
    for suite in suites:
        for prop in suite.iter("property"):
            if prop.get("name") == "twintrial_git_commit":
                commit = prop.get("value")
        for case in suite.iter("testcase"):
            if case.find("skipped") is not None:
                continue
            kind = ("known_answer" if str(case.get("classname", "")).startswith(
                "tests.known_answer") else "unit")
            failed = case.find("failure") is not None or case.find("error") is not None
            counts[kind][1 if failed else 0] += 1
    return {k: (v[0], v[1]) for k, v in counts.items() if sum(v)}, commit


def checks_table(checks: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Pass/fail table of threshold checks computed elsewhere (e.g. cohort fidelity and privacy).

    Each check: ``value``, ``threshold`` and either ``passed`` or ``direction`` (``"max"``: value
    must be <= threshold; ``"min"``: >=). Missing values fail.
    """
    rows = []
    for name, c in checks.items():
        value, thr = c.get("value"), c.get("threshold")
        passed = c.get("passed")
        if passed is None:
            if value is None or thr is None or c.get("direction") not in ("max", "min"):
                raise AnalysisError(f"checks.{name}: needs 'passed' or value, threshold and "
                                    f"direction ('max'/'min'); got {dict(c)}.")
            passed = value <= thr if c["direction"] == "max" else value >= thr
        rows.append({"check": name, "value": value, "threshold": thr, "passed": bool(passed)})
    return pd.DataFrame(rows, columns=["check", "value", "threshold", "passed"])


def cohort_evidence(checks: pd.DataFrame, *, artifact: str | None = None,
                    sha256: str | None = None) -> list[dict[str, Any]]:
    """Evidence from the cohort fidelity checks (:func:`checks_table`), level 2 each."""
    return [evidence_item(f"cohort fidelity: {r['check']}", r["value"],
                          factors=["equivalency_of_input_parameters", "model_inputs"], level=2,
                          passed=bool(r["passed"]), threshold=str(r["threshold"]),
                          artifact=artifact, sha256=sha256) for _, r in checks.iterrows()]


def applicability_evidence(cou_quantities: Sequence[str], validated_quantities: Sequence[str], *,
                           cou_horizon: float, validated_horizon: float,
                           artifact: str | None = None, sha256: str | None = None) -> list[dict[str, Any]]:
    """Relevance of the validation to the COU: quantities and follow-up horizon covered.

    All COU quantities validated: level 3; some: 2 (passed) and 3 (failed); none: 1 (failed).
    Follow-up: validated horizon >= COU horizon supports test conditions and relevance at 3;
    otherwise that level fails (extrapolation in time).
    """
    cou, val = set(cou_quantities), set(validated_quantities)
    covered = cou & val
    where = {"artifact": artifact, "sha256": sha256}
    frac = len(covered) / len(cou) if cou else 0.0
    out = [evidence_item("COU quantities of interest validated", f"{len(covered)}/{len(cou)}",
                         factors=["relevance_of_quantities_of_interest"],
                         level=3 if frac == 1 else (2 if frac > 0 else 1),
                         passed=bool(frac > 0), threshold="all", **where)]
    if 0 < frac < 1:
        missing = ", ".join(sorted(cou - val))
        out.append(evidence_item("COU quantities not validated", missing,
                                 factors=["relevance_of_quantities_of_interest"], level=3,
                                 passed=False, threshold="none", **where))
    ok = validated_horizon >= cou_horizon
    out.append(evidence_item("validated follow-up / COU horizon", validated_horizon / cou_horizon,
                             factors=["test_conditions", "relevance_of_validation_activities"],
                             level=3, passed=bool(ok), threshold=">= 1", **where))
    if not ok:
        out.append(evidence_item("validated follow-up (partial)", validated_horizon / cou_horizon,
                                 factors=["test_conditions", "relevance_of_validation_activities"],
                                 level=2 if validated_horizon >= cou_horizon / 2 else 1,
                                 passed=True, threshold=">= 0.5 for medium", **where))
    return out
