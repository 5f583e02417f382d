"""Typed ``data`` section (:class:`DataConfig`) and its cross-field checks.

The JSON Schema (``schemas/data.schema.yaml``) checks shapes and types; :func:`semantic_problems`
(in :mod:`twintrial.data.semantics`, re-exported here for ``twintrial.config``) checks what a
schema cannot: files and mapped columns exist, units are known and convertible, the sections match
``data.format``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from twintrial.data.semantics import NONMEM_COLUMNS, semantic_problems

FORMATS = ("tidy", "nonmem", "fhir")
COVARIATE_TYPES = ("continuous", "binary", "categorical")
LOINC = "http://loinc.org"


def _t(x: Sequence[Any] | None) -> tuple[Any, ...]:
    return tuple(x or ())


@dataclass(frozen=True)
class FilterSpec:
    """Keep rows where ``column`` is ``in`` / ``not_in`` a list, or compares (``op``) to ``value``."""

    column: str
    isin: tuple[Any, ...] | None = None
    not_in: tuple[Any, ...] | None = None
    op: str | None = None
    value: Any = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FilterSpec:
        """Build from ``{column, in | not_in | op + value}``."""
        return cls(column=d["column"],
                   isin=_t(d["in"]) if "in" in d else None,
                   not_in=_t(d["not_in"]) if "not_in" in d else None,
                   op=d.get("op"), value=d.get("value"))


@dataclass(frozen=True)
class ArmSpec:
    """Arm from a column, with a value -> arm name map (values not in the map are an error)."""

    column: str
    mapping: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArmSpec:
        """Build from ``{column, map}`` (map keys compared as text: ``1`` matches ``1.0``)."""
        return cls(column=d["column"],
                   mapping={str(k): str(v) for k, v in (d.get("map") or {}).items()})


@dataclass(frozen=True)
class CovariateSpec:
    """A baseline covariate: source column, type, unit, categorical levels."""

    name: str
    column: str
    type: str = "continuous"
    unit: str | None = None
    levels: tuple[str, ...] | None = None
    time_varying: bool = False

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any] | None) -> CovariateSpec:
        """Build one entry of a ``covariates`` mapping (``null`` means all defaults)."""
        d = d or {}
        return cls(name=name, column=d.get("column", name), type=d.get("type", "continuous"),
                   unit=d.get("unit"), levels=_t(d["levels"]) if d.get("levels") else None,
                   time_varying=bool(d.get("time_varying", False)))


@dataclass(frozen=True)
class VariableSpec:
    """An observed variable: wide column or long code, unit in the file, optional molar mass."""

    name: str
    source: str
    unit: str | None = None
    molar_mass: float | None = None

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any] | None, *, key: str) -> VariableSpec:
        """Build one entry of a ``variables`` mapping; ``key`` is ``column`` or ``code``."""
        d = d or {}
        return cls(name=name, source=str(d.get(key, name)), unit=d.get("unit"),
                   molar_mass=d.get("molar_mass"))


def _covariates(d: Mapping[str, Any] | None) -> tuple[CovariateSpec, ...]:
    return tuple(CovariateSpec.from_dict(k, v) for k, v in (d or {}).items())


def _filters(d: Any) -> tuple[FilterSpec, ...]:
    if not d:
        return ()
    return tuple(FilterSpec.from_dict(x) for x in ([d] if isinstance(d, Mapping) else d))


@dataclass(frozen=True)
class SubjectsConfig:
    """``data.subjects``: one row per patient (duplicated rows must agree)."""

    path: str
    id: str = "id"
    filters: tuple[FilterSpec, ...] = ()
    arm: ArmSpec | None = None
    covariates: tuple[CovariateSpec, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SubjectsConfig:
        """Build from the ``data.subjects`` mapping."""
        return cls(path=d["path"], id=d.get("id", "id"), filters=_filters(d.get("filter")),
                   arm=ArmSpec.from_dict(d["arm"]) if d.get("arm") else None,
                   covariates=_covariates(d.get("covariates")))


@dataclass(frozen=True)
class EventsConfig:
    """``data.events``: time to event or censoring, status coding."""

    path: str
    id: str = "id"
    time: str = "time"
    time_unit: str | None = None
    status: str = "status"
    event_values: tuple[Any, ...] = (1,)
    censored_values: tuple[Any, ...] = (0,)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, default_path: str | None,
                  default_id: str = "id") -> EventsConfig:
        """Build from ``data.events`` (path and id default to the subjects file's)."""
        return cls(path=d.get("path") or default_path or "", id=d.get("id") or default_id,
                   time=d.get("time", "time"), time_unit=d.get("time_unit"),
                   status=d.get("status", "status"),
                   event_values=_t(d.get("event_values", [1])),
                   censored_values=_t(d.get("censored_values", [0])))


@dataclass(frozen=True)
class ObservationsConfig:
    """``data.observations``: longitudinal measurements, wide or long."""

    path: str
    id: str = "id"
    time: str = "time"
    time_unit: str | None = None
    layout: str = "wide"
    variable_column: str = "variable"
    value_column: str = "value"
    cens_column: str | None = None
    variables: tuple[VariableSpec, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObservationsConfig:
        """Build from the ``data.observations`` mapping."""
        layout = d.get("layout", "wide")
        key = "column" if layout == "wide" else "code"
        return cls(path=d["path"], id=d.get("id", "id"), time=d.get("time", "time"),
                   time_unit=d.get("time_unit"), layout=layout,
                   variable_column=d.get("variable_column", "variable"),
                   value_column=d.get("value_column", "value"), cens_column=d.get("cens_column"),
                   variables=tuple(VariableSpec.from_dict(k, v, key=key)
                                   for k, v in (d.get("variables") or {}).items()))


@dataclass(frozen=True)
class DosesConfig:
    """``data.doses``: one row per administration."""

    path: str
    id: str = "id"
    time: str = "time"
    time_unit: str | None = None
    amount: str = "amount"
    amount_unit: str = "mg"
    route: str = "oral"
    duration: str | None = None
    weight: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DosesConfig:
        """Build from the ``data.doses`` mapping."""
        return cls(path=d["path"], id=d.get("id", "id"), time=d.get("time", "time"),
                   time_unit=d.get("time_unit"), amount=d.get("amount", "amount"),
                   amount_unit=d.get("amount_unit", "mg"), route=d.get("route", "oral"),
                   duration=d.get("duration"), weight=d.get("weight"))


@dataclass(frozen=True)
class NonmemConfig:
    """``data.nonmem``: a NONMEM-style event table (one file, rows ordered by ID then TIME)."""

    path: str
    time_unit: str = "h"
    columns: dict[str, str] = field(default_factory=dict)
    dv_variable: str = "dv"
    dv_unit: str | None = None
    cmt_variables: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    amount_unit: str = "mg"
    route: str = "oral"
    weight_covariate: str | None = None
    arm: ArmSpec | None = None
    covariates: tuple[CovariateSpec, ...] = ()

    def column(self, name: str) -> str:
        """File column for the NONMEM item ``name`` (``ID``, ``TIME``, ...)."""
        return self.columns.get(name, name)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NonmemConfig:
        """Build from the ``data.nonmem`` mapping."""
        dv = d.get("dv") or {}
        return cls(path=d["path"], time_unit=d.get("time_unit", "h"),
                   columns=dict(d.get("columns") or {}), dv_variable=dv.get("variable", "dv"),
                   dv_unit=dv.get("unit"),
                   cmt_variables={str(k): (v["variable"], v.get("unit"))
                                  for k, v in (d.get("cmt_variables") or {}).items()},
                   amount_unit=d.get("amount_unit", "mg"),
                   route=d.get("route", "oral"), weight_covariate=d.get("weight_covariate"),
                   arm=ArmSpec.from_dict(d["arm"]) if d.get("arm") else None,
                   covariates=_covariates(d.get("covariates")))


@dataclass(frozen=True)
class FhirCode:
    """One coded observation: ``system|code`` -> variable, and its canonical unit."""

    code: str
    variable: str
    unit: str | None = None
    system: str = LOINC
    molar_mass: float | None = None


@dataclass(frozen=True)
class FhirConfig:
    """``data.fhir``: an R4 Bundle (Patient, Observation, MedicationAdministration, ResearchSubject)."""

    path: str
    patient_id: str = "id"
    identifier_system: str | None = None
    anchor: str = "first_record"
    codes: tuple[FhirCode, ...] = ()
    age: str | None = "age"
    sex: str | None = "sex"
    sex_map: dict[str, str] = field(default_factory=lambda: {"male": "m", "female": "f"})
    arm_map: dict[str, str] = field(default_factory=dict)
    amount_unit: str = "mg"
    route: str = "oral"
    extensions: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FhirConfig:
        """Build from the ``data.fhir`` mapping."""
        codes = tuple(FhirCode(code=str(c["code"]), variable=c["variable"], unit=c.get("unit"),
                               system=c.get("system", LOINC), molar_mass=c.get("molar_mass"))
                      for c in d.get("observations") or [])
        sex = d.get("sex", {"name": "sex"})
        return cls(path=d["path"], patient_id=d.get("patient_id", "id"),
                   identifier_system=d.get("identifier_system"),
                   anchor=str(d.get("anchor", "first_record")), codes=codes,
                   age=d.get("age", "age"), sex=(sex or {}).get("name") if sex else None,
                   sex_map=dict((sex or {}).get("map") or {"male": "m", "female": "f"}),
                   arm_map={str(k): str(v) for k, v in (d.get("arm_map") or {}).items()},
                   amount_unit=d.get("amount_unit", "mg"), route=d.get("route", "oral"),
                   extensions={k: (v["url"], v.get("unit"))
                               for k, v in (d.get("patient_extensions") or {}).items()})


@dataclass(frozen=True)
class DataConfig:
    """The ``data`` section: which adapter, the dataset's time unit and declared units."""

    format: str = "tidy"
    time_unit: str = "h"
    units: dict[str, str] = field(default_factory=dict)
    subjects: SubjectsConfig | None = None
    events: EventsConfig | None = None
    observations: ObservationsConfig | None = None
    doses: DosesConfig | None = None
    nonmem: NonmemConfig | None = None
    fhir: FhirConfig | None = None

    @property
    def configured(self) -> bool:
        """Whether any patient-level data source is configured."""
        return any(x is not None for x in (self.subjects, self.observations, self.events,
                                           self.doses, self.nonmem, self.fhir))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataConfig:
        """Build from the (validated) ``data`` mapping; missing keys take the schema defaults."""
        subj = SubjectsConfig.from_dict(d["subjects"]) if d.get("subjects") else None
        return cls(
            format=d.get("format", "tidy"), time_unit=d.get("time_unit", "h"),
            units=dict(d.get("units") or {}), subjects=subj,
            events=(EventsConfig.from_dict(d["events"], default_path=subj.path if subj else None,
                                           default_id=subj.id if subj else "id")
                    if d.get("events") else None),
            observations=(ObservationsConfig.from_dict(d["observations"])
                          if d.get("observations") else None),
            doses=DosesConfig.from_dict(d["doses"]) if d.get("doses") else None,
            nonmem=NonmemConfig.from_dict(d["nonmem"]) if d.get("nonmem") else None,
            fhir=FhirConfig.from_dict(d["fhir"]) if d.get("fhir") else None,
        )


__all__ = [
    "FORMATS", "NONMEM_COLUMNS", "ArmSpec", "CovariateSpec", "DataConfig", "DosesConfig",
    "EventsConfig", "FhirCode", "FhirConfig", "FilterSpec", "NonmemConfig", "ObservationsConfig",
    "SubjectsConfig", "VariableSpec", "semantic_problems",
]
