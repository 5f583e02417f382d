"""Typed ``cohort`` configuration and its cross-field checks.

The JSON Schema (``schemas/cohort.schema.yaml``) checks types and ranges; :func:`semantic_problems`
checks what a schema cannot: duplicate covariates, inverted bounds, criteria that name unknown
covariates, a missing or inconsistent summary file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from twintrial.expressions import expression_problems

COVARIATE_TYPES = ("continuous", "binary", "categorical")
FAMILIES = ("empirical", "auto", "quantile", "normal", "lognormal", "gamma", "weibull", "beta", "truncnorm")


@dataclass(frozen=True)
class CovariateSpec:
    """One covariate of the virtual cohort.

    Attributes
    ----------
    name
        Column name (canonical covariate name).
    type
        ``continuous``, ``binary`` (0/1) or ``categorical`` (text, or numeric ordinal levels such as
        a disease stage 1-4: sampled over the observed levels, never in between).
    family
        Marginal of a continuous covariate: ``empirical`` (data source default), ``auto``
        (summary source default), or a parametric family.
    low, high
        Physiological bounds (inclusive); ``None`` if open.
    unit
        Unit string, for reports.
    levels
        Category order for a categorical covariate (the latent order used by the copula).
    """

    name: str
    type: str = "continuous"
    family: str = "empirical"
    low: float | None = None
    high: float | None = None
    unit: str = ""
    levels: tuple[Any, ...] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CovariateSpec:
        """Build from one validated ``cohort.covariates[i]`` mapping."""
        bounds = d.get("bounds") or [None, None]
        levels = d.get("levels")
        return cls(name=str(d["name"]), type=d.get("type", "continuous"),
                   family=d.get("family", "empirical"),
                   low=None if bounds[0] is None else float(bounds[0]),
                   high=None if bounds[1] is None else float(bounds[1]),
                   unit=str(d.get("unit", "")),
                   levels=tuple(levels) if levels is not None else None)


@dataclass(frozen=True)
class FidelityConfig:
    """Pass/fail thresholds of the fidelity report (``cohort.fidelity``)."""

    ks: float = 0.06
    smd: float = 0.05
    proportion: float = 0.02
    rank_corr: float = 0.05
    warn: bool = True

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FidelityConfig:
        """Build from the validated ``cohort.fidelity`` mapping."""
        return cls(ks=float(d.get("ks", 0.06)), smd=float(d.get("smd", 0.05)),
                   proportion=float(d.get("proportion", 0.02)),
                   rank_corr=float(d.get("rank_corr", 0.05)), warn=bool(d.get("warn", True)))


@dataclass(frozen=True)
class PrivacyConfig:
    """Privacy metrics when real patient-level data were used (``cohort.privacy``)."""

    enabled: bool = True
    holdout_fraction: float = 0.5
    max_records: int = 20000

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PrivacyConfig:
        """Build from the validated ``cohort.privacy`` mapping."""
        return cls(enabled=bool(d.get("enabled", True)),
                   holdout_fraction=float(d.get("holdout_fraction", 0.5)),
                   max_records=int(d.get("max_records", 20000)))


@dataclass(frozen=True)
class CohortConfig:
    """The ``cohort`` section.

    Attributes
    ----------
    source
        ``data`` (patient-level subjects table) or ``summary`` (published Table 1).
    n
        Number of virtual patients.
    covariates
        Covariates to synthesise; empty = every covariate column of the subjects table, with
        types inferred (data source only).
    criteria
        Inclusion/exclusion expressions (all must hold), see :mod:`twintrial.expressions`.
    min_acceptance_rate
        Floor on the share of candidates passing the criteria; below it the build fails.
    summary_file
        Path of the summary definition (``source: summary``).
    fidelity, privacy
        Report settings.
    """

    source: str = "data"
    n: int = 1000
    covariates: tuple[CovariateSpec, ...] = ()
    criteria: tuple[str, ...] = ()
    min_acceptance_rate: float = 0.01
    summary_file: str | None = None
    fidelity: FidelityConfig = field(default_factory=FidelityConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CohortConfig:
        """Build from the validated (defaults filled) ``cohort`` mapping."""
        return cls(source=d.get("source", "data"), n=int(d.get("n", 1000)),
                   covariates=tuple(CovariateSpec.from_dict(c) for c in d.get("covariates", [])),
                   criteria=tuple(d.get("criteria", [])),
                   min_acceptance_rate=float(d.get("min_acceptance_rate", 0.01)),
                   summary_file=d.get("summary_file"),
                   fidelity=FidelityConfig.from_dict(d.get("fidelity", {})),
                   privacy=PrivacyConfig.from_dict(d.get("privacy", {})))

    def covariate(self, name: str) -> CovariateSpec | None:
        """The spec of covariate ``name``, or None."""
        return next((c for c in self.covariates if c.name == name), None)


def _covariate_problems(covs: list[Any], key: str, section_source: str = "data"
                        ) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    names: list[str] = []
    for i, c in enumerate(covs):
        if not isinstance(c, Mapping) or "name" not in c:
            continue
        where = f"{key}.covariates[{i}]"
        name = str(c["name"])
        if name in names:
            problems.append(f"{where}.name: covariate {name!r} is listed twice (first at "
                            f"{key}.covariates[{names.index(name)}]); remove one")
        names.append(name)
        bounds = c.get("bounds")
        if isinstance(bounds, list) and len(bounds) == 2 and None not in bounds:
            lo, hi = bounds
            if isinstance(lo, int | float) and isinstance(hi, int | float) and lo >= hi:
                problems.append(f"{where}.bounds: low must be < high; got [{lo}, {hi}]. "
                                "Swap them or widen the range")
        ctype = c.get("type", "continuous")
        family = c.get("family", "empirical")
        if family == "quantile" and section_source != "summary":
            problems.append(f"{where}.family: 'quantile' needs summary quantiles (source: "
                            "summary); use empirical for patient-level data")
        if ctype != "continuous" and family not in ("empirical", "auto"):
            problems.append(f"{where}.family: only continuous covariates have a family; got "
                            f"{family!r} for a {ctype} covariate. Remove 'family'")
        if family == "beta" and not (isinstance(bounds, list) and None not in (bounds or [None])):
            problems.append(f"{where}.bounds: family 'beta' needs finite bounds [low, high]; "
                            f"got {bounds!r}")
        if c.get("levels") is not None and ctype != "categorical":
            problems.append(f"{where}.levels: only categorical covariates have levels; got a "
                            f"{ctype} covariate. Remove 'levels' or set type: categorical")
    return problems, names


def summary_file_problems(path: str | Path, names: list[str], key: str = "cohort") -> list[str]:
    """Problems of a summary definition file as seen from the config (existence, consistency)."""
    from twintrial.cohort.summary import CohortSummary  # local: avoid an import cycle

    p = Path(path)
    if not p.is_file():
        return [f"{key}.summary_file: file not found; got {str(path)!r}. Give the path of a "
                "cohort definition (e.g. cohorts/<id>/cohort.yaml) relative to the working "
                "directory"]
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [f"{key}.summary_file: invalid YAML in {p}: {str(exc).splitlines()[0]}"]
    problems = CohortSummary.problems(raw, source=str(p))
    if problems:
        return problems
    summary = CohortSummary.from_dict(raw, source=str(p))
    known = [c.name for c in summary.covariates]
    for i, name in enumerate(names):
        if name not in known:
            problems.append(f"{key}.covariates[{i}].name: {name!r} is not in {p}; it defines "
                            f"{', '.join(known)}")
    return problems


def semantic_problems(raw: Mapping[str, Any]) -> list[str]:
    """Cross-field checks of the ``cohort`` section (config loader hook).

    Parameters
    ----------
    raw
        The whole resolved configuration (schema-valid, defaults filled).

    Returns
    -------
    list of str
        One message per problem, each starting with its key path.
    """
    section = raw.get("cohort")
    if not isinstance(section, Mapping):
        return []
    covs = section.get("covariates") or []
    source = section.get("source", "data")
    problems, names = _covariate_problems(list(covs), "cohort", source)
    summary_names = names
    if source == "summary":
        path = section.get("summary_file")
        if not path:
            problems.append("cohort.summary_file: required when cohort.source is 'summary'; got "
                            "nothing. Give the path of a cohort definition (cohorts/<id>/"
                            "cohort.yaml)")
        else:
            file_problems = summary_file_problems(path, names)
            problems += file_problems
            if not file_problems and not names:
                from twintrial.cohort.summary import CohortSummary
                raw_sum = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
                summary_names = [c.name for c in CohortSummary.from_dict(raw_sum).covariates]
    elif section.get("summary_file"):
        problems.append(f"cohort.summary_file: only used when cohort.source is 'summary'; got "
                        f"source {source!r}. Remove summary_file or set source: summary")
    rate = section.get("min_acceptance_rate")
    if isinstance(rate, float) and math.isnan(rate):
        problems.append("cohort.min_acceptance_rate: must be a number in (0, 1]; got nan")
    if summary_names:
        for i, text in enumerate(section.get("criteria") or []):
            problems += expression_problems(text, names=summary_names,
                                            where=f"cohort.criteria[{i}]")
    return problems
