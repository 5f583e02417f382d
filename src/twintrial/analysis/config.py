"""Typed configuration of the analysis stage (``analysis:`` section of the study config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twintrial.exceptions import ConfigError

__all__ = ["AnalysisConfig", "DEFAULT_TESTS"]

DEFAULT_TESTS: dict[str, str] = {"continuous": "ancova", "binary": "two_proportion",
                                 "time_to_event": "logrank"}
_ALLOWED_TESTS: dict[str, tuple[str, ...]] = {
    "continuous": ("t", "welch", "ancova"),
    "binary": ("two_proportion", "chi_square", "logistic"),
    "time_to_event": ("logrank", "cox"),
}


@dataclass(frozen=True)
class AnalysisConfig:
    """Options of the trial analysis.

    Attributes
    ----------
    alpha
        Significance level (CIs have level 1 - alpha).
    alternative
        ``"two-sided"``, ``"greater"`` or ``"less"``.
    ci_prob
        Credible-interval probability for posterior (twin) summaries.
    n_replicates
        Replicate trials per sample size for operating characteristics.
    n_grid
        Patients per arm at which to simulate operating characteristics.
    tests
        Test per endpoint type (``continuous``, ``binary``, ``time_to_event``).
    ties
        Cox ties method, ``"efron"`` or ``"breslow"``.
    prognostic_adjustment
        Adjust continuous endpoints for the twin prognostic score (PROCOVA).
    subgroups
        Baseline columns defining subgroups for the forest plot.
    """

    alpha: float = 0.05
    alternative: str = "two-sided"
    ci_prob: float = 0.95
    n_replicates: int = 10_000
    n_grid: tuple[int, ...] = (50, 100, 200)
    tests: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TESTS))
    ties: str = "efron"
    prognostic_adjustment: bool = True
    subgroups: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, where: str = "analysis") -> AnalysisConfig:
        """Build from the (schema-validated) section dict, collecting every problem."""
        d = dict(d or {})
        problems: list[str] = []
        known = {f for f in cls.__dataclass_fields__}
        for key in sorted(set(d) - known):
            problems.append(f"{where}.{key}: unknown key; got {key!r}. Allowed: {sorted(known)}.")
        alpha = d.get("alpha", cls.alpha)
        if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
            problems.append(f"{where}.alpha: must be in (0, 1); got {alpha!r}. Use 0.05.")
        alternative = d.get("alternative", cls.alternative)
        if alternative not in ("two-sided", "greater", "less"):
            problems.append(f"{where}.alternative: must be 'two-sided', 'greater' or 'less'; got "
                            f"{alternative!r}. Use 'two-sided'.")
        ci_prob = d.get("ci_prob", cls.ci_prob)
        if not (isinstance(ci_prob, (int, float)) and 0 < ci_prob < 1):
            problems.append(f"{where}.ci_prob: must be in (0, 1); got {ci_prob!r}. Use 0.95.")
        n_rep = d.get("n_replicates", cls.n_replicates)
        if not (isinstance(n_rep, int) and n_rep >= 100):
            problems.append(f"{where}.n_replicates: must be an integer >= 100; got {n_rep!r}. "
                            "Use 10000 (MC SE of a 5% rate ~0.2%).")
        grid = d.get("n_grid", list(cls.n_grid))
        if not (isinstance(grid, (list, tuple)) and grid
                and all(isinstance(n, int) and n >= 2 for n in grid)):
            problems.append(f"{where}.n_grid: must be a non-empty list of integers >= 2; got "
                            f"{grid!r}. Use e.g. [50, 100, 200].")
        tests = {**DEFAULT_TESTS, **dict(d.get("tests") or {})}
        for kind, name in tests.items():
            if kind not in _ALLOWED_TESTS:
                problems.append(f"{where}.tests.{kind}: unknown endpoint type; got {kind!r}. "
                                f"Use one of {sorted(_ALLOWED_TESTS)}.")
            elif name not in _ALLOWED_TESTS[kind]:
                problems.append(f"{where}.tests.{kind}: unknown test; got {name!r}. Use one of "
                                f"{list(_ALLOWED_TESTS[kind])}.")
        ties = d.get("ties", cls.ties)
        if ties not in ("efron", "breslow"):
            problems.append(f"{where}.ties: must be 'efron' or 'breslow'; got {ties!r}. "
                            "Use 'efron' (R coxph default).")
        subgroups = d.get("subgroups", [])
        if not (isinstance(subgroups, (list, tuple)) and all(isinstance(s, str) for s in subgroups)):
            problems.append(f"{where}.subgroups: must be a list of column names; got "
                            f"{subgroups!r}. Use e.g. ['sex', 'stage'].")
        adjust = d.get("prognostic_adjustment", cls.prognostic_adjustment)
        if not isinstance(adjust, bool):
            problems.append(f"{where}.prognostic_adjustment: must be true or false; got "
                            f"{adjust!r}.")
        if problems:
            raise ConfigError(problems)
        return cls(alpha=float(alpha), alternative=alternative, ci_prob=float(ci_prob),
                   n_replicates=n_rep, n_grid=tuple(grid), tests=tests, ties=ties,
                   prognostic_adjustment=adjust, subgroups=tuple(subgroups))
