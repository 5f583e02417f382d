"""Typed ``sensitivity`` configuration and its cross-field checks.

The JSON Schema (``schemas/sensitivity.schema.yaml``) checks types, enums and required fields;
:func:`semantic_problems` checks what a schema cannot say clearly (powers of 2, ``low < high``,
fields that the chosen distribution does not use, unique names). :meth:`SensitivityConfig.from_dict`
runs the same checks, so a config built in Python is held to the same rules as one loaded from YAML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import jsonschema
import yaml

from twintrial.exceptions import ConfigError

Method = Literal["sobol", "morris"]
Kind = Literal["model", "treatment", "design", "operational", "cohort"]

#: Fields each distribution uses (besides the common name/kind/target/description/unit/integer).
DIST_FIELDS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "normal": ("mean", "sd"),
    "truncnormal": ("low", "high", "mean", "sd"),
    "lognormal": ("log_mean", "log_sd"),
    "triangular": ("low", "mode", "high"),
}
_PARAM_FIELDS = ("low", "high", "mode", "mean", "sd", "log_mean", "log_sd")

# Defaults: kept equal to the schema's (a unit test compares them).
DEFAULTS: dict[str, Any] = {
    "method": "sobol",
    "sobol": {"n_base_samples": 1024, "calc_second_order": True, "conf_level": 0.95,
              "num_resamples": 100},
    "morris": {"trajectories": 50, "levels": 4, "conf_level": 0.95, "num_resamples": 1000},
    "convergence": {"tolerance": 0.05},
    "simulation": {"n_patients": 1000, "n_per_arm": 200, "assurance_points": 8},
    "batch_size": 2048,
}

#: Target forms the trial simulator supports (``<...>`` is filled from the trial's config).
TARGET_FORMS: tuple[str, ...] = (
    "model.<parameter>_typical", "model.<event or residual parameter>", "arms.<arm>.effect",
    "arms.<arm>.adherence", "arms.<arm>.dropout_rate", "operational.dropout_rate",
    "operational.adherence", "design.n_per_arm", "design.visit_time", "design.horizon",
    "cohort.shift.<covariate>", "cohort.scale.<covariate>", "none.<label>")


@dataclass(frozen=True)
class InputSpec:
    """One uncertain input: what it perturbs and its distribution."""

    name: str
    kind: Kind
    target: str
    dist: str = "uniform"
    low: float | None = None
    high: float | None = None
    mode: float | None = None
    mean: float | None = None
    sd: float | None = None
    log_mean: float | None = None
    log_sd: float | None = None
    integer: bool = False
    unit: str = ""
    description: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSpec:
        """Build from one validated ``sensitivity.inputs[i]`` mapping."""
        params = {k: (None if d.get(k) is None else float(d[k])) for k in _PARAM_FIELDS}
        return cls(name=str(d["name"]), kind=d["kind"], target=str(d["target"]),
                   dist=str(d.get("dist", "uniform")), integer=bool(d.get("integer", False)),
                   unit=str(d.get("unit", "")), description=str(d.get("description", "")),
                   **params)


@dataclass(frozen=True)
class OutputSpec:
    """One trial-level output (a column of the evaluation result)."""

    name: str
    quantity: str
    endpoint: str | None = None
    description: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OutputSpec:
        """Build from one validated ``sensitivity.outputs[i]`` mapping."""
        return cls(name=str(d["name"]), quantity=str(d["quantity"]), endpoint=d.get("endpoint"),
                   description=str(d.get("description", "")))


@dataclass(frozen=True)
class SobolOptions:
    """``sensitivity.sobol``."""

    n_base_samples: int = 1024
    calc_second_order: bool = True
    conf_level: float = 0.95
    num_resamples: int = 100


@dataclass(frozen=True)
class MorrisOptions:
    """``sensitivity.morris``."""

    trajectories: int = 50
    levels: int = 4
    conf_level: float = 0.95
    num_resamples: int = 1000


@dataclass(frozen=True)
class SimulationOptions:
    """``sensitivity.simulation``: how the trial simulator evaluates each sample."""

    n_patients: int = 1000
    n_per_arm: int = 200
    assurance_points: int = 8


@dataclass(frozen=True)
class SensitivityConfig:
    """The ``sensitivity`` section, typed.

    Build it with :meth:`from_dict`, which applies the defaults and raises
    :class:`~twintrial.exceptions.ConfigError` with every problem found.
    """

    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    method: Method = "sobol"
    sobol: SobolOptions = field(default_factory=SobolOptions)
    morris: MorrisOptions = field(default_factory=MorrisOptions)
    convergence_tolerance: float = 0.05
    batch_size: int = 2048
    simulation: SimulationOptions = field(default_factory=SimulationOptions)

    @property
    def input_names(self) -> list[str]:
        """Input names, in problem order."""
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """Output names, in the column order of the evaluation result."""
        return [o.name for o in self.outputs]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SensitivityConfig:
        """Build from the ``sensitivity`` mapping (defaults applied to missing keys).

        Raises
        ------
        ConfigError
            With every semantic problem found (one line each, naming the key path).
        """
        problems = _schema_problems(d) or semantic_problems({"sensitivity": dict(d)})
        if not d.get("inputs"):
            problems.insert(0, "sensitivity.inputs: at least one input is needed; got none. "
                               "Add inputs with a name, kind, target and distribution.")
        if problems:
            raise ConfigError(problems)
        sob = {**DEFAULTS["sobol"], **d.get("sobol", {})}
        mor = {**DEFAULTS["morris"], **d.get("morris", {})}
        conv = {**DEFAULTS["convergence"], **d.get("convergence", {})}
        sim = {**DEFAULTS["simulation"], **d.get("simulation", {})}
        return cls(
            inputs=tuple(InputSpec.from_dict(i) for i in d["inputs"]),
            outputs=tuple(OutputSpec.from_dict(o) for o in d.get("outputs", [])),
            method=d.get("method", DEFAULTS["method"]),
            sobol=SobolOptions(n_base_samples=int(sob["n_base_samples"]),
                               calc_second_order=bool(sob["calc_second_order"]),
                               conf_level=float(sob["conf_level"]),
                               num_resamples=int(sob["num_resamples"])),
            morris=MorrisOptions(trajectories=int(mor["trajectories"]), levels=int(mor["levels"]),
                                 conf_level=float(mor["conf_level"]),
                                 num_resamples=int(mor["num_resamples"])),
            convergence_tolerance=float(conv["tolerance"]),
            batch_size=int(d.get("batch_size", DEFAULTS["batch_size"])),
            simulation=SimulationOptions(n_patients=int(sim["n_patients"]),
                                         n_per_arm=int(sim["n_per_arm"]),
                                         assurance_points=int(sim["assurance_points"])),
        )


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    text = resources.files("twintrial.schemas").joinpath("sensitivity.schema.yaml").read_text(
        encoding="utf-8")
    return jsonschema.Draft202012Validator(yaml.safe_load(text))


def _schema_problems(section: Mapping[str, Any]) -> list[str]:
    """Schema problems of the section alone (``load_config`` reports these in its own format)."""
    out = []
    for err in sorted(_validator().iter_errors(dict(section)), key=lambda e: list(map(str, e.path))):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        out.append(f"sensitivity{where}: {err.message}")
    return out


def _is_power_of_two(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n > 0 and n & (n - 1) == 0


def _input_problems(i: int, inp: Mapping[str, Any]) -> list[str]:
    where = f"sensitivity.inputs[{i}]"
    dist = inp.get("dist", "uniform")
    if dist not in DIST_FIELDS:
        return [f"{where}.dist: unknown distribution; got {dist!r}. "
                f"Use one of {', '.join(DIST_FIELDS)}."]
    out: list[str] = []
    needed = DIST_FIELDS[dist]
    for key in needed:
        if inp.get(key) is None:
            out.append(f"{where}.{key}: required for dist '{dist}'; got nothing. "
                       f"Give {', '.join(needed)}.")
    for key in _PARAM_FIELDS:
        if key not in needed and inp.get(key) is not None:
            out.append(f"{where}.{key}: not used by dist '{dist}'; got {inp[key]!r}. "
                       f"Remove it, or choose a dist that uses it ({_users(key)}).")
    if out:
        return out
    low, high = inp.get("low"), inp.get("high")
    if low is not None and high is not None and not low < high:
        out.append(f"{where}.high: must be > low ({low!r}); got {high!r}. "
                   "Give bounds with low < high.")
    if dist == "loguniform" and low is not None and low <= 0:
        out.append(f"{where}.low: must be > 0 for dist 'loguniform'; got {low!r}. "
                   "Use dist 'uniform' for ranges that include 0.")
    for key in ("sd", "log_sd"):
        if key in needed and inp[key] <= 0:
            out.append(f"{where}.{key}: must be > 0; got {inp[key]!r}.")
    if dist == "triangular" and low is not None and high is not None and low < high:
        mode = inp["mode"]
        if not low <= mode < high:
            out.append(f"{where}.mode: must satisfy low <= mode < high ([{low}, {high}); SALib "
                       f"rejects a peak at the upper bound); got {mode!r}.")
    if inp.get("integer") and dist != "uniform":
        out.append(f"{where}.integer: only supported with dist 'uniform'; got dist {dist!r}. "
                   "Use a uniform range of integers.")
    return out


def _users(key: str) -> str:
    return ", ".join(d for d, fields in DIST_FIELDS.items() if key in fields)


def semantic_problems(raw: Mapping[str, Any]) -> list[str]:
    """Cross-field checks of the ``sensitivity`` section (one line per problem, key path first).

    Parameters
    ----------
    raw
        The whole resolved configuration (only ``raw["sensitivity"]`` is read).

    Returns
    -------
    list of str
        Problems found; empty when the section is valid or absent.
    """
    sec = raw.get("sensitivity")
    if not isinstance(sec, Mapping):
        return []
    problems: list[str] = []
    n = sec.get("sobol", {}).get("n_base_samples", DEFAULTS["sobol"]["n_base_samples"])
    if not _is_power_of_two(n) or n < 4:
        lower = max(4, 1 << (n.bit_length() - 1)) if isinstance(n, int) and n > 0 else 4
        problems.append(
            f"sensitivity.sobol.n_base_samples: must be a power of 2 >= 4 (SALib: \"Ideally a "
            f"power of 2\"; Sobol' sequences are balanced only at powers of 2, and the N/2 "
            f"convergence check needs N even); got {n!r}. Use {lower} or {lower * 2}.")
    levels = sec.get("morris", {}).get("levels", DEFAULTS["morris"]["levels"])
    if isinstance(levels, int) and levels % 2:
        problems.append(f"sensitivity.morris.levels: must be even (SALib's Morris design); "
                        f"got {levels}. Use {levels + 1}.")
    inputs = sec.get("inputs", []) or []
    outputs = sec.get("outputs", []) or []
    if sec.get("method", DEFAULTS["method"]) == "morris":
        for i, inp in enumerate(inputs):
            dist = inp.get("dist", "uniform") if isinstance(inp, Mapping) else None
            if dist in ("normal", "lognormal"):
                problems.append(
                    f"sensitivity.inputs[{i}].dist: {dist!r} is unbounded, and Morris grid levels "
                    f"include the 0 and 1 quantiles (infinite values); got {dist!r} with method "
                    "'morris'. Use 'truncnormal' or bounds (low/high), or method 'sobol'.")
    seen: dict[str, int] = {}
    for i, inp in enumerate(inputs):
        if not isinstance(inp, Mapping):
            continue
        problems.extend(_input_problems(i, inp))
        name = inp.get("name")
        if name in seen:
            problems.append(f"sensitivity.inputs[{i}].name: duplicate of inputs[{seen[name]}]; "
                            f"got {name!r}. Give every input a unique name.")
        seen.setdefault(name, i)
    targets: dict[str, int] = {}
    for i, inp in enumerate(inputs):
        tgt = inp.get("target") if isinstance(inp, Mapping) else None
        if tgt in targets:
            problems.append(f"sensitivity.inputs[{i}].target: perturbed twice (also by "
                            f"inputs[{targets[tgt]}]); got {tgt!r}. Use one input per target.")
        targets.setdefault(tgt, i)
    out_seen: dict[str, int] = {}
    for i, out in enumerate(outputs):
        name = out.get("name") if isinstance(out, Mapping) else None
        if name in out_seen:
            problems.append(f"sensitivity.outputs[{i}].name: duplicate of outputs[{out_seen[name]}]"
                            f"; got {name!r}. Give every output a unique name.")
        out_seen.setdefault(name, i)
    if inputs and not outputs:
        problems.append("sensitivity.outputs: at least one output is needed when inputs are "
                        "given; got none. Add e.g. {name: power, quantity: power}.")
    if inputs and raw.get("arms"):  # a trial is configured: targets and endpoints must exist
        problems.extend(_trial_problems(raw, inputs, outputs))
    return problems


def target_kind(target: str) -> str | None:
    """The input kind a target belongs to (``None`` for ``none.*``, which fits any kind)."""
    head, _, rest = target.partition(".")
    if head == "arms":
        return "treatment" if rest.endswith(".effect") else "operational"
    return {"model": "model", "design": "design", "operational": "operational",
            "cohort": "cohort"}.get(head)


def supported_targets(model: Any, arms: Sequence[Any], covariates: Sequence[str]) -> list[str]:
    """Concrete targets for a model, arms (``ArmConfig`` or mappings) and cohort covariates.

    ``none.<label>`` (any label) is always supported as well.
    """
    out = [f"model.{p.name}_typical" for p in model.parameters]
    out += [f"model.{p.name}" for p in (model.event.parameters if model.event else ())]
    out += [f"model.{k}" for k in model.residual.priors]
    for arm in arms:
        name = arm["name"] if isinstance(arm, Mapping) else arm.name
        effects = arm.get("effects") or [] if isinstance(arm, Mapping) else arm.effects
        if len(effects) == 1:
            out.append(f"arms.{name}.effect")
        out += [f"arms.{name}.adherence", f"arms.{name}.dropout_rate"]
    out += ["operational.dropout_rate", "operational.adherence", "design.n_per_arm",
            "design.visit_time", "design.horizon"]
    out += [f"cohort.{op}.{c}" for op in ("shift", "scale") for c in covariates]
    return out


def target_problems(inputs: Sequence[Mapping[str, Any]], supported: Sequence[str]) -> list[str]:
    """Unknown targets and kind/target mismatches (one line each)."""
    problems: list[str] = []
    for i, inp in enumerate(inputs):
        if not isinstance(inp, Mapping) or not isinstance(inp.get("target"), str):
            continue
        tgt, where = inp["target"], f"sensitivity.inputs[{i}]"
        if tgt.startswith("none."):
            continue
        if tgt not in supported:
            problems.append(f"{where}.target: not supported by this trial; got {tgt!r}. Use one "
                            f"of {', '.join(supported)} or none.<label>.")
            continue
        kind = target_kind(tgt)
        if kind is not None and inp.get("kind") not in (None, kind):
            problems.append(f"{where}.kind: {tgt!r} is a {kind} input; got {inp.get('kind')!r}. "
                            f"Set kind: {kind}.")
    return problems


def _trial_problems(raw: Mapping[str, Any], inputs: Sequence[Any],
                    outputs: Sequence[Any]) -> list[str]:
    m = (raw.get("twins") or {}).get("model") or {}
    try:
        from twintrial.models import get_model

        model = get_model(str(m.get("name", "pk_1cmt_oral")), **dict(m.get("options") or {}))
    except Exception:  # noqa: BLE001 - the twins section reports a bad model itself
        return []
    covs = [c["name"] for c in (raw.get("cohort") or {}).get("covariates") or []
            if isinstance(c, Mapping) and "name" in c
            and c.get("type", "continuous") == "continuous"]
    problems = target_problems(inputs, supported_targets(model, raw.get("arms") or [], covs))
    eps = {e.get("name"): e.get("type") for e in raw.get("endpoints") or []
           if isinstance(e, Mapping)}
    for i, out in enumerate(outputs):
        if not isinstance(out, Mapping):
            continue
        ep, q = out.get("endpoint"), out.get("quantity")
        if ep is not None and ep not in eps:
            problems.append(f"sensitivity.outputs[{i}].endpoint: not among the endpoints; got "
                            f"{ep!r}. Use one of {sorted(map(str, eps))}.")
        elif q == "responder_rate" and ep is not None and eps[ep] != "responder":
            problems.append(f"sensitivity.outputs[{i}].endpoint: responder_rate needs a responder "
                            f"endpoint; got {ep!r} ({eps[ep]}). Name a responder endpoint.")
    return problems
