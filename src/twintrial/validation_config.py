"""Typed ``validation`` configuration and its cross-field checks.

The JSON Schema (``schemas/validation.schema.yaml``) checks types, ranges and enums;
:func:`semantic_problems` checks what it cannot say clearly (increasing levels, bands and landmarks,
a cutoff for a time split, a complete published comparator, known credibility factor ids).
:meth:`ValidationConfig.from_dict` applies the same checks to configs built in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from twintrial.exceptions import ConfigError

P = "validation"


@dataclass(frozen=True)
class SplitConfig:
    """``validation.split``: how observations are held out."""

    kind: Literal["time", "subjects", "none"] = "subjects"
    cutoff: float | None = None
    cutoff_unit: str | None = None
    k: int = 5
    holdout_fraction: float | None = None
    stratify: str | None = "arm"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SplitConfig:
        """Build from the validated ``validation.split`` mapping."""
        cut = d.get("cutoff") or {}
        return cls(kind=d.get("kind", "subjects"),
                   cutoff=None if not cut else float(cut["value"]),
                   cutoff_unit=None if not cut else str(cut["unit"]), k=int(d.get("k", 5)),
                   holdout_fraction=(None if d.get("holdout_fraction") is None
                                     else float(d["holdout_fraction"])),
                   stratify=d.get("stratify", "arm"))


@dataclass(frozen=True)
class SurvivalValidationConfig:
    """``validation.survival``."""

    c_index: Literal["uno", "harrell"] = "uno"
    calibration_groups: int = 5
    conf_level: float = 0.95

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SurvivalValidationConfig:
        """Build from the validated mapping."""
        return cls(c_index=d.get("c_index", "uno"),
                   calibration_groups=int(d.get("calibration_groups", 5)),
                   conf_level=float(d.get("conf_level", 0.95)))


@dataclass(frozen=True)
class VPCConfig:
    """``validation.vpc``."""

    bins: int | tuple[float, ...] = 8
    percentiles: tuple[float, ...] = (0.05, 0.5, 0.95)
    ci_level: float = 0.9
    prediction_corrected: bool | Literal["auto"] = "auto"
    lower_bound: float | None = 0.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VPCConfig:
        """Build from the validated mapping."""
        bins = d.get("bins", 8)
        lb = d.get("lower_bound", 0.0)
        return cls(bins=tuple(float(b) for b in bins) if isinstance(bins, list) else int(bins),
                   percentiles=tuple(float(p) for p in d.get("percentiles", (0.05, 0.5, 0.95))),
                   ci_level=float(d.get("ci_level", 0.9)),
                   prediction_corrected=d.get("prediction_corrected", "auto"),
                   lower_bound=None if lb is None else float(lb))


@dataclass(frozen=True)
class TrialReplicationConfig:
    """``validation.trial_replication``; ``published`` is kept as the validated mapping."""

    enabled: bool = False
    observed: Literal["data", "published"] = "data"
    control: str | None = None
    treatment: str | None = None
    level: float = 0.95
    published: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialReplicationConfig:
        """Build from the validated mapping."""
        return cls(enabled=bool(d.get("enabled", False)), observed=d.get("observed", "data"),
                   control=d.get("control"), treatment=d.get("treatment"),
                   level=float(d.get("level", 0.95)), published=dict(d.get("published", {})))


@dataclass(frozen=True)
class CredibilityConfig:
    """``validation.credibility``: question, context of use, influence, consequence, targets."""

    question: str = ""
    context_of_use: str = ""
    model_influence: Literal["low", "medium", "high"] = "medium"
    decision_consequence: Literal["low", "medium", "high"] = "medium"
    targets: Mapping[str, int] = field(default_factory=dict)
    test_report: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CredibilityConfig:
        """Build from the validated mapping."""
        return cls(question=str(d.get("question", "")),
                   context_of_use=str(d.get("context_of_use", "")),
                   model_influence=d.get("model_influence", "medium"),
                   decision_consequence=d.get("decision_consequence", "medium"),
                   targets={str(k): int(v) for k, v in dict(d.get("targets", {})).items()},
                   test_report=str(d.get("test_report", "") or ""))


@dataclass(frozen=True)
class ThresholdsConfig:
    """``validation.thresholds``: pass/fail limits of the metrics."""

    coverage_tolerance: float = 0.05
    pit_ks_pvalue: float = 0.01
    c_index_min: float = 0.6
    calibration_inside_min: float = 0.8
    vpc_outside_max: float = 0.2
    rhat_max: float = 1.01
    ess_min: float = 400.0
    min_test_subjects: tuple[int, int, int] = (10, 30, 100)
    code_verification_rel: float = 1e-6
    discretization_rel: float = 1e-6

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ThresholdsConfig:
        """Build from the validated mapping."""
        base = cls()
        kw = {k: float(d[k]) for k in ("coverage_tolerance", "pit_ks_pvalue", "c_index_min",
                                       "calibration_inside_min", "vpc_outside_max", "rhat_max",
                                       "ess_min", "code_verification_rel",
                                       "discretization_rel") if k in d}
        mts = tuple(int(x) for x in d.get("min_test_subjects", base.min_test_subjects))
        return cls(**kw, min_test_subjects=mts)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ValidationConfig:
    """The ``validation`` section."""

    split: SplitConfig = field(default_factory=SplitConfig)
    interval_levels: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
    time_unit: str | None = None
    time_bands: tuple[float, ...] = ()
    landmarks: tuple[float, ...] = ()
    survival: SurvivalValidationConfig = field(default_factory=SurvivalValidationConfig)
    vpc: VPCConfig = field(default_factory=VPCConfig)
    trial_replication: TrialReplicationConfig = field(default_factory=TrialReplicationConfig)
    credibility: CredibilityConfig = field(default_factory=CredibilityConfig)
    thresholds: ThresholdsConfig = field(default_factory=ThresholdsConfig)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ValidationConfig:
        """Build from the (validated) ``validation`` mapping; raises ConfigError on semantic problems."""
        problems = section_problems(d)
        if problems:
            raise ConfigError(problems)
        return cls(split=SplitConfig.from_dict(d.get("split", {})),
                   interval_levels=tuple(float(x) for x in d.get("interval_levels",
                                                                 (0.5, 0.8, 0.9, 0.95))),
                   time_unit=d.get("time_unit"),
                   time_bands=tuple(float(x) for x in d.get("time_bands", ())),
                   landmarks=tuple(float(x) for x in d.get("landmarks", ())),
                   survival=SurvivalValidationConfig.from_dict(d.get("survival", {})),
                   vpc=VPCConfig.from_dict(d.get("vpc", {})),
                   trial_replication=TrialReplicationConfig.from_dict(d.get("trial_replication", {})),
                   credibility=CredibilityConfig.from_dict(d.get("credibility", {})),
                   thresholds=ThresholdsConfig.from_dict(d.get("thresholds", {})))


def _increasing(values: Sequence[float], where: str, *, min_len: int = 1) -> list[str]:
    vals = list(values)
    if 0 < len(vals) < min_len:
        return [f"{where}: needs at least {min_len} values; got {vals}. Give {min_len} or more, or none."]
    if any(b <= a for a, b in zip(vals, vals[1:], strict=False)):
        return [f"{where}: must be strictly increasing; got {vals}. Sort them and remove duplicates."]
    return []


def _ci_problem(ci: Any, value: Any, where: str) -> list[str]:
    if ci is None:
        return []
    if ci[0] > ci[1]:
        return [f"{where}: lower bound above upper; got {list(ci)}. Write it as [lower, upper]."]
    if value is not None and not ci[0] <= value <= ci[1]:
        return [f"{where}: the estimate {value} lies outside its interval {list(ci)}. Check the "
                "published numbers (and the scale: HR vs log HR)."]
    return []


def section_problems(v: Mapping[str, Any]) -> list[str]:
    """Cross-field problems of a ``validation`` mapping (key paths start with ``validation``)."""
    from twintrial.validation.credibility import CATEGORY_IDS, FACTOR_IDS

    out: list[str] = []
    out += _increasing(v.get("interval_levels", []), f"{P}.interval_levels")
    out += _increasing(v.get("time_bands", []), f"{P}.time_bands", min_len=2)
    out += _increasing(v.get("landmarks", []), f"{P}.landmarks")
    out += _increasing(v.get("vpc", {}).get("percentiles", []), f"{P}.vpc.percentiles")
    bins = v.get("vpc", {}).get("bins", 8)
    if isinstance(bins, list):
        out += _increasing(bins, f"{P}.vpc.bins", min_len=2)
    split = v.get("split", {})
    if split.get("kind") == "time" and not split.get("cutoff"):
        out.append(f"{P}.split.cutoff: required when split.kind is 'time'; got null. Add e.g. "
                   "cutoff: {value: 12, unit: month}.")
    tr = v.get("trial_replication", {})
    if tr.get("enabled"):
        if tr.get("observed", "data") == "data":
            for key in ("control", "treatment"):
                if not tr.get(key):
                    out.append(f"{P}.trial_replication.{key}: required when observed is 'data'; "
                               "got null. Name the arm as it appears in the data.")
            if tr.get("control") and tr.get("control") == tr.get("treatment"):
                out.append(f"{P}.trial_replication.treatment: must differ from control; got "
                           f"{tr.get('treatment')!r}.")
        else:
            pub = tr.get("published", {})
            if not str(pub.get("citation", "")).strip():
                out.append(f"{P}.trial_replication.published.citation: required for a published "
                           "comparator; got ''. Cite the source (authors, journal, year).")
            if pub.get("effect") is None and pub.get("hr") is None and not pub.get("arms"):
                out.append(f"{P}.trial_replication.published: no effect, hr or arms given. Give at "
                           "least one published number to compare with.")
            out += _ci_problem(pub.get("ci"), pub.get("effect"), f"{P}.trial_replication.published.ci")
            out += _ci_problem(pub.get("hr_ci"), pub.get("hr"), f"{P}.trial_replication.published.hr_ci")
            if pub.get("ci") is not None and pub.get("effect") is None:
                out.append(f"{P}.trial_replication.published.effect: a ci is given without the "
                           "effect; got null. Give the point estimate too.")
            for i, arm in enumerate(pub.get("arms", [])):
                where = f"{P}.trial_replication.published.arms[{i}]"
                if arm.get("mean_change") is None and not arm.get("survival"):
                    out.append(f"{where}: neither mean_change nor survival given for arm "
                               f"{arm.get('arm')!r}. Give at least one.")
                for j, s in enumerate(arm.get("survival", [])):
                    out += _ci_problem(s.get("ci"), s.get("value"), f"{where}.survival[{j}].ci")
                out += _increasing([s["time"] for s in arm.get("survival", [])],
                                   f"{where}.survival[*].time")
    known = set(FACTOR_IDS) | set(CATEGORY_IDS)
    for key in v.get("credibility", {}).get("targets", {}):
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; known: {', '.join(sorted(known))}"
            out.append(f"{P}.credibility.targets.{key}: unknown credibility factor{hint}")
    mts = v.get("thresholds", {}).get("min_test_subjects")
    if mts is not None and list(mts) != sorted(mts):
        out.append(f"{P}.thresholds.min_test_subjects: must be non-decreasing (low, medium, high); "
                   f"got {list(mts)}.")
    return out


def semantic_problems(raw: Mapping[str, Any]) -> list[str]:
    """Cross-field checks of the resolved study config (called by :func:`twintrial.config.resolve`)."""
    return section_problems(raw.get("validation", {}) or {})
