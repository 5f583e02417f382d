"""The convergence gate: a fit whose diagnostics fail the thresholds stops the workflow.

Checked: the largest R-hat of population parameters and of per-patient parameters, the smallest
bulk and tail ESS of population parameters, and the number of divergent transitions. Only
``twins.allow_unconverged: true`` turns the failure into a warning that every downstream output
and the report must carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twintrial.exceptions import ConvergenceError
from twintrial.twins_config import GateConfig


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "nan" if np.isnan(x) else "inf"
    return f"{x:.3f}" if x < 10 else f"{x:.0f}"


def gate_failures(diagnostics: Mapping[str, Any], thresholds: GateConfig) -> list[str]:
    """The thresholds a fit fails, one phrase each (empty when it passes)."""
    d = diagnostics
    out = []
    rhat = d.get("max_rhat", float("nan"))
    if np.isnan(rhat):  # (inf: a varying parameter's R-hat is not a number, see fit.py)
        out.append(f"R-hat not computable from {d.get('n_chains', '?')} chain(s) (need >= 2)")
    elif rhat > thresholds.rhat_max:
        out.append(f"max R-hat {_fmt(rhat)} > {thresholds.rhat_max:g}")
    irhat = d.get("individual_max_rhat", float("nan"))
    if not np.isnan(irhat) and irhat > thresholds.rhat_max:  # (nan: fewer than 2 chains)
        out.append(f"per-patient max R-hat {_fmt(irhat)} > {thresholds.rhat_max:g}")
    if not d.get("min_ess_bulk", 0) >= thresholds.ess_bulk_min:
        out.append(f"min bulk ESS {_fmt(d.get('min_ess_bulk', float('nan')))} < "
                   f"{thresholds.ess_bulk_min:g}")
    if not d.get("min_ess_tail", 0) >= thresholds.ess_tail_min:
        out.append(f"min tail ESS {_fmt(d.get('min_ess_tail', float('nan')))} < "
                   f"{thresholds.ess_tail_min:g}")
    if d.get("divergences", 0) > thresholds.max_divergences:
        out.append(f"{d['divergences']} divergent transition(s) > {thresholds.max_divergences}")
    return out


def _advice(diagnostics: Mapping[str, Any], failures: list[str], parameterization: str | None) -> str:
    tips = []
    if any("chain" in f and "need" in f for f in failures):
        tips.append("run at least 2 chains (4 recommended)")
    if any("ESS" in f or "R-hat" in f for f in failures):
        tips.append("raise twins.draws and twins.tune (e.g. 2000 each)")
    if any("divergent" in f for f in failures):
        tips.append("raise twins.target_accept (0.95 or 0.99)")
    if parameterization in ("centered", "noncentered") and any(
            "divergent" in f or "R-hat" in f for f in failures):
        other = "noncentered" if parameterization == "centered" else "centered"
        tips.append(f"try twins.parameterization: {other}")
    tips.append("or set twins.allow_unconverged: true to continue with a warning")
    return "Try: " + "; ".join(tips) + "."


def check_convergence(diagnostics: Mapping[str, Any], thresholds: GateConfig, *,
                      allow_unconverged: bool = False,
                      parameterization: str | None = None) -> list[str]:
    """Apply the gate.

    Parameters
    ----------
    diagnostics
        From :func:`twintrial.twins.fit.compute_diagnostics`.
    thresholds
        ``twins.gate``.
    allow_unconverged
        Turn a failure into a warning instead of an error.
    parameterization
        The random-effect parameterisation used (for the advice).

    Returns
    -------
    list of str
        Warnings (empty when the gate passes); each starts with ``twins: UNCONVERGED``.

    Raises
    ------
    ConvergenceError
        One line naming the failed thresholds, the worst parameters and what to try.
    """
    failures = gate_failures(diagnostics, thresholds)
    if not failures:
        return []
    worst = ", ".join(f"{w['parameter']} (R-hat {_fmt(w['rhat'])}, ESS bulk "
                      f"{_fmt(w['ess_bulk'])}, tail {_fmt(w['ess_tail'])})"
                      for w in list(diagnostics.get("worst", []))[:3])
    if diagnostics.get("individual_worst") and any("per-patient" in f for f in failures):
        worst += f"; worst per-patient: {diagnostics['individual_worst']}"
    msg = (f"twins: fit did not converge ({'; '.join(failures)}); worst parameters: "
           f"{worst or 'n/a'}. {_advice(diagnostics, failures, parameterization)}")
    if allow_unconverged:
        return ["twins: UNCONVERGED posterior used because twins.allow_unconverged is true ("
                + "; ".join(failures) + "); results downstream are not reliable."]
    raise ConvergenceError(msg)
