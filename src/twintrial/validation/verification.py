"""Code and calculation verification of the run's model (V&V 40 "verification" factors).

Three checks, each on parameter sets drawn from the fitted twins (:func:`verification_params`) and
each turned into credibility evidence by :func:`verification_evidence`:

- **simulator vs likelihood** (numerical code verification, level 2): the prediction and, with an
  event submodel, the log cumulative hazard that the simulator evaluates in NumPy, against the
  same quantities from the PyTensor graph the sampler fitted (built as the engine builds it,
  compiled by numba). They come from one formula
  (:mod:`twintrial.models.backend`), but the NumPy paths have their own fast rules (time-major
  evaluation, nodes-first quadrature, dose-by-dose propagation), so agreement is not given.
- **closed form vs an independent numerical solution** (numerical code verification, level 3):
  the simulator's prediction against the model's differential equations integrated by SciPy
  (:meth:`~twintrial.models.base.Model.reference_solution`, DOP853 with ``rtol = 1e-12``); for
  dosed models also on a common regimen (the dose-by-dose rule the arms stage uses).
- **cumulative-hazard quadrature** (discretization error, level 3): ``H(T)`` from the model's
  Gauss-Legendre rule (``n_nodes``) against adaptive quadrature of the hazard
  (:func:`scipy.integrate.quad`, ``epsrel = 1e-10``) at three horizons per parameter set.
  Without an event submodel nothing is discretized: the closed form's agreement with the ODE
  solution then stands as the discretization evidence (the prediction is an exact solution).

Relative differences are ``|a - b| / max(|b|, 1e-300)`` for the hazard and
``|a - b| / max(|b|, scale)`` for predictions (``scale`` the largest ``|b|`` of that check over
all patients and times, so values crossing zero do not inflate it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from twintrial.models.backend import NUMPY, pytensor_namespace
from twintrial.models.base import Model
from twintrial.models.simulate import predict_numpy, subset_rows
from twintrial.validation.credibility import evidence_item

N_PATIENTS = 40
"""Patients of the fit whose twins are checked (``N_DRAWS`` posterior draws each)."""
N_DRAWS = 3
N_TIMES = 25
"""Times per parameter set, evenly spaced from 0 (see :func:`verification_params`)."""
REFERENCE_RTOL = 1e-12


def verification_params(fit: Any, *, n_patients: int = N_PATIENTS, n_draws: int = N_DRAWS,
                        horizon: float | None = None
                        ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Parameter sets, design and time grid of the checks, from a fitted twins posterior.

    ``n_draws`` thinned posterior draws of the first ``n_patients`` patients of ``fit`` (one
    parameter set per patient and draw, with that patient's design), and ``N_TIMES`` times from
    0 to the latest of the fit's observation and event times and ``horizon`` (e.g. the trial's
    last endpoint time), so the checks span every time the model is used at.
    """
    from twintrial.validation.predict import twin_parameter_draws

    ids = list(fit.ids)[:n_patients]
    draws = twin_parameter_draws(fit, ids, n_draws=n_draws)
    params = {k: np.ascontiguousarray(v, dtype=float).reshape(-1) for k, v in draws.params.items()}
    m = draws.n_draws
    design = {k: np.concatenate([np.asarray(v)] * m, axis=0) for k, v in draws.design.items()}
    ends = [float(np.max(a)) for a in (fit.data.obs_time, getattr(fit.data, "event_time", None))
            if a is not None and len(a)]
    t_max = max([*ends, float(horizon or 0.0)], default=0.0)
    if not (np.isfinite(t_max) and t_max > 0):
        t_max = 1.0
    return params, design, np.linspace(0.0, t_max, N_TIMES)


def _rel(a: np.ndarray, b: np.ndarray, floor: float) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0:
        return 0.0
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.inf
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def _scale(b: np.ndarray) -> float:
    b = np.abs(np.asarray(b, float))
    finite = b[np.isfinite(b)]
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _pytensor_prediction(model: Model, params: Mapping[str, np.ndarray], t: np.ndarray,
                         design: Mapping[str, np.ndarray]) -> np.ndarray:
    """The likelihood's prediction: one row per (patient, time) observation, as the engine builds
    it (parameters and design indexed by the observation's patient), evaluated by PyTensor."""
    import pytensor.tensor as pt

    xp = pytensor_namespace()
    n = next(iter(params.values())).shape[0]
    idx = np.repeat(np.arange(n), t.size)
    t_obs = np.tile(t, n)
    f = model.predict(xp, {k: pt.as_tensor_variable(np.asarray(v)[idx]) for k, v in params.items()},
                      pt.as_tensor_variable(t_obs),
                      {k: pt.as_tensor_variable(np.asarray(v)[idx]) for k, v in design.items()})
    return _evaluate(f).reshape(n, t.size)


def _pytensor_log_cumulative_hazard(model: Model, T: np.ndarray, params: Mapping[str, np.ndarray],
                                    design: Mapping[str, np.ndarray]) -> np.ndarray:
    import pytensor.tensor as pt

    assert model.event is not None
    xp = pytensor_namespace()
    out = model.event.log_cumulative_hazard(
        xp, pt.as_tensor_variable(T), {k: pt.as_tensor_variable(v) for k, v in params.items()},
        {k: pt.as_tensor_variable(v) for k, v in design.items()}, model)
    return _evaluate(out)


def _evaluate(var: Any) -> np.ndarray:
    """Value of a constant PyTensor graph compiled by numba (the sampler's default backend; no C
    compilation, so no BLAS linkage is needed)."""
    import pytensor

    return np.asarray(pytensor.function([], var, mode="NUMBA")(), dtype=float)


def _reference(model: Model, params: Mapping[str, np.ndarray], t: np.ndarray,
               design: Mapping[str, np.ndarray]) -> np.ndarray | None:
    n = next(iter(params.values())).shape[0]
    rows = []
    for i in range(n):
        r = model.reference_solution(subset_rows(params, i), t, subset_rows(design, i),
                                     rtol=REFERENCE_RTOL)
        if r is None:
            return None
        rows.append(np.asarray(r, dtype=float))
    return np.vstack(rows)


def _common_regimen(model: Model, design: Mapping[str, np.ndarray]
                    ) -> dict[str, np.ndarray] | None:
    """The first patient's dose times shared by every patient (one read-only row, as the arms
    stage's regimens give them) with each patient's own amounts; ``None`` without doses."""
    if not model.dose_design_keys or "dose_time" not in design:
        return None
    times = np.asarray(design["dose_time"], dtype=float)
    amounts = np.asarray(design["dose_amount"], dtype=float)
    order = np.argsort(times[0], kind="stable")
    common = np.broadcast_to(times[0][order], times.shape)
    return {**design, "dose_time": common,
            "dose_amount": np.ascontiguousarray(amounts[:, order])}


def _hazard_reference(model: Model, T: float, params: Mapping[str, Any],
                      design: Mapping[str, Any]) -> float:
    from scipy import integrate

    assert model.event is not None
    event = model.event

    def h(s: float) -> float:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return float(np.exp(event.log_hazard(NUMPY, np.float64(s), params, design, model)))

    value, _ = integrate.quad(h, 0.0, T, epsabs=0.0, epsrel=1e-10, limit=200)
    return float(value)


def verify_model(model: Model, params: Mapping[str, np.ndarray],
                 design: Mapping[str, np.ndarray], t: np.ndarray) -> dict[str, Any]:
    """Run the three checks (module docstring) on ``n`` parameter sets.

    Parameters
    ----------
    model
        The fitted structural model.
    params
        Structural and event parameters, ``(n,)`` each (natural scale).
    design
        Per-set design arrays (first axis ``n``).
    t
        Times ``(T,)``, starting at 0.

    Returns
    -------
    dict
        ``n_sets``, ``n_times``, ``backend_prediction_rel`` and (event models)
        ``backend_log_cumulative_hazard_abs``: simulator vs likelihood; ``reference_rel`` (and
        ``reference_regimen_rel`` for dosed models; ``None`` without a reference solution):
        closed form vs ODE; ``hazard_rel`` (``None`` without an event submodel),
        ``hazard_nodes``, ``hazard_horizons``: quadrature vs adaptive quadrature.
    """
    t = np.asarray(t, dtype=float)
    n = int(next(iter(params.values())).shape[0])
    struct = {p.name: np.asarray(params[p.name], float) for p in model.parameters}
    f = predict_numpy(model, struct, t, design)
    f_pt = _pytensor_prediction(model, struct, t, design)
    out: dict[str, Any] = {"n_sets": n, "n_times": int(t.size),
                           "backend_prediction_rel": _rel(f, f_pt, _scale(f_pt))}
    ref = _reference(model, struct, t, design)
    out["reference_method"] = (f"scipy.integrate.solve_ivp (DOP853, rtol {REFERENCE_RTOL:g})"
                               if ref is not None else None)
    out["reference_rel"] = _rel(f, ref, _scale(ref)) if ref is not None else None
    regimen = _common_regimen(model, design)
    if regimen is not None and ref is not None:
        ref_r = _reference(model, struct, t, regimen)
        assert ref_r is not None
        out["reference_regimen_rel"] = _rel(predict_numpy(model, struct, t, regimen), ref_r,
                                            _scale(ref_r))
    out["hazard_rel"] = None
    if model.event is not None:
        allp = {k: np.asarray(v, float) for k, v in params.items()}
        horizons = t[-1] * np.array([0.25, 0.5, 1.0])
        T = np.repeat(horizons, n)
        p3 = {k: np.tile(v, horizons.size) for k, v in allp.items()}
        d3 = {k: np.concatenate([np.asarray(v)] * horizons.size, axis=0) for k, v in design.items()}
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            log_h = np.asarray(model.event.log_cumulative_hazard(NUMPY, T, p3, d3, model), float)
        log_h_pt = _pytensor_log_cumulative_hazard(model, T, p3, d3)
        out["backend_log_cumulative_hazard_abs"] = (
            float(np.max(np.abs(log_h - log_h_pt))) if np.isfinite(log_h).all()
            and np.isfinite(log_h_pt).all() else math.inf)
        ref_h = np.array([_hazard_reference(model, float(T[i]), subset_rows(p3, i),
                                            subset_rows(d3, i)) for i in range(T.size)])
        out["hazard_rel"] = _rel(np.exp(log_h), ref_h, 1e-300)
        out["hazard_nodes"] = int(getattr(model.event, "n_nodes", 0))
        out["hazard_horizons"] = [float(x) for x in horizons]
    return out


def verification_checks(result: Mapping[str, Any], *, code_tol: float,
                        discretization_tol: float) -> dict[str, dict[str, Any]]:
    """The pass/fail checks of :func:`verify_model`'s result, by name: ``label``, ``value``,
    ``threshold`` (the largest accepted value), ``passed``, and the credibility ``level`` and
    ``factors`` it informs (module docstring)."""
    code = ["numerical_code_verification", "code_verification"]
    rows: dict[str, dict[str, Any]] = {}

    def add(name: str, label: str, value: float, tol: float, level: int,
            factors: list[str]) -> None:
        rows[name] = {"label": label, "value": float(value), "threshold": float(tol),
                      "passed": bool(value <= tol), "level": level, "factors": factors}

    add("backend_prediction", "Simulator (NumPy) vs fitted likelihood (PyTensor): prediction, "
        "max relative difference", result["backend_prediction_rel"], code_tol, 2, code)
    if result.get("backend_log_cumulative_hazard_abs") is not None:
        add("backend_log_cumulative_hazard", "Simulator vs fitted likelihood: log cumulative "
            "hazard, max absolute difference", result["backend_log_cumulative_hazard_abs"],
            code_tol, 2, code)
    if result.get("reference_rel") is not None:
        add("reference", f"Closed form vs {result['reference_method']}: max relative difference",
            result["reference_rel"], code_tol, 3, code)
        if result.get("reference_regimen_rel") is not None:
            add("reference_regimen", "Closed form on a common regimen (the arms stage's rule) vs "
                "the same ODE solution: max relative difference", result["reference_regimen_rel"],
                code_tol, 3, code)
    if result.get("hazard_rel") is not None:
        add("hazard_quadrature", f"Cumulative hazard: {result['hazard_nodes']}-node quadrature vs "
            "adaptive quadrature (scipy quad, epsrel 1e-10): max relative error",
            result["hazard_rel"], discretization_tol, 3,
            ["discretization_error", "calculation_verification"])
    elif result.get("reference_rel") is not None:
        # nothing is discretized: the prediction is an exact solution, as the ODE check shows
        add("no_discretization", "No discretization: every prediction is a closed-form solution "
            "of the model's equations (its difference to the ODE solution above)",
            result["reference_rel"], discretization_tol, 3, ["discretization_error"])
    return rows


def verification_evidence(result: Mapping[str, Any], *, code_tol: float, discretization_tol: float
                          ) -> list[dict[str, Any]]:
    """Credibility evidence of :func:`verify_model`: one item per :func:`verification_checks`."""
    note = f"{result['n_sets']} parameter sets x {result['n_times']} times"
    return [evidence_item(c["label"], c["value"], factors=c["factors"], level=c["level"],
                          passed=c["passed"], threshold=f"<= {c['threshold']:g}", note=note)
            for c in verification_checks(result, code_tol=code_tol,
                                         discretization_tol=discretization_tol).values()]
