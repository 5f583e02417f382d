"""Typed configuration of the analysis stage (``analysis:`` section of the study config).

The keys mirror ``schemas/analysis.schema.yaml`` (the source of truth): ``estimands``,
``n_per_arm``, ``replicates``, ``alpha``, ``ci_prob``, ``procova``, ``subgroups``. Options the
schema does not expose (the test per endpoint type, the alternative, Cox ties, the planning power
of the PROCOVA sample-size comparison) are dataclass fields with fixed defaults, settable from
Python only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twintrial.arms_config import EstimandConfig
from twintrial.exceptions import ConfigError

__all__ = ["DEFAULT_TESTS", "AnalysisConfig", "SubgroupConfig"]

DEFAULT_TESTS: dict[str, str] = {"continuous": "t", "binary": "two_proportion",
                                 "time_to_event": "logrank"}
"""Prespecified primary test per endpoint type (responder endpoints use ``binary``)."""

_ALLOWED_TESTS: dict[str, tuple[str, ...]] = {
    "continuous": ("t", "welch", "ancova"),
    "binary": ("two_proportion", "chi_square", "logistic"),
    "time_to_event": ("logrank", "cox"),
}
_KEYS = ("estimands", "n_per_arm", "replicates", "alpha", "ci_prob", "procova", "subgroups")


@dataclass(frozen=True)
class SubgroupConfig:
    """A subgroup (``analysis.subgroups[]``): a label and an expression over cohort covariates."""

    name: str
    where: str


@dataclass(frozen=True)
class AnalysisConfig:
    """Options of the trial analysis.

    Attributes
    ----------
    estimands
        ICH E9(R1) estimands (:class:`twintrial.arms_config.EstimandConfig`).
    n_per_arm
        Patients per arm of the replicate trials (the power curve's grid).
    replicates
        Replicate trials per sample size.
    alpha
        Two-sided significance level.
    ci_prob
        Probability of every credible/confidence interval reported.
    procova
        Report the prognostic-score (PROCOVA) adjustment of continuous endpoints.
    subgroups
        Subgroups for the forest plot (expressions over cohort covariates).
    alternative
        ``"two-sided"``, ``"greater"`` or ``"less"`` (Python only; the schema fixes two-sided).
    tests
        Test per endpoint type (``continuous``, ``binary``, ``time_to_event``; Python only).
    ties
        Cox ties method, ``"efron"`` or ``"breslow"`` (Python only).
    target_power
        Power at which the PROCOVA sample sizes are compared (Python only).
    """

    estimands: tuple[EstimandConfig, ...] = ()
    n_per_arm: tuple[int, ...] = (50, 100, 200, 400)
    replicates: int = 1000
    alpha: float = 0.05
    ci_prob: float = 0.95
    procova: bool = True
    subgroups: tuple[SubgroupConfig, ...] = ()
    alternative: str = "two-sided"
    tests: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TESTS))
    ties: str = "efron"
    target_power: float = 0.9

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, where: str = "analysis") -> AnalysisConfig:
        """Build from the (schema-validated) section dict, collecting every problem."""
        d = dict(d or {})
        problems: list[str] = []
        for key in sorted(set(d) - set(_KEYS)):
            problems.append(f"{where}.{key}: unknown key; got {key!r}. Allowed: {list(_KEYS)}.")
        alpha = d.get("alpha", cls.alpha)
        if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
            problems.append(f"{where}.alpha: must be in (0, 1); got {alpha!r}. Use 0.05.")
        ci_prob = d.get("ci_prob", cls.ci_prob)
        if not (isinstance(ci_prob, (int, float)) and 0 < ci_prob < 1):
            problems.append(f"{where}.ci_prob: must be in (0, 1); got {ci_prob!r}. Use 0.95.")
        reps = d.get("replicates", cls.replicates)
        if not (isinstance(reps, int) and not isinstance(reps, bool) and reps >= 10):
            problems.append(f"{where}.replicates: must be an integer >= 10; got {reps!r}. "
                            "Use 1000 (MC SE of a 5% rate ~0.7%).")
        grid = d.get("n_per_arm", list(cls.n_per_arm))
        if not (isinstance(grid, (list, tuple)) and grid
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 2 for n in grid)):
            problems.append(f"{where}.n_per_arm: must be a non-empty list of integers >= 2; got "
                            f"{grid!r}. Use e.g. [50, 100, 200, 400].")
        procova = d.get("procova", cls.procova)
        if not isinstance(procova, bool):
            problems.append(f"{where}.procova: must be true or false; got {procova!r}.")
        subgroups: list[SubgroupConfig] = []
        raw_sub = d.get("subgroups") or []
        if not isinstance(raw_sub, (list, tuple)):
            problems.append(f"{where}.subgroups: must be a list of {{name, where}}; got "
                            f"{raw_sub!r}. Use e.g. [{{name: women, where: \"sex == 'f'\"}}].")
            raw_sub = []
        for i, s in enumerate(raw_sub):
            if not (isinstance(s, Mapping) and isinstance(s.get("name"), str)
                    and isinstance(s.get("where"), str) and s["where"].strip()):
                problems.append(f"{where}.subgroups[{i}]: needs a name and a non-empty 'where' "
                                f"expression; got {s!r}. E.g. {{name: old, where: 'age >= 65'}}.")
            else:
                subgroups.append(SubgroupConfig(name=s["name"], where=s["where"]))
        names = [s.name for s in subgroups]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"{where}.subgroups: duplicate name {name!r}. Give unique names.")
        estimands: list[EstimandConfig] = []
        raw_est = d.get("estimands") or []
        for i, e in enumerate(raw_est if isinstance(raw_est, (list, tuple)) else []):
            if not (isinstance(e, Mapping) and all(k in e for k in ("name", "endpoint",
                                                                   "treatment"))):
                problems.append(f"{where}.estimands[{i}]: needs name, endpoint and treatment; got "
                                f"{e!r}.")
            else:
                estimands.append(EstimandConfig.from_dict(e))
        if problems:
            raise ConfigError(problems)
        return cls(estimands=tuple(estimands), n_per_arm=tuple(int(n) for n in grid),
                   replicates=int(reps), alpha=float(alpha), ci_prob=float(ci_prob),
                   procova=procova, subgroups=tuple(subgroups))

    def check(self, *, where: str = "analysis") -> AnalysisConfig:
        """Validate the Python-only options (tests, alternative, ties, target power)."""
        problems: list[str] = []
        for kind, name in self.tests.items():
            if kind not in _ALLOWED_TESTS:
                problems.append(f"{where}.tests.{kind}: unknown endpoint type; got {kind!r}. "
                                f"Use one of {sorted(_ALLOWED_TESTS)}.")
            elif name not in _ALLOWED_TESTS[kind]:
                problems.append(f"{where}.tests.{kind}: unknown test; got {name!r}. Use one of "
                                f"{list(_ALLOWED_TESTS[kind])}.")
        if self.alternative not in ("two-sided", "greater", "less"):
            problems.append(f"{where}.alternative: must be 'two-sided', 'greater' or 'less'; got "
                            f"{self.alternative!r}. Use 'two-sided'.")
        if self.ties not in ("efron", "breslow"):
            problems.append(f"{where}.ties: must be 'efron' or 'breslow'; got {self.ties!r}. "
                            "Use 'efron' (R coxph default).")
        if not 0 < self.target_power < 1:
            problems.append(f"{where}.target_power: must be in (0, 1); got "
                            f"{self.target_power!r}. Use 0.9.")
        if problems:
            raise ConfigError(problems)
        return self
