"""The report's view of ``twins.json``, ``trial.json``, ``sensitivity.json`` and ``validation.json``.

Each stage writes a compact ``summary`` plus detail blocks; the report sections need a few of the
details too (the model description, the posterior table, Sobol indices, credibility evidence).
These functions copy them into the stage's block of ``summary.json`` (layout in
``docs/summary_json.md``). Numbers are copied, never recomputed; the only derived values are
pass/fail verdicts of a copied number against a copied threshold. A stage JSON without the
expected detail blocks is left as its bare ``summary`` and the section says what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Diagnostics copied from ``twins.json["diagnostics"]`` (compile paths and timings left out).
_TWIN_DIAGNOSTICS = ("gate_passed", "max_rhat", "min_ess_bulk", "min_ess_tail", "divergences",
                     "sampler", "backend", "n_chains", "n_draws", "parameterization", "wall_time_s",
                     "sampling_time_s", "compile_time_s", "ess_per_s", "n_patients",
                     "n_observations", "individual_max_rhat", "individual_min_ess_bulk",
                     "individual_worst", "worst")

#: Gate thresholds from the config (``twins.gate``) with the schema defaults.
_GATE_DEFAULTS = {"rhat_max": 1.01, "ess_bulk_min": 400, "ess_tail_min": 400,
                  "max_divergences": 0}


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _prior_scale(name: str, model: Mapping[str, Any]) -> str:
    """``log`` when the prior of ``typical_<p>`` is on the transformed (log) scale."""
    prefix, _, rest = name.partition("_")
    for p in model.get("parameters") or []:
        if isinstance(p, Mapping) and prefix == "typical" and p.get("name") == rest:
            transform = str(p.get("transform") or "identity")
            return "" if transform == "identity" else transform
    return ""


def _prior_of(name: str, model: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Prior of a population quantity (``typical_x``, ``omega_x``, ``beta_x_cov``, ...)."""
    params = {p.get("name"): p for p in model.get("parameters") or [] if isinstance(p, Mapping)}
    event = model.get("event") or {}
    params.update({f"{p.get('name')}": p for p in event.get("parameters") or []
                   if isinstance(p, Mapping)})
    prefix, _, rest = name.partition("_")
    if prefix == "typical" and rest in params:
        return params[rest].get("prior"), str(params[rest].get("description")
                                              or "typical " + rest.replace("_", " "))
    if prefix == "omega" and rest in params:
        return params[rest].get("iiv"), f"between-patient SD of {rest}"
    if prefix == "beta":
        for pname, p in params.items():
            for cov in p.get("covariates") or []:
                if rest == f"{pname}_{cov.get('covariate')}":
                    return cov.get("prior"), f"effect of {cov.get('covariate')} on {pname}"
    if prefix == "typical" and rest.startswith("gamma_"):
        options = model.get("options") or {}
        for cov in options.get("hazard_covariates") or []:
            if rest == f"gamma_{cov.get('covariate')}":
                return cov.get("prior"), f"log-hazard effect of {cov.get('covariate')}"
    residual = (model.get("residual") or {}).get("priors") or {}
    if name in residual:
        return residual[name], {"sigma_add": "additive residual SD",
                                "sigma_prop": "proportional residual SD"}.get(name, "residual")
    if prefix == "corr":
        return None, "correlation of " + rest.replace("_", " and ", 1)
    return None, ""


def twins_view(stage_json: Mapping[str, Any], config_raw: Mapping[str, Any]) -> dict[str, Any]:
    """``summary.json["twins"]``: the stage summary plus model, posterior table and diagnostics.

    Parameters
    ----------
    stage_json
        The parsed ``twins.json``.
    config_raw
        The resolved configuration (gate thresholds ``twins.gate`` as run).

    Returns
    -------
    dict
        The stage ``summary`` with ``model``, ``parameter_table``, ``diagnostics``, ``gate`` and
        ``checks`` added when the stage wrote their sources.
    """
    out = dict(stage_json.get("summary") or {})
    model = stage_json.get("model_description")
    population = stage_json.get("population")
    if not isinstance(model, Mapping) and not isinstance(population, Mapping):
        return out
    model = model if isinstance(model, Mapping) else {}
    if model:
        out.setdefault("model_description", {
            "name": model.get("name"), "citation": model.get("citation"),
            "equations": [str(e) for e in model.get("equations") or []],
            "observed_variable": model.get("observed_variable"),
            "time_unit": model.get("time_unit"),
            "residual": (model.get("residual") or {}).get("kind"),
        })
    rows = []
    for name, post in (population or {}).items():
        if not isinstance(post, Mapping):
            continue
        prior, role = _prior_of(name, model)
        rows.append({"name": name, "role": role, "unit": post.get("unit") or "",
                     "prior": dict(prior) if isinstance(prior, Mapping) else None,
                     "prior_scale": _prior_scale(name, model),
                     **{k: post.get(k) for k in ("median", "mean", "sd", "lower90", "upper90",
                                                  "lower95", "upper95")}})
    if rows:
        out.setdefault("parameter_table", rows)
    diag = stage_json.get("diagnostics") or {}
    if diag:
        out.setdefault("diagnostics", {k: diag[k] for k in _TWIN_DIAGNOSTICS if k in diag})
    gate_cfg = ((config_raw.get("twins") or {}).get("gate") or {})
    gate = {k: gate_cfg.get(k, v) for k, v in _GATE_DEFAULTS.items()}
    out.setdefault("gate", gate)
    d = {**diag, **{k: v for k, v in out.items() if k not in ("diagnostics",)}}
    checks = {}
    if _num(d.get("max_rhat")):
        checks["rhat"] = d["max_rhat"] <= gate["rhat_max"]
    if _num(d.get("min_ess_bulk")):
        checks["ess_bulk"] = d["min_ess_bulk"] >= gate["ess_bulk_min"]
    if _num(d.get("min_ess_tail")):
        checks["ess_tail"] = d["min_ess_tail"] >= gate["ess_tail_min"]
    if _num(d.get("divergences")):
        checks["divergences"] = d["divergences"] <= gate["max_divergences"]
    out.setdefault("checks", checks)
    return out


def sensitivity_view(stage_json: Mapping[str, Any]) -> dict[str, Any]:
    """``summary.json["sensitivity"]``: summary plus drivers, S1/ST per output and convergence."""
    out = dict(stage_json.get("summary") or {})
    if isinstance(stage_json.get("drivers"), Mapping):
        out.setdefault("drivers", {k: str(v) for k, v in stage_json["drivers"].items()})
    indices = stage_json.get("indices")
    if isinstance(indices, Mapping):
        compact = {}
        for output, block in indices.items():
            inputs = (block or {}).get("inputs") if isinstance(block, Mapping) else None
            if isinstance(inputs, Mapping):
                compact[output] = {name: {k: v.get(k) for k in ("S1", "S1_conf", "ST", "ST_conf")}
                                   for name, v in inputs.items() if isinstance(v, Mapping)}
        if compact:
            out.setdefault("indices", compact)
            # display order: largest total index first (JSON sorts the mapping keys)
            out.setdefault("input_order", {o: sorted(v, key=lambda n, v=v: -v[n]["ST"] if _num(
                v[n].get("ST")) else float("inf")) for o, v in compact.items()})
    if isinstance(stage_json.get("convergence"), Mapping):
        out.setdefault("convergence", dict(stage_json["convergence"]))
    sampling = stage_json.get("sampling") or {}
    if sampling:
        out.setdefault("sampling", {k: sampling.get(k) for k in
                                    ("kinds", "targets", "units", "conf_level",
                                     "convergence_tolerance", "n_rows", "calc_second_order",
                                     "salib_version", "seed") if k in sampling})
        problem = sampling.get("problem") or {}
        names, bounds = problem.get("names") or [], problem.get("bounds") or []
        dists = problem.get("dists") or ["unif"] * len(names)
        if names and len(bounds) == len(names) and len(dists) == len(names):
            out["sampling"].setdefault("ranges", {
                str(n): {"dist": str(d), "bounds": list(b)}
                for n, d, b in zip(names, dists, bounds, strict=True)})
    if isinstance(stage_json.get("output_stats"), Mapping):
        out.setdefault("output_stats", dict(stage_json["output_stats"]))
    return out


def _short(sha: Any) -> str | None:
    return str(sha)[:12] if isinstance(sha, str) and sha not in ("", "None") else None


def validation_view(stage_json: Mapping[str, Any]) -> dict[str, Any]:
    """``summary.json["validation"]``: the summary, with each credibility factor's evidence
    artifacts (path and short sha256) and level labels attached."""
    out = dict(stage_json.get("summary") or {})
    surv = out.get("survival")
    if isinstance(surv, Mapping) and "survival_order" not in out:
        def _landmark(name: str) -> float:
            try:
                return float(name.lstrip("t"))
            except ValueError:
                return float("inf")
        out["survival_order"] = sorted(surv, key=lambda n: (_landmark(n), n))
    cred = out.get("credibility")
    detail = stage_json.get("credibility") or {}
    if not isinstance(cred, Mapping) or not isinstance(cred.get("factors"), list):
        return out
    levels = {str(k): str(v) for k, v in (detail.get("levels") or {}).items()}
    by_id = {f.get("id"): f for f in [*(detail.get("factors") or []),
                                      *(detail.get("fda_categories") or [])]
             if isinstance(f, Mapping)}
    factors = []
    for f in cred["factors"]:
        f = dict(f) if isinstance(f, Mapping) else {"name": str(f)}
        src = by_id.get(f.get("id")) or {}
        items = [e for e in src.get("evidence") or [] if isinstance(e, Mapping)]
        seen: dict[str, dict[str, Any]] = {}
        for e in items:
            art = e.get("artifact")
            if art in (None, "", "None"):
                continue
            entry = seen.setdefault(str(art), {"artifact": str(art), "sha256": _short(
                e.get("sha256")), "n_items": 0, "n_failed": 0})
            entry["n_items"] += 1
            entry["n_failed"] += e.get("passed") is False
        f.setdefault("artifacts", list(seen.values()))
        f.setdefault("n_evidence", len(items))
        f.setdefault("group", src.get("group"))
        for side in ("target", "achieved"):
            if f.get(side) is not None and f"{side}_label" not in f:
                f[f"{side}_label"] = src.get(f"{side}_label") or levels.get(str(f[side]))
        factors.append(f)
    out["credibility"] = {**cred, "factors": factors}
    return out


def analysis_metrics(analysis: Mapping[str, Any] | None, config_raw: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """``summary.json["metrics"]["analysis"]``: estimand display order (as configured; JSON sorts
    keys) and endpoint labels from the config."""
    estimands = (analysis or {}).get("estimands")
    if not isinstance(estimands, Mapping):
        return {}
    cfg = config_raw.get("analysis") or {}
    configured = [str(e.get("name")) for e in cfg.get("estimands") or [] if isinstance(e, Mapping)]
    order = [n for n in configured if n in estimands] + [n for n in estimands if n not in configured]
    labels = {str(e.get("name")): str(e.get("label")) for e in config_raw.get("endpoints") or []
              if isinstance(e, Mapping) and e.get("label")}
    return {"estimand_order": order, "endpoint_labels": labels}


def analysis_key_results(analysis: Mapping[str, Any] | None,
                         metrics: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Executive key results of ``trial.json``: each estimand's effect with its interval, its power
    at the largest simulated sample size, and the PROCOVA saving (keys into ``summary.json``).

    Only keys that exist are used; an analysis summary without ``estimands`` gives none.
    """
    estimands = (analysis or {}).get("estimands")
    if not isinstance(estimands, Mapping):
        return []
    metrics = metrics or {}
    labels = metrics.get("endpoint_labels") or {}
    results: list[dict[str, Any]] = []
    for name in metrics.get("estimand_order") or list(estimands):
        est = estimands.get(name)
        if not isinstance(est, Mapping):
            continue
        base = f"analysis.estimands.{name}"
        endpoint = est.get("endpoint", "?")
        what = (f"{name}: {labels.get(endpoint, endpoint)}, "
                f"{str(est.get('intercurrent', '?')).replace('_', ' ')} strategy")
        effect = est.get("effect") or {}
        if _num(effect.get("estimate")):
            entry = {"label": f"Effect, {what} ({str(effect.get('scale', '')).replace('_', ' ')})",
                     "key": f"{base}.effect.estimate", "fmt": ".3f"}
            if _num(effect.get("ci_low")) and _num(effect.get("ci_high")):
                entry["interval"] = [f"{base}.effect.ci_low", f"{base}.effect.ci_high"]
                entry["interval_label"] = "interval"
                if _num(effect.get("ci_prob")):
                    entry["interval_level"] = f"{base}.effect.ci_prob"
            results.append(entry)
        if _num(effect.get("hazard_ratio")):
            entry = {"label": f"Hazard ratio, {what}", "key": f"{base}.effect.hazard_ratio",
                     "fmt": ".3f"}
            if _num(effect.get("hazard_ratio_ci_low")) and _num(effect.get("hazard_ratio_ci_high")):
                entry["interval"] = [f"{base}.effect.hazard_ratio_ci_low",
                                     f"{base}.effect.hazard_ratio_ci_high"]
                entry["interval_label"] = "interval"
                if _num(effect.get("ci_prob")):
                    entry["interval_level"] = f"{base}.effect.ci_prob"
            results.append(entry)
        power = [p for p in est.get("power") or [] if isinstance(p, Mapping)]
        if power and _num(power[-1].get("power")):
            i = len(power) - 1
            entry = {"label": f"Power, {name}, at the largest simulated n per arm",
                     "key": f"{base}.power.{i}.power", "fmt": "pct",
                     "details": [{"label": "n per arm", "key": f"{base}.power.{i}.n_per_arm",
                                  "fmt": "int"}]}
            if _num(power[-1].get("power_mc_se")):
                entry["details"].append({"label": "MC SE", "key": f"{base}.power.{i}.power_mc_se",
                                         "fmt": "pct"})
            results.append(entry)
        size = ((est.get("procova") or {}).get("sample_size") or {})
        if _num(size.get("saved_percent")):
            entry = {"label": f"PROCOVA sample-size saving, {name}",
                     "key": f"{base}.procova.sample_size.saved_percent", "fmt": ".1f",
                     "unit": "%", "details": []}
            for k, label in (("n_unadjusted", "n per arm unadjusted"),
                             ("n_procova", "n per arm with PROCOVA")):
                if _num(size.get(k)):
                    entry["details"].append({"label": label, "key": f"{base}.procova.sample_size.{k}",
                                             "fmt": "int"})
            results.append(entry)
    return results
