"""Dosing regimens to per-patient dose arrays (titration, per-kg dosing, adherence, stopping).

The arrays follow the model dose design (``dose_time``, ``dose_amount``, shape
``(n_patients, n_doses)``, see :func:`twintrial.models.pk_1cmt_oral.dose_arrays`). A missed or
stopped dose keeps its slot with amount 0, so every arm of a patient has the same array shape and
the same random number decides whether dose ``k`` is taken in every arm (common random numbers).
Every patient of an arm has the same dose times: ``dose_time`` is a read-only broadcast view of
them. ``dose_amount`` is Fortran-ordered (each dose's amounts contiguous over patients, the
order in which the dose-by-dose rules of the models read them), or, when every patient takes the
same amounts (dose in mg, full adherence, no stop), a read-only broadcast view of one row too.
"""

from __future__ import annotations

import numpy as np

from twintrial.arms_config import RegimenConfig
from twintrial.exceptions import CohortError


def scheduled_amounts(regimen: RegimenConfig) -> np.ndarray:
    """Amount of each dose ``(n_doses,)`` after titration (per kg when the unit is per kg)."""
    amounts = np.full(regimen.n_doses, float(regimen.dose))
    for step in sorted(regimen.titration, key=lambda s: s.from_dose):
        amounts[step.from_dose - 1:] = step.dose
    return amounts


def regimen_doses(regimen: RegimenConfig | None, n: int, *, weight: np.ndarray | None = None,
                  adherence: float = 1.0, uniforms: np.ndarray | None = None,
                  stop_time: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Dose arrays ``dose_time``/``dose_amount`` of shape ``(n, n_doses)`` for one arm (the
    times a read-only view; see the module docstring).

    Parameters
    ----------
    regimen
        The arm's regimen; ``None`` (e.g. placebo) gives one dose of amount 0.
    n
        Number of patients.
    weight
        ``(n,)`` body weights, needed when the regimen is per kg.
    adherence
        Probability that each dose is taken (independent Bernoulli per dose).
    uniforms
        ``(n, >= n_doses)`` uniforms deciding dose-taking (dose ``k`` is taken iff
        ``uniforms[:, k] < adherence``); required when ``adherence < 1``.
    stop_time
        ``(n,)`` treatment discontinuation times: doses at or after it are not given.

    Raises
    ------
    CohortError
        If the regimen is per kg and ``weight`` is missing or not finite and positive.
    """
    if regimen is None:
        z = np.zeros((n, 1))
        return {"dose_time": z, "dose_amount": z.copy()}
    times = regimen.interval * np.arange(regimen.n_doses, dtype=float)
    scheduled = scheduled_amounts(regimen)
    shape = (n, regimen.n_doses)
    if not regimen.per_kg and adherence >= 1.0 and stop_time is None:
        # every patient takes the same amounts: one row viewed for all (read-only)
        return {"dose_time": np.broadcast_to(times, shape),
                "dose_amount": np.broadcast_to(scheduled, shape)}
    if regimen.per_kg:
        w = None if weight is None else np.asarray(weight, dtype=float)
        if w is None or w.shape != (n,) or not np.all(np.isfinite(w) & (w > 0)):
            raise CohortError(f"cohort: column '{regimen.per_kg_covariate}' (body weight for the "
                              f"{regimen.unit} regimen) is missing or not positive. Add it to "
                              "cohort.covariates or give the dose in mg.")
        amount = np.multiply(w[:, None], scheduled, order="F")
    else:
        amount = np.empty(shape, order="F")
        amount[:] = scheduled
    if adherence < 1.0:
        if uniforms is None or uniforms.shape[0] != n or uniforms.shape[1] < regimen.n_doses:
            raise ValueError("uniforms: need (n, >= n_doses) uniforms when adherence < 1")
        amount *= uniforms[:, :regimen.n_doses] < adherence
    if stop_time is not None:
        amount *= times[None, :] < np.asarray(stop_time, dtype=float)[:, None]
    return {"dose_time": np.broadcast_to(times, (n, regimen.n_doses)), "dose_amount": amount}


def stop_doses(design: dict[str, np.ndarray], stop_time: np.ndarray) -> dict[str, np.ndarray]:
    """``design`` (from :func:`regimen_doses`) without the doses at or after ``stop_time``.

    The same arrays as ``regimen_doses(..., stop_time=stop_time)`` with the other arguments
    unchanged, from the full-course design (no weights or adherence draws again).
    """
    times = np.asarray(design["dose_time"])
    given = np.less(times, np.asarray(stop_time, dtype=float)[:, None], order="F")
    amount = np.multiply(design["dose_amount"], given, order="F")
    return {"dose_time": design["dose_time"], "dose_amount": amount}


def stopped_rows(design: dict[str, np.ndarray], stop_time: np.ndarray) -> np.ndarray | None:
    """Indices of the patients whose doses :func:`stop_doses` can change: those with a dose time
    at or after their ``stop_time`` (or a NaN stop). Every other patient's row of
    ``stop_doses(design, stop_time)`` is ``design``'s as it is.

    Only for dose times shared by all patients (one row viewed for all, as :func:`regimen_doses`
    gives them); else ``None``.
    """
    times = np.asarray(design["dose_time"])
    if times.ndim != 2 or times.shape[0] == 0 or times.strides[0] != 0:
        return None
    last = float(np.max(times[0])) if times.shape[1] else -np.inf
    if not np.isfinite(last):
        return None
    return np.flatnonzero(~(np.asarray(stop_time, dtype=float) > last))
