"""Treatment effects on model parameters (disease models) and the effect-window model.

Effect sizes are *trial-level* uncertain quantities: one size per posterior draw (so the
uncertainty about the effect propagates like the parameter uncertainty), drawn from the
``size`` distribution with the stream ``(seed, "arms", "effect", arm, effect index)`` in blocks
of :data:`~twintrial.rng.PATIENT_BLOCK` draw indices. Patients sharing a posterior draw share
the effect size.

Types: ``multiplier`` (``p * s``), ``additive`` (``p + s``) and ``log_additive`` (a shift on
the parameter's transformed scale: ``p * exp(s)`` for log-transformed parameters, ``p + s`` for
identity-transformed ones). Adherence for disease models is the fraction ``f`` of the effect
realised: ``s -> 1 + f (s - 1)`` for multipliers, ``s -> f s`` otherwise.

Effect windows (:class:`WindowedModel`): an effect that starts at ``a`` (onset) and stops at
``b`` (discontinuation) gives, with ``D(t) = f_treated(t) - f_control(t)``,

.. math:: f(t) = f_{ctl}(t) + D(\\min(\\max(t, a), b)) - [a > 0]\\,D(a),

i.e. the state is continuous at onset and at discontinuation and only the *change* accrued while
on treatment is kept; after ``b`` the untreated course resumes from the state reached (for a
slope effect: ``m(t) = b_0 + b_1 t + \\delta(\\min(\\max(t, a), b) - a)``; ``b < a`` means no
effect). With ``a = 0`` and ``t <= b``
it returns ``f_treated(t)`` exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from twintrial.arms.streams import STAGE
from twintrial.arms_config import ArmConfig, DistributionSpec, EffectConfig
from twintrial.exceptions import ModelError
from twintrial.models.backend import NUMPY
from twintrial.models.base import Model
from twintrial.models.simulate import subset_rows
from twintrial.rng import PATIENT_BLOCK, block_generators

CONTROL_PREFIX = "ctl__"
WINDOW_KEYS = ("_win_a", "_win_b", "_win_jump")


def _sample(spec: DistributionSpec, gen: np.random.Generator, size: int) -> np.ndarray:
    p = spec.params
    if spec.dist == "fixed":
        return np.full(size, float(p["value"]))
    if spec.dist == "normal":
        return p["mean"] + p["sd"] * gen.standard_normal(size)
    if spec.dist == "lognormal":
        return p["median"] * np.exp(p["sigma"] * gen.standard_normal(size))
    if spec.dist == "uniform":
        return p["low"] + (p["high"] - p["low"]) * gen.random(size)
    if spec.dist == "beta":
        return gen.beta(p["a"], p["b"], size)
    raise ModelError(f"arms.effects.size.dist: unknown distribution; got {spec.dist!r}. Use fixed, "
                     "normal, lognormal, uniform or beta.")


def draw_effect_sizes(spec: DistributionSpec, draws: np.ndarray, *, arm: str, index: int,
                      seed: int) -> np.ndarray:
    """Effect size for each posterior draw index in ``draws`` (``(n,)`` -> ``(n,)``)."""
    draws = np.asarray(draws, dtype=np.int64)
    if draws.size == 0:
        return np.empty(0)
    if draws.min() < 0:
        raise ValueError("posterior draw indices must be non-negative")
    # the sizes of every block that occurs, then one gather (draw indices are few: no sort)
    present = np.flatnonzero(np.bincount(draws // PATIENT_BLOCK))
    table = np.empty((int(present[-1]) + 1) * PATIENT_BLOCK)
    gens = block_generators(seed, STAGE, "effect", arm, index, blocks=present.tolist())
    for block, gen in zip(present.tolist(), gens, strict=True):
        table[block * PATIENT_BLOCK:(block + 1) * PATIENT_BLOCK] = _sample(spec, gen, PATIENT_BLOCK)
    return table[draws]


def apply_effect(value: np.ndarray, effect: EffectConfig, size: np.ndarray, *, model: Model,
                 fraction: float = 1.0) -> np.ndarray:
    """Parameter values under ``effect`` with per-patient ``size`` (``fraction`` realised)."""
    if effect.type == "multiplier":
        return value * (1.0 + fraction * (size - 1.0))
    s = fraction * size
    if effect.type == "additive":
        return value + s
    transform = _transform(model, effect.parameter)
    return value * np.exp(s) if transform == "log" else value + s


def _transform(model: Model, name: str) -> str:
    params = list(model.parameters) + list(model.event.parameters if model.event else ())
    for p in params:
        if p.name == name:
            return p.transform
    raise ModelError(f"arms.effects.parameter: model '{model.name}' has no parameter {name!r}. "
                     f"Use one of {[p.name for p in params]}.")


def arm_parameters(params: Mapping[str, np.ndarray], arm: ArmConfig, draws: np.ndarray, *,
                   model: Model, seed: int) -> dict[str, np.ndarray]:
    """Individual parameters under ``arm`` (effects applied, adherence as fraction realised)."""
    out = dict(params)
    for k, eff in enumerate(arm.effects):
        if eff.parameter not in out:
            raise ModelError(f"arms.{arm.name}.effects[{k}].parameter: {eff.parameter!r} not among "
                             f"the virtual patients' parameters {sorted(out)}.")
        size = draw_effect_sizes(eff.size, draws, arm=arm.name, index=k, seed=seed)
        out[eff.parameter] = apply_effect(np.asarray(out[eff.parameter], float), eff, size,
                                          model=model, fraction=arm.adherence)
    return out


class WindowedModel:
    """A model whose treatment effect acts only on ``[onset, stop)`` (see the module docstring).

    ``params`` hold the treated parameters plus the control ones prefixed ``ctl__``; ``design``
    holds ``_win_a`` (onset), ``_win_b`` (stop, ``inf`` for never) and ``_win_jump`` (1 when the
    onset is > 0) per patient. It exposes what :func:`twintrial.models.simulate.predict_numpy`
    and :func:`~twintrial.models.simulate.simulate_event_times` use.
    """

    def __init__(self, base: Model) -> None:
        self.base = base
        self.name = base.name
        self.event = None if base.event is None else WindowedEvent(base)
        self.residual = base.residual
        self.dose_design_keys = base.dose_design_keys

    def predict(self, xp: Any, params: Mapping[str, Any], t: Any, design: Mapping[str, Any]) -> Any:
        """Prediction with the effect window applied."""
        trt = {k: v for k, v in params.items() if not k.startswith(CONTROL_PREFIX)}
        ctl = {**trt, **{k[len(CONTROL_PREFIX):]: v for k, v in params.items()
                         if k.startswith(CONTROL_PREFIX)}}
        a, b, jump = (design[k] for k in WINDOW_KEYS)
        b = xp.maximum(b, a)  # stopped before onset: no effect at all
        f_trt = self.base.predict(xp, trt, t, design)
        f_ctl = self.base.predict(xp, ctl, t, design)
        s = xp.minimum(xp.maximum(t, a), b)
        d_s = self.base.predict(xp, trt, s, design) - self.base.predict(xp, ctl, s, design)
        a_t = a + 0.0 * t
        d_a = self.base.predict(xp, trt, a_t, design) - self.base.predict(xp, ctl, a_t, design)
        windowed = f_ctl + d_s - jump * d_a
        return xp.where((jump == 0) & (t <= b), f_trt, windowed)


def windowed_inputs(treated: Mapping[str, np.ndarray], control: Mapping[str, np.ndarray],
                    design: Mapping[str, np.ndarray], *, onset: float, stop: np.ndarray,
                    names: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Parameters and design for :class:`WindowedModel` (control copies of ``names`` only)."""
    n = len(stop)
    params = dict(treated)
    params.update({CONTROL_PREFIX + k: control[k] for k in names})
    d = dict(design)
    d["_win_a"] = np.full(n, float(onset))
    d["_win_b"] = np.asarray(stop, dtype=float)
    d["_win_jump"] = np.full(n, 1.0 if onset > 0 else 0.0)
    return params, d


def _col(v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    return a[:, None] if a.ndim == 1 else a


def windowed_prediction(model: Model, treated: Mapping[str, np.ndarray],
                        control: Mapping[str, np.ndarray], t: np.ndarray,
                        design: Mapping[str, np.ndarray], *, onset: float, stop: np.ndarray,
                        names: Sequence[str], f_trt: np.ndarray, f_ctl: np.ndarray) -> np.ndarray:
    """:class:`WindowedModel` prediction ``(n, T)`` reusing the full-course predictions.

    Equal, value for value, to ``predict_numpy(WindowedModel(model), *windowed_inputs(treated,
    control, design, onset=onset, stop=stop, names=names), t)`` for a model without dose design
    keys, given ``f_trt = predict_numpy(model, treated, t, design)`` and ``f_ctl`` likewise for
    ``control``: only the predictions at the clipped times ``min(max(t, a), b)`` are computed at
    every visit, the onset difference ``D(a)`` once per patient, and only for the patients
    whose window matters at ``t`` (onset > 0, or a stop before the last visit): every other row
    is ``f_trt`` as it is.
    """
    stop = np.asarray(stop, dtype=float)
    t_max = float(np.max(t)) if np.size(t) else 0.0
    if onset == 0:
        rows = np.flatnonzero(~(np.maximum(stop, 0.0) >= t_max))  # NaN stops: computed
        if rows.size < stop.size:
            out = np.array(f_trt, dtype=float, copy=True)
            if rows.size:
                out[rows] = _windowed(model, subset_rows(treated, rows),
                                      subset_rows(control, rows), t, subset_rows(design, rows),
                                      onset=onset, stop=stop[rows], names=names,
                                      f_trt=f_trt[rows], f_ctl=f_ctl[rows])
            return out
    return _windowed(model, treated, control, t, design, onset=onset, stop=stop, names=names,
                     f_trt=f_trt, f_ctl=f_ctl)


def _windowed(model: Model, treated: Mapping[str, np.ndarray], control: Mapping[str, np.ndarray],
              t: np.ndarray, design: Mapping[str, np.ndarray], *, onset: float, stop: np.ndarray,
              names: Sequence[str], f_trt: np.ndarray, f_ctl: np.ndarray) -> np.ndarray:
    wp, wd = windowed_inputs(treated, control, design, onset=onset, stop=stop, names=names)
    trt = {k: _col(v) for k, v in wp.items() if not k.startswith(CONTROL_PREFIX)}
    ctl = {**trt, **{k[len(CONTROL_PREFIX):]: _col(v) for k, v in wp.items()
                     if k.startswith(CONTROL_PREFIX)}}
    d = {k: _col(v) for k, v in wd.items()}
    tt = np.asarray(t, dtype=float)[None, :]
    a, b, jump = (d[k] for k in WINDOW_KEYS)
    b = np.maximum(b, a)
    s = np.minimum(np.maximum(tt, a), b)
    d_s = model.predict(NUMPY, trt, s, d) - model.predict(NUMPY, ctl, s, d)
    a_t = a + 0.0 * tt[:, :1]  # a + 0 t is a at every (finite) visit: one column suffices
    d_a = model.predict(NUMPY, trt, a_t, d) - model.predict(NUMPY, ctl, a_t, d)
    windowed = f_ctl + d_s - jump * d_a
    return np.where((jump == 0) & (tt <= b), f_trt, windowed).astype(float, copy=False)


class _OffsetModel:
    """``base`` with its prediction shifted by a per-patient constant (design key ``_offset``)."""

    def __init__(self, base: Model) -> None:
        self.base = base
        self.name = base.name
        self.dose_design_keys = base.dose_design_keys

    def predict(self, xp: Any, params: Mapping[str, Any], t: Any, design: Mapping[str, Any]) -> Any:
        return self.base.predict(xp, params, t, design) + design["_offset"]


def _log_sub_exp(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log(exp(x) - exp(y))`` for ``x >= y`` (``-inf`` when equal)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return x + np.log1p(-np.exp(np.minimum(y - x, 0.0)))


class WindowedEvent:
    """The base model's event submodel seen through an effect window (:class:`WindowedModel`).

    The hazard is the base hazard of the windowed prediction. That prediction has kinks at the
    window's ends, which one quadrature rule over ``[0, T]`` resolves poorly (``log H`` off by up
    to ~2e-3, event times by up to 0.014 years against an adaptive ODE solution in the arms
    benchmark's population), so the cumulative hazard is summed over the pieces between them. On
    each piece the windowed prediction is a smooth model shifted by a constant, with
    ``D = f_treated - f_control`` and ``J = [onset > 0]``:

    - ``[0, a]`` (only when ``J``): control;
    - ``[a J, b]``: treated, shifted by ``-J D(a)``;
    - ``[b, inf)``: control, shifted by ``D(b) - J D(a)``.

    A piece ``[lo, hi]`` contributes ``H_p(min(T, hi)) - H_p(lo)``, each term the base rule's
    cumulative hazard from 0 of that piece's smooth model (:class:`_OffsetModel`), so the base
    rule's accuracy (exact Weibull baseline, graded nodes) carries over. Patients whose treated
    parameters equal their control ones have no kink: the base rule over ``[0, T]``, as in the
    control arm. NumPy only: windows are an arms-stage device.
    """

    def __init__(self, base: Model) -> None:
        assert base.event is not None
        self.model_base, self.base = base, base.event
        self.n_nodes = base.event.n_nodes
        self.covariate_names = base.event.covariate_names
        self.parameters = base.event.parameters

    def log_hazard(self, xp: Any, t: Any, params: Mapping[str, Any], design: Mapping[str, Any],
                   model: Any) -> Any:
        return self.base.log_hazard(xp, t, params, design, model)

    def log_cumulative_hazard(self, xp: Any, T: Any, params: Mapping[str, Any],
                              design: Mapping[str, Any], model: Any) -> Any:
        base, ev = self.model_base, self.base
        T = np.asarray(T, dtype=float)
        if T.ndim != 1:
            raise ModelError("WindowedEvent.log_cumulative_hazard: one time per patient expected; "
                             f"got shape {T.shape}.")
        trt = {k: v for k, v in params.items() if not k.startswith(CONTROL_PREFIX)}
        ctl = {**trt, **{k[len(CONTROL_PREFIX):]: v for k, v in params.items()
                         if k.startswith(CONTROL_PREFIX)}}
        a, b, jump = (np.broadcast_to(np.asarray(design[k], dtype=float), T.shape)
                      for k in WINDOW_KEYS)
        b = np.maximum(b, a)
        plain = {k: v for k, v in design.items() if k not in WINDOW_KEYS}

        def shift(p: Mapping[str, Any], t: np.ndarray) -> np.ndarray:
            return np.asarray(base.predict(NUMPY, p, t, plain), dtype=float)

        start = a * jump  # where the treated piece starts: the onset, or 0
        with np.errstate(invalid="ignore"):
            d_a = np.where(jump > 0, shift(trt, a) - shift(ctl, a), 0.0)
            b_fin = np.where(np.isfinite(b), b, 0.0)
            d_b = shift(trt, b_fin) - shift(ctl, b_fin)
        pieces = ((ctl, np.zeros_like(T), np.zeros_like(T), start),
                  (trt, -d_a, start, b),
                  (ctl, d_b - d_a, b, np.full_like(T, np.inf)))
        total = np.full(T.shape, -np.inf)
        # patients whose treated parameters are their control ones (e.g. a multiplier of 1): no
        # kink, the base rule over [0, T] as for the control arm, bit for bit
        same = np.ones(T.shape, dtype=bool)
        for k in params:
            if k.startswith(CONTROL_PREFIX):
                name = k[len(CONTROL_PREFIX):]
                same &= np.broadcast_to(np.asarray(trt[name]) == np.asarray(ctl[name]), T.shape)
        if same.any():
            rows = np.flatnonzero(same)
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                total[rows] = ev.log_cumulative_hazard(NUMPY, T[rows], subset_rows(ctl, rows),
                                                       subset_rows(plain, rows), base)
        offset_model = _OffsetModel(base)
        for p, offset, lo, hi in pieces:
            rows = np.flatnonzero((lo < T) & (lo < hi) & ~same)
            if rows.size == 0:
                continue
            pr = subset_rows(p, rows)
            dr = {**subset_rows(plain, rows), "_offset": offset[rows]}
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                upper = ev.log_cumulative_hazard(NUMPY, np.minimum(T[rows], hi[rows]), pr, dr,
                                                 offset_model)
                inner = lo[rows] > 0
                if inner.any():  # the piece starts after 0: H(min(T, hi)) - H(lo)
                    lower = ev.log_cumulative_hazard(NUMPY, lo[rows][inner], subset_rows(pr, inner),
                                                     subset_rows(dr, inner), offset_model)
                    upper[inner] = _log_sub_exp(upper[inner], lower)
                total[rows] = np.logaddexp(total[rows], upper)
        return total
