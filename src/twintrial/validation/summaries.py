"""One call per validation activity: metrics, baselines and credibility evidence together.

These are the pure building blocks of the validation stage: each takes data already held out and
predicted (no file I/O, no model fitting) and the typed :class:`ValidationConfig`, and returns a
JSON-ready ``summary``, the detailed tables, and the evidence items for
:func:`~twintrial.validation.credibility.assess_credibility`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial.validation.baselines import (
    BaselinePrediction,
    compare_with_baselines,
    locf_baseline,
    population_baseline,
)
from twintrial.validation.evidence import predictive_evidence, survival_evidence
from twintrial.validation.splits import convert_time
from twintrial.validation.survival import (
    brier_reference,
    brier_score,
    c_index_at_landmarks,
    kaplan_meier,
    km_at,
    survival_calibration,
)
from twintrial.validation_config import ValidationConfig


def _py(v: Any) -> Any:
    """NumPy scalars -> Python scalars (JSON-ready)."""
    return v.item() if isinstance(v, np.generic) else v


def config_times(cfg: ValidationConfig, data_time_unit: str) -> tuple[list[float], list[float]]:
    """``time_bands`` and ``landmarks`` converted from ``cfg.time_unit`` to the data's unit."""
    if cfg.time_unit is None or cfg.time_unit == data_time_unit:
        return list(cfg.time_bands), list(cfg.landmarks)
    conv = [convert_time(1.0, cfg.time_unit, data_time_unit)]
    return [b * conv[0] for b in cfg.time_bands], [t * conv[0] for t in cfg.landmarks]


def predictive_validation(train: pd.DataFrame, test: pd.DataFrame,
                          twin_draws: npt.NDArray[np.float64], cfg: ValidationConfig, *,
                          split_kind: str, data_time_unit: str, artifact: str | None = None,
                          sha256: str | None = None,
                          baselines: Sequence[BaselinePrediction] | None = None) -> dict[str, Any]:
    """Held-out predictive validation of the twins against the population and LOCF baselines.

    Parameters
    ----------
    train, test
        Long observation tables of the split (:mod:`~twintrial.validation.splits`).
    twin_draws
        ``(len(test), m)`` posterior predictive draws of the twins for the test rows.
    cfg
        The validation config (levels, time bands, thresholds).
    split_kind
        ``"subjects"``, ``"time"`` or ``"none"`` (sets the evidence level).
    data_time_unit
        Time unit of the tables (``time_bands`` are converted to it).
    baselines
        Baseline predictions of the test rows computed by the caller (e.g. per fold of a k-fold
        split, each from its own training part); default: :func:`population_baseline` and
        :func:`locf_baseline` from ``train``.

    Returns
    -------
    dict
        ``summary`` (per variable: the twin's overall metrics and its CRPS relative to each
        baseline), ``table`` (every model x variable x band) and ``evidence``.
    """
    bands, _ = config_times(cfg, data_time_unit)
    band_arg = bands if len(bands) >= 2 else None
    bases = (list(baselines) if baselines is not None else
             [population_baseline(train, test, bands=band_arg), locf_baseline(train, test)])
    table = compare_with_baselines(test, twin_draws, bases, bands=band_arg,
                                   levels=cfg.interval_levels)
    summary: dict[str, Any] = {}
    evidence: list[dict[str, Any]] = []
    overall = table[table["band"] == "all"]
    for var, rows in overall.groupby("variable", sort=True):
        by_model = rows.set_index("model")
        twin = by_model.loc["twin"].to_dict()
        base_rows = {b.name: by_model.loc[b.name].to_dict() for b in bases}
        n_subj = int(test.loc[test["variable"].astype(str) == var, "id"].nunique())
        summary[str(var)] = {**{k: _py(v) for k, v in twin.items() if k not in ("variable", "band")},
                             "n_subjects": n_subj,
                             **{f"crps_ratio_{n}": float(twin["crps"] / r["crps"])
                                for n, r in base_rows.items()}}
        evidence += predictive_evidence(twin, split_kind=split_kind, levels=cfg.interval_levels,
                                        thresholds=cfg.thresholds, n_test_subjects=n_subj,
                                        baselines=base_rows, variable=str(var),
                                        artifact=artifact, sha256=sha256)
    return {"summary": summary, "table": table, "evidence": evidence}


def survival_validation(time: npt.ArrayLike, event: npt.ArrayLike,
                        surv_pred: npt.ArrayLike, cfg: ValidationConfig, *, split_kind: str,
                        data_time_unit: str, artifact: str | None = None,
                        sha256: str | None = None) -> dict[str, Any]:
    """Time-to-event validation at the configured landmarks.

    Parameters
    ----------
    time, event
        Observed (held-out) event/censoring times and indicators.
    surv_pred
        ``(n, n_landmarks)`` predicted survival of each subject at each landmark (in the order of
        ``cfg.landmarks``).

    Returns
    -------
    dict
        ``summary`` (per landmark: observed KM and CI, mean predicted survival, C-index, Brier,
        null-model Brier and the scaled Brier ``1 - BS / BS_null``), ``calibration`` table and
        ``evidence``.
    """
    _, landmarks = config_times(cfg, data_time_unit)
    sp = np.asarray(surv_pred, dtype=np.float64)
    km = km_at(kaplan_meier(time, event, conf_level=cfg.survival.conf_level), landmarks)
    cidx = c_index_at_landmarks(time, event, sp, landmarks, method=cfg.survival.c_index)
    bs = brier_score(time, event, sp, landmarks)
    null = brier_reference(time, event, landmarks)
    cal = survival_calibration(time, event, sp, landmarks, n_groups=cfg.survival.calibration_groups,
                               conf_level=cfg.survival.conf_level)
    summary = {}
    for k, t in enumerate(landmarks):
        summary[f"{t:g}"] = {
            "km": float(km["survival"].iloc[k]), "km_lower": float(km["lower"].iloc[k]),
            "km_upper": float(km["upper"].iloc[k]), "n_risk": int(km["n_risk"].iloc[k]),
            "predicted_mean": float(sp[:, k].mean()),
            "predicted_in_km_ci": bool(km["lower"].iloc[k] <= sp[:, k].mean() <= km["upper"].iloc[k]),
            f"c_index_{cfg.survival.c_index}": float(cidx[k]), "brier": float(bs[k]),
            "brier_null": float(null[k]),
            "scaled_brier": float(1 - bs[k] / null[k]) if null[k] > 0 else float("nan"),
        }
    evidence = survival_evidence(cidx, cal, split_kind=split_kind, thresholds=cfg.thresholds,
                                 landmarks=landmarks, artifact=artifact, sha256=sha256)
    return {"summary": summary, "calibration": cal, "evidence": evidence}
