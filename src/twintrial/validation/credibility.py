"""Model credibility assessment: ASME V&V 40 risk and credibility factors, FDA evidence categories.

The user states the question of interest, the context of use (COU), the model influence and the
decision consequence. Their combination gives the model risk (the V&V 40 risk matrix); the risk
sets a default target level for every credibility factor (overridable per factor in config). The
run contributes evidence items (a metric, its value and threshold, whether it passed, the level it
supports, the artifact it was computed in and that artifact's SHA-256). Each factor's achieved
level is derived from its evidence by one rule (:func:`achieved_level`), and every factor whose
achieved level is below its target becomes a plainly worded gap. Nothing is hidden: factors
without evidence are listed with achieved level 0.

Levels are an ordinal scale shared by all factors: 0 none, 1 low, 2 medium, 3 high (V&V 40 lets
each factor have its own gradations; a common 0-3 scale keeps targets comparable).

References
----------
ASME V&V 40-2018. Assessing Credibility of Computational Modeling through Verification and
Validation: Application to Medical Devices.
FDA (2023). Assessing the Credibility of Computational Modeling and Simulation in Medical Device
Submissions. Guidance for Industry and FDA Staff.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from twintrial.exceptions import AnalysisError

LEVELS: dict[int, str] = {0: "none", 1: "low", 2: "medium", 3: "high"}
GRADES: tuple[str, ...] = ("low", "medium", "high")

#: default target level by model risk (1-5)
TARGET_BY_RISK: dict[int, int] = {1: 1, 2: 1, 3: 2, 4: 3, 5: 3}


@dataclass(frozen=True)
class Factor:
    """A V&V 40 credibility factor or an FDA evidence category."""

    id: str
    name: str
    group: str
    question: str
    default_by_risk: bool = True


VV40_FACTORS: tuple[Factor, ...] = (
    Factor("software_quality_assurance", "Software quality assurance", "verification: code",
           "Is the software developed and tested under a quality process (tests, version control, "
           "provenance)?"),
    Factor("numerical_code_verification", "Numerical code verification", "verification: code",
           "Do the numerical algorithms reproduce known (analytic) answers?"),
    Factor("discretization_error", "Discretization error", "verification: calculation",
           "Is the error from time grids / ODE step sizes quantified and small?"),
    Factor("numerical_solver_error", "Numerical solver error", "verification: calculation",
           "Are solver and sampler errors (ODE tolerances, MCMC convergence, Monte-Carlo error) "
           "quantified and acceptable?"),
    Factor("use_error", "Use error", "verification: calculation",
           "Are inputs and settings validated and the run reproducible (config checks, hashes)?"),
    Factor("model_form", "Model form", "validation: computational model",
           "Is the model structure adequate (beats simple baselines, predictive checks)?"),
    Factor("model_inputs", "Model inputs", "validation: computational model",
           "Are inputs (priors, covariates, doses) characterised and their uncertainty propagated?"),
    Factor("test_samples", "Test samples", "validation: comparator",
           "Are there enough, well-characterised patients in the comparator data?"),
    Factor("test_conditions", "Test conditions", "validation: comparator",
           "Do the comparator conditions (doses, follow-up, arms) span those of the COU?"),
    Factor("equivalency_of_input_parameters", "Equivalency of input parameters",
           "validation: assessment",
           "Are the simulated inputs (virtual cohort) equivalent to those of the comparator?"),
    Factor("output_comparison", "Output comparison", "validation: assessment",
           "Do predictions agree with held-out observations (coverage, calibration, errors)?"),
    Factor("relevance_of_quantities_of_interest", "Relevance of the quantities of interest",
           "applicability",
           "Are the validated quantities the ones the COU decision depends on?"),
    Factor("relevance_of_validation_activities", "Relevance of the validation activities to the COU",
           "applicability",
           "Do the validation conditions cover the conditions of the COU?"),
)

FDA_CATEGORIES: tuple[Factor, ...] = (
    Factor("code_verification", "Code verification", "FDA evidence",
           "Software quality assurance and numerical code verification."),
    Factor("model_calibration", "Model calibration", "FDA evidence",
           "Agreement of the calibrated (fitted) model with the data it was fitted to."),
    Factor("bench_test_validation", "Bench test validation", "FDA evidence",
           "Comparison with bench (in vitro) test data.", default_by_risk=False),
    Factor("in_vivo_validation", "In vivo validation", "FDA evidence",
           "Comparison with held-out individual patient (clinical) data."),
    Factor("population_based_validation", "Population-based validation", "FDA evidence",
           "Comparison of population-level statistics (arm summaries, effect estimates)."),
    Factor("emergent_model_behavior", "Emergent model behavior", "FDA evidence",
           "Model reproduces phenomena it was not built or fitted to reproduce.",
           default_by_risk=False),
    Factor("model_plausibility", "Model plausibility", "FDA evidence",
           "Rationale for model form, assumptions and inputs (literature, mechanism)."),
    Factor("calculation_verification", "Calculation verification", "FDA evidence",
           "Numerical error of this run's calculations (solver, sampler, Monte-Carlo) quantified."),
)

FACTOR_IDS: tuple[str, ...] = tuple(f.id for f in VV40_FACTORS)
CATEGORY_IDS: tuple[str, ...] = tuple(f.id for f in FDA_CATEGORIES)


def model_risk(influence: str, consequence: str) -> int:
    """Model risk (1-5) from the V&V 40 risk matrix.

    Influence and consequence are each ``"low"``, ``"medium"`` or ``"high"``; the risk rises by
    one per grade of either: low/low = 1, low/high = high/low = medium/medium = 3, high/high = 5.
    """
    for key, v in (("model_influence", influence), ("decision_consequence", consequence)):
        if v not in GRADES:
            raise AnalysisError(f"validation.credibility.{key}: must be one of {', '.join(GRADES)}; "
                                f"got {v!r}.")
    return GRADES.index(influence) + GRADES.index(consequence) + 1


def default_targets(risk: int) -> dict[str, int]:
    """Target level of every factor and category for a model risk (before config overrides)."""
    level = TARGET_BY_RISK[risk]
    return {f.id: (level if f.default_by_risk else 0) for f in (*VV40_FACTORS, *FDA_CATEGORIES)}


def evidence_item(metric: str, value: Any, *, factors: Sequence[str], level: int,
                  passed: bool | None = None, threshold: str | None = None,
                  artifact: str | None = None, sha256: str | None = None,
                  note: str = "") -> dict[str, Any]:
    """One piece of evidence supporting ``level`` for the listed factors/categories if it passed.

    ``passed=None`` marks descriptive evidence (e.g. documentation) that supports its level as is.
    """
    unknown = [f for f in factors if f not in FACTOR_IDS and f not in CATEGORY_IDS]
    if unknown or not factors:
        raise AnalysisError(f"evidence '{metric}': unknown factor/category {unknown or '[]'}; use "
                            f"ids from {', '.join(FACTOR_IDS + CATEGORY_IDS)}.")
    if level not in LEVELS:
        raise AnalysisError(f"evidence '{metric}': level must be one of {list(LEVELS)}; got {level}.")
    return {"metric": metric, "value": value, "threshold": threshold, "passed": passed,
            "level": int(level), "factors": list(factors), "artifact": artifact, "sha256": sha256,
            "note": note}


def achieved_level(items: Sequence[Mapping[str, Any]]) -> int:
    """Achieved level from evidence items.

    Rule: the highest level supported by an item that passed (or is descriptive,
    ``passed=None``), capped at ``L - 1`` by every failed item of level ``L`` (a failed check at
    a level forbids claiming that level). No evidence gives 0.
    """
    ok = [int(i["level"]) for i in items if i.get("passed") is not False]
    achieved = max(ok, default=0)
    for i in items:
        if i.get("passed") is False:
            achieved = min(achieved, int(i["level"]) - 1)
    return max(achieved, 0)


def _normalise(evidence: Mapping[str, Sequence[Mapping[str, Any]]] | Sequence[Mapping[str, Any]]
               ) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if isinstance(evidence, Mapping):
        for key, group in evidence.items():
            for it in group:
                factors = list(it.get("factors") or [key])
                items.append(evidence_item(it["metric"], it.get("value"), factors=factors,
                                           level=int(it["level"]), passed=it.get("passed"),
                                           threshold=it.get("threshold"), artifact=it.get("artifact"),
                                           sha256=it.get("sha256"), note=it.get("note", "")))
    else:
        for it in evidence:
            items.append(evidence_item(it["metric"], it.get("value"), factors=it["factors"],
                                       level=int(it["level"]), passed=it.get("passed"),
                                       threshold=it.get("threshold"), artifact=it.get("artifact"),
                                       sha256=it.get("sha256"), note=it.get("note", "")))
    return items


def _describe(item: Mapping[str, Any]) -> str:
    verdict = {True: "passed", False: "FAILED", None: "descriptive"}[item.get("passed")]
    thr = f" (threshold {item['threshold']})" if item.get("threshold") else ""
    value = item.get("value")
    v = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{item['metric']} = {v}{thr}, {verdict}"


#: public name of the one-line description of an evidence item
describe_evidence = _describe


def _assess(table: Sequence[Factor], items: list[dict[str, Any]], targets: Mapping[str, int],
            risk: int) -> tuple[list[dict[str, Any]], list[str]]:
    rows, gaps = [], []
    for f in table:
        mine = [i for i in items if f.id in i["factors"]]
        target, got = int(targets[f.id]), achieved_level(mine)
        status = "not required" if target == 0 else ("met" if got >= target else "gap")
        rows.append({"id": f.id, "name": f.name, "group": f.group, "question": f.question,
                     "target": target, "target_label": LEVELS[target], "achieved": got,
                     "achieved_label": LEVELS[got], "status": status, "evidence": mine})
        if status == "gap":
            why = "; ".join(_describe(i) for i in mine) if mine else \
                "no evidence was produced in this run"
            unhashed = [i["metric"] for i in mine if not (i.get("artifact") and i.get("sha256"))]
            extra = f" Evidence without an artifact hash: {', '.join(unhashed)}." if unhashed else ""
            gaps.append(f"{f.name}: achieved level {got} ({LEVELS[got]}) is below the target "
                        f"{target} ({LEVELS[target]}) required at model risk {risk}. "
                        f"Evidence: {why}.{extra}")
    return rows, gaps


def assess_credibility(evidence: Mapping[str, Sequence[Mapping[str, Any]]] | Sequence[Mapping[str, Any]],
                       cfg: Any) -> dict[str, Any]:
    """Credibility assessment of the model for the configured context of use.

    Parameters
    ----------
    evidence
        Evidence items (:func:`evidence_item` dicts), either a list (each naming its ``factors``)
        or a mapping factor/category id -> items.
    cfg
        A :class:`twintrial.validation_config.CredibilityConfig` (``question``,
        ``context_of_use``, ``model_influence``, ``decision_consequence``, ``targets``).

    Returns
    -------
    dict
        ``question``, ``context_of_use``, ``model_influence``, ``decision_consequence``,
        ``model_risk``, ``levels``, ``factors`` and ``fda_categories`` (one row each: target,
        achieved, status ``met``/``gap``/``not required``, evidence), ``gaps`` (one sentence
        each) and ``summary`` (counts and ``sufficient_for_cou``).
    """
    risk = model_risk(cfg.model_influence, cfg.decision_consequence)
    targets = default_targets(risk)
    for key, value in dict(cfg.targets).items():
        if key not in targets:
            raise AnalysisError(f"validation.credibility.targets.{key}: unknown factor; use one of "
                                f"{', '.join(targets)}.")
        targets[key] = int(value)
    items = _normalise(evidence)
    factors, gaps_f = _assess(VV40_FACTORS, items, targets, risk)
    cats, gaps_c = _assess(FDA_CATEGORIES, items, targets, risk)
    gaps = gaps_f + [f"FDA category {g}" for g in gaps_c]
    n_gap = sum(r["status"] == "gap" for r in factors + cats)
    return {
        "question": cfg.question, "context_of_use": cfg.context_of_use,
        "model_influence": cfg.model_influence, "decision_consequence": cfg.decision_consequence,
        "model_risk": risk, "levels": {str(k): v for k, v in LEVELS.items()},
        "factors": factors, "fda_categories": cats, "gaps": gaps,
        "summary": {"model_risk": risk, "n_factors": len(factors), "n_categories": len(cats),
                    "n_met": sum(r["status"] == "met" for r in factors + cats), "n_gaps": n_gap,
                    "sufficient_for_cou": n_gap == 0},
    }


def credibility_frame(assessment: Mapping[str, Any]) -> pd.DataFrame:
    """Flat table of an assessment: one row per factor and category (evidence as text)."""
    rows = []
    for kind, key in (("V&V 40 factor", "factors"), ("FDA evidence category", "fda_categories")):
        for r in assessment[key]:
            rows.append({"kind": kind, "id": r["id"], "name": r["name"], "target": r["target"],
                         "achieved": r["achieved"], "status": r["status"],
                         "evidence": "; ".join(_describe(i) for i in r["evidence"]) or "none",
                         "artifacts": "; ".join(f"{i['artifact']} (sha256 {i['sha256']})"
                                                for i in r["evidence"] if i.get("artifact"))})
    return pd.DataFrame(rows)
