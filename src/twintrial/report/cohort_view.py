"""The report's view of ``cohort.json``: the numbers Table 1, fidelity and privacy show.

The cohort stage (``twintrial.cohort.build_cohort``) writes a compact ``summary`` plus detail
blocks (``fidelity``, ``privacy``, ``acceptance``, ``latent_correlation``); this module re-keys the
numbers the report shows into one block, ``summary.json["cohort"]`` (layout in
``docs/summary_json.md``). Numbers are copied, never recomputed; what the stage did not write is
left out and the report shows it as absent. A stage summary that already has the report layout
(a ``covariates`` mapping) is taken as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _first(d: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def _level_name(level: Any) -> str:
    if isinstance(level, float) and level.is_integer():
        return str(int(level))
    return str(level)


def _quartiles(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"0.25": a, "0.5": b, "0.75": c}`` -> ``{"q1": a, "median": b, "q3": c}``."""
    out: dict[str, Any] = {}
    for p, v in (values or {}).items():
        try:
            key = {0.25: "q1", 0.5: "median", 0.75: "q3"}.get(round(float(p), 6))
        except ValueError:
            continue
        if key:
            out[key] = v
    return out


def _target_quartiles(marginal: Mapping[str, Any] | None) -> dict[str, Any]:
    m = marginal or {}
    probs, values = m.get("probabilities") or [], m.get("values") or []
    return _quartiles({str(p): v for p, v in zip(probs, values, strict=False)})


def _discrete(entry: Mapping[str, Any], kind: str, reference: str) -> dict[str, Any]:
    levels = [_level_name(v) for v in entry.get("levels") or []]
    ref = entry.get("real") if reference == "real" else entry.get("target")
    syn = entry.get("synthetic")
    out: dict[str, Any] = {"kind": kind, "levels": levels, "real": {}, "virtual": {}}
    for side, values in (("real", ref), ("virtual", syn)):
        if isinstance(values, list) and len(values) == len(levels):
            props = dict(zip(levels, values, strict=True))
            if kind == "binary" and "1" in props:
                out[side] = {"proportion": props["1"]}
            else:
                out[side] = {"proportions": props}
    if kind == "binary" and "1" in levels:
        out["levels"] = []
    out["fidelity"] = _drop_none({"max_abs_diff": entry.get("max_abs_diff"),
                                  "pass": entry.get("pass")})
    return out


def _continuous(entry: Mapping[str, Any], marginal: Mapping[str, Any] | None,
                missing: Any) -> dict[str, Any]:
    real = _drop_none({"mean": _first(entry, "mean_real", "mean_target"),
                       "sd": _first(entry, "sd_real", "sd_target"),
                       **_target_quartiles(marginal), **_quartiles(entry.get("quantiles_real")),
                       "min": entry.get("min_real"), "max": entry.get("max_real"),
                       "missing": missing})
    virtual = _drop_none({"mean": entry.get("mean_synthetic"), "sd": entry.get("sd_synthetic"),
                          **_quartiles(entry.get("quantiles_synthetic")),
                          "min": entry.get("min_synthetic"), "max": entry.get("max_synthetic")})
    fidelity = _drop_none({k: entry.get(k) for k in ("ks", "smd", "wasserstein_sd", "sd_ratio",
                                                      "pass")})
    return {"kind": "continuous", "real": real, "virtual": virtual, "fidelity": fidelity}


def _privacy(priv: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not priv:
        return None
    syn = priv.get("dcr_synthetic_to_train") or {}
    hold = priv.get("dcr_holdout_to_train") or {}
    return _drop_none({
        "exact_copies": priv.get("exact_copies"),
        "dcr_median": syn.get("median"), "dcr_p05": syn.get("p05"),
        "dcr_reference_median": hold.get("median"), "dcr_reference_p05": hold.get("p05"),
        "share_closer_than_reference_p05": priv.get("share_synthetic_closer_than_holdout_p05"),
        "n_compared": priv.get("n_synthetic_compared"), "n_train": priv.get("n_train"),
        "n_holdout": priv.get("n_holdout"), "note": priv.get("note"),
    })


def cohort_view(stage_json: Mapping[str, Any], config_raw: Mapping[str, Any]) -> dict[str, Any]:
    """Report layout of one ``cohort.json`` (see the module docstring).

    Parameters
    ----------
    stage_json
        The parsed ``cohort.json``.
    config_raw
        The resolved configuration: covariate units and the fidelity thresholds as run.

    Returns
    -------
    dict
        ``summary.json["cohort"]``.
    """
    summ = stage_json.get("summary") or {}
    if isinstance(summ.get("covariates"), Mapping):
        return dict(summ)
    cohort_cfg = config_raw.get("cohort") or {}
    specs = [c for c in cohort_cfg.get("covariates") or [] if isinstance(c, Mapping)]
    units = {str(c.get("name")): str(c.get("unit", "")) for c in specs}
    fid = stage_json.get("fidelity") or {}
    per = fid.get("covariates") or {}
    marginals = stage_json.get("marginals") or {}
    missing = stage_json.get("missing") or {}
    reference = "target" if summ.get("source") == "summary" else "real"
    names = list((stage_json.get("latent_correlation") or {}).get("names") or [])
    names = [n for n in names if n in per] + [n for n in per if n not in names]

    covariates: dict[str, Any] = {}
    for name in names:
        entry = per[name]
        kind = entry.get("type") or (marginals.get(name) or {}).get("type") or "continuous"
        if "levels" in entry:
            cov = _discrete(entry, kind, reference)
        else:
            cov = _continuous(entry, marginals.get(name) if reference == "target" else None,
                              missing.get(name) if reference == "real" else None)
        cov["unit"] = units.get(name, "")
        if entry.get("n_missing_real") is not None:
            cov["real"].setdefault("missing", entry["n_missing_real"])
        covariates[name] = cov

    thresholds = cohort_cfg.get("fidelity") or {}
    corr = fid.get("rank_correlation") or {}
    acceptance = stage_json.get("acceptance") or {}
    return _drop_none({
        "source": summ.get("source"),
        "reference": reference,
        "summary_id": summ.get("summary_id"),
        "n_real": summ.get("n_real"),
        "n_reference": summ.get("n_reference"),
        "n_virtual": summ.get("n"),
        "n_drawn": _first({**summ, **acceptance}, "n_candidates"),
        "n_passing": acceptance.get("n_passing"),
        "draw_block": acceptance.get("block_size"),
        "acceptance_rate": summ.get("acceptance_rate"),
        "covariate_order": names,
        "covariates": covariates,
        "fidelity": _drop_none({
            "ks_threshold": thresholds.get("ks"), "smd_threshold": thresholds.get("smd"),
            "proportion_threshold": thresholds.get("proportion"),
            "corr_max_abs_error": _first({"a": summ.get("rank_corr_error"), **corr},
                                         "max_abs_error", "a"),
            "corr_threshold": corr.get("threshold", thresholds.get("rank_corr")),
            "corr_worst_pair": " and ".join(corr.get("worst_pair") or []) or None,
            "pass": fid.get("pass", summ.get("fidelity_pass")),
        }),
        "privacy": _privacy(stage_json.get("privacy")),
        "missing_policy": stage_json.get("missing_policy"),
    })
