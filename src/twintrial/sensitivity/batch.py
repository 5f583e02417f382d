"""One sub-batch of the sensitivity simulator: arm parameters, trajectories, endpoint values.

See :mod:`twintrial.sensitivity.simulator` for the model; :class:`SampleBatch` holds ``(b, n)``
arrays (flattened to ``b * n`` rows) and computes each arm/endpoint value once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from twintrial.arms.effects import WindowedModel, apply_effect, windowed_inputs
from twintrial.arms.endpoints import responder, value_at
from twintrial.arms.intercurrent import rescue_times
from twintrial.arms_config import ArmConfig, DistributionSpec, EndpointConfig
from twintrial.models.backend import NUMPY
from twintrial.models.simulate import predict_numpy
from twintrial.sensitivity.power import logrank_power_vec, t_power, two_proportion_power

if TYPE_CHECKING:
    from twintrial.sensitivity.simulator import TrialSensitivityModel

FloatArray = npt.NDArray[np.float64]
_UNIT_GRID = np.array([0.0, 1.0])


@dataclass(frozen=True)
class ResolvedOutput:
    """An output bound to its endpoint, treated arm and intercurrent strategy."""

    name: str
    quantity: str
    endpoint: EndpointConfig
    arm: ArmConfig
    strategy: str


def _ppf(spec: DistributionSpec, q: FloatArray) -> FloatArray:
    """Quantiles of an effect-size distribution (``arms[].effects[].size``)."""
    p = spec.params
    if spec.dist == "fixed":
        return np.full(q.shape, float(p["value"]))
    if spec.dist == "normal":
        return p["mean"] + p["sd"] * special.ndtri(q)
    if spec.dist == "lognormal":
        return p["median"] * np.exp(p["sigma"] * special.ndtri(q))
    if spec.dist == "uniform":
        return p["low"] + (p["high"] - p["low"]) * q
    return np.asarray(stats.beta.ppf(q, p["a"], p["b"]), dtype=float)


class SampleBatch:
    """One sub-batch: parameters ``(b, n)`` and the arm/endpoint values computed once each."""

    def __init__(self, sm: TrialSensitivityModel, cols: Mapping[str, FloatArray],
                 params: Mapping[str, FloatArray], design: Mapping[str, FloatArray],
                 b: int) -> None:
        self.sm, self.cols, self.b = sm, cols, b
        self.params = {k: np.ascontiguousarray(v).reshape(-1) for k, v in params.items()}
        self.design = {k: np.ascontiguousarray(v).reshape(-1) for k, v in design.items()}
        self.cache: dict[Any, Any] = {}

    def _flat(self, v: Any) -> FloatArray:
        return np.ascontiguousarray(np.broadcast_to(v, (self.b, self.sm.n))).reshape(-1)

    def arm_params(self, arm: ArmConfig, q: float | None = None) -> dict[str, FloatArray]:
        """Individual parameters under ``arm``; ``q``: every effect at that size quantile."""
        key = ("params", arm.name, q)
        if key in self.cache:
            return self.cache[key]
        sm, out = self.sm, dict(self.params)
        frac = arm.adherence
        if not arm.control:
            frac = sm._value(self.cols, "operational.adherence", frac)
        frac = sm._value(self.cols, f"arms.{arm.name}.adherence", frac)
        for k, eff in enumerate(arm.effects):
            size = sm._value(self.cols, f"arms.{arm.name}.effect", None)
            if size is None:
                size = (np.full(1, _ppf(eff.size, np.array([q]))[0]) if q is not None
                        else sm.sizes[(arm.name, k)][None, :])
            out[eff.parameter] = apply_effect(out[eff.parameter], eff, self._flat(size),
                                              model=sm.model, fraction=self._flat(frac))
        self.cache[key] = out
        return out

    def stop_times(self, arm: ArmConfig, q: float | None = None) -> FloatArray:
        """Discontinuation times ``min(dropout, rescue)`` per (sample, patient), flattened.

        Dropout ``E / rate``; rescue (if the arm has one) at the first nominal rescue visit where
        the full-treatment observed biomarker crosses the threshold before dropout
        (:func:`~twintrial.arms.intercurrent.rescue_times`, as in the arms stage).
        """
        key = ("stop", arm.name, q)
        if key in self.cache:
            return self.cache[key]
        sm = self.sm
        rate = sm._value(self.cols, "operational.dropout_rate", arm.dropout_rate)
        rate = sm._value(self.cols, f"arms.{arm.name}.dropout_rate", rate)
        with np.errstate(divide="ignore", over="ignore"):
            stop = self._flat(sm.e_drop[None, :] / np.maximum(np.asarray(rate, float), 0.0))
        if arm.name in sm.rescue:
            rv, z = sm.rescue[arm.name]
            m, p, d = sm.model, self.arm_params(arm, q), self.design
            if arm.effects and arm.onset > 0:
                m = WindowedModel(sm.model)
                p, d = windowed_inputs(p, self.arm_params(sm.control), self.design,
                                       onset=arm.onset, stop=np.full(stop.shape, np.inf),
                                       names=list(self.params))
            f = predict_numpy(m, p, rv, d)
            sig = {k: self.params[k][:, None] for k in sm.model.residual.priors}
            y = f + np.asarray(sm.model.residual.sd(NUMPY, f, sig)) * np.tile(z, (self.b, 1))
            stop = np.minimum(stop, rescue_times(y, rv, arm.rescue, model=sm.model,  # type: ignore[arg-type]
                                                 before=stop))
        self.cache[key] = stop
        return stop

    def inputs(self, arm: ArmConfig, strategy: str, q: float | None
               ) -> tuple[Any, dict[str, FloatArray], dict[str, FloatArray], FloatArray]:
        """(model, parameters, design, stop times) of ``arm`` under ``strategy``."""
        key = ("inputs", arm.name, strategy == "treatment_policy", q)
        if key in self.cache:
            return self.cache[key]
        p = self.arm_params(arm, q)
        stop = self.stop_times(arm, q)
        windowed = bool(arm.effects) and (arm.onset > 0 or (
            strategy == "treatment_policy" and bool(np.isfinite(stop).any())))
        if not windowed:
            self.cache[key] = (self.sm.model, p, self.design, stop)
            return self.cache[key]
        ctl = self.arm_params(self.sm.control)
        names = list(self.params)
        s = stop if strategy == "treatment_policy" else np.full(stop.shape, np.inf)
        wp, wd = windowed_inputs(p, ctl, self.design, onset=arm.onset, stop=s, names=names)
        self.cache[key] = (WindowedModel(self.sm.model), wp, wd, stop)
        return self.cache[key]

    def _rows(self, arm: ArmConfig, strategy: str, q: float | None, t: FloatArray,
              compute: Callable[..., FloatArray]) -> FloatArray:
        """``compute(model, params, design, rows)`` up to times ``t`` for every row.

        With an effect window starting at 0, rows still on treatment at ``t`` (``stop >= t``)
        are exactly the plain treated model (``WindowedModel`` returns its ``f_trt`` there), so
        only the rows that stopped before ``t`` are computed through the window.
        """
        m, p, d, stop = self.inputs(arm, strategy, q)
        if not isinstance(m, WindowedModel) or arm.onset > 0:
            return compute(m, p, d, None)
        out = np.array(compute(self.sm.model, self.arm_params(arm, q), self.design, None))
        rows = np.flatnonzero(stop < t)
        if rows.size:
            out[rows] = compute(m, {k: v[rows] for k, v in p.items()},
                                {k: v[rows] for k, v in d.items()}, rows)
        return out

    def values(self, arm: ArmConfig, ep: EndpointConfig, strategy: str,
               q: float | None = None) -> FloatArray:
        """Endpoint values ``(b, n)`` of ``arm`` (continuous value, or responder 0/1)."""
        key = ("values", arm.name, ep.name, strategy, q)
        if key in self.cache:
            return self.cache[key]
        sm = self.sm
        m, p, d, stop = self.inputs(arm, strategy, q)
        t_end = self._flat(sm._value(self.cols, "design.visit_time", float(ep.time)))  # type: ignore[arg-type]
        t = t_end
        if strategy == "while_on_treatment":  # last scheduled visit at or before discontinuation
            iv = ep.visit_interval
            on = np.floor(stop / iv + 1e-9) * iv if iv else np.zeros_like(stop)
            t = np.where(stop >= t_end, t_end, np.minimum(on, t_end))
        sig = {k: self.params[k][:, None] for k in sm.model.residual.priors}
        y = np.empty((len(t), 2))
        for j, tt in enumerate((np.zeros_like(t), t)):  # (N, 1) each: contiguous, fast
            f = self._rows(arm, strategy, q, tt, lambda m_, p_, d_, r, tt=tt: predict_numpy(
                m_, p_, tt[:, None] if r is None else tt[r, None], d_))
            z = self._flat(sm.z[ep.name][:, j])[:, None]
            y[:, j:j + 1] = f + np.asarray(sm.model.residual.sd(NUMPY, f, sig)) * z
        # columns: baseline and the (per-row) visit time, addressed as a unit grid [0, 1]
        val = value_at(y, _UNIT_GRID, replace(ep, time=1.0), model=sm.model)
        if ep.type == "responder":
            val = responder(val, ep)
            if strategy == "composite":
                val = np.where(stop <= t_end, 0.0, val)
        out = val.reshape(self.b, sm.n)
        self.cache[key] = out
        return out

    def survival(self, arm: ArmConfig, ep: EndpointConfig, strategy: str,
                 q: float | None = None) -> FloatArray:
        """Per-patient survival ``exp(-H_i(horizon))`` ``(b, n)`` from the event submodel."""
        key = ("surv", arm.name, ep.name, strategy, q)
        if key in self.cache:
            return self.cache[key]
        sm = self.sm
        assert sm.model.event is not None
        event = sm.model.event
        h = self._flat(sm._value(self.cols, "design.horizon", float(ep.horizon)))  # type: ignore[arg-type]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            log_h = self._rows(arm, strategy, q, h, lambda m_, p_, d_, r: np.asarray(
                event.log_cumulative_hazard(NUMPY, h if r is None else h[r], p_, d_, m_), float))
        out = np.exp(-np.exp(np.asarray(log_h, float))).reshape(self.b, sm.n)
        self.cache[key] = out
        return out

    def output(self, o: ResolvedOutput, n_arm: FloatArray) -> FloatArray:
        """One output column ``(b,)``."""
        if o.quantity == "probability_of_success":
            if self.sm.by_target.get(f"arms.{o.arm.name}.effect") or not o.arm.effects:
                return self._power(o, n_arm, None)
            return np.mean([self._power(o, n_arm, float(q)) for q in self.sm.q_points], axis=0)
        if o.quantity == "power":
            return self._power(o, n_arm, None)
        ctl = self.sm.control
        if o.endpoint.type == "time_to_event":
            return self._log_hr(o, None)[0]
        trt = self.values(o.arm, o.endpoint, o.strategy)
        if o.quantity == "responder_rate":
            return np.nanmean(trt, axis=1)
        return np.nanmean(trt - self.values(ctl, o.endpoint, o.strategy), axis=1)

    def _log_hr(self, o: ResolvedOutput, q: float | None) -> tuple[FloatArray, FloatArray]:
        s_t = self.survival(o.arm, o.endpoint, o.strategy, q).mean(axis=1)
        s_c = self.survival(self.sm.control, o.endpoint, o.strategy).mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_hr = np.log(np.log(s_t) / np.log(s_c))
        return log_hr, (1.0 - s_t) + (1.0 - s_c)

    def _power(self, o: ResolvedOutput, n_arm: FloatArray, q: float | None) -> FloatArray:
        a, ctl, ep = self.sm.alpha, self.sm.control, o.endpoint
        if ep.type == "time_to_event":
            log_hr, p_events = self._log_hr(o, q)
            return logrank_power_vec(log_hr, n_arm * p_events, alpha=a)
        trt = self.values(o.arm, ep, o.strategy, q)
        con = self.values(ctl, ep, o.strategy)
        if ep.type == "responder":
            return two_proportion_power(np.nanmean(trt, axis=1), np.nanmean(con, axis=1), n_arm,
                                        alpha=a)
        delta = np.nanmean(trt, axis=1) - np.nanmean(con, axis=1)
        sd = np.sqrt(0.5 * (np.nanvar(trt, axis=1, ddof=1) + np.nanvar(con, axis=1, ddof=1)))
        return t_power(delta, sd, n_arm, alpha=a)
