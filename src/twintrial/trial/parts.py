"""Pieces of the analysis of one estimand: effects, arm summaries, PROCOVA, type I error, subgroups.

Used by :func:`twintrial.trial.analyze_trial`; see :mod:`twintrial.trial` for the methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from twintrial.analysis import (
    AnalysisConfig,
    interaction_test,
    kaplan_meier,
    km_median,
    prognostic_correlation,
    t_test_sample_size,
    variance_factor,
)
from twintrial.arms_config import EndpointConfig, EstimandConfig
from twintrial.exceptions import AnalysisError, TwinTrialError
from twintrial.expressions import parse_expression
from twintrial.trial.effects import cox_contributions, draw_effect, log_odds_contributions


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows of ``frame`` (NaN/inf -> None, NumPy scalars -> Python)."""
    out = []
    for rec in frame.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
    return out

def benefit_direction(ep: EndpointConfig) -> str:
    """Benefit direction: continuous by ``higher_is_better``; responders up; TTE down (HR < 1)."""
    if ep.type == "continuous":
        return "greater" if ep.higher_is_better else "less"
    return "greater" if ep.type == "responder" else "less"


def population_mask(cohort: pd.DataFrame, vids: pd.Index, text: str, where: str) -> np.ndarray:
    """Mask over ``vids`` of the cohort rows where expression ``text`` holds (all if empty)."""
    if not text.strip():
        return np.ones(len(vids), dtype=bool)
    table = cohort.set_index("vid") if "vid" in cohort.columns else cohort
    missing = vids.difference(table.index)
    if len(missing):
        raise AnalysisError(f"cohort: {len(missing)} outcome vids are not in the cohort (e.g. "
                            f"{int(missing[0])}). Pass the cohort the outcomes were simulated for.")
    rows = table.loc[vids]
    expr = parse_expression(text, names=[str(c) for c in rows.columns], where=where)
    return np.asarray(expr.mask({str(c): rows[c] for c in rows.columns}), dtype=bool)


@dataclass
class EstimandData:
    """Potential outcomes of one estimand's target population, aligned by vid."""

    vid: np.ndarray
    draw: np.ndarray
    y1: np.ndarray
    y0: np.ndarray
    x: np.ndarray
    e1: np.ndarray | None = None
    e0: np.ndarray | None = None

    def subset(self, mask: np.ndarray) -> EstimandData:
        """The patients where ``mask`` is true."""
        return EstimandData(*(None if v is None else v[mask] for v in
                              (self.vid, self.draw, self.y1, self.y0, self.x, self.e1,
                               self.e0)))


def effect_summary(data: EstimandData, *, scale: str, ep: EndpointConfig, ci_prob: float,
                   benefit: str, posterior_sd: float | None = None) -> dict[str, Any]:
    """Population-average effect on ``scale`` with its interval (:func:`.effects.draw_effect`)."""
    kw = dict(ci_prob=ci_prob, benefit=benefit, posterior_sd=posterior_sd)
    if scale in ("mean_difference", "risk_difference"):
        return {"scale": scale, **draw_effect(data.y1 - data.y0, data.draw, **kw)}
    if scale == "odds_ratio":
        log_or, contrib = log_odds_contributions(data.y1, data.y0)
        out = draw_effect(contrib, data.draw, **kw)
        out["estimate"] = log_or   # equals the mean of the contributions
        return {"scale": "log odds ratio", **out, **_ratio(out, "odds_ratio")}
    assert data.e1 is not None and data.e0 is not None
    log_hr, _, contrib = cox_contributions(data.y1, data.e1, data.y0, data.e0)
    out = draw_effect(contrib, data.draw, **kw)
    out["estimate"] = log_hr
    return {"scale": "log hazard ratio", **out, **_ratio(out, "hazard_ratio")}


def _ratio(out: Mapping[str, Any], name: str) -> dict[str, float]:
    return {name: float(np.exp(out["estimate"])), f"{name}_ci_low": float(np.exp(out["ci_low"])),
            f"{name}_ci_high": float(np.exp(out["ci_high"]))}


def individual_effect(data: EstimandData, ep: EndpointConfig) -> np.ndarray:
    """Paired individual effects; TTE: restricted event-free time gained (NaN if censored)."""
    if ep.type != "time_to_event":
        return data.y1 - data.y0
    h = float(ep.horizon) if ep.horizon is not None else np.inf
    assert data.e1 is not None and data.e0 is not None
    # restricted event-free time gained; undetermined when dropout censored an arm before h
    known1 = (data.e1 > 0) | (data.y1 >= h - 1e-9)
    known0 = (data.e0 > 0) | (data.y0 >= h - 1e-9)
    diff = np.minimum(data.y1, h) - np.minimum(data.y0, h)
    return np.where(known1 & known0, diff, np.nan)


def effect_spread(e: np.ndarray, benefit: str) -> dict[str, Any]:
    """Spread of individual effects across patients: quantiles, shares benefiting/harmed."""
    v = e[np.isfinite(e)]
    if v.size == 0:
        return {"n_patients": 0}
    good = v > 0 if benefit == "greater" else v < 0
    bad = v < 0 if benefit == "greater" else v > 0
    q = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else None,
            **{f"q{p:02d}": float(x) for p, x in zip((5, 25, 50, 75, 95), q, strict=True)},
            "share_benefit": float(good.mean()), "share_harm": float(bad.mean()),
            "share_unchanged": float(np.mean(v == 0)), "n_patients": int(v.size)}


def arm_summary(y: np.ndarray, e: np.ndarray | None, ep: EndpointConfig,
                ci_prob: float) -> dict[str, Any]:
    """Endpoint summary of one arm: mean/SD/median, proportion, or events and KM median."""
    ok = np.isfinite(y)
    out: dict[str, Any] = {"n": int(y.size), "n_missing": int((~ok).sum())}
    if ep.type == "continuous":
        out.update(mean=float(np.mean(y[ok])), sd=float(np.std(y[ok], ddof=1)),
                   median=float(np.median(y[ok])))
    elif ep.type == "responder":
        out.update(proportion=float(np.mean(y[ok])), responders=int(np.sum(y[ok])))
    else:
        assert e is not None
        km = kaplan_meier(y, e, ci_level=ci_prob)
        surv_h = float(km["survival"].iloc[-1]) if len(km) else np.nan
        out.update(events=int(np.nansum(e)), event_fraction=float(np.nanmean(e)),
                   median_survival=km_median(km), survival_at_horizon=surv_h,
                   horizon=ep.horizon)
    return out


def procova_summary(data: EstimandData, oc: pd.DataFrame, effect: float,
                    cfg: AnalysisConfig
                    ) -> dict[str, Any]:
    """PROCOVA: rho with CI, variance reduction (theory, simulated), sample sizes, power."""
    ok = np.isfinite(data.y0) & np.isfinite(data.x) & np.isfinite(data.y1)
    rho0 = prognostic_correlation(data.y0[ok], data.x[ok], ci_level=cfg.ci_prob)
    rho1 = prognostic_correlation(data.y1[ok], data.x[ok], ci_level=cfg.ci_prob)
    sd1, sd0 = float(np.std(data.y1[ok], ddof=1)), float(np.std(data.y0[ok], ddof=1))
    factor = variance_factor(rho0["rho"], rho_treated=rho1["rho"], sd_ratio=sd1 / sd0)
    sd = float(np.sqrt((sd1**2 + sd0**2) / 2))
    out: dict[str, Any] = {
        "rho": rho0["rho"], "rho_ci_low": rho0["ci_low"], "rho_ci_high": rho0["ci_high"],
        "rho_treated": rho1["rho"], "variance_factor": factor,
        "variance_reduction": 1.0 - factor, "rho_squared": rho0["rho"] ** 2}
    prim = oc.loc[oc["analysis"] == "primary"].set_index("n_per_arm")
    adj = oc.loc[oc["analysis"] == "procova"].set_index("n_per_arm")
    ratio = (adj["empirical_se"] / prim["empirical_se"]) ** 2
    out["simulated_variance_reduction"] = float(1.0 - ratio.mean())
    out["power"] = [{"n_per_arm": int(n), "power_unadjusted": float(prim.loc[n, "power"]),
                     "power_procova": float(adj.loc[n, "power"]),
                     "power_procova_mc_se": float(adj.loc[n, "power_mc_se"])} for n in adj.index]
    null = oc.loc[oc["analysis"] == "null_procova"]
    out["type1_error"] = [{"n_per_arm": int(r.n_per_arm), "rate": float(r.power),
                           "mc_se": float(r.power_mc_se)} for r in null.itertuples()]
    out["target_power"] = cfg.target_power
    if effect == 0 or not np.isfinite(effect):
        out["sample_size"] = None
        return out
    kw = dict(delta=abs(effect), sd=sd, power=cfg.target_power, alpha=cfg.alpha)
    n_raw = t_test_sample_size(**kw)
    n_adj = t_test_sample_size(**kw, n_covariates=1, variance_factor=factor)
    cons = variance_factor(max(min(rho0["ci_low"], 0.999), -0.999) if rho0["rho"] >= 0
                           else max(min(rho0["ci_high"], 0.999), -0.999))
    n_cons = t_test_sample_size(**kw, n_covariates=1, variance_factor=cons)
    out["sample_size"] = {"delta": abs(effect), "sd": sd, "n_unadjusted": n_raw,
                          "n_procova": n_adj, "n_procova_conservative_rho": n_cons,
                          "saved_per_arm": n_raw - n_adj, "saved_total": 2 * (n_raw - n_adj),
                          "saved_percent": 100.0 * (n_raw - n_adj) / n_raw}
    return out


def type1_summary(oc: pd.DataFrame, analysis: str, alpha: float) -> dict[str, Any]:
    """Null-arm rejection rates per n with a pass flag against alpha +/- 3 MC SE (nominal SE)."""
    rows = oc.loc[oc["analysis"] == f"null_{analysis}"].sort_values("n_per_arm")
    by_n = []
    for r in rows.itertuples():
        se = float(np.sqrt(alpha * (1 - alpha) / r.n_replicates))
        by_n.append({"n_per_arm": int(r.n_per_arm), "rate": float(r.power),
                     "mc_se": float(r.power_mc_se), "tolerance_low": alpha - 3 * se,
                     "tolerance_high": alpha + 3 * se, "ok": bool(abs(r.power - alpha) <= 3 * se)})
    return {"test": str(rows["test"].iloc[0]) if len(rows) else None, "alpha": alpha,
            "by_n": by_n, "pass": bool(all(b["ok"] for b in by_n))}


def subgroup_table(data: EstimandData, cohort: pd.DataFrame, est: EstimandConfig,
                   ep: EndpointConfig, scale: str, cfg: AnalysisConfig, benefit: str,
                   overall: Mapping[str, Any], warnings: list[str]) -> pd.DataFrame:
    """Overall row plus each subgroup and its complement, with the interaction p per subgroup."""
    rows = [{"estimand": est.name, "variable": "overall", "level": "all",
             "n_treated": int(data.vid.size), "n_control": int(data.vid.size),
             "estimate": overall["estimate"], "se": overall["se"], "ci_low": overall["ci_low"],
             "ci_high": overall["ci_high"], "mc_se": overall["mc_se"],
             "scale": overall["scale"]}]
    for i, sub in enumerate(cfg.subgroups):
        mask = population_mask(cohort, pd.Index(data.vid), sub.where,
                               f"analysis.subgroups[{i}].where")
        for level, m in ((sub.where, mask), (f"not ({sub.where})", ~mask)):
            row = {"estimand": est.name, "variable": sub.name, "level": level,
                   "n_treated": int(m.sum()), "n_control": int(m.sum()), "scale": overall["scale"]}
            try:
                eff = effect_summary(data.subset(m), scale=scale, ep=ep, ci_prob=cfg.ci_prob,
                              benefit=benefit, posterior_sd=overall["posterior_sd"] or 0.0)
                row.update({k: eff[k] for k in ("estimate", "se", "ci_low", "ci_high",
                                                "mc_se")})
            except TwinTrialError as exc:
                warnings.append(f"analysis.subgroups[{i}] ({sub.name}), estimand {est.name}: "
                                f"no effect for {level!r}: {str(exc).splitlines()[0]}")
                row.update(dict.fromkeys(("estimate", "se", "ci_low", "ci_high", "mc_se"),
                                         np.nan))
            rows.append(row)
    table = pd.DataFrame(rows)
    # heterogeneity within the virtual population: the posterior part is shared by a subgroup
    # and its complement, so the interaction test uses the Monte-Carlo SEs
    inter = interaction_test(table.drop(columns="se").rename(columns={"mc_se": "se"}))
    table["p_interaction"] = table["variable"].map(dict(zip(inter["variable"], inter["p_value"],
                                                            strict=True))).astype(np.float64)
    return table
