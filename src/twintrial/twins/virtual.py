"""Virtual patients: parameters drawn from the population posterior given each one's covariates.

Each virtual patient ``vid`` is paired with one posterior sample (chain x draw flattened), so the
uncertainty of the population parameters propagates into every downstream trial result. Its random
effects are drawn from that sample's population distribution (with the correlation, if any), and
that sample's covariate effects are applied to its covariates with the centres fixed at fit time.

Random numbers for ``vid`` come from block ``vid // PATIENT_BLOCK`` of the stream
``(seed, "twins", "virtual")``: the result for a patient does not depend on how the cohort is split
into chunks, nor on whether baseline conditioning is on (the same numbers are always drawn).

Baseline conditioning: when the cohort has a covariate that IS the modelled biomarker at time 0
(``model.baseline_covariate`` if declared, else a column named like ``model.observed_variable``,
e.g. ``bili`` in PBC), the random
effects are drawn from their conditional distribution given the observed baseline
``y0 = transform(x) = f(0; eta) + e``, ``e ~ N(0, s^2)`` with ``s`` the residual SD of the paired
sample. ``f(0; eta)`` is linearised in ``eta`` (exact for a biomarker whose value at 0 is linear in
the random intercept); the conditional draw uses Matheron's rule,
``eta = eta* + Sigma J' (y0 - y0*) / (J Sigma J' + s^2)`` with ``(eta*, y0*)`` a joint prior draw.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from twintrial.exceptions import CohortError
from twintrial.models.backend import NUMPY
from twintrial.models.base import Model
from twintrial.rng import PATIENT_BLOCK, block_generator
from twintrial.twins.engine import CovariateTerm
from twintrial.twins.posterior import flat_draws, n_samples

STREAM = ("twins", "virtual")


def _unpack(posterior: Any, model: Model | None) -> tuple[xr.DataTree, Model, list[CovariateTerm]]:
    idata = getattr(posterior, "idata", posterior)
    if model is None:
        model = getattr(posterior, "model", None)
    if model is None:
        from twintrial.twins.io import model_from_attrs

        model = model_from_attrs(idata.attrs)
    terms_json = idata.attrs.get("covariate_terms")
    if terms_json is not None:
        terms = [CovariateTerm(**d) for d in json.loads(terms_json)]
    else:
        terms = list(getattr(getattr(posterior, "data", None), "terms", ()))
    return idata, model, terms


def _block_randoms(vid: np.ndarray, n_samples_total: int, k: int, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample index, standard normals ``(N, k)`` and one extra normal per patient, by block."""
    n = len(vid)
    draw = np.empty(n, dtype=np.int64)
    z = np.empty((n, k))
    e = np.empty(n)
    block = vid // PATIENT_BLOCK
    order = np.argsort(block, kind="stable")
    sb = block[order]
    starts = np.flatnonzero(np.r_[True, sb[1:] != sb[:-1]])
    ends = np.r_[starts[1:], n]
    for s0, s1 in zip(starts, ends, strict=True):
        b = int(sb[s0])
        gen = block_generator(seed, *STREAM, block=b)
        d_b = gen.integers(0, n_samples_total, PATIENT_BLOCK)
        z_b = gen.standard_normal((PATIENT_BLOCK, k))
        e_b = gen.standard_normal(PATIENT_BLOCK)
        rows = order[s0:s1]
        off = vid[rows] % PATIENT_BLOCK
        draw[rows], z[rows], e[rows] = d_b[off], z_b[off], e_b[off]
    return draw, z, e


def sample_virtual_patients(posterior: Any, cohort: pd.DataFrame, *, model: Model | None = None,
                            condition_on_baseline: bool = True,
                            design: Mapping[str, np.ndarray] | None = None,
                            seed: int) -> dict[str, np.ndarray]:
    """Draw every virtual patient's parameters from the population posterior.

    Parameters
    ----------
    posterior
        A :class:`~twintrial.twins.fit.TwinFit` or the twins ``DataTree`` (from ``twins.nc``).
    cohort
        Virtual cohort: ``vid`` (int64; row order used when absent) and the model's covariates.
    model
        The structural model (default: from the fit, or rebuilt from the DataTree attributes).
    condition_on_baseline
        Condition the random effects on the cohort's baseline biomarker (see module docstring).
    design
        Per-patient design at baseline for the conditioning (default: none).
    seed
        Root of the ``("twins", "virtual")`` stream.

    Returns
    -------
    dict of str to ndarray
        ``vid``, ``draw`` (posterior sample index), one array per structural parameter (natural
        scale), per event parameter, per residual sigma, and ``conditioned`` (bool).

    Raises
    ------
    CohortError
        A covariate the model needs is missing from the cohort or has missing values.
    """
    idata, model, terms = _unpack(posterior, model)
    n = len(cohort)
    vid = (cohort["vid"].to_numpy(np.int64) if "vid" in cohort.columns
           else np.arange(n, dtype=np.int64))
    names = [p.name for p in model.parameters]
    re = [p.name for p in model.parameters if p.iiv is not None]
    total = n_samples(idata)
    draw, z, e = _block_randoms(vid, total, len(re), seed)

    psi = np.empty((n, len(names)))
    for j, p in enumerate(model.parameters):
        psi[:, j] = flat_draws(idata, f"mu_{p.name}")[draw]
    for t in terms:
        if t.covariate not in cohort.columns:
            raise CohortError(f"cohort: column '{t.covariate}' missing; the twin model uses it on "
                              f"'{t.parameter}'. Add it to cohort.covariates.")
        x = pd.to_numeric(cohort[t.covariate], errors="coerce").to_numpy(np.float64)
        if np.isnan(x).any():
            raise CohortError(f"cohort: column '{t.covariate}' has {int(np.isnan(x).sum())} "
                              "missing value(s); virtual patients need complete covariates.")
        coef = t.fixed if t.fixed is not None else flat_draws(idata, t.name)[draw]
        psi[:, names.index(t.parameter)] += coef * t.regressor(x)

    sigmas = {k: flat_draws(idata, k)[draw] for k in model.residual.priors}
    conditioned = np.zeros(n, dtype=bool)
    if re:
        omega = np.stack([flat_draws(idata, f"omega_{r}")[draw] for r in re], axis=1)   # (N, k)
        if "corr_chol" in idata["posterior"]:
            L = flat_draws(idata, "corr_chol")[draw]                                     # (N,k,k)
            eta = omega * np.einsum("nij,nj->ni", L, z)
            R = L @ np.swapaxes(L, -1, -2)
        else:
            eta = omega * z
            R = np.broadcast_to(np.eye(len(re)), (n, len(re), len(re)))
        cov_col = baseline_covariate(model)
        if condition_on_baseline and cov_col in cohort.columns:
            x0 = pd.to_numeric(cohort[cov_col], errors="coerce").to_numpy(np.float64)
            if design is None:
                subj = cohort.assign(id=vid.astype(str))
                design = model.design_from_data(subj.drop(columns=["arm"], errors="ignore"), None)
            eta, conditioned = _condition(model, psi, eta, omega, R, x0, e, sigmas, re, design)
        ridx = [names.index(r) for r in re]
        psi[:, ridx] += eta

    out: dict[str, np.ndarray] = {"vid": vid, "draw": draw}
    for j, p in enumerate(model.parameters):
        out[p.name] = np.exp(psi[:, j]) if p.transform == "log" else psi[:, j].copy()
    if model.event is not None:
        for p in model.event.parameters:
            mu = flat_draws(idata, f"mu_{p.name}")[draw]
            out[p.name] = np.exp(mu) if p.transform == "log" else mu
    out.update(sigmas)
    out["conditioned"] = conditioned
    return out


def baseline_covariate(model: Model) -> str:
    """The cohort column that is the modelled biomarker at time 0.

    ``model.baseline_covariate`` if the model declares one, else ``model.observed_variable``
    (e.g. ``bili``: a cohort covariate with the observed variable's name is its baseline value).
    """
    return str(getattr(model, "baseline_covariate", None) or model.observed_variable)


def _condition(model: Model, psi: np.ndarray, eta: np.ndarray, omega: np.ndarray, R: np.ndarray,
               x0: np.ndarray, e: np.ndarray, sigmas: Mapping[str, np.ndarray], re: list[str],
               design: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Matheron-rule conditioning of ``eta`` on the baseline observation (module docstring)."""
    names = [p.name for p in model.parameters]
    ok = np.isfinite(x0)
    with np.errstate(invalid="ignore", divide="ignore"):
        y0 = np.asarray(model.observation_transform(NUMPY, np.where(ok, x0, 1.0)), dtype=np.float64)
    ok &= np.isfinite(y0)

    def f0(psi_: np.ndarray) -> np.ndarray:
        params = {p.name: (np.exp(psi_[:, j]) if p.transform == "log" else psi_[:, j])
                  for j, p in enumerate(model.parameters)}
        return np.asarray(model.predict(NUMPY, params, np.zeros(len(psi_)), design), float)

    base = f0(psi)
    h = 1e-4
    J = np.empty_like(eta)
    for k, r in enumerate(re):
        bumped = psi.copy()
        bumped[:, names.index(r)] += h
        J[:, k] = (f0(bumped) - base) / h
    s = np.asarray(model.residual.sd(NUMPY, base, sigmas), dtype=np.float64)
    Sigma = omega[:, :, None] * R * omega[:, None, :]
    SJ = np.einsum("nij,nj->ni", Sigma, J)                       # Sigma J'
    var_y = np.einsum("ni,ni->n", J, SJ) + s ** 2
    y_star = base + np.einsum("ni,ni->n", J, eta) + s * e          # joint prior draw of y0
    gain = SJ / var_y[:, None]
    new = eta + gain * (y0 - y_star)[:, None]
    informative = ok & (np.abs(J).sum(axis=1) > 0)
    return np.where(informative[:, None], new, eta), informative
