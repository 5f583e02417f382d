r"""The trial simulator as a vectorised sensitivity model: a batch of samples -> trial outputs.

:class:`TrialSensitivityModel` evaluates ``B`` samples of the sensitivity inputs at once by
building ``(B, n_patients)`` parameter arrays and simulating paired control/treated outcomes
through the SAME functions as the arms stage: :func:`~twintrial.models.simulate.predict_numpy`
(with :class:`~twintrial.arms.effects.WindowedModel` for effects stopped at discontinuation),
:func:`~twintrial.arms.effects.apply_effect` and the drawn effect sizes of
:func:`~twintrial.arms.effects.draw_effect_sizes`, :func:`~twintrial.arms.endpoints.value_at` and
:func:`~twintrial.arms.endpoints.responder`, the model's residual error and, for time-to-event
endpoints, the event submodel's ``log_cumulative_hazard``. There is no second model implementation.

Intercurrent events: dropout (``E / rate``) and rescue (at the nominal rescue visits, on the
full-treatment observed biomarker, :func:`~twintrial.arms.intercurrent.rescue_times`) stop the
treatment; strategies as in :mod:`twintrial.arms.intercurrent`.

Common random numbers: residual noise and dropout come from the arms stage's streams
(:mod:`twintrial.arms.streams`) keyed by ``(seed, patient)``, with the noise column of the
endpoint's nominal visit; the same numbers are used for every sample, so the outputs are a
deterministic function of each sample row, identical for any batch size and worker count, and
equal to the arms stage's at the nominal inputs (same seed, hypothetical or treatment-policy).

Targets (``sensitivity.inputs[].target``)
-----------------------------------------
``model.<p>_typical``
    Sets the typical value of structural parameter ``p`` (natural units): every patient's
    transformed parameter is shifted by ``g(value) - mean_i g(p_i)`` (``g`` = log for
    log-transformed parameters, identity otherwise), so the cohort average on the transformed
    scale becomes ``g(value)`` and covariate effects, random effects (IIV) and the spread between
    posterior draws are preserved.
``model.<e>``
    Sets an event-submodel parameter (e.g. ``association``, ``weibull_scale``) or a residual SD
    (e.g. ``sigma_add``) to the value for every patient (natural units).
``arms.<arm>.effect``
    The effect size of the arm's (single) effect, replacing the drawn sizes.
``arms.<arm>.adherence`` / ``operational.adherence``
    Fraction of the effect realised in that arm / in every non-control arm.
``arms.<arm>.dropout_rate`` / ``operational.dropout_rate``
    Dropout rate (per model time unit) of that arm / of every arm.
``design.n_per_arm``
    Patients per arm of the trial whose power and probability of success are computed.
``design.visit_time`` / ``design.horizon``
    Time of every continuous/responder endpoint / horizon of every time-to-event endpoint.
``cohort.shift.<c>`` / ``cohort.scale.<c>``
    Adds the value to (covariate units) / multiplies by the value covariate ``c`` of every
    patient (use ``scale`` for positive covariates such as bilirubin). Its effect goes through
    the twin-drawing function given as ``redraw`` (covariate effects, baseline conditioning):
    the virtual patients are redrawn (same random numbers) on a grid of
    :data:`SHIFT_GRID_POINTS` shifts spanning the input's distribution and each patient's
    transformed parameters are interpolated linearly between grid points (in the shift, or in
    the log of the scale factor: exact for linear (shift) and power (scale) covariate effects). Several shifts
    combine additively on the transformed scale (exact for covariate effects). Hazard
    covariates ``x_<c>`` of the design are shifted (scaled) exactly.
``none.<label>``
    Changes nothing (a reference input: its indices estimate the estimator's noise floor).

Outputs (``sensitivity.outputs[]``), per sample, for the output's endpoint (default: the first
continuous, or responder, endpoint) and the estimand that uses it (its treated arm and
intercurrent strategy; default the only non-control arm, treatment policy):

``mean_effect``
    Continuous: mean paired difference treated - control of the endpoint value; responder:
    difference of responder rates; time to event: log hazard ratio (below).
``responder_rate``
    Responder rate in the treated arm (responder endpoints).
``power``
    Continuous: exact two-sample t-test power (:func:`twintrial.analysis.t_test_power`'s
    formula, vectorised over samples) for the simulated mean difference and the pooled SD
    ``sqrt((var_t + var_c) / 2)`` at ``n_per_arm``; responder: normal-approximation power of the
    two-proportion test; time to event: Schoenfeld log-rank power with the expected events
    ``n_per_arm (P_c + P_t)`` (``P`` the mean probability of an event by the horizon,
    ``1 - exp(-H_i)``) and the HR below. Two-sided at ``alpha``.
``probability_of_success``
    Assurance over the treatment-effect uncertainty: the power averaged over
    ``assurance_points`` quantiles (midpoints on the probability scale) of the treated arm's
    effect-size distribution, the size being the same for every patient; equal to ``power`` when
    the arm's effect is itself an input.

Time-to-event HR: the ratio of the marginal cumulative hazards at the horizon,
``HR = log(mean_i S_t,i) / log(mean_i S_c,i)`` with ``S_i = exp(-H_i(horizon))`` from the event
submodel (no event-time simulation: outputs are expectations given the twins, so they carry no
event-time Monte Carlo noise). Only hypothetical and treatment-policy strategies are supported
for time-to-event outputs; they cost ``n_nodes`` hazard evaluations per patient and arm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial.arms.effects import draw_effect_sizes
from twintrial.arms.endpoints import visit_index
from twintrial.arms.intercurrent import rescue_visits
from twintrial.arms.simulate import visit_grid
from twintrial.arms.streams import exponentials, normals
from twintrial.arms_config import ArmConfig, EndpointConfig, EstimandConfig, study_end
from twintrial.exceptions import ConfigError, ModelError
from twintrial.models.backend import NUMPY
from twintrial.models.base import Model
from twintrial.sensitivity.batch import ResolvedOutput, SampleBatch
from twintrial.sensitivity.power import logrank_power_vec, t_power, two_proportion_power
from twintrial.sensitivity_config import SensitivityConfig, supported_targets, target_problems

__all__ = ["SHIFT_GRID_POINTS", "TrialSensitivityModel", "logrank_power_vec", "t_power",
           "two_proportion_power"]

FloatArray = npt.NDArray[np.float64]
Redraw = Callable[[pd.DataFrame], Mapping[str, Any]]

#: shifts at which the virtual patients are redrawn for a cohort-shift input
SHIFT_GRID_POINTS = 9
#: elements (samples x patients) simulated at once inside one call. Small enough that the
#: temporaries (8 bytes each) stay under glibc's 128 KiB mmap threshold: Dask workers run with
#: MALLOC_TRIM_THRESHOLD_=65536, under which larger temporaries are mmapped and unmapped on every
#: operation (measured 2-3x slower at 1 << 17); large enough to amortise the Python overhead.
SUB_BATCH_ELEMENTS = 1 << 14


def _support(inp: Any) -> tuple[float, float]:
    """A range covering (nearly) all of an input's distribution, for the shift grid."""
    d = inp.dist
    if d in ("uniform", "loguniform", "truncnormal", "triangular"):
        pad = 0.5 if inp.integer else 0.0
        return float(inp.low) - pad, float(inp.high) + pad
    if d == "normal":
        return float(inp.mean) - 5 * float(inp.sd), float(inp.mean) + 5 * float(inp.sd)
    lo, hi = float(inp.log_mean) - 5 * float(inp.log_sd), float(inp.log_mean) + 5 * float(inp.log_sd)
    return float(np.exp(lo)), float(np.exp(hi))


class TrialSensitivityModel:
    """Vectorised ``evaluate(X, names, rows=None) -> Y`` over the arms-stage simulator.

    Parameters
    ----------
    virtual_params
        Per-patient arrays (``vid``, ``draw``, structural and event parameters, residual
        sigmas): :func:`twintrial.twins.virtual.sample_virtual_patients` or
        :func:`twintrial.arms.synthetic.synthetic_virtual_patients`.
    cohort
        The virtual cohort, same rows as ``virtual_params``.
    model
        The structural model of the twins (a model without a dose design).
    arms, endpoints, estimands
        Typed trial design (:func:`twintrial.arms_config.trial_design`); one control arm.
    inputs_cfg
        The typed ``sensitivity`` section (inputs, outputs, simulation options).
    n_patients
        Virtual patients simulated per sample (the first rows); default
        ``inputs_cfg.simulation.n_patients``.
    n_per_arm
        Patients per arm for power unless ``design.n_per_arm`` is an input.
    alpha
        Two-sided level of the power calculations (``analysis.alpha``).
    redraw
        ``redraw(cohort) -> virtual params`` for a shifted cohort (same random numbers); needed
        by ``cohort.shift.*`` inputs.
    seed
        Root seed of the arms streams (pass the arms stage's seed for identical numbers).

    Raises
    ------
    ConfigError
        Unknown or unsupported targets or outputs (one line each).
    """

    def __init__(self, virtual_params: Mapping[str, Any], cohort: pd.DataFrame, model: Model,
                 arms: Sequence[ArmConfig], endpoints: Sequence[EndpointConfig],
                 estimands: Sequence[EstimandConfig], inputs_cfg: SensitivityConfig, *,
                 n_patients: int | None = None, n_per_arm: int | None = None,
                 alpha: float = 0.05, redraw: Redraw | None = None, seed: int) -> None:
        if model.dose_design_keys:
            raise ModelError(f"sensitivity: model '{model.name}' has a dose design; the "
                             "sensitivity simulator supports parameter-effect (disease) models "
                             "only. Use a model without doses.")
        sim = inputs_cfg.simulation
        n_all = len(np.asarray(virtual_params["vid"]))
        self.n = n = min(int(n_patients or sim.n_patients), n_all)
        self.model, self.cfg, self.seed, self.alpha = model, inputs_cfg, int(seed), float(alpha)
        self.n_per_arm = float(n_per_arm or sim.n_per_arm)
        self.q_points = (np.arange(sim.assurance_points) + 0.5) / sim.assurance_points
        self.arms = {a.name: a for a in arms}
        controls = [a for a in arms if a.control]
        if len(controls) != 1:
            raise ConfigError(f"arms: exactly one arm must have control: true; got "
                              f"{len(controls)}. Mark the placebo/standard-of-care arm.")
        self.control = controls[0]
        coh = cohort.iloc[:n].reset_index(drop=True)
        self.cohort = coh
        self._bind_inputs(coh)
        self.outputs = self._resolve_outputs(arms, endpoints, estimands)
        v = {k: np.asarray(val)[:n] for k, val in virtual_params.items() if np.ndim(val) >= 1}
        self.vid = v["vid"].astype(np.int64)
        self.draws = v["draw"].astype(np.int64)
        self.psi0 = {p.name: self._g(p.name, v[p.name]) for p in model.parameters}
        self.psi_ref = {k: float(np.mean(x)) for k, x in self.psi0.items()}
        extra = [p.name for p in (model.event.parameters if model.event else ())]
        self.fixed = {k: np.asarray(v[k], float) for k in [*extra, *model.residual.priors]}
        design = dict(model.design_from_data(coh.drop(columns=["arm", "treatment"],
                                                      errors="ignore"), None))
        design["treatment"] = np.zeros(n)
        self.design = {k: np.asarray(d, float) for k, d in design.items()}
        grid = visit_grid(arms, endpoints)
        z = normals(self.seed, "noise", self.vid, grid.size)
        self.z = {e.name: z[:, [0, int(visit_index(grid, [e.time])[0])]] for e in endpoints
                  if e.type != "time_to_event" and e.time is not None}
        self.e_drop = exponentials(self.seed, "dropout", self.vid)
        end = study_end(endpoints)
        self.rescue: dict[str, tuple[FloatArray, FloatArray]] = {}
        for a in arms:  # nominal rescue visits and their noise columns (as in simulate_arms)
            rv = rescue_visits(a.rescue, float(end)) if a.rescue and end is not None else None
            if rv is not None and rv.size:
                self.rescue[a.name] = (rv, z[:, visit_index(grid, rv)])
        self.sizes = {(a.name, k): draw_effect_sizes(eff.size, self.draws, arm=a.name, index=k,
                                                     seed=self.seed)
                      for a in arms for k, eff in enumerate(a.effects)}
        self._shift_grids(redraw)

    # ------------------------------------------------------------------ configuration
    def _g(self, name: str, x: Any) -> FloatArray:
        p = self.model.parameter(name)
        x = np.asarray(x, float)
        return np.log(x) if p.transform == "log" else x

    def _bind_inputs(self, coh: pd.DataFrame) -> None:
        inputs = [{"name": i.name, "kind": i.kind, "target": i.target} for i in self.cfg.inputs]
        covs = [str(c) for c in coh.columns if c not in ("vid", "arm", "id")
                and pd.api.types.is_numeric_dtype(coh[c]) and not pd.api.types.is_bool_dtype(coh[c])]
        problems = target_problems(inputs, supported_targets(self.model, list(self.arms.values()),
                                                             covs))
        for i, inp in enumerate(self.cfg.inputs):
            name = inp.target[len("model."):-len("_typical")]
            if (inp.target.startswith("model.") and inp.target.endswith("_typical")
                    and name in self.model.parameter_names
                    and self.model.parameter(name).transform == "log"
                    and not _support(inp)[0] > 0):
                problems.append(f"sensitivity.inputs[{i}]: '{name}' is log-normal, so its typical "
                                f"value must be > 0; got a distribution reaching "
                                f"{_support(inp)[0]:g}. Use positive bounds (or loguniform).")
        if problems:
            raise ConfigError(problems)
        self.input_names = [i.name for i in self.cfg.inputs]
        self.targets = {i.name: i.target for i in self.cfg.inputs}
        self.by_target = {i.target: i.name for i in self.cfg.inputs}

    def _resolve_outputs(self, arms: Sequence[ArmConfig], endpoints: Sequence[EndpointConfig],
                         estimands: Sequence[EstimandConfig]) -> list[ResolvedOutput]:
        eps = {e.name: e for e in endpoints}
        treated = [a for a in arms if not a.control]
        out, problems = [], []
        for i, o in enumerate(self.cfg.outputs):
            where = f"sensitivity.outputs[{i}]"
            want = ("responder",) if o.quantity == "responder_rate" else ("continuous",
                                                                          "responder")
            ep = eps.get(o.endpoint) if o.endpoint else next(
                (e for e in endpoints if e.type in want), None)
            if ep is None:
                problems.append(f"{where}.endpoint: no such endpoint; got {o.endpoint!r}. Use one "
                                f"of {sorted(eps)}.")
                continue
            if o.quantity == "responder_rate" and ep.type != "responder":
                problems.append(f"{where}.endpoint: responder_rate needs a responder endpoint; "
                                f"got {ep.name!r} ({ep.type}).")
                continue
            est = next((s for s in estimands if s.endpoint == ep.name), None)
            if est is not None and est.treatment in self.arms:
                arm, strategy = self.arms[est.treatment], est.intercurrent
            elif len(treated) == 1:
                arm, strategy = treated[0], "treatment_policy"
            else:
                problems.append(f"{where}.endpoint: no estimand names {ep.name!r} and there are "
                                f"{len(treated)} treated arms. Add an estimand for it.")
                continue
            if ep.type == "time_to_event" and strategy not in ("hypothetical", "treatment_policy"):
                problems.append(f"{where}.endpoint: time-to-event outputs support the hypothetical "
                                f"and treatment_policy strategies; got {strategy!r}.")
                continue
            out.append(ResolvedOutput(o.name, o.quantity, ep, arm, strategy))
        if problems:
            raise ConfigError(problems)
        return out

    def _shift_grids(self, redraw: Redraw | None) -> None:
        """Transformed parameters on a grid of each cohort shift (see the module docstring)."""
        self.shift_grid: dict[str, tuple[FloatArray, dict[str, FloatArray], bool]] = {}
        shifts = [i for i in self.cfg.inputs if i.target.startswith("cohort.")]
        if not shifts:
            return
        if redraw is None:
            raise ConfigError(f"sensitivity.inputs: cohort shifts {[i.name for i in shifts]} need "
                              "the twin-drawing function (redraw=); got none. Pass the posterior.")
        base = redraw(self.cohort)
        base_psi = {p: self._g(p, np.asarray(base[p])[:self.n]) for p in self.psi0}
        for inp in shifts:
            _, op, cov = inp.target.split(".", 2)
            lo, hi = _support(inp)
            if op == "scale" and not lo > 0:
                raise ConfigError(f"sensitivity.inputs.{inp.name}: a cohort scale factor must be "
                                  f"> 0; got a distribution reaching {lo:g}. Use positive bounds.")
            g = (np.geomspace(lo, hi, SHIFT_GRID_POINTS) if op == "scale"
                 else np.linspace(lo, hi, SHIFT_GRID_POINTS))
            deltas = {p: np.empty((g.size, self.n)) for p in self.psi0}
            for k, s in enumerate(g):
                x = self.cohort[cov].to_numpy(float)
                shifted = self.cohort.assign(**{cov: x * s if op == "scale" else x + s})
                vp = redraw(shifted)
                for p in self.psi0:
                    deltas[p][k] = self._g(p, np.asarray(vp[p])[:self.n]) - base_psi[p]
                    if not np.isfinite(deltas[p][k]).all():
                        raise ConfigError(
                            f"sensitivity.inputs.{inp.name}: {op} of '{cov}' by {s:g} gives "
                            f"non-finite '{p}' for some patients (e.g. a covariate <= 0 under a "
                            f"log transform); got bounds [{lo:g}, {hi:g}]. Narrow the range.")
            # scale factors are interpolated in log(factor): exact for power covariate effects
            self.shift_grid[inp.name] = (np.log(g) if op == "scale" else g, deltas, op == "scale")

    # ------------------------------------------------------------------ evaluation
    def __call__(self, X: npt.ArrayLike, names: Sequence[str],
                 rows: npt.ArrayLike | None = None) -> FloatArray:
        """Outputs ``(B, n_outputs)`` for samples ``X`` ``(B, n_inputs)`` (``rows`` unused:
        random numbers are keyed by patient, never by sample or batch)."""
        X = np.asarray(X, dtype=float)
        if sorted(names) != sorted(self.input_names):
            raise ConfigError(f"evaluate: input columns {list(names)} do not match the configured "
                              f"inputs {self.input_names}. Sample with the same configuration.")
        step = max(1, SUB_BATCH_ELEMENTS // self.n)
        parts = [self._evaluate(X[s:s + step], list(names)) for s in range(0, len(X), step)]
        return (np.concatenate(parts, axis=0) if parts
                else np.empty((0, len(self.outputs))))

    def _value(self, cols: Mapping[str, FloatArray], target: str, default: Any) -> Any:
        name = self.by_target.get(target)
        return default if name is None else cols[name][:, None]

    def _evaluate(self, X: FloatArray, names: list[str]) -> FloatArray:
        b, n = len(X), self.n
        cols = {nm: X[:, j] for j, nm in enumerate(names)}
        psi = {p: v[None, :] for p, v in self.psi0.items()}
        for name, (g, deltas, log_scale) in self.shift_grid.items():
            x = np.log(cols[name]) if log_scale else cols[name]
            k = np.clip(np.searchsorted(g, x, side="right") - 1, 0, g.size - 2)
            w = ((x - g[k]) / (g[k + 1] - g[k]))[:, None]
            for p in psi:
                psi[p] = psi[p] + (1 - w) * deltas[p][k] + w * deltas[p][k + 1]
        params: dict[str, FloatArray] = {}
        for p in self.model.parameters:
            v = self._value(cols, f"model.{p.name}_typical", None)
            if v is not None:
                psi[p.name] = psi[p.name] + (self._g(p.name, v) - self.psi_ref[p.name])
            params[p.name] = np.asarray(p.from_transformed(NUMPY, psi[p.name]), float)
        for k, val in self.fixed.items():
            params[k] = self._value(cols, f"model.{k}", val[None, :])
        params = {k: np.broadcast_to(v, (b, n)) for k, v in params.items()}
        design = {k: np.broadcast_to(v[None, :], (b, n)) for k, v in self.design.items()}
        for name in self.shift_grid:
            _, op, cov = self.targets[name].split(".", 2)
            if f"x_{cov}" in design:
                x, v = design[f"x_{cov}"], cols[name][:, None]
                design[f"x_{cov}"] = x * v if op == "scale" else x + v
        ctx = SampleBatch(self, cols, params, design, b)
        n_arm = self._value(cols, "design.n_per_arm", self.n_per_arm)
        n_arm = np.broadcast_to(np.asarray(n_arm, float).reshape(-1), (b,))
        Y = np.empty((b, len(self.outputs)))
        for j, o in enumerate(self.outputs):
            Y[:, j] = ctx.output(o, n_arm)
        return Y
