"""The validation stage: refit, predict held-out data, replicate the trial, assess credibility.

:func:`validate` is what the ``validation`` rule runs (through ``twintrial.pipeline``). Given the
data, the structural model and the ``twins`` and ``validation`` configs it

1. refits the twins on the training part of the configured split and predicts the held-out
   observations (with residual noise) and survival (:mod:`~twintrial.validation.heldout`);
2. scores the predictions against the population-only and LOCF baselines, overall and by time band
   (coverage at the interval levels, CRPS, RMSE, MAE, bias, PIT), and draws a (pc)VPC;
3. validates survival at the landmarks (KM with CI vs predicted, calibration, C-index, Brier);
4. replicates the completed trial (:mod:`~twintrial.validation.replicate`) and states whether each
   observed quantity lies in its predicted interval;
5. lists the cohort stage's fidelity and privacy checks with their thresholds;
6. verifies the model's code and calculations on draws of the refitted twins (simulator vs fitted
   likelihood, closed form vs numerical ODE solution, hazard quadrature error:
   :mod:`~twintrial.validation.verification`);
7. turns every metric into credibility evidence and runs the V&V 40 / FDA assessment.

No file I/O: figures are returned as matplotlib figures, artifacts are hashed only when the caller
passes their paths (``artifacts``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twintrial.exceptions import AnalysisError
from twintrial.models.base import Model
from twintrial.validation import evidence as ev
from twintrial.validation.checks import cohort_checks, credibility_summary
from twintrial.validation.credibility import assess_credibility, evidence_item
from twintrial.validation.figures import (
    plot_pit_histogram,
    plot_survival_calibration,
    plot_trial_replication,
)
from twintrial.validation.heldout import HeldOut, held_out_predictions
from twintrial.validation.metrics import pit_values
from twintrial.validation.summaries import config_times, predictive_validation, survival_validation
from twintrial.validation.survival import (
    compare_survival_at_landmarks,
    kaplan_meier,
    plot_survival_check,
)
from twintrial.validation.trial_level import (
    observed_from_patient_level,
    observed_from_published,
    trial_replication,
)
from twintrial.validation.verification import (
    verification_checks,
    verification_evidence,
    verification_params,
    verify_model,
)
from twintrial.validation.vpc import plot_vpc, vpc
from twintrial.validation_config import ValidationConfig

CAPTIONS = {
    "vpc": "Visual predictive check of the held-out observations: observed percentiles (lines) "
           "over the simulated percentile bands of the twins (shaded); crosses mark observed "
           "percentiles outside their band.",
    "pit": "PIT histograms of the held-out observations for the twins and both baselines "
           "(flat = calibrated; grey band about +/-2 SE).",
    "survival_check": "Held-out patients: observed Kaplan-Meier survival with its 95% CI and the "
                      "predicted mean survival (band over posterior draws).",
    "calibration": "Survival calibration: observed Kaplan-Meier survival (95% CI) against the mean "
                   "predicted survival in groups of predicted risk, at each landmark.",
    "trial_replication": "Replication of the completed trial: hazard ratios of the simulated "
                         "trials with the observed one, and observed arm Kaplan-Meier curves over "
                         "the simulated bands.",
}


@dataclass
class ValidationResult:
    """Output of :func:`validate`.

    Attributes
    ----------
    summary
        JSON-ready numbers the report shows (``validation.json`` ``summary``).
    warnings
        Lines for the top of the report.
    tables
        Detailed tables (predictive metrics by model and band, VPC, calibration, trial rows,
        credibility).
    figures
        Name -> matplotlib figure (written as ``figures/validation_<name>.png``).
    details
        Further JSON content (full credibility assessment with evidence, tables as records).
    """

    summary: dict[str, Any]
    warnings: list[str]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``validation.json`` content (without provenance)."""
        out = {"summary": self.summary, "warnings": list(self.warnings),
               "figures": {f"validation_{k}.png": CAPTIONS.get(k, k) for k in self.figures},
               "key_results": _key_results(self.summary),
               "limitations": list(self.summary.get("credibility", {}).get("gaps", []))}
        out.update(self.details)
        return out


# --------------------------------------------------------------------------- small helpers
def _key(s: Any) -> str:
    """A summary key without dots (the report looks values up by dotted paths)."""
    return str(s).replace(".", "_")


def _clean(d: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        if isinstance(k, str) and k.startswith("coverage_"):
            k = f"coverage_{round(100 * float(k.split('_', 1)[1])):d}"
        out[_key(k)] = v
    return out


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(r) for r in df.to_dict("records")] if df is not None and len(df) else []


def _artifact(artifacts: Mapping[str, Any], key: str) -> dict[str, str | None]:
    path = artifacts.get(key)
    if path is None:
        return {"artifact": None, "sha256": None}
    if isinstance(path, tuple | list):
        return {"artifact": str(path[0]), "sha256": str(path[1])}
    from twintrial.provenance import file_sha256

    p = Path(path)
    return {"artifact": str(path), "sha256": file_sha256(p) if p.is_file() else None}


def _key_results(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    wanted = [("Held-out 90% interval coverage (twins)", "predictive.twin.coverage_90", "pct"),
              ("CRPS twins / population baseline", "crps_ratio.population", ".2f"),
              ("CRPS twins / LOCF baseline", "crps_ratio.locf", ".2f"),
              ("Observed HR inside the predicted interval", "trial_replication.hr.inside", "passfail"),
              ("Credibility factors meeting their target", "credibility.n_met", "int")]
    out = []
    for label, key, fmt in wanted:
        node: Any = summary
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            item = {"label": label, "key": key, "fmt": fmt}
            if key == "credibility.n_met":
                item["of"] = "credibility.n_assessed"
            out.append(item)
    return out


# --------------------------------------------------------------------------- activities
def _predictive(ho: HeldOut, cfg: ValidationConfig, data_unit: str, where: dict[str, Any],
                seed: int) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Metrics, evidence, figures and tables of the held-out observations."""
    from twintrial.rng import generator

    res = predictive_validation(ho.train, ho.test, ho.draws, cfg, split_kind=ho.kind,
                                data_time_unit=data_unit, baselines=ho.baselines, **where)
    table = res["table"]
    summary: dict[str, Any] = {}
    if table.empty:
        return summary, res["evidence"], {}, {"predictive": table}
    overall = table[table["band"] == "all"].set_index("model")
    summary["predictive"] = {m: _clean(r.drop(labels=["variable", "band"]).to_dict())
                             for m, r in overall.iterrows()}
    summary["crps_ratio"] = {b.name: float(overall.loc["twin", "crps"] / overall.loc[b.name, "crps"])
                             for b in ho.baselines}
    summary["beats_baselines"] = {k: bool(v < 1) for k, v in summary["crps_ratio"].items()}
    bands = table[table["band"] != "all"]
    if len(bands):
        by: dict[str, Any] = {}
        for band, grp in bands.groupby("band", sort=False, observed=True):
            g = grp.set_index("model")
            if int(g.loc["twin", "n"]) == 0:
                continue
            row = {"n": int(g.loc["twin", "n"])}
            for m in g.index:
                row[f"{m}_crps"] = float(g.loc[m, "crps"])
                row[f"{m}_rmse"] = float(g.loc[m, "rmse"])
                row[f"{m}_coverage_90"] = float(g.loc[m, "coverage_0.9"]) if "coverage_0.9" in g else None
            by[_key(band)] = _clean(row)
        summary["predictive_by_band"] = by
    # rows every model predicted, as in compare_with_baselines
    y = ho.test["value"].to_numpy(np.float64)
    ok = (ho.test["cens"].to_numpy() == 0) & ~np.isnan(y)
    for b in ho.baselines:
        ok &= b.predicted
    rng = generator(seed, "validation", "pit")
    pits = {"twin": pit_values(y[ok], ho.draws[ok], rng=rng)}
    for b in ho.baselines:
        pits[b.name] = pit_values(y[ok], b.draws[ok], rng=rng)
    summary["pit"] = {"histogram": np.histogram(pits["twin"], bins=10, range=(0, 1))[0].tolist(),
                      "ks_pvalue": summary["predictive"]["twin"].get("pit_ks_pvalue"),
                      "ece": summary["predictive"]["twin"].get("pit_ece")}
    figs = {"pit": plot_pit_histogram(pits)}
    tables = {"predictive": table}
    # VPC (prediction-corrected when doses or covariates differ)
    pc = cfg.vpc.prediction_corrected
    corrected = ho.varies if pc == "auto" else bool(pc)
    lb = cfg.vpc.lower_bound
    evid = list(res["evidence"])
    if corrected and (ho.scale != "identity" or (lb is not None and np.any(ho.pred <= lb))):
        lb = None  # an unbounded (e.g. log) scale: additive correction
    try:
        stats = vpc(ho.test, ho.draws.T, bins=cfg.vpc.bins if isinstance(cfg.vpc.bins, int)
                    else list(cfg.vpc.bins), percentiles=cfg.vpc.percentiles,
                    ci_level=cfg.vpc.ci_level, pred=ho.pred if corrected else None, lower_bound=lb)
    except AnalysisError as exc:
        summary["vpc"] = {"error": str(exc)}
    else:
        summary["vpc"] = {"prediction_corrected": bool(corrected),
                          "correction": None if not corrected else ("additive" if lb is None
                                                                    else f"proportional, lower bound {lb:g}"),
                          "n_bins": int(stats["bin"].nunique()),
                          "outside_fraction": float(stats["outside"].mean()),
                          "outside_max": cfg.thresholds.vpc_outside_max,
                          "passed": bool(stats["outside"].mean() <= cfg.thresholds.vpc_outside_max)}
        evid += ev.vpc_evidence(stats, thresholds=cfg.thresholds, variable=str(ho.variable), **where)
        figs["vpc"] = plot_vpc(stats, observed=ho.test, title=f"{'pcVPC' if corrected else 'VPC'} "
                               f"of held-out {ho.variable} ({ho.split_label})",
                               ylabel=f"{ho.variable} ({ho.scale_label})", xlabel=f"time ({data_unit})")
        tables["vpc"] = stats
    return summary, evid, figs, tables


def _survival(ho: HeldOut, cfg: ValidationConfig, data_unit: str, where: dict[str, Any],
              warnings: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    if ho.surv_time.size == 0 or not cfg.landmarks:
        return {}, [], {}, {}
    _, lm_data = config_times(cfg, data_unit)
    t_max = float(ho.surv_time.max())
    low = ho.cutoff if ho.cutoff is not None else 0.0
    keep = [k for k, t in enumerate(lm_data) if low < t < t_max]
    dropped = [cfg.landmarks[k] for k in range(len(lm_data)) if k not in keep]
    if dropped:
        warnings.append(f"validation: landmark(s) {dropped} are outside the held-out follow-up "
                        f"({low:g} to {t_max:g} {data_unit}) and were not validated")
    figs: dict[str, Any] = {}
    km = kaplan_meier(ho.surv_time, ho.surv_event, conf_level=cfg.survival.conf_level)
    if ho.grid_draws.size:
        mean_curve = ho.grid_draws.mean(axis=1)  # (M, G)
        q = np.quantile(mean_curve, [0.025, 0.5, 0.975], axis=0)
        band = pd.DataFrame({"time": ho.grid, "lower": q[0], "median": q[1], "upper": q[2]})
        figs["survival_check"] = plot_survival_check(
            km, predicted=band, landmarks=[lm_data[k] for k in keep], xlabel=f"time ({data_unit})",
            title=f"Held-out survival ({ho.split_label})")
    if not keep:
        return {}, [], figs, {}
    sub = dataclasses.replace(cfg, landmarks=tuple(cfg.landmarks[k] for k in keep))
    sp = ho.surv_draws[:, :, keep]
    try:
        res = survival_validation(ho.surv_time, ho.surv_event, sp.mean(axis=0), sub,
                                  split_kind=ho.kind, data_time_unit=data_unit, **where)
    except AnalysisError as exc:
        warnings.append(f"validation: survival metrics not computed: {exc}")
        return {}, [], figs, {}
    lm_keep = [lm_data[k] for k in keep]
    cmp_ = compare_survival_at_landmarks(ho.surv_time, ho.surv_event, sp.mean(axis=1), lm_keep,
                                         level=0.95, conf_level=cfg.survival.conf_level)
    out = {}
    for (label, row), (_, c) in zip(res["summary"].items(), cmp_.iterrows(), strict=True):
        out[_key(f"t{label}")] = _clean({**row, "pred_lower": c["pred_lower"],
                                         "pred_upper": c["pred_upper"],
                                         "intervals_overlap": bool(c["intervals_overlap"])})
    cal = res["calibration"]
    summary = {"survival": out, "survival_calibration_inside":
               float(cal["inside"].mean()) if len(cal) else None,
               "survival_n_patients": int(ho.surv_time.size),
               "survival_n_events": int(ho.surv_event.sum())}
    if len(cal):
        figs["calibration"] = plot_survival_calibration(cal)
    return summary, res["evidence"], figs, {"survival_calibration": cal, "survival_landmarks": cmp_}


def _trial(dataset: Any, ho: HeldOut, cfg: ValidationConfig, *, condition: bool, n_replicates: int,
           where: dict[str, Any], seed: int) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    from twintrial.validation.replicate import simulate_completed_trial, trial_patients

    tr = cfg.trial_replication
    unit = dataset.time_unit
    _, lm_data = config_times(cfg, unit)
    if tr.control is None or tr.treatment is None:
        raise AnalysisError("validation.trial_replication.control/treatment: needed to simulate "
                            "the trial's arms; got null. Name both arms as in subjects.arm.")
    control, treatment = str(tr.control), str(tr.treatment)
    if tr.observed == "published":
        observed = observed_from_published(tr.published)
        lm_cfg = sorted({float(q.name.rsplit("@", 1)[1]) for q in observed if "@" in q.name})
    else:
        lm_cfg = list(cfg.landmarks)
    conv = config_times(dataclasses.replace(cfg, landmarks=tuple(lm_cfg), time_bands=()), unit)[1]
    patients = trial_patients(dataset, control=control, treatment=treatment)
    if tr.observed == "data":
        observed = observed_from_patient_level(patients, control=control, treatment=treatment,
                                               time_col="time", event_col="event", landmarks=conv)
        rename = {f"{a}:survival@{td:g}": f"{a}:survival@{tc:g}" for a in (control, treatment)
                  for td, tc in zip(conv, lm_cfg, strict=True)}
        observed = [dataclasses.replace(q, name=rename.get(q.name, q.name)) for q in observed]
    grid = np.linspace(0, float(patients["time"].max()), 60)
    sim = simulate_completed_trial(ho.fits[0], patients, dataset.doses, control=control,
                                   treatment=treatment, landmarks=conv, n_replicates=n_replicates,
                                   condition_on_baseline=condition, grid=grid, seed=seed)
    pred = dict(sim["predicted"])
    for a in (control, treatment):
        for td, tc in zip(conv, lm_cfg, strict=True):
            pred[f"{a}:survival@{tc:g}"] = pred.pop(f"{a}:survival@{td:g}")
    table = trial_replication(pred, observed, level=tr.level)
    rows = {}
    for r in table.to_dict("records"):
        rows[_key(r["quantity"])] = _clean({k: r.get(k) for k in (
            "observed", "obs_lower", "obs_upper", "pred_median", "pred_lower", "pred_upper",
            "inside", "tail_probability", "intervals_overlap", "statement", "source")})
    n = {a: int((patients["arm"] == a).sum()) for a in (control, treatment)}
    summary = {"trial_replication": {**rows, "control": control, "treatment": treatment,
                                     "level": tr.level, "n_replicates": int(n_replicates),
                                     "n_control": n[control], "n_treatment": n[treatment],
                                     "observed_source": observed[0].source if observed else None,
                                     "fit": ho.names[0]}}
    evid = ev.trial_evidence(table, independent=False, **where)
    hr = next((q for q in observed if q.name == "hr"), None)
    figs = {}
    if hr is not None:
        kms = {a: kaplan_meier(patients.loc[patients["arm"] == a, "time"],
                               patients.loc[patients["arm"] == a, "event"]) for a in (control, treatment)}
        figs["trial_replication"] = plot_trial_replication(
            pred["hr"], hr.value, None if hr.lower is None else (hr.lower, hr.upper), level=tr.level,
            km_observed=kms, km_grid=sim["km_grid"], grid=grid, xlabel=f"time ({unit})")
    return summary, evid, figs, {"trial_replication": table}


def context_of_use(endpoints: Sequence[Any], estimands: Sequence[Any], *,
                   observed_variable: str) -> tuple[list[str], float | None]:
    """Quantities of interest and time horizon of the trial's decision, from its design.

    Each estimand's endpoint names what the decision rests on: a continuous or responder endpoint
    the modelled biomarker (``observed_variable``, predicted by the twins), a time-to-event
    endpoint survival and the trial-level hazard ratio. The horizon is the last endpoint time or
    horizon (data time unit). ``([], None)`` without estimands.
    """
    by_name = {e.name: e for e in endpoints}
    used = [by_name[est.endpoint] for est in estimands if est.endpoint in by_name]
    quantities: list[str] = []
    for ep in used:
        for q in (["survival", "hr"] if ep.type == "time_to_event" else [observed_variable]):
            if q not in quantities:
                quantities.append(q)
    times = [float(t) for ep in used for t in (ep.time, ep.horizon) if t is not None]
    return quantities, (max(times) if times else None)


def validate(dataset: Any, model: Model, *, twins_cfg: Any, validation_cfg: Any, seed: int,
             cache_dir: str | None = None, cores: int | None = None,
             cohort_report: Mapping[str, Any] | None = None,
             cohort_cfg: Mapping[str, Any] | None = None,
             twins_report: Mapping[str, Any] | None = None,
             artifacts: Mapping[str, Any] | None = None,
             test_results: Mapping[str, tuple[int, int]] | None = None,
             question: str | None = None, cou_quantities: Sequence[str] | None = None,
             cou_horizon: float | None = None, n_draws: int = 200,
             n_replicates: int = 200) -> ValidationResult:
    """Run the validation stage (see the module docstring).

    Parameters
    ----------
    dataset
        Canonical :class:`~twintrial.data.dataset.Dataset` (the trial's patient-level data).
    model
        The structural model of the twins (``get_model(twins.model.name, **options)``).
    twins_cfg, validation_cfg
        :class:`~twintrial.twins_config.TwinsConfig` and
        :class:`~twintrial.validation_config.ValidationConfig` (or their config mappings).
    seed
        ``rng.job_seed(trial.seed, "validation")``; every stream is keyed from it.
    cache_dir, cores
        ``compute.cache_dir`` and the cores for the refit's chains.
    cohort_report
        ``cohort.json`` content (fidelity and privacy checks); ``cohort_cfg`` the ``cohort``
        section (its fidelity thresholds).
    twins_report
        ``twins.json`` content: convergence of the production twins (else the refit's).
    artifacts
        Evidence artifacts: ``"data"`` (the observations file), ``"twins"``, ``"cohort"``,
        ``"tests"``; each a path (hashed here if it exists) or a ``(path, sha256)`` pair.
    test_results
        ``{"known_answer": (passed, failed), "unit": (passed, failed)}`` of a test-suite run.
    question
        The question of interest when ``validation.credibility.question`` is empty.
    cou_quantities, cou_horizon
        Quantities the context-of-use decision depends on (e.g. ``["bili", "survival", "hr"]``)
        and its time horizon (data unit): applicability evidence when given.
    n_draws
        Posterior predictive draws per held-out observation.
    n_replicates
        Simulated replicates of the completed trial.

    Returns
    -------
    ValidationResult
    """
    from twintrial.twins_config import TwinsConfig

    cfg = (validation_cfg if isinstance(validation_cfg, ValidationConfig)
           else ValidationConfig.from_dict(validation_cfg or {}))
    tcfg = twins_cfg if isinstance(twins_cfg, TwinsConfig) else TwinsConfig.from_dict(twins_cfg or {})
    arts = dict(artifacts or {})
    if "data" not in arts and getattr(dataset, "source", None):
        src = dataset.source
        first = src.get("observations") or next(iter(src.values()), None)
        if first:
            arts["data"] = first
    w_data, w_twins, w_cohort = (_artifact(arts, k) for k in ("data", "twins", "cohort"))
    unit = dataset.time_unit
    _, lm_data = config_times(cfg, unit)
    t0 = time.perf_counter()
    ho = held_out_predictions(dataset, model, twins_cfg=tcfg, cfg=cfg, landmarks=lm_data,
                              seed=seed, n_draws=n_draws, cache_dir=cache_dir, cores=cores)
    warnings = list(ho.warnings)
    if ho.kind == "none":
        warnings.append("validation: split.kind is 'none': every metric is in-sample (model "
                        "calibration, not validation) and LOCF predicts each observation from itself")
    fit0 = ho.fits[0]
    summary: dict[str, Any] = {"split": {
        "kind": ho.kind, "description": "; ".join(ho.names), "n_fits": len(ho.fits),
        "cutoff": ho.cutoff, "time_unit": unit, "variable": ho.variable, "scale": ho.scale,
        "n_train_subjects": int(np.sum(ho.n_train_subjects)) if ho.kind != "subjects"
        else int(np.mean(ho.n_train_subjects)),
        "n_test_subjects": int(ho.test["id"].nunique()), "n_test_observations": int(len(ho.test)),
        "n_draws": int(ho.draws.shape[1]) if ho.draws.size else 0,
        "refit_gate_passed": all(bool(f.diagnostics.get("gate_passed")) for f in ho.fits)}}
    evidence: list[dict[str, Any]] = []
    figures: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    if len(ho.test):
        s, e, f, t = _predictive(ho, cfg, unit, w_data, seed)
        summary.update(s)
        evidence += e
        figures.update(f)
        tables.update(t)
    else:
        warnings.append("validation: no held-out observations of "
                        f"'{model.observed_variable}'; predictive metrics not computed")
    s, e, f, t = _survival(ho, cfg, unit, w_data, warnings)
    summary.update(s)
    evidence += e
    figures.update(f)
    tables.update(t)
    t1 = time.perf_counter()
    if cfg.trial_replication.enabled:
        s, e, f, t = _trial(dataset, ho, cfg, condition=tcfg.condition_on_baseline,
                            n_replicates=n_replicates, where=w_data, seed=seed)
        summary.update(s)
        evidence += e
        figures.update(f)
        tables.update(t)
        outside = [k for k, v in summary["trial_replication"].items()
                   if isinstance(v, Mapping) and v.get("inside") is False]
        if outside:
            warnings.append("validation: observed trial quantities outside their predicted "
                            f"interval: {', '.join(outside)}")
    t2 = time.perf_counter()
    summary["wall_time_s"] = {"refit": float(sum(f.diagnostics.get("wall_time_s", 0.0) for f in ho.fits)),
                              "refit_predict_score": t1 - t0, "trial_replication": t2 - t1}
    # cohort checks
    if cohort_report is not None:
        checks = cohort_checks(cohort_report, cohort_cfg)
        summary["cohort"] = checks
        if checks:
            evidence += ev.cohort_evidence(ev.checks_table(checks), **w_cohort)
    else:
        warnings.append("validation: no cohort report given; cohort fidelity and privacy are "
                        "not part of this assessment")
    # calculation verification: the production twins if known, else the refit
    diag = (twins_report or {}).get("summary") or {}
    conv_src, conv_where = "twins stage", w_twins
    if diag.get("max_rhat") is None:
        diag, conv_src, conv_where = fit0.diagnostics, "validation refit", {"artifact": None, "sha256": None}
    if diag.get("max_rhat") is not None and diag.get("min_ess_bulk") is not None:
        summary["convergence"] = {"source": conv_src, "max_rhat": float(diag["max_rhat"]),
                                  "min_ess_bulk": float(diag["min_ess_bulk"]),
                                  "gate_passed": bool(diag.get("gate_passed"))}
        evidence += ev.convergence_evidence(float(diag["max_rhat"]), float(diag["min_ess_bulk"]),
                                            thresholds=cfg.thresholds, **conv_where)
    # code and calculation verification of the model on draws of the refitted twins
    verified = verify_model(fit0.model, *verification_params(fit0, horizon=cou_horizon))
    tols = {"code_tol": cfg.thresholds.code_verification_rel,
            "discretization_tol": cfg.thresholds.discretization_rel}
    checks = verification_checks(verified, **tols)
    summary["verification"] = {**verified, "checks": checks, "check_order": list(checks)}
    evidence += verification_evidence(verified, **tols)
    for kind, (n_pass, n_fail) in (test_results or {}).items():
        evidence += ev.suite_evidence(int(n_pass), int(n_fail), kind=kind, **_artifact(arts, "tests"))
    if getattr(model, "citation", ""):
        evidence.append(evidence_item("model structure from the literature", model.citation,
                                      factors=["model_plausibility"], level=1, passed=None,
                                      note="descriptive: a citation, not a test"))
    if cou_quantities and cou_horizon:
        validated = [ho.variable] if len(ho.test) else []
        validated += ["survival"] if "survival" in summary else []
        validated += ["hr"] if "hr" in summary.get("trial_replication", {}) else []
        horizon = float(max(ho.test["time"].max() if len(ho.test) else 0.0,
                            ho.surv_time.max() if ho.surv_time.size else 0.0))
        evidence += ev.applicability_evidence(cou_quantities, validated, cou_horizon=cou_horizon,
                                              validated_horizon=horizon, **w_data)
    ccfg = cfg.credibility
    if not ccfg.question and question:
        ccfg = dataclasses.replace(ccfg, question=str(question))
    assessment = assess_credibility(evidence, ccfg)
    summary["credibility"] = credibility_summary(assessment)
    if assessment["gaps"]:
        warnings.append(f"validation: {len(assessment['gaps'])} credibility gap(s) for the context "
                        "of use (see the credibility assessment)")
    from twintrial.validation.credibility import credibility_frame

    tables["credibility"] = credibility_frame(assessment)
    details = {"credibility": assessment, "evidence": evidence,
               "tables": {k: _records(v) for k, v in tables.items() if k != "credibility"}}
    return ValidationResult(summary=summary, warnings=warnings, tables=tables, figures=figures,
                            details=details)
