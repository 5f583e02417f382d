"""Refit the twins on the training part of a split and predict the held-out part.

:func:`held_out_predictions` runs the configured split (``validation.split``):

- ``time``: one fit on every observation at ``time <= cutoff`` (events censored at the cutoff);
  the later observations of the same patients are predicted from their fitted twins, and the
  survival of the patients still at risk at the cutoff is predicted conditionally on it;
- ``subjects``: one fit per fold (k-fold) or one fit (``holdout_fraction``) on the training
  patients; every held-out patient is predicted from covariates alone through the population
  posterior (virtual-patient draws conditioned on the baseline biomarker when the subjects table
  has it, as in the arms stage), and his survival from time 0;
- ``none``: one fit on everything, in-sample posterior predictive checks (weakest evidence).

Everything is returned on the model's observation scale (e.g. log bilirubin), together with the
baselines of every test row computed from the same training part (the population baseline pools
the training patients; LOCF carries the patient's own last training value forward, or, for a new
patient, his baseline biomarker covariate when the subjects table has one).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from twintrial.models.backend import NUMPY
from twintrial.models.base import Model
from twintrial.rng import generator, job_seed
from twintrial.validation.baselines import BaselinePrediction, locf_baseline, population_baseline
from twintrial.validation.predict import (
    new_patient_draws,
    predict_rows,
    survival_probabilities,
    twin_parameter_draws,
    typical_prediction,
)
from twintrial.validation.splits import split_by_subjects, split_by_time
from twintrial.validation.summaries import config_times
from twintrial.validation_config import ValidationConfig

OBS_COLUMNS = ["id", "time", "variable", "value", "cens"]


@dataclass
class HeldOut:
    """Held-out rows, their predictive draws and baselines, over all folds (rows in fold order).

    ``draws`` is ``(n_test, M)`` (replicated observations with residual noise); ``pred`` the
    typical-patient prediction per row (pcVPC); ``surv_*`` one row per held-out patient with
    ``surv_draws`` ``(M, n, n_landmarks)`` and, for the survival figure, ``grid_draws``
    ``(M, n, n_grid)`` on ``grid``.
    """

    kind: str
    names: list[str]
    cutoff: float | None
    train: pd.DataFrame
    test: pd.DataFrame
    draws: np.ndarray
    pred: np.ndarray
    baselines: list[BaselinePrediction]
    fits: list[Any]
    n_train_subjects: list[int]
    surv_time: np.ndarray = field(default_factory=lambda: np.empty(0))
    surv_event: np.ndarray = field(default_factory=lambda: np.empty(0))
    surv_draws: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 0)))
    grid: np.ndarray = field(default_factory=lambda: np.empty(0))
    grid_draws: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 0)))
    varies: bool = False
    variable: str = ""
    scale: str = "identity"
    scale_label: str = ""
    split_label: str = ""
    warnings: list[str] = field(default_factory=list)


def model_scale(obs: pd.DataFrame, model: Model) -> tuple[pd.DataFrame, int]:
    """Rows of the model's variable with ``value`` on the observation scale; drops unusable rows."""
    cols = [c for c in OBS_COLUMNS if c in obs.columns]
    sel = obs.loc[obs["variable"].astype(str) == model.observed_variable, cols].copy()
    if "cens" not in sel.columns:
        sel["cens"] = np.int8(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.asarray(model.observation_transform(NUMPY, sel["value"].to_numpy(np.float64)),
                       dtype=np.float64)
    ok = np.isfinite(y)
    sel["value"] = y
    sel["id"] = sel["id"].astype(str)
    return sel[ok].reset_index(drop=True), int((~ok).sum())


def scale_of(model: Model) -> str:
    """``"identity"`` when the model fits raw values, ``"log"`` for a log transform, else
    ``"transformed"``."""
    x = np.array([0.5, 1.0, 2.0, 5.0])
    y = np.asarray(model.observation_transform(NUMPY, x), dtype=np.float64)
    if np.allclose(y, x):
        return "identity"
    return "log" if np.allclose(y, np.log(x)) else "transformed"


def _baseline_rows(subjects: pd.DataFrame, model: Model) -> pd.DataFrame:
    """Time-0 rows from the baseline biomarker covariate (for LOCF of new patients)."""
    from twintrial.twins.virtual import baseline_covariate

    col = baseline_covariate(model)
    if col not in subjects.columns:
        return pd.DataFrame(columns=OBS_COLUMNS)
    x = pd.to_numeric(subjects[col], errors="coerce").to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.asarray(model.observation_transform(NUMPY, x), dtype=np.float64)
    ok = np.isfinite(y)
    return pd.DataFrame({"id": subjects["id"].astype(str).to_numpy()[ok], "time": 0.0,
                         "variable": model.observed_variable, "value": y[ok], "cens": np.int8(0)})


def _design_varies(design: dict[str, np.ndarray], fit: Any, subjects: pd.DataFrame) -> bool:
    for v in design.values():
        a = np.asarray(v, dtype=np.float64)
        if a.shape[0] > 1 and np.ptp(a, axis=0).max() > 0:
            return True
    for t in fit.data.terms:
        if t.covariate in subjects.columns:
            x = pd.to_numeric(subjects[t.covariate], errors="coerce").to_numpy(np.float64)
            if np.nanmax(x) > np.nanmin(x):
                return True
    return False


def _fit(train: Any, model: Model, twins_cfg: Any, *, cache_dir: str | None, cores: int | None,
         seed: int, name: str, warnings: list[str]) -> Any:
    """Fit the training part; if the gate fails, refit once with the other parameterization and
    twice the draws.

    A training part is smaller than the full data (e.g. only the absorption phase of a PK study
    before a time cutoff): the parameterization that ``auto`` picks from the data density may
    sample a funnel badly, and its posterior can mix more slowly than the full data's (measured:
    theophylline before 6 h, R-hat 1.011-1.013 with 1000 draws per chain under either
    parameterization, 1.009 with 2000). The retry is reported in ``warnings``.
    """
    from twintrial.twins.fit import fit_twins

    cfg = twins_cfg.replace(fit_window=None, allow_unconverged=True)
    fit = fit_twins(train, model, cfg, cache_dir=cache_dir, cores=cores, seed=seed)
    if fit.diagnostics.get("gate_passed", False):
        return fit
    first = fit.diagnostics.get("parameterization", cfg.parameterization)
    other = "noncentered" if first == "centered" else "centered"
    retry = fit_twins(train, model, cfg.replace(parameterization=other, draws=2 * cfg.draws),
                      cache_dir=cache_dir, cores=cores, seed=seed)
    ok = retry.diagnostics.get("gate_passed", False)
    warnings.append(f"validation: the refit on the training part ({name}) failed the convergence "
                    f"gate with the {first} parameterization (max R-hat "
                    f"{fit.diagnostics.get('max_rhat', float('nan')):.3g}); refitted {other} with "
                    f"{2 * cfg.draws} draws per chain: gate " + ("passed" if ok else "failed again"))
    better = ok or (retry.diagnostics.get("max_rhat", np.inf) < fit.diagnostics.get("max_rhat", np.inf))
    return retry if better else fit


def held_out_predictions(dataset: Any, model: Model, *, twins_cfg: Any, cfg: ValidationConfig,
                         landmarks: list[float], seed: int, n_draws: int = 200,
                         grid_points: int = 40, cache_dir: str | None = None,
                         cores: int | None = None) -> HeldOut:
    """Fit on each training part and predict its test part (see the module docstring).

    Parameters
    ----------
    dataset
        Canonical :class:`~twintrial.data.dataset.Dataset`.
    model
        The structural model (centres resolved per fit).
    twins_cfg
        :class:`~twintrial.twins_config.TwinsConfig` (sampler settings; the gate is recorded,
        not enforced: a failed gate becomes a warning and failed evidence).
    landmarks
        Landmark times in the data's unit (survival predictions; empty for none).
    n_draws
        Posterior predictive draws per held-out row.
    """
    sp = cfg.split
    warnings: list[str] = []
    if sp.kind == "time":
        folds = [split_by_time(dataset, cutoff=float(sp.cutoff), unit=sp.cutoff_unit)]
    elif sp.kind == "subjects":
        folds = split_by_subjects(dataset, k=None if sp.holdout_fraction else sp.k,
                                  holdout_fraction=sp.holdout_fraction, stratify=sp.stratify,
                                  seed=job_seed(seed, "validation", "split"))
    else:
        from twintrial.validation.splits import Split

        ids = tuple(sorted(dataset.subjects["id"].astype(str)))
        folds = [Split("in-sample (no split)", dataset, dataset, ids)]
    cutoff = None
    if sp.kind == "time":
        cutoff = float(folds[0].name.rsplit(" ", 1)[-1])
    train_all, test_all, draws_all, pred_all = [], [], [], []
    pops, locfs = [], []
    surv_t, surv_e, surv_d, grid_d = [], [], [], []
    fits, n_train, names = [], [], []
    varies = False
    has_events = model.event is not None and dataset.events is not None and len(dataset.events) > 0
    t_max = float(dataset.events["time"].max()) if has_events else 0.0
    grid = np.linspace(cutoff or 0.0, t_max, grid_points) if has_events else np.empty(0)
    for j, split in enumerate(folds):
        fit = _fit(split.train, model, twins_cfg, cache_dir=cache_dir, cores=cores,
                   seed=job_seed(seed, "validation", "fit", j), name=split.name, warnings=warnings)
        fits.append(fit)
        names.append(split.name)
        if not fit.diagnostics.get("gate_passed", False):
            warnings.append(f"validation: the refit on the training part ({split.name}) did not "
                            "pass the convergence gate; its held-out metrics are less reliable")
        train, n_bad_tr = model_scale(split.train.observations, fit.model)
        test, n_bad_te = model_scale(split.test.observations, fit.model)
        if n_bad_tr + n_bad_te:
            warnings.append(f"validation: {n_bad_tr + n_bad_te} observation(s) of "
                            f"'{model.observed_variable}' have no value on the model scale "
                            "(e.g. log of 0) and were left out")
        n_train.append(int(train["id"].nunique()))
        subj = split.test.subjects.assign(id=split.test.subjects["id"].astype(str))
        if sp.kind == "subjects":
            pdraws = new_patient_draws(fit, subj, split.test.doses, n_draws=n_draws,
                                       condition_on_baseline=twins_cfg.condition_on_baseline,
                                       seed=job_seed(seed, "validation", "virtual", j))
            locf_train = pd.concat([train, _baseline_rows(subj, fit.model)], ignore_index=True)
        else:
            known = set(fit.ids)
            lost = sorted(set(test["id"]) - known)
            if lost:
                warnings.append(f"validation: {len(lost)} patient(s) with held-out observations "
                                "had no training data and were not predicted")
                test = test[test["id"].isin(known)].reset_index(drop=True)
            pat_ids = sorted(known & (set(test["id"]) | set(split.test.events["id"].astype(str))
                                      if has_events else set(test["id"])))
            pdraws = twin_parameter_draws(fit, pat_ids, n_draws=n_draws)
            subj = subj[subj["id"].isin(pat_ids)]
            locf_train = train
        rng = generator(seed, "validation", "predict", j)
        if len(test):
            _, y = predict_rows(fit.model, pdraws, test["id"], test["time"], rng=rng)
            draws_all.append(y.T)
            pred_all.append(typical_prediction(fit, subj, split.test.doses, test["id"], test["time"]))
            bands = config_times(cfg, dataset.time_unit)[0] if len(cfg.time_bands) >= 2 else None
            pops.append(population_baseline(train, test, bands=bands))
            locfs.append(locf_baseline(locf_train, test))
            varies = varies or _design_varies(pdraws.design, fit, subj)
        train_all.append(train)
        test_all.append(test)
        if has_events:
            ev = split.test.events.assign(id=split.test.events["id"].astype(str))
            ev = ev[ev["id"].isin(pdraws.ids)].drop_duplicates("id", keep="last")
            sub = _subset_draws(pdraws, list(ev["id"]))
            given = None if cutoff is None else cutoff
            if landmarks:
                surv_d.append(survival_probabilities(fit.model, sub, landmarks, given=given))
            grid_d.append(survival_probabilities(fit.model, sub, grid, given=given))
            surv_t.append(ev["time"].to_numpy(np.float64))
            surv_e.append(ev["event"].to_numpy(np.float64))
    test = pd.concat(test_all, ignore_index=True)
    baselines = [_concat_baselines(pops), _concat_baselines(locfs)] if pops else []
    for b in list(baselines):
        n_pred = int(b.predicted.sum())
        if n_pred == 0:
            baselines.remove(b)
            warnings.append(f"validation: the {b.name} baseline cannot predict any held-out "
                            "observation (no earlier value of the patients) and is not compared")
        elif n_pred < len(test):
            warnings.append(f"validation: the {b.name} baseline predicts {n_pred} of {len(test)} "
                            "held-out observations; all models are compared on those rows only")
    out = HeldOut(kind=sp.kind, names=names, cutoff=cutoff,
                  train=pd.concat(train_all, ignore_index=True), test=test,
                  draws=np.concatenate(draws_all, axis=0) if draws_all else np.empty((0, n_draws)),
                  pred=np.concatenate(pred_all) if pred_all else np.empty(0),
                  baselines=baselines,
                  fits=fits, n_train_subjects=n_train, varies=varies, warnings=warnings)
    out.variable = model.observed_variable
    out.scale = scale_of(model)
    unit = (getattr(dataset, "units", None) or {}).get(model.observed_variable, "")
    out.scale_label = unit if out.scale == "identity" else f"{out.scale} scale"
    out.split_label = (f"fit up to {cutoff:g} {dataset.time_unit}" if cutoff is not None
                       else names[0] if len(names) == 1 else f"{len(names)}-fold by patient")
    if has_events and surv_t:
        out.surv_time, out.surv_event = np.concatenate(surv_t), np.concatenate(surv_e)
        if surv_d:
            out.surv_draws = np.concatenate(surv_d, axis=1)
        out.grid, out.grid_draws = grid, np.concatenate(grid_d, axis=1)
    return out


def _subset_draws(draws: Any, ids: list[str]) -> Any:
    pos_of = {pid: i for i, pid in enumerate(draws.ids)}
    pos = np.array([pos_of[i] for i in ids], dtype=np.int64)
    return dataclasses.replace(draws, ids=tuple(ids),
                               params={k: v[:, pos] for k, v in draws.params.items()},
                               sigmas={k: v[:, pos] for k, v in draws.sigmas.items()},
                               design={k: np.asarray(v)[pos] for k, v in draws.design.items()})


def _concat_baselines(parts: list[BaselinePrediction]) -> BaselinePrediction:
    return BaselinePrediction(parts[0].name, np.concatenate([p.point for p in parts]),
                              np.concatenate([p.draws for p in parts], axis=0))
