"""What a simulation reads: the virtual patients' columns and the cohort's, checked once.

Chunks carry only these arrays (never the cohort table), so Dask moves as little as possible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from twintrial.arms_config import ArmConfig, EndpointConfig, EstimandConfig
from twintrial.exceptions import CohortError, ConfigError
from twintrial.models.base import Model


def rows_of(virtual: Any, start: int, stop: int) -> dict[str, np.ndarray]:
    """Rows ``start:stop`` of the virtual patients (a DataFrame or a mapping of arrays)."""
    if isinstance(virtual, pd.DataFrame):
        part = virtual.iloc[start:stop]
        return {str(c): part[c].to_numpy() for c in part.columns}
    return {str(k): np.asarray(v)[start:stop] for k, v in virtual.items() if np.ndim(v) >= 1}


def cohort_inputs(model: Model, cohort: pd.DataFrame, arms: Sequence[ArmConfig],
                  vid: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """What the simulation reads from the cohort, as per-patient arrays: ``(design, covariates)``.

    ``design`` is the model's baseline design (e.g. hazard covariates ``x_<name>``) without the
    treatment indicator (arms act through parameters; each chunk adds ``treatment = 0``), empty
    for dosed models; ``covariates`` holds the columns per-kg regimens scale doses by. Chunks
    then carry these arrays only, not the cohort table.
    """
    covariates = {}
    for arm in arms:
        per_kg = arm.regimen is not None and arm.regimen.per_kg
        col = arm.regimen.per_kg_covariate if per_kg else None  # type: ignore[union-attr]
        if col is not None and col in cohort.columns:
            covariates[col] = cohort[col].to_numpy(float)
    if model.dose_design_keys:
        return {}, covariates
    subjects = cohort.drop(columns=["arm", "treatment"], errors="ignore")
    try:
        design = dict(model.design_from_data(subjects, None))
    except KeyError:  # a model that reads patient ids: give them (costly strings, so only then)
        design = dict(model.design_from_data(subjects.assign(id=vid.astype(str)), None))
    design.pop("treatment", None)
    return design, covariates


def simulated_names(model: Model, arms: Sequence[ArmConfig],
                    endpoints: Sequence[EndpointConfig]) -> list[str]:
    """Parameters a simulation reads: structural ones; event ones only for a time-to-event
    endpoint or an arm effect on them (otherwise they cannot change any outcome)."""
    names = list(model.parameter_names)
    event = model.event_parameter_names
    effects = {e.parameter for a in arms for e in a.effects}
    if any(e.type == "time_to_event" for e in endpoints) or effects & set(event):
        names += event
    return names


def needed_columns(v: Mapping[str, np.ndarray], model: Model, arms: Sequence[ArmConfig],
                   endpoints: Sequence[EndpointConfig]) -> dict[str, np.ndarray]:
    """The virtual-patient arrays a simulation reads (what chunks carry), or all if some miss."""
    need = ["vid", "draw", *simulated_names(model, arms, endpoints), *model.residual.priors]
    if any(k not in v for k in need):
        return dict(v)  # check_inputs reports what is missing
    return {k: v[k] for k in need}


def check_inputs(v: Mapping[str, np.ndarray], cohort: pd.DataFrame, model: Model,
                 estimands: Sequence[EstimandConfig], endpoints: Sequence[EndpointConfig]) -> None:
    """One-line errors for missing virtual-patient columns, a cohort in other rows, or an
    estimand on an unknown endpoint."""
    need = ["vid", "draw", *model.parameter_names, *model.residual.priors,
            *model.event_parameter_names]
    missing = [k for k in need if k not in v]
    if missing:
        raise CohortError(f"virtual patients: missing {missing} for model '{model.name}'; got "
                          f"{sorted(v)}. Draw them with twins.virtual.sample_virtual_patients.")
    if "vid" in cohort.columns and not np.array_equal(cohort["vid"].to_numpy(np.int64),
                                                      np.asarray(v["vid"], np.int64)):
        raise CohortError("cohort: column 'vid' does not match the virtual patients' vid in the "
                          "same rows. Pass the cohort the twins were drawn for, in the same order.")
    names = {e.name for e in endpoints}
    bad = [s.endpoint for s in estimands if s.endpoint not in names]
    if bad:
        raise ConfigError(f"analysis.estimands: endpoint(s) {bad} not in endpoints "
                          f"{sorted(names)}. Define them under endpoints.")
