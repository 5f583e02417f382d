"""Predictive draws of fitted twins and of new patients, for held-out validation.

Two sources of parameter draws, both returned as :class:`ParameterDraws` (``(M, n)`` natural-scale
arrays: ``M`` posterior draws for ``n`` patients):

- :func:`twin_parameter_draws`: the fitted per-patient posteriors (``individual``) of patients in
  the fit, ``M`` evenly thinned samples (one joint posterior sample per draw, so draw ``m`` of all
  patients together is one replicate of the whole dataset);
- :func:`new_patient_draws`: patients NOT in the fit, from the population posterior given their
  covariates (:func:`~twintrial.twins.virtual.sample_virtual_patients`, conditioned on the baseline
  biomarker when the subjects table has it, exactly as the arms stage does).

:func:`predict_rows` turns draws into structural predictions and replicated observations (residual
noise) at the held-out rows; :func:`survival_probabilities` gives ``S_i(t)`` (optionally
conditional on survival to a cutoff); :func:`typical_prediction` the typical-patient prediction
``PRED`` used by the prediction-corrected VPC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial.exceptions import AnalysisError
from twintrial.models.backend import NUMPY
from twintrial.models.base import Model
from twintrial.twins.posterior import flat_draws, n_samples, thin_indices

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ParameterDraws:
    """Parameter draws of ``n`` patients.

    Attributes
    ----------
    ids
        Patient ids (column order of every array).
    params
        Structural and event parameters (natural scale), each ``(M, n)``.
    sigmas
        Residual-error parameters, each ``(M, n)``.
    design
        Per-patient design arrays (first axis patients; dose keys with a trailing dose axis).
    """

    ids: tuple[str, ...]
    params: dict[str, FloatArray]
    sigmas: dict[str, FloatArray]
    design: dict[str, np.ndarray]

    @property
    def n_draws(self) -> int:
        """Number of draws ``M``."""
        return int(next(iter(self.params.values())).shape[0])


def _event_draws(idata: Any, model: Model, idx: np.ndarray) -> dict[str, FloatArray]:
    out: dict[str, FloatArray] = {}
    if model.event is None:
        return out
    for p in model.event.parameters:
        mu = flat_draws(idata, f"mu_{p.name}")[idx]
        out[p.name] = np.exp(mu) if p.transform == "log" else mu
    return out


def twin_parameter_draws(fit: Any, ids: Sequence[str], *, n_draws: int) -> ParameterDraws:
    """Draws of the fitted twins of ``ids`` (patients of ``fit``), ``n_draws`` thinned samples.

    Raises
    ------
    AnalysisError
        If an id is not in the fit.
    """
    pos_of = {pid: i for i, pid in enumerate(fit.ids)}
    missing = [i for i in ids if i not in pos_of]
    if missing:
        raise AnalysisError(f"validation: patient {missing[0]!r} has no fitted twin ({len(missing)} "
                            "such); predict it with new_patient_draws instead.")
    pos = np.array([pos_of[i] for i in ids], dtype=np.int64)
    idx = thin_indices(n_samples(fit.idata), n_draws)
    ind = flat_draws(fit.idata, "individual")[idx][:, pos, :]
    params = {p.name: ind[:, :, j] for j, p in enumerate(fit.model.parameters)}
    params.update({k: np.broadcast_to(v[:, None], ind.shape[:2]).copy()
                   for k, v in _event_draws(fit.idata, fit.model, idx).items()})
    sigmas = {k: np.broadcast_to(flat_draws(fit.idata, k)[idx][:, None], ind.shape[:2]).copy()
              for k in fit.model.residual.priors}
    design = {k: np.asarray(v)[pos] for k, v in fit.data.design.items()}
    return ParameterDraws(tuple(ids), params, sigmas, design)


def new_patient_draws(fit: Any, subjects: pd.DataFrame, doses: pd.DataFrame | None, *,
                      n_draws: int, condition_on_baseline: bool = True,
                      seed: int) -> ParameterDraws:
    """Draws for patients not in the fit, from the population posterior and their covariates.

    Each of the ``n`` patients is simulated ``n_draws`` times as virtual patient
    ``vid = m * n + i`` (posterior sample, random effects and baseline conditioning of
    :func:`~twintrial.twins.virtual.sample_virtual_patients`, stream keyed by ``seed``). The design
    (arm, doses) is the patients' own.
    """
    from twintrial.twins.virtual import sample_virtual_patients

    model = fit.model
    n = len(subjects)
    if n == 0:
        raise AnalysisError("validation: no held-out patients to predict.")
    subj = subjects.reset_index(drop=True)
    cohort = pd.concat([subj] * n_draws, ignore_index=True)
    cohort["vid"] = np.arange(n * n_draws, dtype=np.int64)
    vp = sample_virtual_patients(fit, cohort, model=model,
                                 condition_on_baseline=condition_on_baseline, seed=seed)
    names = [p.name for p in model.parameters]
    names += [p.name for p in model.event.parameters] if model.event is not None else []
    params = {k: np.asarray(vp[k], dtype=np.float64).reshape(n_draws, n) for k in names}
    sigmas = {k: np.asarray(vp[k], dtype=np.float64).reshape(n_draws, n)
              for k in model.residual.priors}
    empty = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": [], "amount": [],
                          "route": pd.Series([], dtype="str"), "duration": []})
    d = doses if doses is not None else empty
    design = {k: np.asarray(v) for k, v in
              model.design_from_data(subj, d[d["id"].astype(str).isin(subj["id"].astype(str))]).items()}
    return ParameterDraws(tuple(subj["id"].astype(str)), params, sigmas, design)


def predict_rows(model: Model, draws: ParameterDraws, ids: Sequence[str], times: npt.ArrayLike, *,
                 rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Structural prediction ``f`` and replicated observation ``y`` at rows ``(ids, times)``.

    Returns
    -------
    f, y
        ``(M, n_rows)`` arrays on the model's observation scale.
    """
    pos_of = {pid: i for i, pid in enumerate(draws.ids)}
    rows = np.array([pos_of[str(i)] for i in ids], dtype=np.int64)
    t = np.asarray(times, dtype=np.float64)
    params = {k: v[:, rows] for k, v in draws.params.items()}
    design = {k: v[rows] for k, v in draws.design.items()}
    f = np.asarray(model.predict(NUMPY, params, t[None, :], design), dtype=np.float64)
    f = np.broadcast_to(f, (draws.n_draws, rows.size)).copy()
    sd = np.asarray(model.residual.sd(NUMPY, f, {k: v[:, rows] for k, v in draws.sigmas.items()}))
    return f, f + sd * rng.standard_normal(f.shape)


def survival_probabilities(model: Model, draws: ParameterDraws, times: npt.ArrayLike, *,
                           given: npt.ArrayLike | None = None) -> FloatArray:
    """Survival ``S_i(t) = exp(-H_i(t))`` of every draw and patient at ``times``.

    Parameters
    ----------
    given
        Optional ``(n,)`` or scalar time each patient is known to have survived to: returns
        ``S_i(t) / S_i(given)`` for ``t > given`` (1 before).

    Returns
    -------
    numpy.ndarray
        ``(M, n, len(times))``.
    """
    ev = model.event
    if ev is None:
        raise AnalysisError(f"validation.landmarks: model '{model.name}' has no time-to-event "
                            "submodel; remove the landmarks or choose a model with one.")
    m, n = draws.n_draws, len(draws.ids)
    flat = {k: v.reshape(-1) for k, v in draws.params.items()}
    design = {k: np.repeat(np.asarray(v)[None], m, axis=0).reshape((m * n, *np.shape(v)[1:]))
              for k, v in draws.design.items()}

    def cum_hazard(t: FloatArray) -> FloatArray:
        out = np.zeros(m * n)
        pos = t > 0
        if pos.any():
            sub = {k: v[pos] for k, v in flat.items()}
            dsub = {k: v[pos] for k, v in design.items()}
            out[pos] = np.exp(ev.log_cumulative_hazard(NUMPY, t[pos], sub, dsub, model))
        return out

    tt = np.asarray(times, dtype=np.float64).reshape(-1)
    h0 = np.zeros(m * n)
    if given is not None:
        g = np.broadcast_to(np.asarray(given, dtype=np.float64), (n,))
        h0 = cum_hazard(np.tile(g, m))
        g_flat = np.tile(g, m)
    out = np.empty((m * n, tt.size))
    for k, t in enumerate(tt):
        h = cum_hazard(np.full(m * n, t))
        if given is not None:
            h = np.where(t > g_flat, np.maximum(h - h0, 0.0), 0.0)
        out[:, k] = np.exp(-h)
    return out.reshape(m, n, tt.size)


def typical_prediction(fit: Any, subjects: pd.DataFrame, doses: pd.DataFrame | None,
                       ids: Sequence[str], times: npt.ArrayLike) -> FloatArray:
    """Typical-patient prediction ``PRED`` at rows ``(ids, times)``: posterior-median population
    parameters with each patient's covariate effects and design, random effects zero."""
    model = fit.model
    idata = fit.idata
    subj = subjects.reset_index(drop=True)
    names = [p.name for p in model.parameters]
    psi = np.empty((len(subj), len(names)))
    for j, p in enumerate(model.parameters):
        psi[:, j] = float(np.median(flat_draws(idata, f"mu_{p.name}")))
    for term in fit.data.terms:
        if term.covariate not in subj.columns:
            continue
        x = pd.to_numeric(subj[term.covariate], errors="coerce").to_numpy(np.float64)
        coef = term.fixed if term.fixed is not None else float(np.median(flat_draws(idata, term.name)))
        psi[:, names.index(term.parameter)] += coef * term.regressor(x)
    params = {p.name: (np.exp(psi[:, j]) if p.transform == "log" else psi[:, j])
              for j, p in enumerate(model.parameters)}
    empty = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": [], "amount": [],
                          "route": pd.Series([], dtype="str"), "duration": []})
    d = doses if doses is not None else empty
    design = model.design_from_data(subj, d[d["id"].astype(str).isin(subj["id"].astype(str))])
    pos_of = {pid: i for i, pid in enumerate(subj["id"].astype(str))}
    rows = np.array([pos_of[str(i)] for i in ids], dtype=np.int64)
    f = model.predict(NUMPY, {k: v[rows] for k, v in params.items()},
                      np.asarray(times, dtype=np.float64),
                      {k: np.asarray(v)[rows] for k, v in design.items()})
    return np.asarray(f, dtype=np.float64).reshape(-1)
