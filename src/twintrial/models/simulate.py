"""Batched NumPy simulation from a model: individual parameters, predictions, noise, event times.

Everything is vectorised across patients (no per-patient Python loop), so the arms, sensitivity
and validation stages can simulate hundreds of thousands of virtual patients per call. Arrays are
per patient along axis 0.

Naming of population quantities (``pop``), shared with the fitting engine:
``mu_<param>`` the typical value on the transformed scale, ``beta_<param>_<covariate>`` an
estimated covariate coefficient; event-submodel parameters as ``mu_<name>`` (transformed) or
``<name>`` (natural scale). Each value is a scalar or a per-patient array ``(n,)`` (one posterior
draw per virtual patient propagates parameter uncertainty).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from twintrial.exceptions import ModelError
from twintrial.models.backend import NUMPY
from twintrial.models.base import Model, beta_name, mu_name

FloatArray = npt.NDArray[np.float64]


def _n_patients(covariates: Any, eta: Any) -> int | None:
    if covariates is not None and len(covariates) > 0 and hasattr(covariates, "__len__"):
        if hasattr(covariates, "columns"):
            return len(covariates)
        first = next(iter(covariates.values()), None)
        if first is not None and np.ndim(first) >= 1:
            return len(first)
    if eta is not None:
        if isinstance(eta, Mapping):
            first = next(iter(eta.values()), None)
            return None if first is None else len(first)
        return int(np.shape(eta)[0])
    return None


def individual_parameters(model: Model, pop: Mapping[str, Any], covariates: Any,
                          eta: FloatArray | Mapping[str, FloatArray] | None = None,
                          *, n: int | None = None) -> dict[str, FloatArray]:
    """Individual parameters ``p_i = g^{-1}(mu_p + sum_k beta_pk f_k(x_ik) + eta_pi)``.

    Parameters
    ----------
    model
        The model (covariate centers resolved).
    pop
        Population values (see the module docstring for names), scalars or ``(n,)`` arrays.
    covariates
        DataFrame or mapping covariate name -> ``(n,)`` values, for every covariate the model reads.
    eta
        Random effects: ``(n, R)`` in the order of ``model.random_effect_names``, a mapping
        name -> ``(n,)``, or ``None`` for the typical patient (all zero).
    n
        Number of patients when neither ``covariates`` nor ``eta`` tells it.

    Returns
    -------
    dict
        Natural-scale ``(n,)`` arrays for every structural and event parameter.

    Raises
    ------
    ModelError
        If a population value, covariate or random-effect column is missing.
    """
    n_pat = n if n is not None else _n_patients(covariates, eta)
    if n_pat is None:
        raise ModelError("individual_parameters: cannot tell the number of patients; got no "
                         "covariates and no eta. Pass n=.")
    re_names = model.random_effect_names
    if eta is None:
        eta_map: Mapping[str, Any] = {}
    elif isinstance(eta, Mapping):
        eta_map = eta
    else:
        eta_arr = np.asarray(eta, dtype=float)
        if eta_arr.ndim != 2 or eta_arr.shape != (n_pat, len(re_names)):
            raise ModelError(f"eta: must have shape (n_patients, {len(re_names)}) with columns "
                             f"{list(re_names)}; got {eta_arr.shape}.")
        eta_map = {r: eta_arr[:, j] for j, r in enumerate(re_names)}
    missing = [mu_name(p.name) for p in model.parameters if mu_name(p.name) not in pop]
    missing += [beta_name(p.name, c.covariate) for p in model.parameters for c in p.covariates
                if c.fixed is None and beta_name(p.name, c.covariate) not in pop]
    if missing:
        raise ModelError(f"pop: missing population value(s) {missing}; got keys {sorted(pop)}. "
                         "Give mu_<param> (transformed scale) and beta_<param>_<covariate>.")
    out: dict[str, FloatArray] = {}
    for p in model.parameters:
        psi = np.zeros(n_pat) + np.asarray(pop[mu_name(p.name)], dtype=float)
        for c in p.covariates:
            if covariates is None or c.covariate not in covariates:
                raise ModelError(f"covariates: missing column '{c.covariate}' needed by parameter "
                                 f"'{p.name}'. Add it to the cohort.")
            x = np.asarray(covariates[c.covariate], dtype=float)
            coef = c.fixed if c.fixed is not None else np.asarray(pop[beta_name(p.name, c.covariate)])
            psi = psi + coef * c.transform(NUMPY, x)
        if p.name in eta_map:
            psi = psi + np.asarray(eta_map[p.name], dtype=float)
        elif eta is not None and p.iiv is not None and isinstance(eta, Mapping):
            raise ModelError(f"eta: missing random effect '{p.name}'; got {sorted(eta_map)}.")
        out[p.name] = np.asarray(p.from_transformed(NUMPY, psi), dtype=float)
    if model.event is not None:
        for p in model.event.parameters:
            if p.name in pop:
                val = np.asarray(pop[p.name], dtype=float)
            elif mu_name(p.name) in pop:
                val = p.from_transformed(NUMPY, np.asarray(pop[mu_name(p.name)], dtype=float))
            else:
                raise ModelError(f"pop: missing event parameter '{p.name}' (or {mu_name(p.name)}); "
                                 f"got keys {sorted(pop)}.")
            out[p.name] = np.broadcast_to(val, (n_pat,)).astype(float)
    return out


def _per_patient(model: Model, params: Mapping[str, Any], design: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Reshape (n,) parameters to (n, 1) and design arrays to broadcast against (n, T)."""
    p = {k: (np.asarray(v, float)[:, None] if np.ndim(v) == 1 else np.asarray(v, float))
         for k, v in params.items()}
    dose_keys = set(model.dose_design_keys)
    d: dict[str, Any] = {}
    for k, v in design.items():
        a = np.asarray(v, dtype=float)
        if k in dose_keys:
            d[k] = a[:, None, :]
        else:
            d[k] = a[:, None] if a.ndim == 1 else a
    return p, d


def predict_numpy(model: Model, params: Mapping[str, Any], t: Any,
                  design: Mapping[str, Any] | None = None) -> FloatArray:
    """Structural prediction ``(n, T)`` for ``n`` patients at times ``t`` (``(T,)`` or ``(n, T)``).

    ``params`` are ``(n,)`` natural-scale arrays (from :func:`individual_parameters`); ``design``
    holds per-patient arrays (``(n,)``, or ``(n, D)`` for dose keys).

    For a common grid ``t`` of shape ``(T,)`` the model is evaluated time-major: ``(n,)``
    parameters against ``t[:, None]``, so every elementwise operation runs along the patient axis
    (broadcasting along a short visit axis costs NumPy ~5x more). The result is the transpose of
    that ``(T, n)`` array: a Fortran-ordered ``(n, T)`` view, value for value the same prediction
    (each element is computed by the same operations, and dose sums still run over a contiguous
    trailing dose axis). A model's :meth:`~twintrial.models.base.Model.predict_on_grid` rule is
    used when it has one for these inputs.
    """
    tt = np.asarray(t, dtype=float)
    if tt.ndim == 1:
        p1 = {k: np.asarray(v, float) for k, v in params.items()}
        d1 = {k: np.asarray(v, float) for k, v in (design or {}).items()}
        n = max((v.shape[0] for v in p1.values() if np.ndim(v) >= 1), default=1)
        on_grid = getattr(model, "predict_on_grid", None)
        f = on_grid(p1, tt, d1) if on_grid is not None else None
        if f is None:
            f = model.predict(NUMPY, p1, tt[:, None], _dose_axis_last(model, d1))
        return np.broadcast_to(f, (tt.size, n)).astype(float, copy=False).T
    p, d = _per_patient(model, params, design or {})
    n = max((v.shape[0] for v in p.values() if np.ndim(v) >= 1), default=tt.shape[0])
    f = model.predict(NUMPY, p, tt, d)
    return np.broadcast_to(f, (n, tt.shape[-1])).astype(float, copy=False)


def _dose_axis_last(model: Model, design: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Dose arrays ``(n, D)`` C-contiguous: against ``t`` of shape ``(T, 1)`` the dose terms are
    ``(T, n, D)``, reduced over a contiguous last axis whatever the number of patients (so the
    summation order, and every bit, does not depend on the chunk)."""
    keys = set(model.dose_design_keys)
    return {k: (np.ascontiguousarray(v) if k in keys else v) for k, v in design.items()}


def add_residual_noise(model: Model, f: FloatArray, sigmas: Mapping[str, Any],
                       rng: np.random.Generator) -> FloatArray:
    """Observations ``y = f + sd(f) * z`` on the prediction scale (``z`` standard normal).

    ``sigmas`` are scalars or per-patient ``(n,)`` arrays named as in ``model.residual.priors``.
    """
    f = np.asarray(f, dtype=float)
    missing = [k for k in model.residual.priors if k not in sigmas]
    if missing:
        raise ModelError(f"sigmas: missing {missing} for the {model.residual.kind} residual model; "
                         f"got {sorted(sigmas)}.")
    s = {k: (np.asarray(v, float)[:, None] if np.ndim(v) == 1 and f.ndim == 2 else v)
         for k, v in sigmas.items()}
    sd = model.residual.sd(NUMPY, f, s)
    return f + sd * rng.standard_normal(f.shape)


def residual_observations(model: Model, f: FloatArray, sigmas: Mapping[str, FloatArray],
                          z: FloatArray) -> FloatArray:
    """Observations ``y = f + sd(f) * z`` for given standard normals ``z`` (both ``(n, T)``).

    ``sigmas`` are ``(n,)`` arrays named as in ``model.residual.priors``. Computed time-major on
    ``f.T`` and ``z.T`` (contiguous for the Fortran-ordered predictions of
    :func:`predict_numpy` and noise of :func:`twintrial.arms.streams.normals`), without
    full-size temporaries for an additive error and in one compiled pass for a combined one;
    value for value what ``f + model.residual.sd(NUMPY, f, sigmas[:, None]) * z`` gives
    (additive: ``sd`` is ``sigma_add``; sums and products commute exactly).
    """
    f_t, z_t = f.T, z.T
    if model.residual.kind == "additive":
        y = np.multiply(z_t, sigmas["sigma_add"])
        return np.add(f_t, y, out=y).T
    if (model.residual.kind == "combined" and f_t.ndim == 2 and f_t.shape == z_t.shape
            and f.dtype == np.float64 and z.dtype == np.float64
            and all(np.ndim(sigmas[k]) == 1 and len(sigmas[k]) == f_t.shape[1]
                    for k in ("sigma_add", "sigma_prop"))):
        # one compiled pass instead of six array operations and their temporaries
        out = np.empty(f_t.shape)
        _combined_observations(f_t, np.asarray(sigmas["sigma_add"], np.float64),
                               np.asarray(sigmas["sigma_prop"], np.float64), z_t, out)
        return out.T
    s = dict(sigmas)
    sd = np.asarray(model.residual.sd(NUMPY, f_t, s))
    if (sd.shape != f_t.shape or sd.dtype != np.float64 or sd.base is not None
            or not sd.flags.writeable or any(sd is x for x in (f_t, *s.values()))):
        return (f_t + sd * z_t).T
    np.multiply(sd, z_t, out=sd)  # a fresh (T, n) array: f + sd z computed in it
    return np.add(f_t, sd, out=sd).T


@njit(nogil=True, cache=True)
def _combined_observations(f_t, add, prop, z_t, out):  # type: ignore[no-untyped-def]
    # f + sqrt(add^2 + (prop f)^2) z, time-major (T, n), the same IEEE operations in the same
    # order as ResidualError.sd (no fused multiply-add: numba does not contract without fastmath)
    for t in range(f_t.shape[0]):
        for i in range(f_t.shape[1]):
            x = f_t[t, i]
            p = prop[i] * x
            out[t, i] = x + math.sqrt(add[i] * add[i] + p * p) * z_t[t, i]


def subset_rows(mapping: Mapping[str, Any], rows: np.ndarray | int) -> dict[str, Any]:
    """Rows ``rows`` (indices, a mask, or one index) of every per-row array of ``mapping``;
    scalars and 0-d entries kept as they are."""
    return {k: (np.asarray(v)[rows] if np.ndim(v) >= 1 else v) for k, v in mapping.items()}


def simulate_event_times(model: Model, params: Mapping[str, Any], design: Mapping[str, Any] | None,
                         *, horizon: float | FloatArray, rng: np.random.Generator,
                         tol: float = 1e-10, max_iter: int = 100) -> tuple[FloatArray, FloatArray]:
    """Event times by inverting the cumulative hazard, with administrative censoring at ``horizon``.

    Draws ``E_i ~ Exp(1)`` (first and only use of ``rng``: ``rng.standard_exponential(n)``, so
    results are reproducible per patient block) and solves ``log H_i(t) = log E_i`` in
    ``x = log t`` by Newton steps (derivative ``t h(t) / H(t)``) from the horizon, safeguarded by bisection once a bracket is
    known (before that, steps down in log time), for all patients at once; each patient's
    iterations depend on that patient only.
    Patients with ``H_i(horizon) < E_i`` are censored at ``horizon``.

    Returns
    -------
    time, event
        ``(n,)`` float arrays; ``event`` is 1.0 for an event, 0.0 for censoring.

    Raises
    ------
    ModelError
        If the model has no event submodel, ``horizon`` is not positive, or a patient's time has
        not converged after ``max_iter`` iterations (no result is returned then).
    """
    ev = model.event
    if ev is None:
        raise ModelError(f"model '{model.name}' has no time-to-event submodel; "
                         "choose a model with one to simulate events.")
    p = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    d = {k: np.asarray(v, dtype=float) for k, v in (design or {}).items()}
    n = max((v.shape[0] for v in p.values() if v.ndim >= 1), default=1)
    hor = np.broadcast_to(np.asarray(horizon, dtype=float), (n,)).copy()
    if not np.all(hor > 0):
        raise ModelError(f"horizon: must be > 0; got min {hor.min()}.")
    log_e = np.log(rng.standard_exponential(n))

    def f_and_slope(x: FloatArray, idx: np.ndarray) -> tuple[FloatArray, FloatArray]:
        pp, dd = subset_rows(p, idx), subset_rows(d, idx)
        t = np.exp(x)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lch = ev.log_cumulative_hazard(NUMPY, t, pp, dd, model)
            lh = ev.log_hazard(NUMPY, t, pp, dd, model)
            slope = np.exp(x + lh - lch)
        return lch - log_e[idx], slope

    time = hor.copy()
    event = np.zeros(n)
    all_idx = np.arange(n)
    fb, sb = f_and_slope(np.log(hor), all_idx)
    hit = fb >= 0
    idx = all_idx[hit]
    if idx.size == 0:
        return time, event
    b = np.log(hor[idx])  # upper end of the bracket: log H(e^b) >= log E
    floor = b - 700.0  # e^floor is 0 to every purpose: an event "at time 0"
    with np.errstate(divide="ignore", invalid="ignore"):
        x0 = b - fb[hit] / sb[hit]  # first Newton step from the horizon
    x = np.where(np.isfinite(x0) & (x0 <= b), np.maximum(x0, floor), b)
    # lower end: unknown (-inf) until a point with log H < log E is evaluated. A Newton step is
    # taken when it stays in the bracket and at most half the previous step (else the function
    # is not close enough to linear there, e.g. the quadrature's log H and the hazard's slope
    # disagree): otherwise bisect, or, with no lower end yet, step down from the upper end by
    # 1, 2, 4, ... in log time (Press et al., Numerical Recipes, 3rd ed., section 9.4, rtsafe)
    a = np.full(idx.size, -np.inf)
    step = np.ones(idx.size)
    last = np.full(idx.size, np.inf)  # size of each patient's previous step
    active = np.ones(idx.size, dtype=bool)
    for _ in range(max_iter):
        ai = np.flatnonzero(active)
        if ai.size == 0:
            break
        xi = x[ai]
        fx, slope = f_and_slope(xi, idx[ai])
        neg = fx < 0
        lo = a[ai] = np.where(neg, xi, a[ai])
        hi = b[ai] = np.where(neg, b[ai], xi)
        with np.errstate(divide="ignore", invalid="ignore"):
            dx = -fx / slope
        xn = xi + dx
        newton = (np.isfinite(xn) & (xn >= np.maximum(lo, floor[ai])) & (xn <= hi)
                  & (np.abs(dx) <= 0.5 * last[ai]))
        converged = newton & (np.abs(dx) < tol)
        known = np.isfinite(lo)
        down = np.maximum(hi - step[ai], floor[ai])
        xn = np.where(newton, xn, np.where(known, 0.5 * (lo + hi), down))
        last[ai] = np.abs(xn - xi)
        step[ai] = np.where(newton | known, step[ai], 2.0 * step[ai])
        at_floor = ~neg & (xi <= floor[ai])
        done = converged | (hi - lo < tol) | (fx == 0) | at_floor
        x[ai] = np.where(at_floor, xi, xn)
        active[ai[done]] = False
    if active.any():  # never seen: bisection alone converges in ~55 steps; Newton steps halve
        raise ModelError(
            f"model '{model.name}': event times did not converge for {int(active.sum())} of "
            f"{n} patients (max_iter={max_iter}, solving log H(t) = log E); the event submodel's "
            "parameters (e.g. weibull_scale, association) may be out of the range its "
            "quadrature resolves")
    time[idx] = np.exp(x)
    event[idx] = 1.0
    return time, event
