"""Load, validate and type a study configuration.

One entry point, :func:`load_config`, used by the CLI, the Snakefile and the tests:

1. JSON Schema 2020-12 validation (package data: ``twintrial/schemas/<section>.schema.yaml``,
   one file per top-level section, composed by ``config.schema.yaml``);
2. schema defaults filled in;
3. cross-field (semantic) checks contributed by each stage module;
4. every problem collected and raised together as one :class:`~twintrial.exceptions.ConfigError`,
   one line per problem, each naming its key path.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from twintrial.exceptions import ConfigError
from twintrial.provenance import config_hash

SECTIONS = ("trial", "data", "cohort", "twins", "arms", "endpoints", "analysis", "sensitivity",
            "validation", "report", "compute")

#: Modules that may contribute cross-field checks: ``semantic_problems(raw: dict) -> list[str]``.
SEMANTIC_CHECK_MODULES = (
    "twintrial.data.config",
    "twintrial.cohort.config",
    "twintrial.twins_config",
    "twintrial.arms_config",
    "twintrial.sensitivity_config",
    "twintrial.validation_config",
)


# --------------------------------------------------------------------------- schema loading
@lru_cache(maxsize=1)
def _schema_resources() -> dict[str, dict[str, Any]]:
    out = {}
    for entry in resources.files("twintrial.schemas").iterdir():
        if entry.name.endswith(".schema.yaml"):
            out[entry.name] = yaml.safe_load(entry.read_text(encoding="utf-8"))
    return out


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resources(
        (name, Resource.from_contents(doc, default_specification=DRAFT202012))
        for name, doc in _schema_resources().items()
    )


def schema() -> dict[str, Any]:
    """Return the top-level configuration schema (``config.schema.yaml``)."""
    return _schema_resources()["config.schema.yaml"]


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(), registry=_registry(),
                                           format_checker=jsonschema.FormatChecker())


def _resolve(node: Mapping[str, Any], base: str) -> tuple[Mapping[str, Any], str]:
    """Follow ``$ref`` (file and JSON-pointer refs within our registry)."""
    while "$ref" in node:
        ref = node["$ref"]
        doc_name, _, pointer = ref.partition("#")
        doc_name = doc_name or base
        target: Any = _schema_resources()[doc_name]
        for part in [p for p in pointer.split("/") if p]:
            target = target[part]
        node, base = target, doc_name
    return node, base


def _fill_defaults(instance: Any, node: Mapping[str, Any], base: str) -> None:
    """Insert schema defaults into ``instance`` in place (after it validated)."""
    node, base = _resolve(node, base)
    if isinstance(instance, dict):
        for key, sub in node.get("properties", {}).items():
            sub_r, _ = _resolve(sub, base)
            default_node = sub if "default" in sub else sub_r  # a default beside $ref wins
            if key not in instance and "default" in default_node:
                instance[key] = copy.deepcopy(default_node["default"])
            if key in instance:
                _fill_defaults(instance[key], sub, base)
        addl = node.get("additionalProperties")
        if isinstance(addl, dict):
            for key, value in instance.items():
                if key not in node.get("properties", {}):
                    _fill_defaults(value, addl, base)
    if isinstance(instance, list) and isinstance(node.get("items"), dict):
        for item in instance:
            _fill_defaults(item, node["items"], base)
    for combinator in ("oneOf", "anyOf"):
        for branch in node.get(combinator, []):
            if _branch_matches(instance, branch, base):
                _fill_defaults(instance, branch, base)
                break
    for branch in node.get("allOf", []):
        _fill_defaults(instance, branch, base)


def _branch_matches(instance: Any, branch: Mapping[str, Any], base: str) -> bool:
    resolved, rbase = _resolve(branch, base)
    probe = {k: v for k, v in resolved.items() if k != "$id"}
    # local "#/$defs/..." refs inside the branch must still find their file's definitions
    probe["$defs"] = {**_schema_resources()[rbase].get("$defs", {}), **probe.get("$defs", {})}
    return jsonschema.Draft202012Validator(probe, registry=_registry()).is_valid(instance)


# --------------------------------------------------------------------------- problem messages
def _key_path(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_error(err: jsonschema.ValidationError) -> str:
    path = _key_path(err.absolute_path)
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extras = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
        parts = []
        for extra in extras:
            close = difflib.get_close_matches(extra, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; allowed keys: {', '.join(allowed)}"
            parts.append(f"{path}.{extra}: unknown key{hint}" if path != "<root>" else
                         f"{extra}: unknown key{hint}")
        return "\n".join(parts)
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return f"{path}.{missing}: required key is missing" if path != "<root>" else \
            f"{missing}: required key is missing"
    if v == "enum":
        return f"{path}: must be one of {', '.join(map(repr, err.validator_value))}; got {_short(err.instance)}"
    if v == "type":
        return f"{path}: must be of type {err.validator_value}; got {_short(err.instance)}"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"{path}: must be {op} {err.validator_value}; got {_short(err.instance)}"
    if v == "pattern":
        return f"{path}: must match {err.validator_value!r}; got {_short(err.instance)}"
    if v in ("oneOf", "anyOf") and err.context:
        # prefer the branch of the instance's own type (a mapping's errors, not "must be a number")
        same_type = [e for e in err.context
                     if not (e.validator == "type" and e.absolute_path == err.absolute_path)]
        best = jsonschema.exceptions.best_match(same_type or err.context)
        if best is not None:
            return _format_error(best)
    desc = err.schema.get("description") if isinstance(err.schema, dict) else None
    msg = f"{path}: {err.message}"
    return msg + (f" ({desc})" if desc and len(desc) < 80 else "")


def _schema_problems(raw: Mapping[str, Any]) -> list[str]:
    errors = sorted(_validator().iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    out: list[str] = []
    for err in errors:
        for line in _format_error(err).splitlines():
            if line not in out:
                out.append(line)
    return out


SemanticCheck = Callable[[dict[str, Any]], list[str]]


def _semantic_problems(resolved: dict[str, Any], *, tolerant: bool = False) -> list[str]:
    """Cross-field problems from every stage module.

    ``tolerant``: the config already failed schema validation, so a check may meet malformed
    input; such a check is skipped instead of crashing (its section's schema errors are reported).
    """
    problems: list[str] = []
    for mod_name in SEMANTIC_CHECK_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name and mod_name.startswith(exc.name):
                continue  # stage not implemented (yet): nothing to check
            raise
        check = getattr(mod, "semantic_problems", None)
        if check is None:
            continue
        if not tolerant:
            problems.extend(check(resolved))
            continue
        try:
            problems.extend(check(resolved))
        except Exception:  # noqa: BLE001 - malformed sections already have schema errors
            continue
    return problems


# --------------------------------------------------------------------------- typed config
@dataclass(frozen=True)
class TrialConfig:
    """The ``trial`` section: identity, root seed and question of interest."""

    name: str
    seed: int
    description: str = ""
    question: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialConfig:
        """Build from the validated ``trial`` mapping."""
        return cls(name=d["name"], seed=int(d["seed"]), description=d.get("description", ""),
                   question=d.get("question", ""))


@dataclass(frozen=True)
class DaskConfig:
    """Where and how Dask runs (``compute.dask``)."""

    address: str | None = None
    n_workers: int | None = None
    threads_per_worker: int = 1
    chunk_size: int | None = None
    memory_limit: str = "auto"
    processes: bool | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DaskConfig:
        """Build from the validated ``compute.dask`` mapping."""
        return cls(address=d.get("address"), n_workers=d.get("n_workers"),
                   threads_per_worker=int(d.get("threads_per_worker", 1)),
                   chunk_size=None if d.get("chunk_size") is None else int(d["chunk_size"]),
                   memory_limit=str(d.get("memory_limit", "auto")),
                   processes=None if d.get("processes") is None else bool(d["processes"]))


@dataclass(frozen=True)
class ComputeConfig:
    """The ``compute`` section."""

    dask: DaskConfig = field(default_factory=DaskConfig)
    cache_dir: str = ".cache/twintrial"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ComputeConfig:
        """Build from the validated ``compute`` mapping."""
        return cls(dask=DaskConfig.from_dict(d.get("dask", {})),
                   cache_dir=d.get("cache_dir", ".cache/twintrial"))


@dataclass(frozen=True)
class StudyConfig:
    """A validated study configuration.

    ``raw`` is the resolved mapping (schema defaults filled in); stage modules rebuild their typed
    sub-configs from ``raw[section]`` with ``XConfig.from_dict``.
    """

    raw: Mapping[str, Any]
    source: str
    trial: TrialConfig
    compute: ComputeConfig

    @property
    def hash(self) -> str:
        """Hash of the resolved configuration (stamped into every output)."""
        return config_hash(self.raw)

    def section(self, name: str) -> dict[str, Any]:
        """A deep copy of one resolved top-level section."""
        return copy.deepcopy(dict(self.raw.get(name, {})))

    def results_dir(self, root: str | os.PathLike[str] = "results") -> Path:
        """``results/<trial name>``."""
        return Path(root) / self.trial.name


def read_yaml(source: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping, turning syntax errors into one-line :class:`ConfigError`."""
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        raise ConfigError(f"{path}: config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a YAML mapping of sections; got {type(data).__name__}")
    return data


def resolve(raw: Mapping[str, Any], *, source: str = "<config>") -> dict[str, Any]:
    """Validate ``raw`` and return it with schema defaults filled in; raise on any problem."""
    data = copy.deepcopy(dict(raw))
    problems = _schema_problems(data)
    _fill_defaults(data, schema(), "config.schema.yaml")
    if problems:
        # report the cross-field problems of the well-formed parts too, all in one go
        problems += [p for p in _semantic_problems(data, tolerant=True) if p not in problems]
    else:
        problems = _schema_problems(data) or _semantic_problems(data)
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    return data


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> StudyConfig:
    """Load and validate a study configuration.

    Parameters
    ----------
    source
        A YAML file path, or an already-parsed mapping (as Snakemake's ``config``).

    Returns
    -------
    StudyConfig
        The validated configuration, defaults filled in.

    Raises
    ------
    ConfigError
        With every problem found, one per line, each naming its key path.
    """
    if isinstance(source, Mapping):
        raw, name = dict(source), "config"
    else:
        raw, name = read_yaml(source), str(source)
    data = resolve(raw, source=name)
    return StudyConfig(raw=data, source=name, trial=TrialConfig.from_dict(data["trial"]),
                       compute=ComputeConfig.from_dict(data.get("compute", {})))
