"""Typed ``arms``, ``endpoints`` and ``analysis.estimands`` sections and their cross-field checks.

The JSON Schemas (``schemas/{arms,endpoints,analysis}.schema.yaml``) check types and ranges;
:func:`semantic_problems` checks what a schema cannot: exactly one control arm, unique names,
that estimands name existing endpoints and arms, that effect parameters exist in the configured
model (``twins.model``), that regimens are only given for dosed (PK) models, that time-to-event
endpoints have a model with an event submodel, and that visit times lie within the study.

Times (visit times, horizons, onsets, dosing intervals, dropout rates per unit time) are in the
model's time unit (``Model.time_unit``: ``h`` for ``pk_1cmt_oral``, ``year`` for
``biomarker_progression``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "ArmConfig", "DistributionSpec", "EffectConfig", "EndpointConfig", "EstimandConfig",
    "RegimenConfig", "RescueConfig", "TitrationStep", "arms_from_list", "endpoints_from_list",
    "estimands_from_list", "semantic_problems", "study_end", "trial_design",
]


@dataclass(frozen=True)
class DistributionSpec:
    """An uncertain effect size: ``dist`` in fixed|normal|lognormal|uniform|beta and its params."""

    dist: Literal["fixed", "normal", "lognormal", "uniform", "beta"] = "fixed"
    params: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_value(cls, v: float | Mapping[str, Any]) -> DistributionSpec:
        """Build from a number (fixed) or a ``{dist: ..., ...}`` mapping."""
        if isinstance(v, Mapping):
            return cls(dist=v.get("dist", "fixed"),
                       params={k: float(x) for k, x in v.items() if k != "dist"})
        return cls(dist="fixed", params={"value": float(v)})

    def median(self) -> float:
        """Median of the distribution (for reporting)."""
        p = self.params
        if self.dist == "fixed":
            return float(p.get("value", 0.0))
        if self.dist == "normal":
            return float(p.get("mean", 0.0))
        if self.dist == "lognormal":
            return float(p.get("median", 1.0))
        if self.dist == "uniform":
            return 0.5 * (float(p.get("low", 0.0)) + float(p.get("high", 1.0)))
        from scipy.stats import beta

        return float(beta(p.get("a", 1.0), p.get("b", 1.0)).median())


_REQUIRED_PARAMS = {"fixed": ("value",), "normal": ("mean", "sd"), "lognormal": ("median", "sigma"),
                    "uniform": ("low", "high"), "beta": ("a", "b")}


@dataclass(frozen=True)
class EffectConfig:
    """A treatment effect on a model parameter (``arms[].effects[]``)."""

    parameter: str
    size: DistributionSpec
    type: Literal["multiplier", "additive", "log_additive"] = "multiplier"
    onset: float = 0.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EffectConfig:
        """Build from the validated mapping."""
        return cls(parameter=str(d["parameter"]), size=DistributionSpec.from_value(d["size"]),
                   type=d.get("type", "multiplier"), onset=float(d.get("onset", 0.0)))


@dataclass(frozen=True)
class TitrationStep:
    """From dose number ``from_dose`` (1-based) on, give ``dose`` per administration."""

    from_dose: int
    dose: float


@dataclass(frozen=True)
class RegimenConfig:
    """A dosing regimen (``arms[].regimen``) for models with a dose design (PK/PD)."""

    dose: float
    unit: str = "mg"
    per_kg_covariate: str = "wt"
    interval: float = 24.0
    n_doses: int = 1
    route: str = "oral"
    titration: tuple[TitrationStep, ...] = ()

    @property
    def per_kg(self) -> bool:
        """Whether ``dose`` is per kg of body weight (unit ending in ``/kg``)."""
        return self.unit.strip().lower().endswith("/kg")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RegimenConfig:
        """Build from the validated mapping."""
        steps = sorted((TitrationStep(int(s["from_dose"]), float(s["dose"]))
                        for s in d.get("titration") or []), key=lambda s: s.from_dose)
        return cls(dose=float(d["dose"]), unit=str(d.get("unit", "mg")),
                   per_kg_covariate=str(d.get("per_kg_covariate", "wt")),
                   interval=float(d.get("interval", 24.0)), n_doses=int(d.get("n_doses", 1)),
                   route=str(d.get("route", "oral")), titration=tuple(steps))


@dataclass(frozen=True)
class RescueConfig:
    """Rescue when the observed biomarker crosses ``threshold`` at a visit (``arms[].rescue``)."""

    threshold: float
    visit_interval: float
    direction: Literal["above", "below"] = "above"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RescueConfig:
        """Build from the validated mapping."""
        return cls(threshold=float(d["threshold"]), visit_interval=float(d["visit_interval"]),
                   direction=d.get("direction", "above"))


@dataclass(frozen=True)
class ArmConfig:
    """One treatment arm (``arms[]``)."""

    name: str
    control: bool = False
    label: str = ""
    allocation: float = 1.0
    effects: tuple[EffectConfig, ...] = ()
    regimen: RegimenConfig | None = None
    adherence: float = 1.0
    dropout_rate: float = 0.0
    rescue: RescueConfig | None = None

    @property
    def onset(self) -> float:
        """Onset of the arm's effects (all effects of an arm share it, see semantic checks)."""
        return max((e.onset for e in self.effects), default=0.0)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArmConfig:
        """Build from the validated mapping."""
        reg = d.get("regimen")
        res = d.get("rescue")
        return cls(name=str(d["name"]), control=bool(d.get("control", False)),
                   label=str(d.get("label", "")), allocation=float(d.get("allocation", 1.0)),
                   effects=tuple(EffectConfig.from_dict(e) for e in d.get("effects") or []),
                   regimen=None if reg is None else RegimenConfig.from_dict(reg),
                   adherence=float(d.get("adherence", 1.0)),
                   dropout_rate=float(d.get("dropout_rate", 0.0)),
                   rescue=None if res is None else RescueConfig.from_dict(res))


@dataclass(frozen=True)
class EndpointConfig:
    """One endpoint (``endpoints[]``)."""

    name: str
    type: Literal["continuous", "responder", "time_to_event"]
    label: str = ""
    variable: str | None = None
    time: float | None = None
    change_from_baseline: bool = True
    scale: Literal["natural", "log"] = "natural"
    threshold: float | None = None
    direction: Literal["below", "above"] = "below"
    horizon: float | None = None
    higher_is_better: bool = False
    visit_interval: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EndpointConfig:
        """Build from the validated mapping."""
        opt = lambda k: None if d.get(k) is None else float(d[k])  # noqa: E731
        return cls(name=str(d["name"]), type=d["type"], label=str(d.get("label", "")),
                   variable=d.get("variable"), time=opt("time"),
                   change_from_baseline=bool(d.get("change_from_baseline", True)),
                   scale=d.get("scale", "natural"), threshold=opt("threshold"),
                   direction=d.get("direction", "below"), horizon=opt("horizon"),
                   higher_is_better=bool(d.get("higher_is_better", False)),
                   visit_interval=opt("visit_interval"))

    def visits(self) -> np.ndarray:
        """Scheduled visit times of a continuous/responder endpoint: 0, every interval, ``time``."""
        if self.time is None:
            return np.zeros(1)
        grid = [0.0, float(self.time)]
        if self.visit_interval:
            grid += list(np.arange(1, int(np.floor(self.time / self.visit_interval)) + 1)
                         * self.visit_interval)
        return np.unique(np.round(np.array(grid), 12))


@dataclass(frozen=True)
class EstimandConfig:
    """One ICH E9(R1) estimand (``analysis.estimands[]``)."""

    name: str
    endpoint: str
    treatment: str
    population: str = ""
    intercurrent: Literal["treatment_policy", "hypothetical", "while_on_treatment",
                          "composite"] = "treatment_policy"
    summary: str = "auto"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EstimandConfig:
        """Build from the validated mapping."""
        return cls(name=str(d["name"]), endpoint=str(d["endpoint"]), treatment=str(d["treatment"]),
                   population=str(d.get("population", "")),
                   intercurrent=d.get("intercurrent", "treatment_policy"),
                   summary=str(d.get("summary", "auto")))


def arms_from_list(items: Sequence[Mapping[str, Any]]) -> tuple[ArmConfig, ...]:
    """Typed arms from the ``arms`` section."""
    return tuple(ArmConfig.from_dict(a) for a in items or [])


def endpoints_from_list(items: Sequence[Mapping[str, Any]]) -> tuple[EndpointConfig, ...]:
    """Typed endpoints from the ``endpoints`` section."""
    return tuple(EndpointConfig.from_dict(e) for e in items or [])


def estimands_from_list(items: Sequence[Mapping[str, Any]]) -> tuple[EstimandConfig, ...]:
    """Typed estimands from ``analysis.estimands``."""
    return tuple(EstimandConfig.from_dict(e) for e in items or [])


def trial_design(raw: Mapping[str, Any]) -> tuple[tuple[ArmConfig, ...],
                                                   tuple[EndpointConfig, ...],
                                                   tuple[EstimandConfig, ...]]:
    """Arms, endpoints and estimands from a resolved study config (``StudyConfig.raw``)."""
    return (arms_from_list(raw.get("arms") or []), endpoints_from_list(raw.get("endpoints") or []),
            estimands_from_list((raw.get("analysis") or {}).get("estimands") or []))


def study_end(endpoints: Sequence[EndpointConfig]) -> float | None:
    """The last time the study observes anything (max endpoint time or horizon), or None."""
    times = [t for e in endpoints for t in (e.time, e.horizon) if t is not None]
    return max(times) if times else None


# ----------------------------------------------------------------------------- semantic checks
def _model_problems(raw: Mapping[str, Any], arms: list[Mapping[str, Any]],
                    endpoints: list[Mapping[str, Any]]) -> list[str]:
    twins = raw.get("twins") or {}
    m = twins.get("model") or {}
    name = m.get("name")
    if not name:
        return []
    try:
        from twintrial.models import get_model

        model = get_model(str(name), **dict(m.get("options") or {}))
    except Exception:  # noqa: BLE001 - the twins section reports a bad model itself
        return []
    problems: list[str] = []
    known = list(model.parameter_names) + [p.name for p in (model.event.parameters
                                                              if model.event else ())]
    dosed = bool(model.dose_design_keys)
    for i, a in enumerate(arms):
        for j, e in enumerate(a.get("effects") or []):
            if e.get("parameter") not in known:
                problems.append(f"arms[{i}].effects[{j}].parameter: model '{name}' has no parameter "
                                f"{e.get('parameter')!r}. Use one of {known}.")
        if a.get("regimen") is not None and not dosed:
            problems.append(f"arms[{i}].regimen: model '{name}' takes no doses; got a regimen. "
                            "Describe the treatment as effects on model parameters instead.")
        if dosed and a.get("effects"):
            problems.append(f"arms[{i}].effects: model '{name}' is a dosed (PK) model; got "
                            f"{len(a['effects'])} parameter effect(s). Give a regimen instead.")
    for i, e in enumerate(endpoints):
        if e.get("type") == "time_to_event" and model.event is None:
            problems.append(f"endpoints[{i}].type: model '{name}' has no time-to-event submodel; "
                            "got time_to_event. Choose a model with one (e.g. "
                            "biomarker_progression) or a continuous endpoint.")
        var = e.get("variable")
        if var is not None and var != model.observed_variable:
            problems.append(f"endpoints[{i}].variable: model '{name}' predicts "
                            f"'{model.observed_variable}'; got {var!r}. Use null or that name.")
    return problems


def semantic_problems(raw: Mapping[str, Any]) -> list[str]:
    """Cross-field problems of ``arms``, ``endpoints`` and ``analysis.estimands`` (one per line)."""
    arms = list(raw.get("arms") or [])
    endpoints = list(raw.get("endpoints") or [])
    estimands = list((raw.get("analysis") or {}).get("estimands") or [])
    problems: list[str] = []
    if arms:
        n_ctl = sum(bool(a.get("control")) for a in arms)
        if n_ctl != 1:
            problems.append(f"arms: exactly one arm must have control: true; got {n_ctl}. "
                            "Mark the placebo/standard-of-care arm.")
    for what, items in (("arms", arms), ("endpoints", endpoints), ("analysis.estimands", estimands)):
        seen: set[str] = set()
        for i, it in enumerate(items):
            if it.get("name") in seen:
                problems.append(f"{what}[{i}].name: duplicate name {it.get('name')!r}. "
                                "Give every entry a unique name.")
            seen.add(it.get("name"))
    for i, a in enumerate(arms):
        if a.get("control") and a.get("effects"):
            problems.append(f"arms[{i}].effects: the control arm has effects; got "
                            f"{len(a['effects'])}. Remove them (effects are relative to control).")
        onsets = {float(e.get("onset", 0.0)) for e in a.get("effects") or []}
        if len(onsets) > 1:
            problems.append(f"arms[{i}].effects: all effects of an arm must share one onset; got "
                            f"{sorted(onsets)}. Split them into separate arms or align onsets.")
        for j, e in enumerate(a.get("effects") or []):
            size = e.get("size")
            if isinstance(size, Mapping):
                need = _REQUIRED_PARAMS.get(size.get("dist", "fixed"), ())
                miss = [k for k in need if k not in size]
                if miss:
                    problems.append(f"arms[{i}].effects[{j}].size: dist {size.get('dist')!r} needs "
                                    f"{list(need)}; missing {miss}.")
                if size.get("dist") == "uniform" and not size.get("low", 0) < size.get("high", 1):
                    problems.append(f"arms[{i}].effects[{j}].size: uniform needs low < high; got "
                                    f"{size.get('low')}, {size.get('high')}.")
        reg = a.get("regimen") or {}
        for k, s in enumerate(reg.get("titration") or []):
            if int(s.get("from_dose", 1)) > int(reg.get("n_doses", 1)):
                problems.append(f"arms[{i}].regimen.titration[{k}].from_dose: beyond n_doses "
                                f"{reg.get('n_doses', 1)}; got {s.get('from_dose')}.")
    end = study_end(endpoints_from_list(endpoints)) if endpoints else None
    for i, e in enumerate(endpoints):
        kind = e.get("type")
        if kind in ("continuous", "responder") and e.get("time") is None:
            problems.append(f"endpoints[{i}].time: a {kind} endpoint needs a visit time; got null.")
        if kind == "responder" and e.get("threshold") is None:
            problems.append(f"endpoints[{i}].threshold: a responder endpoint needs a threshold; "
                            "got null.")
        if kind == "time_to_event":
            if e.get("horizon") is None:
                problems.append(f"endpoints[{i}].horizon: a time_to_event endpoint needs the study "
                                "end (administrative censoring); got null.")
        horizons = [x.get("horizon") for x in endpoints if x.get("horizon") is not None]
        if kind != "time_to_event" and horizons and e.get("time") is not None \
                and e["time"] > max(horizons):
            problems.append(f"endpoints[{i}].time: beyond the study end (max horizon "
                            f"{max(horizons)}); got {e['time']}. Shorten it or extend the horizon.")
    for i, a in enumerate(arms):
        res = a.get("rescue")
        if res and end is not None and float(res.get("visit_interval", 0)) > end:
            problems.append(f"arms[{i}].rescue.visit_interval: longer than the study ({end}); got "
                            f"{res.get('visit_interval')}. No rescue visit would happen.")
    reserved = {"vid", "arm", "draw", "dropout_time", "rescue_time", "discontinuation_time"}
    for i, s in enumerate(estimands):
        if s.get("name") in reserved:
            problems.append(f"analysis.estimands[{i}].name: {s.get('name')!r} is an outcomes column "
                            f"name; choose another (reserved: {sorted(reserved)}).")
    ep_types = {e.get("name"): e.get("type") for e in endpoints}
    arm_names = {a.get("name"): bool(a.get("control")) for a in arms}
    for i, s in enumerate(estimands):
        if s.get("endpoint") not in ep_types:
            problems.append(f"analysis.estimands[{i}].endpoint: no endpoint named "
                            f"{s.get('endpoint')!r}. Use one of {sorted(map(str, ep_types))}.")
        elif s.get("intercurrent") == "composite" and ep_types[s["endpoint"]] == "continuous":
            problems.append(f"analysis.estimands[{i}].intercurrent: composite needs a responder or "
                            "time_to_event endpoint; got a continuous one. Use another strategy.")
        if s.get("treatment") not in arm_names:
            problems.append(f"analysis.estimands[{i}].treatment: no arm named "
                            f"{s.get('treatment')!r}. Use one of {sorted(map(str, arm_names))}.")
        elif arm_names[s["treatment"]]:
            problems.append(f"analysis.estimands[{i}].treatment: names the control arm "
                            f"{s['treatment']!r}; give the experimental arm.")
        pop = s.get("population") or ""
        if pop:
            from twintrial.expressions import parse_expression

            try:
                parse_expression(pop, where=f"analysis.estimands[{i}].population")
            except Exception as exc:  # noqa: BLE001 - reported as a config problem
                problems.append(str(exc).splitlines()[0])
    problems += _model_problems(raw, arms, endpoints)
    return problems
