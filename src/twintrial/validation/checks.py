"""Report views of the validation stage: cohort checks with thresholds, credibility table.

:func:`cohort_checks` lists the cohort stage's fidelity and privacy checks (``cohort.json``) with
the thresholds they were judged by; :func:`credibility_summary` turns a credibility assessment
(:func:`~twintrial.validation.credibility.assess_credibility`) into the rows the report's
credibility table reads (``name``, ``evidence``, ``adequate``) and a one-paragraph conclusion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twintrial.validation.credibility import describe_evidence


def _key(s: Any) -> str:
    return str(s).replace(".", "_")


def cohort_checks(report: Mapping[str, Any], cohort_cfg: Mapping[str, Any] | None = None
                  ) -> dict[str, dict[str, Any]]:
    """Fidelity and privacy checks of ``cohort.json`` with their thresholds (``check -> {value,
    threshold, passed}``); thresholds from ``cohort.fidelity`` (defaults of the cohort stage)."""
    from twintrial.cohort.config import FidelityConfig

    fcfg = FidelityConfig.from_dict(dict((cohort_cfg or {}).get("fidelity") or {}))
    fid = report.get("fidelity") or {}
    out: dict[str, dict[str, Any]] = {}
    for name, c in (fid.get("covariates") or {}).items():
        if "ks" in c:
            out[f"{name} (KS, SMD)"] = {"value": c.get("ks"), "smd": c.get("smd"),
                                        "threshold": f"KS < {fcfg.ks:g} and |SMD| < {fcfg.smd:g}",
                                        "passed": bool(c.get("pass"))}
        else:
            out[f"{name} (max |diff| of proportions)"] = {
                "value": c.get("max_abs_diff"), "threshold": f"< {fcfg.proportion:g}",
                "passed": bool(c.get("pass"))}
    rc = fid.get("rank_correlation") or {}
    if rc:
        out["rank correlation max |error|"] = {"value": rc.get("max_abs_error"),
                                               "threshold": f"< {rc.get('threshold', fcfg.rank_corr):g}",
                                               "passed": bool(rc.get("pass"))}
    pv = report.get("privacy") or {}
    if pv:
        out["privacy: exact copies of real records"] = {"value": pv.get("exact_copies"),
                                                        "threshold": "0",
                                                        "passed": pv.get("exact_copies") == 0}
        share = pv.get("share_synthetic_closer_than_holdout_p05")
        if share is not None:
            n = max(int(pv.get("n_synthetic_compared") or 1), 1)
            limit = 0.05 + 2 * np.sqrt(0.05 * 0.95 / n)
            out["privacy: share closer than real hold-out p05"] = {
                "value": share, "threshold": f"<= {limit:.3f} (0.05 + 2 SE)",
                "passed": bool(share <= limit)}
    return {_key(k): v for k, v in out.items()}


def _evidence_text(items: list[dict[str, Any]], *, max_items: int = 4) -> str:
    """All items when few; else the count passed, every failed item and one passed example."""
    if len(items) <= max_items:
        return "; ".join(describe_evidence(i) for i in items)
    failed = [i for i in items if i.get("passed") is False]
    ok = [i for i in items if i.get("passed") is not False]
    text = f"{len(ok)} of {len(items)} evidence items passed or descriptive"
    if failed:
        text += "; failed: " + "; ".join(describe_evidence(i) for i in failed)
    if ok:
        text += f"; e.g. {describe_evidence(ok[0])}"
    return text


def credibility_summary(assessment: Mapping[str, Any]) -> dict[str, Any]:
    """The report's view of an assessment: ``conclusion``, ``adequate`` and one row per V&V 40
    factor and FDA category (``name``, ``evidence`` as text, ``adequate``: met / gap / None when
    not required), plus risk, counts and the gaps."""
    rows = []
    for kind, key, prefix in (("V&V 40 factor", "factors", ""),
                              ("FDA evidence category", "fda_categories", "FDA: ")):
        for r in assessment[key]:
            text = _evidence_text(r["evidence"])
            rows.append({"id": r["id"], "kind": kind, "name": prefix + r["name"],
                         "target": r["target"], "achieved": r["achieved"],
                         "status": r["status"],
                         "adequate": None if r["status"] == "not required" else r["status"] == "met",
                         "evidence": (f"target {r['target_label']}, achieved {r['achieved_label']}. "
                                      + (text or "No evidence was produced in this run."))})
    s = assessment["summary"]
    assessed = [r for r in rows if r["adequate"] is not None]
    gap_names = [r["name"] for r in rows if r["adequate"] is False]
    risk = assessment["model_risk"]
    conclusion = (f"Model risk {risk} of 5 (influence {assessment['model_influence']}, decision "
                  f"consequence {assessment['decision_consequence']}): {s['n_met']} of "
                  f"{len(assessed)} credibility factors and evidence categories reach their "
                  "target level. ")
    conclusion += ("The evidence from this run is sufficient for the stated context of use."
                   if not gap_names else
                   f"Not sufficient for the stated context of use: gaps in {', '.join(gap_names)}.")
    return {"conclusion": conclusion, "adequate": bool(s["sufficient_for_cou"]),
            "model_risk": risk, "model_influence": assessment["model_influence"],
            "decision_consequence": assessment["decision_consequence"],
            "question": assessment["question"], "context_of_use": assessment["context_of_use"],
            "n_met": int(s["n_met"]), "n_assessed": len(assessed), "n_gaps": int(s["n_gaps"]),
            "factors": rows, "gaps": list(assessment["gaps"])}
