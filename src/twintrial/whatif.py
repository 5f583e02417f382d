"""Individual what-if: one real patient's twin projected under two (or more) treatments.

A clinician's question, "what if we switch this patient from drug A to drug B?", is answered with
the patient's *own* posterior (the ``individual`` parameter draws of the fitted twin in
``twins.nc``, i.e. conditioned on that patient's data), not with a virtual patient:

- every posterior sample ``s`` of the patient's parameters is projected over a time grid under each
  arm, with the arm's treatment effect applied exactly as the arms stage does
  (:func:`twintrial.arms.effects.arm_parameters`: one effect size per posterior sample from the
  arms stream, onsets through :class:`~twintrial.arms.effects.WindowedModel`, PK regimens through
  :func:`~twintrial.arms.regimens.regimen_doses`);
- the twin's expected trajectory ``f`` gets equal-tailed credible bands at ``ci_prob``; the
  predictive band adds the residual error (the range of a measurement);
- with an event submodel, the survival ``S(t) = exp(-H(t))`` per sample gives event-free
  probabilities with bands;
- the difference between arms is taken per posterior sample (paired), so its interval is
  narrower than the two arms' bands suggest.

Assumptions: the design of the projection is the control design (``treatment = 0``; treatments act
through their parameter effects, as in the arms stage) plus the patient's baseline covariates
(``covariates``, else the DataTree's ``constant_data`` ``d_<key>`` arrays when present). Values are
on the model's prediction scale (e.g. log bilirubin for ``biomarker_progression``). Doses the
patient already received are not carried over: the projection starts at time 0 on each arm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from twintrial.arms.effects import WindowedModel, arm_parameters, windowed_inputs
from twintrial.arms.regimens import regimen_doses
from twintrial.arms_config import ArmConfig
from twintrial.exceptions import AnalysisError
from twintrial.models.backend import NUMPY
from twintrial.models.base import Model
from twintrial.models.simulate import predict_numpy
from twintrial.rng import generator

__all__ = ["WhatIf", "plot_whatif", "project_patient"]


@dataclass
class WhatIf:
    """Projection of one patient's twin under several arms.

    Attributes
    ----------
    patient_id
        The patient's id in the fitted data.
    arms
        Arm names in the order given (the difference is last minus first).
    time
        The time grid (model time unit).
    trajectories
        Long table ``arm, time, f_median, f_low, f_high, y_low, y_high`` and, with an event
        submodel, ``surv_median, surv_low, surv_high``.
    difference
        ``time, median, low, high, prob_positive`` of ``f(last arm) - f(first arm)`` per sample
        (and ``surv_*`` of the survival difference when there is an event submodel).
    summary
        JSON-ready numbers at the horizon.
    """

    patient_id: str
    arms: tuple[str, ...]
    time: np.ndarray
    trajectories: pd.DataFrame
    difference: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    scale_label: str = ""
    time_unit: str = ""


def _draws(idata: xr.DataTree, name: str) -> np.ndarray:
    arr = np.asarray(idata["posterior"][name].values)
    return arr.reshape((-1, *arr.shape[2:]))


def _patient_index(idata: xr.DataTree, patient_id: str) -> int:
    ids = [str(v) for v in np.asarray(idata["posterior"]["patient"].values)]
    if str(patient_id) not in ids:
        close = [i for i in ids if str(patient_id) in i][:5] or ids[:5]
        raise AnalysisError(f"--patient: no patient {patient_id!r} in the twins posterior "
                            f"({len(ids)} patients); e.g. {close}. Use an id from the fitted data.")
    return ids.index(str(patient_id))


def _design(idata: xr.DataTree, model: Model, idx: int, n: int,
            covariates: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    if covariates is not None:
        subj = pd.DataFrame({k: [v] for k, v in covariates.items()}).assign(id="patient")
        design = {k: np.repeat(np.asarray(v, float)[:1], n, axis=0)
                  for k, v in model.design_from_data(subj.drop(columns=["arm"], errors="ignore"),
                                                     None).items()}
    else:
        design = {}
        if "constant_data" in idata.children:
            cd = idata["constant_data"]
            for var in cd.data_vars:
                key = str(var)
                if key.startswith("d_"):
                    vals = np.asarray(cd[var].values)
                    if vals.ndim >= 1 and vals.shape[0] > idx:
                        design[key[2:]] = np.repeat(vals[idx: idx + 1], n, axis=0).astype(float)
    design["treatment"] = np.zeros(n)
    return {k: v for k, v in design.items() if not k.startswith("dose_")}


def _quantiles(x: np.ndarray, ci_prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, med, hi = np.nanquantile(x, [(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2], axis=0)
    return med, lo, hi


def project_patient(twins_posterior: Any, model: Model | None, patient_id: str,
                    arms: Sequence[ArmConfig], *, horizon: float, n_grid: int = 61,
                    ci_prob: float = 0.95, covariates: Mapping[str, Any] | None = None,
                    max_draws: int = 1000, seed: int) -> WhatIf:
    """Project a real patient's twin under each arm from the patient's own posterior draws.

    Parameters
    ----------
    twins_posterior
        The twins DataTree (``twins.io.load_twins``) or a ``TwinFit`` (``.idata``).
    model
        The structural model (``None``: rebuilt from the DataTree attributes).
    patient_id
        Patient id as in the fitted data (``posterior.patient`` coordinate).
    arms
        Two or more arms (:class:`~twintrial.arms_config.ArmConfig`); the difference is last
        minus first.
    horizon, n_grid
        Projection from time 0 to ``horizon`` (model time unit) on ``n_grid`` points.
    ci_prob
        Probability of the equal-tailed bands.
    covariates
        The patient's baseline covariates (for hazard covariates and per-kg doses); default:
        the DataTree's ``constant_data`` when present.
    max_draws
        Use at most this many posterior samples (evenly thinned).
    seed
        Root seed: effect sizes use the arms stage's streams under ``seed``; the predictive band
        uses ``(seed, "whatif", patient_id)``.

    Returns
    -------
    WhatIf
    """
    idata = getattr(twins_posterior, "idata", twins_posterior)
    if model is None:
        model = getattr(twins_posterior, "model", None)
    if model is None:
        from twintrial.twins.io import model_from_attrs

        model = model_from_attrs(idata.attrs)
    if len(arms) < 2:
        raise AnalysisError(f"--arm: give at least two arms to compare; got "
                            f"{[a.name for a in arms]}. E.g. --arm placebo --arm active.")
    if not (horizon > 0 and n_grid >= 2 and 0 < ci_prob < 1):
        raise AnalysisError(f"horizon/n_grid/ci_prob: need horizon > 0, n_grid >= 2, 0 < ci_prob "
                            f"< 1; got {horizon!r}, {n_grid!r}, {ci_prob!r}.")
    idx = _patient_index(idata, patient_id)
    ind = _draws(idata, "individual")[:, idx, :]                      # (S, k)
    keep = np.unique(np.linspace(0, ind.shape[0] - 1, min(max_draws, ind.shape[0]))
                     .round().astype(np.int64))
    s = keep.size
    params = {p.name: ind[keep, j] for j, p in enumerate(model.parameters)}
    if model.event is not None:
        for p in model.event.parameters:
            mu = _draws(idata, f"mu_{p.name}")[keep]
            params[p.name] = np.exp(mu) if p.transform == "log" else mu
    sigmas = {k: _draws(idata, k)[keep] for k in model.residual.priors}
    base = _design(idata, model, idx, s, covariates)
    grid = np.linspace(0.0, float(horizon), int(n_grid))
    control = next((a for a in arms if a.control), None)
    ctl_params = params if control is None else arm_parameters(params, control, keep,
                                                              model=model, seed=seed)
    names = list(model.parameter_names) + [p.name for p in (model.event.parameters
                                                            if model.event else ())]
    z = generator(seed, "whatif", str(patient_id)).standard_normal((s, grid.size))
    rows, per_arm = [], {}
    for arm in arms:
        p = arm_parameters(params, arm, keep, model=model, seed=seed)
        m: Any = model
        design = dict(base)
        if model.dose_design_keys:
            weight = None
            if arm.regimen is not None and arm.regimen.per_kg:
                col = arm.regimen.per_kg_covariate
                if covariates is None or col not in covariates:
                    raise AnalysisError(f"arms.{arm.name}.regimen: a per-kg dose needs the "
                                        f"patient's '{col}'; pass covariates={{'{col}': ...}}.")
                weight = np.full(s, float(covariates[col]))
            u = generator(seed, "whatif", "adherence").random((s, arm.regimen.n_doses)) \
                if arm.regimen is not None and arm.adherence < 1 else None
            design.update(regimen_doses(arm.regimen, s, weight=weight, adherence=arm.adherence,
                                        uniforms=u))
        elif arm.effects and arm.onset > 0:
            p, design = windowed_inputs(p, ctl_params, design, onset=arm.onset,
                                        stop=np.full(s, np.inf), names=names)
            m = WindowedModel(model)
        f = predict_numpy(m, p, grid, design)                                  # (S, T)
        sd = np.asarray(model.residual.sd(NUMPY, f, {k: v[:, None] for k, v in sigmas.items()}))
        y = f + sd * z
        surv = _survival(m, model, p, design, grid) if model.event is not None else None
        per_arm[arm.name] = (f, surv)
        med, lo, hi = _quantiles(f, ci_prob)
        _, ylo, yhi = _quantiles(y, ci_prob)
        tab = {"arm": arm.name, "time": grid, "f_median": med, "f_low": lo, "f_high": hi,
               "y_low": ylo, "y_high": yhi}
        if surv is not None:
            tab["surv_median"], tab["surv_low"], tab["surv_high"] = _quantiles(surv, ci_prob)
        rows.append(pd.DataFrame(tab))
    first, last = arms[0].name, arms[-1].name
    diff = per_arm[last][0] - per_arm[first][0]
    med, lo, hi = _quantiles(diff, ci_prob)
    dtab = {"time": grid, "median": med, "low": lo, "high": hi,
            "prob_positive": np.mean(diff > 0, axis=0)}
    if model.event is not None:
        sd_ = per_arm[last][1] - per_arm[first][1]  # type: ignore[operator]
        dtab["surv_median"], dtab["surv_low"], dtab["surv_high"] = _quantiles(sd_, ci_prob)
        dtab["surv_prob_positive"] = np.mean(sd_ > 0, axis=0)
    traj, dframe = pd.concat(rows, ignore_index=True), pd.DataFrame(dtab)
    summary = _summary(traj, dframe, patient_id=str(patient_id), arms=[a.name for a in arms],
                       horizon=float(horizon), ci_prob=ci_prob, n_draws=s, model=model)
    return WhatIf(patient_id=str(patient_id), arms=tuple(a.name for a in arms), time=grid,
                  trajectories=traj, difference=dframe, summary=summary,
                  scale_label=_scale_label(model), time_unit=str(getattr(model, "time_unit", "")))


def _scale_label(model: Model) -> str:
    var = str(getattr(model, "observed_variable", "prediction"))
    return f"log {var}" if getattr(model, "log_observed", False) else var


def _survival(m: Any, model: Model, params: Mapping[str, np.ndarray],
              design: Mapping[str, np.ndarray], grid: np.ndarray) -> np.ndarray:
    assert model.event is not None
    s, t = next(iter(params.values())).shape[0], grid.size
    pos = grid > 0
    rep = {k: np.repeat(np.asarray(v), pos.sum(), axis=0) for k, v in params.items()}
    drep = {k: np.repeat(np.asarray(v), pos.sum(), axis=0) for k, v in design.items()}
    times = np.tile(grid[pos], s)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_h = np.asarray(model.event.log_cumulative_hazard(NUMPY, times, rep, drep, m), float)
    out = np.ones((s, t))
    out[:, pos] = np.exp(-np.exp(log_h)).reshape(s, pos.sum())
    return out


def _summary(traj: pd.DataFrame, diff: pd.DataFrame, *, patient_id: str, arms: list[str],
             horizon: float, ci_prob: float, n_draws: int, model: Model) -> dict[str, Any]:
    end = traj.loc[traj["time"] == traj["time"].max()].set_index("arm")
    d = diff.iloc[-1]
    out: dict[str, Any] = {
        "patient_id": patient_id, "arms": arms, "horizon": horizon, "ci_prob": ci_prob,
        "n_draws": n_draws, "scale": _scale_label(model),
        "at_horizon": {a: {"median": float(end.loc[a, "f_median"]),
                           "ci_low": float(end.loc[a, "f_low"]),
                           "ci_high": float(end.loc[a, "f_high"])} for a in arms},
        "difference": {"contrast": f"{arms[-1]} - {arms[0]}", "median": float(d["median"]),
                       "ci_low": float(d["low"]), "ci_high": float(d["high"]),
                       "prob_positive": float(d["prob_positive"])},
    }
    if "surv_median" in traj.columns:
        for a in arms:
            out["at_horizon"][a].update(survival=float(end.loc[a, "surv_median"]),
                                        survival_ci_low=float(end.loc[a, "surv_low"]),
                                        survival_ci_high=float(end.loc[a, "surv_high"]))
        out["difference"].update(survival=float(d["surv_median"]),
                                 survival_ci_low=float(d["surv_low"]),
                                 survival_ci_high=float(d["surv_high"]),
                                 prob_survival_better=float(d["surv_prob_positive"]))
    return out


def plot_whatif(result: WhatIf) -> Figure:
    """Trajectories with credible and predictive bands per arm, their difference, survival."""
    has_surv = "surv_median" in result.trajectories.columns
    fig = Figure(figsize=(11.0 if has_surv else 8.0, 3.8), layout="constrained")
    axes = fig.subplots(1, 3 if has_surv else 2)
    ax = axes[0]
    for i, (arm, part) in enumerate(result.trajectories.groupby("arm", sort=False)):
        ax.fill_between(part["time"], part["y_low"], part["y_high"], color=f"C{i}", alpha=0.08)
        ax.fill_between(part["time"], part["f_low"], part["f_high"], color=f"C{i}", alpha=0.25)
        ax.plot(part["time"], part["f_median"], color=f"C{i}", label=str(arm))
    unit = f" ({result.time_unit})" if result.time_unit else ""
    ax.set_xlabel(f"time{unit}")
    ax.set_ylabel(result.scale_label)
    ax.set_title(f"Patient {result.patient_id}: twin under each arm", fontsize=10)
    ax.legend(fontsize=8)
    d = result.difference
    ax = axes[1]
    ax.fill_between(d["time"], d["low"], d["high"], color="C2", alpha=0.3)
    ax.plot(d["time"], d["median"], color="C2")
    ax.axhline(0.0, color="0.5", ls="--", lw=1)
    ax.set_xlabel(f"time{unit}")
    ax.set_title(f"{result.arms[-1]} - {result.arms[0]}", fontsize=10)
    if has_surv:
        ax = axes[2]
        for i, (arm, part) in enumerate(result.trajectories.groupby("arm", sort=False)):
            ax.fill_between(part["time"], part["surv_low"], part["surv_high"], color=f"C{i}",
                            alpha=0.25)
            ax.plot(part["time"], part["surv_median"], color=f"C{i}", label=str(arm))
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"time{unit}")
        ax.set_ylabel("event-free probability")
        ax.set_title("Survival", fontsize=10)
    return fig
