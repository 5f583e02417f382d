"""The analysis stage: :func:`analyze_trial` turns the outcomes table into ``trial.json`` content.

See the package docstring (:mod:`twintrial.trial`) for the layout of the summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from twintrial.analysis import AnalysisConfig, forest_plot
from twintrial.arms_config import ArmConfig, EndpointConfig, EstimandConfig
from twintrial.exceptions import AnalysisError
from twintrial.trial.effects import log_odds_contributions
from twintrial.trial.figures import (
    effect_distribution_figure,
    power_curve_figure,
    procova_figure,
)
from twintrial.trial.operating import simulate_estimand
from twintrial.trial.parts import (
    EstimandData,
    arm_summary,
    benefit_direction,
    effect_spread,
    effect_summary,
    individual_effect,
    population_mask,
    procova_summary,
    records,
    subgroup_table,
    type1_summary,
)

__all__ = ["TrialAnalysis", "analyze_trial"]

_SCALES = {"continuous": ("mean_difference",), "responder": ("risk_difference", "odds_ratio"),
           "time_to_event": ("hazard_ratio",)}
_AUTO = {"continuous": "mean_difference", "responder": "risk_difference",
         "time_to_event": "hazard_ratio"}
_TEST_KIND = {"continuous": "continuous", "responder": "binary", "time_to_event": "time_to_event"}


@dataclass
class TrialAnalysis:
    """Result of :func:`analyze_trial`.

    Attributes
    ----------
    summary
        JSON-ready summary (layout in :mod:`twintrial.trial`).
    warnings
        Messages for the top of the report.
    tables
        ``operating_characteristics``, ``effects``, ``subgroups``, ``arm_summaries``,
        ``individual_effects`` (per vid and estimand).
    figures
        ``power_curve``, ``effect_distribution``, ``forest_<estimand>``, ``procova``.
    """

    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"summary", "warnings", "operating_characteristics", "subgroups"}`` for trial.json."""
        return {"summary": self.summary, "warnings": list(self.warnings),
                "operating_characteristics": records(self.tables["operating_characteristics"]),
                "subgroups": records(self.tables["subgroups"])}


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------------------- data access
def _by_arm(outcomes: pd.DataFrame, arm_names: Sequence[str]) -> dict[str, pd.DataFrame]:
    missing = [c for c in ("vid", "arm", "draw") if c not in outcomes.columns]
    if missing:
        raise AnalysisError(f"outcomes: missing column(s) {missing}; got "
                            f"{list(outcomes.columns)}. Pass the arms stage's outcomes table.")
    frames = {}
    for name in arm_names:
        part = outcomes.loc[outcomes["arm"] == name]
        if part.empty:
            raise AnalysisError(f"outcomes: no rows for arm {name!r}; got arms "
                                f"{sorted(map(str, outcomes['arm'].unique()))}. Rerun the arms "
                                "stage with the current arms config.")
        frames[name] = part.set_index("vid").sort_index()
    vids = frames[arm_names[0]].index
    for name, part in frames.items():
        if not part.index.equals(vids):
            raise AnalysisError(f"outcomes: arm {name!r} has a different set of vids than arm "
                                f"{arm_names[0]!r}. Simulate every patient under every arm.")
    return frames


def _estimand_data(frames: Mapping[str, pd.DataFrame], est: EstimandConfig, ep: EndpointConfig,
                   control: str, mask: np.ndarray) -> EstimandData:
    t, c = frames[est.treatment], frames[control]
    for col in (est.name, f"{est.name}_prognostic"):
        if col not in t.columns:
            raise AnalysisError(f"outcomes: no column {col!r} for estimand {est.name!r}; got "
                                f"{list(t.columns)}. Rerun the arms stage with this estimand.")
    ev = ep.type == "time_to_event"
    if ev and f"{est.name}_event" not in t.columns:
        raise AnalysisError(f"outcomes: no column '{est.name}_event' for time-to-event estimand "
                            f"{est.name!r}. Rerun the arms stage.")
    col = lambda f, name: f[name].to_numpy(np.float64, na_value=np.nan)[mask]  # noqa: E731
    return EstimandData(vid=t.index.to_numpy()[mask], draw=t["draw"].to_numpy(np.int64)[mask],
                 y1=col(t, est.name), y0=col(c, est.name), x=col(c, f"{est.name}_prognostic"),
                 e1=col(t, f"{est.name}_event") if ev else None,
                 e0=col(c, f"{est.name}_event") if ev else None)


def analyze_trial(outcomes: pd.DataFrame, cohort: pd.DataFrame, *, arms: Sequence[ArmConfig],
                  endpoints: Sequence[EndpointConfig],
                  estimands: Sequence[EstimandConfig] | None = None, cfg: AnalysisConfig,
                  seed: int) -> TrialAnalysis:
    """Analyse the simulated trial: effects, operating characteristics, PROCOVA and subgroups.

    Parameters
    ----------
    outcomes
        The arms stage's table (one row per vid and arm; :mod:`twintrial.arms.simulate`).
    cohort
        The virtual cohort (``vid`` + covariates) for populations and subgroups.
    arms, endpoints
        Typed arms (exactly one control) and endpoints.
    estimands
        Estimands to analyse (default: ``cfg.estimands``).
    cfg
        Analysis options.
    seed
        Root seed of the replicate-trial streams (``rng.job_seed(trial.seed, "analysis")``).

    Returns
    -------
    TrialAnalysis
        Summary, warnings, tables and figures.
    """
    cfg.check()
    estimands = tuple(cfg.estimands if estimands is None else estimands)
    if not estimands:
        raise AnalysisError("analysis.estimands: no estimand to analyse; got []. Define at least "
                            "one {name, endpoint, treatment}.")
    controls = [a.name for a in arms if a.control]
    if len(controls) != 1:
        raise AnalysisError(f"arms: exactly one arm must have control: true; got {controls}.")
    control = controls[0]
    eps = {e.name: e for e in endpoints}
    frames = _by_arm(outcomes, [a.name for a in arms])
    vids = frames[control].index
    warnings: list[str] = []
    per_est: dict[str, Any] = {}
    oc_parts, sub_parts, arm_rows, eff_rows, indiv = [], [], [], [], {}
    labels, averages, scores, rhos = {}, {}, {}, {}
    for i, est in enumerate(estimands):
        where = f"analysis.estimands[{i}]"
        if est.endpoint not in eps:
            raise AnalysisError(f"{where}.endpoint: no endpoint named {est.endpoint!r}; got "
                                f"{sorted(eps)}. Define it under endpoints.")
        if est.treatment not in frames or est.treatment == control:
            raise AnalysisError(f"{where}.treatment: must name an experimental arm; got "
                                f"{est.treatment!r}. Use one of "
                                f"{[a for a in frames if a != control]}.")
        ep = eps[est.endpoint]
        scale = _AUTO[ep.type] if est.summary == "auto" else est.summary
        if scale not in _SCALES[ep.type]:
            raise AnalysisError(f"{where}.summary: {scale!r} does not apply to a {ep.type} "
                                f"endpoint. Use one of {list(_SCALES[ep.type])} or auto.")
        mask = population_mask(cohort, vids, est.population, f"{where}.population")
        data = _estimand_data(frames, est, ep, control, mask)
        benefit = benefit_direction(ep)
        effect = effect_summary(data, scale=scale, ep=ep, ci_prob=cfg.ci_prob, benefit=benefit)
        effect["ci_prob"] = cfg.ci_prob
        if not effect["identifiable"]:
            warnings.append(f"{est.name}: no posterior sample is shared by two virtual patients, "
                            "so the interval of the average effect shows the Monte-Carlo error "
                            "only; enlarge the cohort or thin the posterior.")
        elif effect["posterior_sd_upper"] is not None and effect["posterior_sd_upper"] > \
                2 * max(effect["se"], 1e-12):
            warnings.append(
                f"{est.name}: the posterior part of the interval of the average effect is "
                f"imprecise ({effect['n_patients'] / effect['n_draws']:.1f} virtual patients per "
                f"posterior sample; posterior SD {effect['posterior_sd']:.3g}, plausibly up to "
                f"{effect['posterior_sd_upper']:.3g}); give the virtual population more patients "
                "per posterior sample.")
        ind = individual_effect(data, ep)
        indiv[est.name] = ind
        averages[est.name] = float(np.nanmean(ind))
        labels[est.name] = ("restricted event-free time gained" if ep.type == "time_to_event"
                            else f"{scale.replace('_', ' ')} (treated - control)")
        arm_sum = {est.treatment: arm_summary(data.y1, data.e1, ep, cfg.ci_prob),
                   control: arm_summary(data.y0, data.e0, ep, cfg.ci_prob)}
        for arm_name, s in arm_sum.items():
            arm_rows.append({"estimand": est.name, "arm": arm_name, **s})
        # operating characteristics --------------------------------------------------
        n_pop = int(data.vid.size)
        grid = [n for n in cfg.n_per_arm if 2 * n <= n_pop]
        if len(grid) < len(cfg.n_per_arm):
            warnings.append(f"{est.name}: n_per_arm {[n for n in cfg.n_per_arm if n not in grid]} "
                            f"skipped: 2n exceeds the {n_pop} virtual patients of the population.")
        test = cfg.tests[_TEST_KIND[ep.type]]
        tte = ep.type == "time_to_event"
        if tte:
            assert data.e1 is not None and data.e0 is not None
            treated = {"time": data.y1, "event": data.e1}
            ctl = {"time": data.y0, "event": data.e0}
            truth = effect["estimate"]
            truths = {"primary": truth, "cox": truth}
        else:
            treated, ctl = {"y": data.y1}, {"y": data.y0}
            if test == "logistic":
                truths = {"primary": log_odds_contributions(data.y1, data.y0)[0]}
            else:
                truths = {"primary": float(np.nanmean(data.y1) - np.nanmean(data.y0))}
            truths["procova"] = truths["primary"]
        baseline = {"x": data.x} if ep.type == "continuous" else None
        favourable = benefit
        use_procova = bool(cfg.procova and ep.type == "continuous")
        if use_procova and not (np.nanstd(data.x) > 0 and np.nanstd(data.y0) > 0):
            use_procova = False
            warnings.append(f"{est.name}: PROCOVA not applied: the twin-predicted control outcome "
                            "is constant (e.g. no drug in a placebo arm of a PK model), so it "
                            "carries no prognostic information.")
        oc = simulate_estimand(treated, ctl, baseline, estimand=est.name, kind=ep.type, test=test,
                               n_grid=grid, replicates=cfg.replicates, alpha=cfg.alpha,
                               alternative=cfg.alternative, favourable=favourable, truths=truths,
                               procova=use_procova, ties=cfg.ties, seed=seed) if grid else \
            pd.DataFrame(columns=["estimand", "analysis", "test", "n_per_arm", "power"])
        oc_parts.append(oc)
        type1 = type1_summary(oc, "primary", cfg.alpha)
        if not type1["pass"]:
            bad = [b for b in type1["by_n"] if not b["ok"]]
            warnings.append(f"{est.name}: type I error of the null arm outside 0.05 ± 3 MC SE at "
                            f"n = {[b['n_per_arm'] for b in bad]} (rates "
                            f"{[round(b['rate'], 4) for b in bad]}); check the test's assumptions.")
        if len(oc) and (oc["n_failed"] > 0.01 * oc["n_replicates"]).any():
            warnings.append(f"{est.name}: more than 1% of replicate analyses failed at some n "
                            "(e.g. no events or separation); they count as not significant.")
        if tte and grid:
            ev_rate = float(np.nanmean(np.concatenate([data.e1, data.e0])))
            if ev_rate * 2 * min(grid) < 20:
                warnings.append(f"{est.name}: few events: ~{ev_rate * 2 * min(grid):.0f} expected "
                                f"at n = {min(grid)} per arm (event fraction {ev_rate:.2f}); "
                                "log-rank power and Cox estimates are unreliable below ~20.")
        proc = None
        if use_procova and grid:
            proc = procova_summary(data, oc, float(truths["primary"]), cfg)
            scores[est.name] = (data.x, data.y0)
            rhos[est.name] = proc["rho"]
        # subgroups -------------------------------------------------------------------
        sub = subgroup_table(data, cohort, est, ep, scale, cfg, benefit, effect, warnings)
        sub_parts.append(sub)
        eff_rows.append({"estimand": est.name, **{k: v for k, v in effect.items()}})
        power = [{k: r[k] for k in ("n_per_arm", "power", "power_mc_se", "prob_success",
                                    "prob_success_mc_se", "mean_estimate", "bias",
                                    "bias_mc_se", "coverage", "coverage_mc_se") if k in r}
                 for r in oc.loc[oc["analysis"] == "primary"].to_dict("records")]
        if tte and test != "cox":  # bias and coverage of the Cox estimator
            cox = oc.loc[oc["analysis"] == "cox"].set_index("n_per_arm")
            for p in power:
                for k in ("mean_estimate", "bias", "bias_mc_se", "coverage", "coverage_mc_se"):
                    p[f"cox_{k}"] = cox.loc[p["n_per_arm"], k] if k in cox else None
        per_est[est.name] = {
            "endpoint": ep.name, "endpoint_type": ep.type, "treatment": est.treatment,
            "control": control, "population": est.population or "all",
            "intercurrent": est.intercurrent, "benefit": benefit, "n_patients": n_pop,
            "effect": effect, "arms": arm_sum,
            "individual_effects": effect_spread(ind, "greater" if tte else benefit),
            "test": test, "power": power, "type1_error": type1, "procova": proc,
            "subgroups": records(sub.drop(columns="estimand")),
        }
    oc_all = pd.concat(oc_parts, ignore_index=True)
    subs = pd.concat(sub_parts, ignore_index=True)
    summary = {
        "n_virtual_patients": int(len(vids)),
        "n_posterior_draws": int(frames[control]["draw"].nunique()),
        "arms": list(frames), "control": control, "alpha": cfg.alpha, "ci_prob": cfg.ci_prob,
        "replicates": cfg.replicates, "n_per_arm": list(cfg.n_per_arm),
        "estimands": per_est,
        "power_by_n": {name: {str(p["n_per_arm"]): p["power"] for p in e["power"]}
                       for name, e in per_est.items()},
        "type1_pass": bool(all(e["type1_error"]["pass"] for e in per_est.values())),
        "procova_saving": {name: (e["procova"]["sample_size"] or {}).get("saved_percent")
                           for name, e in per_est.items() if e["procova"] is not None},
    }
    figures: dict[str, Figure] = {}
    if len(oc_all):
        figures["power_curve"] = power_curve_figure(oc_all, alpha=cfg.alpha,
                                                    target_power=cfg.target_power)
    figures["effect_distribution"] = effect_distribution_figure(indiv, averages=averages,
                                                                labels=labels)
    for name, part in subs.groupby("estimand", sort=False):
        e = per_est[str(name)]
        scale = e["effect"]["scale"]
        label = {"log hazard ratio": "hazard ratio", "log odds ratio": "odds ratio"}.get(
            scale, scale.replace("_", " "))
        figures[f"forest_{name}"] = forest_plot(
            part.reset_index(drop=True), title=f"{name}: subgroup effects",
            xlabel=f"{label}, {e['treatment']} vs {e['control']} ({cfg.ci_prob:.0%} interval)")
    if scores:
        figures["procova"] = procova_figure(
            scores, rhos, {n: per_est[n]["procova"]["sample_size"] for n in scores},
            target_power=cfg.target_power)
    individual = pd.DataFrame({"vid": vids.to_numpy()})
    for name, est in zip(indiv, estimands, strict=True):
        mask = population_mask(cohort, vids, est.population, "population")
        col = np.full(len(vids), np.nan)
        col[mask] = indiv[name]
        individual[name] = col
    tables = {"operating_characteristics": oc_all, "subgroups": subs,
              "arm_summaries": pd.DataFrame(arm_rows), "effects": pd.DataFrame(eff_rows),
              "individual_effects": individual}
    return TrialAnalysis(summary=_clean(summary), warnings=warnings, tables=tables,
                         figures=figures)
