"""Cohort definitions from published summary statistics ("Table 1").

A definition (``cohorts/<id>/cohort.yaml``) gives, per covariate, either mean/SD, or median and
quartiles (``median``, ``q1``, ``q3``) and optionally more ``quantiles``, with bounds; a proportion
(binary) or proportions per level (categorical); plus a rank-correlation matrix (``kind: spearman``)
or a latent Gaussian-copula matrix (``kind: latent``). Example::

    id: pbc_summary
    citation: "..."
    n: 312
    covariates:
      - {name: age, type: continuous, unit: years, mean: 50.0, sd: 10.6, bounds: [18, 90]}
      - {name: bili, type: continuous, unit: mg/dL, median: 1.35, q1: 0.8, q3: 3.4}
      - {name: ascites, type: binary, proportion: 0.077}
      - {name: sex, type: categorical, proportions: {f: 0.894, m: 0.106}}
    correlation:
      kind: spearman
      names: [age, bili, ascites, sex]
      matrix: [[1, ...], ...]

Default continuous family (``auto``): with three or more quantiles (e.g. median and quartiles),
``quantile`` (:class:`~twintrial.cohort.marginals.QuantileMarginal`: exact at the given quantiles,
log scale when right-skewed and positive); otherwise normal from mean/SD. A named family
(``family: lognormal``, ...) is matched to the given moments/quantiles instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from twintrial.cohort.copula import check_correlation
from twintrial.cohort.marginals import (
    DiscreteMarginal,
    Marginal,
    QuantileMarginal,
    match_summary,
)
from twintrial.exceptions import CohortError

_COV_KEYS = {"name", "type", "unit", "family", "bounds", "mean", "sd", "median", "q1", "q3",
             "quantiles", "proportion", "proportions", "source", "note", "n_missing"}
_TOP_KEYS = {"id", "title", "citation", "source_note", "n", "covariates", "correlation", "licence",
             "license", "notes"}


@dataclass(frozen=True)
class SummaryCovariate:
    """Summary statistics of one covariate."""

    name: str
    type: str
    unit: str = ""
    family: str = "auto"
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    sd: float | None = None
    quantiles: tuple[tuple[float, float], ...] = ()
    levels: tuple[Any, ...] = ()
    probs: tuple[float, ...] = ()

    def marginal(self, *, family: str | None = None, low: float | None = None,
                 high: float | None = None) -> Marginal:
        """The marginal matching these statistics (``family``/bounds override the file's)."""
        lo = self.low if low is None else low
        hi = self.high if high is None else high
        if self.type != "continuous":
            numeric = all(isinstance(v, int | float) for v in self.levels)
            levels = tuple(float(v) for v in self.levels) if numeric else self.levels
            return DiscreteMarginal(self.name, self.type, levels, np.asarray(self.probs, float),
                                    numeric)
        fam = family if family not in (None, "auto", "empirical") else self.family
        q = dict(self.quantiles)
        if fam in ("auto", "empirical"):
            fam = "quantile" if len(q) >= 3 or (self.mean is None and len(q) >= 2) else "normal"
        if fam == "quantile":
            return QuantileMarginal.fit(self.name, q, low=lo, high=hi)
        return match_summary(self.name, fam, mean=self.mean, sd=self.sd, quantiles=q or None,
                             low=lo, high=hi)


@dataclass(frozen=True)
class CohortSummary:
    """A parsed, checked summary-statistics cohort definition.

    Attributes
    ----------
    id, citation
        Identity and full reference of the source table.
    n_source
        Number of patients the statistics describe (for reports).
    covariates
        Per-covariate statistics, in file order.
    correlation_kind
        ``spearman`` (rank correlations, the default) or ``latent`` (copula correlations).
    correlation
        The matrix over :attr:`covariate_names` (identity if the file gives none).
    """

    id: str
    citation: str
    n_source: int | None
    covariates: tuple[SummaryCovariate, ...]
    correlation_kind: str
    correlation: npt.NDArray[np.float64]

    @property
    def covariate_names(self) -> list[str]:
        """Covariate names in file order."""
        return [c.name for c in self.covariates]

    def covariate(self, name: str) -> SummaryCovariate:
        """The statistics of ``name``."""
        for c in self.covariates:
            if c.name == name:
                return c
        raise CohortError(f"summary {self.id!r}: no covariate {name!r}; it defines "
                          f"{', '.join(self.covariate_names)}")

    @staticmethod
    def problems(raw: Any, *, source: str = "summary") -> list[str]:  # noqa: C901
        """Every problem of a raw definition, one line each (empty if valid)."""
        if not isinstance(raw, Mapping):
            return [f"{source}: must be a mapping with 'covariates'; got {type(raw).__name__}"]
        out = [f"{source}: {k}: unknown key; allowed: {', '.join(sorted(_TOP_KEYS))}"
               for k in raw if k not in _TOP_KEYS]
        covs = raw.get("covariates")
        if not isinstance(covs, list) or not covs:
            return out + [f"{source}: covariates: must be a non-empty list; got {covs!r}"]
        names: list[str] = []
        for i, c in enumerate(covs):
            w = f"{source}: covariates[{i}]"
            if not isinstance(c, Mapping) or "name" not in c:
                out.append(f"{w}: must be a mapping with a 'name'; got {c!r}")
                continue
            out += [f"{w}.{k}: unknown key; allowed: {', '.join(sorted(_COV_KEYS))}"
                    for k in c if k not in _COV_KEYS]
            name = str(c["name"])
            if name in names:
                out.append(f"{w}.name: {name!r} is listed twice")
            names.append(name)
            ctype = c.get("type", "continuous")
            if ctype == "continuous":
                has_moments = c.get("mean") is not None and c.get("sd") is not None
                q = _quantiles(c)
                if not has_moments and len(q) < 2:
                    out.append(f"{w}: continuous covariate {name!r} needs mean and sd, or at least "
                               "two of median/q1/q3/quantiles")
                if c.get("sd") is not None and not float(c["sd"]) > 0:
                    out.append(f"{w}.sd: must be > 0; got {c['sd']}")
                qs = [v for _, v in sorted(q.items())]
                if any(b < a for a, b in zip(qs, qs[1:], strict=False)):
                    out.append(f"{w}: quantiles must increase with probability; got {dict(q)}")
                if any(not 0 < p < 1 for p in q):
                    out.append(f"{w}.quantiles: probabilities must lie in (0, 1); got {list(q)}")
                bounds = c.get("bounds")
                if bounds is not None:
                    if not (isinstance(bounds, list) and len(bounds) == 2):
                        out.append(f"{w}.bounds: must be [low, high]; got {bounds!r}")
                    elif None not in bounds and bounds[0] >= bounds[1]:
                        out.append(f"{w}.bounds: low must be < high; got {bounds}")
            elif ctype == "binary":
                p = c.get("proportion")
                if not isinstance(p, int | float) or not 0 <= p <= 1:
                    out.append(f"{w}.proportion: binary covariate {name!r} needs a proportion in "
                               f"[0, 1]; got {p!r}")
            elif ctype == "categorical":
                props = c.get("proportions")
                if not isinstance(props, Mapping) or len(props) < 2:
                    out.append(f"{w}.proportions: categorical covariate {name!r} needs a mapping "
                               f"level -> proportion with >= 2 levels; got {props!r}")
                else:
                    total = sum(float(v) for v in props.values())
                    if any(float(v) < 0 for v in props.values()) or abs(total - 1) > 0.011:
                        out.append(f"{w}.proportions: must be >= 0 and sum to 1 (+-0.01); got "
                                   f"sum {total:.4f}")
            else:
                out.append(f"{w}.type: must be continuous, binary or categorical; got {ctype!r}")
        corr = raw.get("correlation")
        if corr is not None:
            if not isinstance(corr, Mapping) or "matrix" not in corr:
                return out + [f"{source}: correlation: must be a mapping with 'matrix'; got "
                              f"{corr!r}"]
            if corr.get("kind", "spearman") not in ("spearman", "latent"):
                out.append(f"{source}: correlation.kind: must be 'spearman' or 'latent'; got "
                           f"{corr.get('kind')!r}")
            order = list(corr.get("names") or names)
            unknown = [n for n in order if n not in names]
            if unknown:
                out.append(f"{source}: correlation.names: unknown covariates {unknown}")
            try:
                m = np.asarray(corr["matrix"], dtype=float)
            except (TypeError, ValueError):
                return out + [f"{source}: correlation.matrix: must be a numeric square matrix"]
            if m.ndim != 2 or m.shape != (len(order), len(order)):
                out.append(f"{source}: correlation.matrix: size mismatch: must be "
                           f"{len(order)}x{len(order)} (one row per name); got shape {m.shape}")
            else:
                out += check_correlation(m, where=f"{source}: correlation.matrix")
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "summary") -> CohortSummary:
        """Parse and check a definition; raise :class:`CohortError` listing every problem."""
        problems = cls.problems(raw, source=source)
        if problems:
            raise CohortError(problems)
        covs = []
        for c in raw["covariates"]:
            ctype = c.get("type", "continuous")
            bounds = c.get("bounds") or [None, None]
            levels: tuple[Any, ...] = ()
            probs: tuple[float, ...] = ()
            if ctype == "binary":
                levels, probs = (0.0, 1.0), (1 - float(c["proportion"]), float(c["proportion"]))
            elif ctype == "categorical":
                levels = tuple(c["proportions"].keys())
                total = sum(float(v) for v in c["proportions"].values())
                probs = tuple(float(v) / total for v in c["proportions"].values())
            covs.append(SummaryCovariate(
                name=str(c["name"]), type=ctype, unit=str(c.get("unit", "")),
                family=c.get("family", "auto"),
                low=None if bounds[0] is None else float(bounds[0]),
                high=None if bounds[1] is None else float(bounds[1]),
                mean=None if c.get("mean") is None else float(c["mean"]),
                sd=None if c.get("sd") is None else float(c["sd"]),
                quantiles=tuple(sorted(_quantiles(c).items())), levels=levels, probs=probs))
        names = [c.name for c in covs]
        corr = raw.get("correlation") or {}
        d = len(names)
        matrix = np.eye(d)
        if corr:
            order = list(corr.get("names") or names)
            m = np.asarray(corr["matrix"], dtype=float)
            idx = [names.index(n) for n in order]
            matrix[np.ix_(idx, idx)] = m
        return cls(id=str(raw.get("id", source)), citation=str(raw.get("citation", "")),
                   n_source=int(raw["n"]) if raw.get("n") is not None else None,
                   covariates=tuple(covs), correlation_kind=str(corr.get("kind", "spearman")),
                   correlation=matrix)


def _quantiles(c: Mapping[str, Any]) -> dict[float, float]:
    q: dict[float, float] = {}
    for key, p in (("q1", 0.25), ("median", 0.5), ("q3", 0.75)):
        if c.get(key) is not None:
            q[p] = float(c[key])
    for p, v in (c.get("quantiles") or {}).items():
        q[float(p)] = float(v)
    return q


def read_summary(path: str | os.PathLike[str]) -> CohortSummary:
    """Read and check a cohort definition file (pipeline helper: the only file I/O here).

    Raises
    ------
    CohortError
        If the file is missing, not YAML, or fails the checks (every problem listed).
    """
    p = Path(path)
    if not p.is_file():
        raise CohortError(f"{p}: cohort definition not found. Check cohort.summary_file")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CohortError(f"{p}: invalid YAML: {str(exc).splitlines()[0]}") from None
    return CohortSummary.from_dict(raw, source=str(p))


load_summary_definition = read_summary
"""Alias of :func:`read_summary` (the name the pipeline layer uses)."""
