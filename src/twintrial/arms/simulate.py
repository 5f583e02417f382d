"""Every virtual patient under every arm: paired counterfactual outcomes, chunked on Dask.

One row per (virtual patient, arm), vid-major, arms in config order. Columns of the outcomes
table (``results/<trial>/outcomes.parquet``):

=========================  =======  ==============================================================
column                     dtype    meaning
=========================  =======  ==============================================================
``vid``                    int64    virtual patient index (cohort ``vid``)
``arm``                    category arm name (categories in config order)
``draw``                   int64    posterior sample the twin was drawn from
``dropout_time``           float64  treatment discontinuation by dropout (``inf`` = never)
``rescue_time``            float64  rescue visit time (``inf`` = never)
``discontinuation_time``   float64  ``min(dropout_time, rescue_time)``
``<estimand>``             float64  endpoint value under the estimand's strategy (responder: 0/1;
                                    time to event: the event or censoring time)
``<estimand>_event``       int8     time to event only: 1 event, 0 censored
``<estimand>_prognostic``  float64  the twin's expected control outcome, without residual noise
                                    and intercurrent events (PROCOVA): continuous/responder: the
                                    noise-free control value of the endpoint variable; time to
                                    event: the control log cumulative hazard at the horizon
=========================  =======  ==============================================================

Every arm of a patient uses the same twin (parameters, posterior draw) and the same random
numbers (see :mod:`twintrial.arms.streams`), so ``outcome(arm) - outcome(control)`` is the
patient's individual treatment effect up to the arm's own effect-size draw. Rows are computed per
chunk; every random number is keyed by patient (or posterior draw), so the table is byte-identical
for any chunk size and worker count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from twintrial.arms.effects import (
    WindowedModel,
    arm_parameters,
    windowed_inputs,
    windowed_prediction,
)
from twintrial.arms.endpoints import continuous_outcome, value_at, visit_index
from twintrial.arms.events import EventTimes, Inputs
from twintrial.arms.inputs import (
    check_inputs,
    cohort_inputs,
    needed_columns,
    rows_of,
    simulated_names,
)
from twintrial.arms.intercurrent import (
    dropout_times,
    rescue_times,
    rescue_visits,
    time_to_event_strategy,
)
from twintrial.arms.regimens import regimen_doses, stop_doses, stopped_rows
from twintrial.arms.streams import exponentials, normals, uniforms
from twintrial.arms_config import ArmConfig, EndpointConfig, EstimandConfig, study_end
from twintrial.exceptions import ConfigError
from twintrial.models.backend import NUMPY
from twintrial.models.base import Model
from twintrial.models.simulate import (
    predict_numpy,
    residual_observations,
)
from twintrial.rng import PATIENT_BLOCK


@dataclass
class _Chunk:
    """What every arm of one chunk shares: the twins, the design, the patient noise streams."""

    model: Model
    covariates: Mapping[str, np.ndarray]
    n: int
    names: list[str]
    sigmas: dict[str, np.ndarray]
    base_design: dict[str, np.ndarray]
    z: np.ndarray
    u_adh: np.ndarray | None
    ctl_params: dict[str, np.ndarray]
    full_designs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def design_for(self, arm: ArmConfig, stop_time: np.ndarray | None) -> dict[str, np.ndarray]:
        """Design of ``arm``: dose arrays for dosed models, else the baseline design."""
        if not self.model.dose_design_keys:
            return self.base_design
        if arm.name not in self.full_designs:
            weight = None
            if arm.regimen is not None and arm.regimen.per_kg:
                weight = self.covariates.get(arm.regimen.per_kg_covariate)
            self.full_designs[arm.name] = regimen_doses(
                arm.regimen, self.n, weight=weight, adherence=arm.adherence, uniforms=self.u_adh)
        full = self.full_designs[arm.name]
        return full if stop_time is None else stop_doses(full, stop_time)

    def observe(self, f: np.ndarray) -> np.ndarray:
        """Observations: prediction plus residual noise from the shared ``noise`` stream."""
        return residual_observations(self.model, f, self.sigmas, self.z)

    def trajectory_inputs(self, arm: ArmConfig, p: dict[str, np.ndarray],
                          stop_time: np.ndarray | None) -> Inputs:
        """(model, parameters, design) of ``arm`` on full treatment or stopped at ``stop_time``."""
        if self.model.dose_design_keys or not arm.effects:
            return self.model, p, self.design_for(arm, stop_time)
        if arm.onset == 0 and stop_time is None:
            return self.model, p, self.base_design
        stop_arr = np.full(self.n, np.inf) if stop_time is None else stop_time
        wp, wd = windowed_inputs(p, self.ctl_params, self.base_design, onset=arm.onset,
                                 stop=stop_arr, names=self.names)
        return WindowedModel(self.model), wp, wd

    def predict(self, inputs: Inputs, arm: ArmConfig, p: dict[str, np.ndarray],
                stop_time: np.ndarray | None, grid: np.ndarray, f_ctl: np.ndarray,
                f_trt: np.ndarray | None) -> np.ndarray:
        """Prediction at ``grid`` for ``inputs`` (from :meth:`trajectory_inputs`).

        Effect windows reuse the control prediction ``f_ctl`` and the arm's full-course
        prediction ``f_trt`` (computed here when ``None``): see :func:`windowed_prediction`.
        """
        if not isinstance(inputs[0], WindowedModel):
            return predict_numpy(*inputs[:2], grid, inputs[2])
        if f_trt is None:
            f_trt = predict_numpy(self.model, p, grid, self.base_design)
        stop = np.full(self.n, np.inf) if stop_time is None else stop_time
        return windowed_prediction(self.model, p, self.ctl_params, grid, self.base_design,
                                   onset=arm.onset, stop=stop, names=self.names, f_trt=f_trt,
                                   f_ctl=f_ctl)


def visit_grid(arms: Sequence[ArmConfig], endpoints: Sequence[EndpointConfig]) -> np.ndarray:
    """Sorted visit times of the study: baseline, endpoint visits and rescue visits."""
    times = [np.zeros(1)]
    times += [e.visits() for e in endpoints if e.type != "time_to_event" and e.time is not None]
    end = study_end(endpoints)
    for a in arms:
        if a.rescue is not None and end is not None:
            times.append(rescue_visits(a.rescue, end))
    return np.unique(np.round(np.concatenate(times), 12))


def simulate_arms(virtual: Mapping[str, Any] | pd.DataFrame, cohort: pd.DataFrame,
                  arms: Sequence[ArmConfig], endpoints: Sequence[EndpointConfig],
                  estimands: Sequence[EstimandConfig], *, model: Model, seed: int,
                  start: int = 0, stop: int | None = None) -> pd.DataFrame:
    """Outcomes of virtual patients ``start:stop`` (rows) under every arm (module docstring).

    Parameters
    ----------
    virtual
        Per-patient arrays (``vid``, ``draw``, parameters, event parameters, residual sigmas), as
        returned by :func:`twintrial.twins.virtual.sample_virtual_patients`, or a DataFrame.
    cohort
        Virtual cohort, same rows as ``virtual`` (covariates for the design and per-kg doses).
    arms, endpoints, estimands
        Typed configuration (:mod:`twintrial.arms_config`); exactly one arm is the control.
    model
        The structural model the twins were fitted with.
    seed
        Root seed of the arms streams.
    start, stop
        Row range (any; results per patient do not depend on it).

    Returns
    -------
    pandas.DataFrame
        ``(stop - start) * len(arms)`` rows, columns as in the module docstring.
    """
    n_all = len(virtual) if isinstance(virtual, pd.DataFrame) else len(np.asarray(virtual["vid"]))
    stop = n_all if stop is None else min(stop, n_all)
    v = rows_of(virtual, start, stop)
    coh = cohort.iloc[start:stop]
    check_inputs(v, coh, model, estimands, endpoints)
    design, covariates = cohort_inputs(model, coh, arms, np.asarray(v["vid"], dtype=np.int64))
    vid, draws, cols = _outcome_columns(v, design, covariates, arms, endpoints, estimands,
                                        model=model, seed=seed)
    return _assemble(vid, draws, [a.name for a in arms], cols)


def _outcome_columns(v: Mapping[str, np.ndarray], design: Mapping[str, np.ndarray],
                     covariates: Mapping[str, np.ndarray], arms: Sequence[ArmConfig],
                     endpoints: Sequence[EndpointConfig], estimands: Sequence[EstimandConfig], *,
                     model: Model, seed: int
                     ) -> tuple[np.ndarray, np.ndarray, dict[str, list[np.ndarray]]]:
    """``vid``, ``draw`` and, per outcome column, one ``(n,)`` array per arm (config order).

    ``design`` and ``covariates`` are these patients' rows of
    :func:`~twintrial.arms.inputs.cohort_inputs`.
    """
    controls = [a for a in arms if a.control]
    if len(controls) != 1:
        raise ConfigError(f"arms: exactly one arm must have control: true; got {len(controls)}. "
                          "Mark the placebo/standard-of-care arm.")
    vid = np.asarray(v["vid"], dtype=np.int64)
    draws = np.asarray(v["draw"], dtype=np.int64)
    n = vid.size
    names = simulated_names(model, arms, endpoints)
    params = {k: np.asarray(v[k], dtype=float) for k in names}
    sigmas = {k: np.asarray(v[k], dtype=float) for k in model.residual.priors}
    base_design = dict(design)
    if not model.dose_design_keys:
        base_design["treatment"] = np.zeros(n)  # effects act on parameters, not via the design
    grid = visit_grid(arms, endpoints)
    z = normals(seed, "noise", vid, grid.size)
    e_drop = exponentials(seed, "dropout", vid)
    width = max((a.regimen.n_doses for a in arms if a.regimen is not None), default=1)
    u_adh = uniforms(seed, "adherence", vid, width) if model.dose_design_keys else None
    tte = [e for e in endpoints if e.type == "time_to_event"]
    e_event = exponentials(seed, "event", vid) if tte else None
    ep_by_name = {e.name: e for e in endpoints}
    ctx = _Chunk(model=model, covariates=covariates, n=n, names=names, sigmas=sigmas,
                 base_design=base_design, z=z, u_adh=u_adh, ctl_params={})
    ctl = controls[0]
    ctx.ctl_params = arm_parameters(params, ctl, draws, model=model, seed=seed)
    ctl_design = ctx.design_for(ctl, None)
    f_ctl = predict_numpy(model, ctx.ctl_params, grid, ctl_design)
    prognostic = _prognostic(estimands, ep_by_name, f_ctl, grid, ctx.ctl_params, ctl_design, model)
    end = study_end(endpoints)
    out_cols: dict[str, list[np.ndarray]] = {}
    # arms with equal inputs share one array object (equal rates: equal dropout times, the same
    # ``inf`` without rescue), which lets a chunk send such a column once per patient
    drop_by_rate: dict[float, np.ndarray] = {}
    never = np.full(n, np.inf)
    stop_by_inputs: dict[tuple[int, int], np.ndarray] = {}
    for arm in arms:
        p = arm_parameters(params, arm, draws, model=model, seed=seed)
        full = ctx.trajectory_inputs(arm, p, None)
        same_as_ctl = arm is ctl and full[0] is model
        f_full = f_ctl if same_as_ctl else ctx.predict(full, arm, p, None, grid, f_ctl, None)
        # the arm's own full-course prediction without a window (reused by effect windows)
        f_trt = f_full if full[0] is model and full[2] is ctx.base_design else None
        y_full = ctx.observe(f_full)
        rate = float(arm.dropout_rate)
        if rate not in drop_by_rate:
            drop_by_rate[rate] = dropout_times(e_drop, arm.dropout_rate)
        t_drop = drop_by_rate[rate]
        t_resc = never
        if arm.rescue is not None and end is not None:
            rv = rescue_visits(arm.rescue, float(end))
            if rv.size:
                t_resc = rescue_times(y_full[:, visit_index(grid, rv)], rv, arm.rescue,
                                      model=model, before=t_drop)
        pair = (id(t_drop), id(t_resc))
        if pair not in stop_by_inputs:
            stop_by_inputs[pair] = np.minimum(t_drop, t_resc)
        t_stop = stop_by_inputs[pair]
        treated = bool(arm.effects) or arm.regimen is not None
        policy_needed = treated and bool(np.isfinite(t_stop).any())
        policy: Inputs | None = None if policy_needed else full
        rows = (stopped_rows(full[2], t_stop) if policy_needed and full[0] is model
                and model.dose_design_keys else None)
        if not policy_needed:
            y_tp = y_full
        elif rows is not None:
            # doses stop: only the patients with a dose at or after their stop change
            stopped = stop_doses({k: _design_rows(v, rows) for k, v in full[2].items()},
                                 t_stop[rows])
            y_tp = _observe_rows(model, p, grid, rows, stopped, y_full, sigmas, z)
        else:
            policy = ctx.trajectory_inputs(arm, p, t_stop)
            if full[0] is model and policy[0] is model and policy[1] is full[1]:
                y_tp = _changed_rows_observations(model, p, grid, full[2], policy[2], f_full,
                                                  y_full, sigmas, z)
            else:
                y_tp = ctx.observe(ctx.predict(policy, arm, p, t_stop, grid, f_ctl, f_trt))

        def policy_inputs(arm: ArmConfig = arm, p: dict[str, np.ndarray] = p,
                          t_stop: np.ndarray = t_stop, known: Inputs | None = policy) -> Inputs:
            return known if known is not None else ctx.trajectory_inputs(arm, p, t_stop)

        cols: dict[str, np.ndarray] = {"dropout_time": t_drop, "rescue_time": t_resc,
                                       "discontinuation_time": t_stop}
        events = EventTimes(full, policy_inputs, e_event, t_stop) if e_event is not None else None
        for est in estimands:
            ep = ep_by_name[est.endpoint]
            if ep.type == "time_to_event":
                h = float(ep.horizon)  # type: ignore[arg-type]
                assert events is not None
                tp = events.policy(h) if est.intercurrent == "treatment_policy" else None
                t, ev = time_to_event_strategy(est.intercurrent, events.full(h), tp,
                                               t_stop, h)
                cols[est.name], cols[f"{est.name}_event"] = t, ev.astype(np.int8)
            else:
                cols[est.name] = continuous_outcome(est.intercurrent, y_full, y_tp, grid, t_stop,
                                                    ep, model=model)
            cols[f"{est.name}_prognostic"] = prognostic[est.name]
        for k, val in cols.items():
            out_cols.setdefault(k, []).append(val)
    return vid, draws, out_cols


def _changed_rows_observations(model: Model, p: Mapping[str, np.ndarray], grid: np.ndarray,
                               design: Mapping[str, np.ndarray],
                               new_design: Mapping[str, np.ndarray], f: np.ndarray, y: np.ndarray,
                               sigmas: Mapping[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """Observations under ``new_design`` given the prediction ``f`` and observations ``y`` under
    ``design`` (same parameters, sigmas and noise ``z``): value for value
    ``residual_observations(model, predict_numpy(model, p, grid, new_design), sigmas, z)``.

    Only the patients whose design rows differ (e.g. doses not given after discontinuation) are
    predicted and observed again; both steps are row-wise, so every other row is ``y``'s as it is.
    """
    rows = _changed_rows(design, new_design, f.shape[0])
    if rows is None:
        return residual_observations(model, predict_numpy(model, p, grid, new_design), sigmas, z)
    return _observe_rows(model, p, grid, rows,
                         {k: _design_rows(v, rows) for k, v in new_design.items()}, y, sigmas, z)


def _observe_rows(model: Model, p: Mapping[str, np.ndarray], grid: np.ndarray, rows: np.ndarray,
                  design_rows: Mapping[str, np.ndarray], y: np.ndarray,
                  sigmas: Mapping[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """``y`` with the patients ``rows`` predicted under ``design_rows`` (their rows of a new
    design) and observed again with their noise ``z[rows]``; ``y`` itself when ``rows`` is empty.

    Prediction and noise are row-wise, so a row computed here is bit for bit the row a whole
    population's new prediction and observation would give.
    """
    if rows.size == 0:
        return y
    f_rows = predict_numpy(model, {k: np.asarray(v)[rows] if np.ndim(v) >= 1 else v
                                   for k, v in p.items()}, grid, design_rows)
    out = y.copy(order="K")
    out[rows] = residual_observations(model, f_rows, {k: np.asarray(v)[rows]
                                                      for k, v in sigmas.items()}, z[rows])
    return out


def _changed_rows(design: Mapping[str, np.ndarray], new_design: Mapping[str, np.ndarray],
                  n: int) -> np.ndarray | None:
    """Indices of the patients whose rows differ between the designs (NaN equal to NaN);
    ``None`` when the designs do not have the same keys and shapes."""
    if set(design) != set(new_design) or any(np.shape(design[k]) != np.shape(new_design[k])
                                             for k in design):
        return None
    changed = np.zeros(n, dtype=bool)
    for k, new in new_design.items():
        old = np.asarray(design[k])
        new = np.asarray(new)
        if old is new:
            continue
        if old.ndim and old.strides[0] == 0 and new.strides[0] == 0:  # one row for all patients
            old, new = old[:1], new[:1]
        diff = old != new
        rows = diff.reshape(diff.shape[0], -1).any(axis=1) if diff.ndim > 1 else diff
        if old.dtype.kind == "f" and rows.any():
            # NaN-aware, on the differing rows only: NaN in both designs at one place is no change
            idx = np.flatnonzero(rows)
            o, w = old[idx], new[idx]
            keep = (o != w) & ~(np.isnan(o) & np.isnan(w))
            rows[idx] = keep.reshape(idx.size, -1).any(axis=1) if keep.ndim > 1 else keep
        changed |= rows
    return np.flatnonzero(changed)


def _design_rows(v: Any, rows: np.ndarray) -> np.ndarray:
    """``v[rows]``; a row shared by all patients (stride 0) stays a shared row (a view), so the
    model applies the same rule to these patients as to the whole chunk."""
    a = np.asarray(v)
    if a.ndim >= 1 and a.strides[0] == 0 and a.shape[0] > 0:
        return np.broadcast_to(a[0], (rows.size, *a.shape[1:]))
    return a[rows]


def _prognostic(estimands: Sequence[EstimandConfig], eps: Mapping[str, EndpointConfig],
                f_ctl: np.ndarray, grid: np.ndarray, ctl_params: Mapping[str, np.ndarray],
                ctl_design: Mapping[str, np.ndarray], model: Model) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    n = f_ctl.shape[0]
    for est in estimands:
        ep = eps[est.endpoint]
        if ep.type == "time_to_event":
            assert model.event is not None
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                out[est.name] = np.asarray(model.event.log_cumulative_hazard(
                    NUMPY, np.full(n, float(ep.horizon)), dict(ctl_params),  # type: ignore[arg-type]
                    dict(ctl_design), model), dtype=float)
        else:
            out[est.name] = value_at(f_ctl, grid, ep, model=model)
    return out


def _interleave(cols: Mapping[str, list[np.ndarray]], k: int) -> dict[str, np.ndarray]:
    """Per-arm ``(n,)`` arrays -> one ``(n * k,)`` array per column, vid-major (arms inner)."""
    out: dict[str, np.ndarray] = {}
    for name, per_arm in cols.items():
        arr = np.empty(per_arm[0].size * k, dtype=per_arm[0].dtype)
        for a, values in enumerate(per_arm):
            arr[a::k] = values
        out[name] = arr
    return out


def _repeat(values: np.ndarray, k: int) -> np.ndarray:
    """``np.repeat(values, k)`` for 1-d ``values`` as one broadcast copy (much faster for small k)."""
    out = np.empty((values.size, k), dtype=values.dtype)
    out[:] = values[:, None]
    return out.reshape(-1)


def _table(vid: np.ndarray, draws: np.ndarray, arm_names: Sequence[str],
           cols: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The outcomes table from interleaved columns (no copy of ``cols``)."""
    k, n = len(arm_names), vid.size
    arm = pd.Categorical.from_codes(np.tile(np.arange(k, dtype=np.int8), n),
                                    categories=list(arm_names))
    data: dict[str, Any] = {"vid": _repeat(vid, k), "arm": arm, "draw": _repeat(draws, k)}
    data.update(cols)
    return pd.DataFrame(data, copy=False)


def _assemble(vid: np.ndarray, draws: np.ndarray, arm_names: list[str],
              cols: Mapping[str, list[np.ndarray]]) -> pd.DataFrame:
    return _table(vid, draws, arm_names, _interleave(cols, len(arm_names)))


ARRAY_BYTES = 16 * 2**20
"""Target size of a chunk's largest temporary array for the automatic chunk size: it stays well
below glibc's largest heap-served block (32 MB, :data:`twintrial.compute.WORKER_MALLOC_ENV`), so
workers reuse warm memory instead of mapping fresh pages."""


def _max_auto_chunk(model: Model, arms: Sequence[ArmConfig],
                    endpoints: Sequence[EndpointConfig]) -> int:
    """Largest automatic chunk: ``(patients, visits[, doses])`` (or ``(patients, quadrature
    nodes)``) float arrays of ~``ARRAY_BYTES``.

    Dose superposition makes ``(patients, visits, doses)`` temporaries; a model with a
    dose-by-dose rule for the regimens' shared dose times (``predict_on_grid``) only
    ``(patients, visits)`` and ``(patients, doses)`` ones.
    """
    from twintrial.compute import MAX_AUTO_CHUNK

    doses = max((a.regimen.n_doses for a in arms if a.regimen is not None), default=1)
    visits = visit_grid(arms, endpoints).size
    if not model.dose_design_keys:
        row = 8 * visits
    elif type(model).predict_on_grid is not Model.predict_on_grid:
        row = 8 * max(visits, doses)
    else:
        row = 8 * visits * doses
    if model.event is not None and any(e.type == "time_to_event" for e in endpoints):
        row = max(row, 8 * int(getattr(model.event, "n_nodes", 15)))  # cumulative-hazard nodes
    blocks = max(1, ARRAY_BYTES // max(row, 1) // PATIENT_BLOCK)
    return min(MAX_AUTO_CHUNK, blocks * PATIENT_BLOCK)


def arms_chunk_bounds(n: int, model: Model, arms: Sequence[ArmConfig],
                      endpoints: Sequence[EndpointConfig], *, client: Any = None,
                      chunk_size: int | None = None) -> list[tuple[int, int]]:
    """The chunks of :func:`simulate_trial_outcomes` for ``n`` patients: ``chunk_size`` rows, or
    when ``None`` the automatic size for ``client``'s cluster
    (:func:`twintrial.compute.auto_chunk_size`, at most :func:`_max_auto_chunk`)."""
    from twintrial.compute import auto_chunk_size, chunk_bounds

    return chunk_bounds(n, chunk_size or auto_chunk_size(
        n, client, max_size=_max_auto_chunk(model, arms, endpoints)))


def _chunk_task(start: int, stop: int, *, virtual: Mapping[str, np.ndarray],
                design: Mapping[str, np.ndarray], covariates: Mapping[str, np.ndarray],
                arms: Sequence[ArmConfig], endpoints: Sequence[EndpointConfig],
                estimands: Sequence[EstimandConfig], model: Model, seed: int
                ) -> dict[str, tuple[np.ndarray, bool]]:
    """Outcome columns (no ``vid``/``draw``/``arm``) of rows ``start:stop``, in table order.

    Each is ``(values, per_patient)``: ``(n,)`` values the same in every arm (prognostic scores,
    equal dropout times) with ``True``, else the ``(n * arms,)`` interleaved column. ``virtual``,
    ``design`` and ``covariates`` are already these rows (see :func:`twintrial.compute.take_rows`).
    """
    _, _, cols = _outcome_columns(virtual, design, covariates, arms, endpoints, estimands,
                                  model=model, seed=seed)
    k = len(arms)
    shared = {name: per_arm[0] for name, per_arm in cols.items()
              if all(x is per_arm[0] for x in per_arm)}  # the same in every arm: send once
    per_arm = _interleave({name: v for name, v in cols.items() if name not in shared}, k)
    return {name: (shared[name], True) if name in shared else (per_arm[name], False)
            for name in cols}


def simulate_trial_outcomes(virtual: Mapping[str, Any] | pd.DataFrame, cohort: pd.DataFrame,
                            arms: Sequence[ArmConfig], endpoints: Sequence[EndpointConfig],
                            estimands: Sequence[EstimandConfig], *, model: Model, seed: int,
                            client: Any = None, chunk_size: int | None = None) -> pd.DataFrame:
    """The outcomes table for all virtual patients, chunk by chunk (on Dask if ``client``).

    Chunks are whole patient blocks (:func:`twintrial.compute.chunk_bounds`); with ``client``
    they run as Dask tasks (retried on another worker if one dies), each carrying only its own
    rows of what the simulation reads (:func:`~twintrial.arms.inputs.needed_columns`,
    :func:`~twintrial.arms.inputs.cohort_inputs`), and return plain arrays that are copied into
    the final columns as they arrive; results are identical for any ``chunk_size`` and any
    number of workers. ``chunk_size=None`` picks it from the cluster size
    (:func:`twintrial.compute.auto_chunk_size`). Other arguments as for :func:`simulate_arms`.
    """
    from twintrial.compute import for_each_chunk

    if isinstance(virtual, pd.DataFrame):
        v = {str(c): virtual[c].to_numpy() for c in virtual.columns}
    else:
        v = {str(k): np.asarray(val) for k, val in virtual.items() if np.ndim(val) == 1}
    cohort = cohort.reset_index(drop=True)
    n = len(v["vid"]) if "vid" in v else len(cohort)
    if n == 0:
        return simulate_arms(v, cohort, arms, endpoints, estimands, model=model, seed=seed,
                             start=0, stop=0)
    # the whole population checked once; chunks then carry only what they read
    check_inputs(v, cohort, model, estimands, endpoints)
    design, covariates = cohort_inputs(model, cohort, arms, np.asarray(v["vid"], np.int64))
    sliced = {"virtual": needed_columns(v, model, arms, endpoints), "design": design,
              "covariates": covariates}
    bounds = arms_chunk_bounds(n, model, arms, endpoints, client=client, chunk_size=chunk_size)
    k = len(arms)
    cols: dict[str, np.ndarray] = {}

    def collect(i: int, part: Mapping[str, tuple[np.ndarray, bool]]) -> None:
        start, stop = bounds[i]
        for name, (values, per_patient) in part.items():
            if name not in cols:
                cols[name] = np.empty(n * k, dtype=values.dtype)
            target = cols[name][start * k:stop * k]
            if per_patient:
                target.reshape(stop - start, k)[:] = values[:, None]
            else:
                target[:] = values

    for_each_chunk(_chunk_task, bounds, collect, client=client, label="arms",
                   sliced=sliced, arms=tuple(arms),
                   endpoints=tuple(endpoints), estimands=tuple(estimands), model=model,
                   seed=int(seed))
    # every chunk returns its columns in the same (configuration) order
    return _table(np.asarray(v["vid"], dtype=np.int64), np.asarray(v["draw"], dtype=np.int64),
                  [a.name for a in arms], cols)
