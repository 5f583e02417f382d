"""Exceptions raised for user errors, and warnings for statistical problems.

Every user error is a :class:`TwinTrialError`: the CLI and the workflow scripts print its message
(one line per problem) and exit with status 2, without a traceback. Anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable


class TwinTrialError(Exception):
    """Base class of user errors (bad config, bad data, failed gates).

    Parameters
    ----------
    problems
        One message, or several; each is shown on its own line.
    """

    exit_code: int = 2

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ConfigError(TwinTrialError, ValueError):
    """The study configuration is invalid (all problems are collected and reported together)."""


class DataError(TwinTrialError, ValueError):
    """An input data file is unreadable or violates the canonical data model."""


class CohortError(TwinTrialError, ValueError):
    """A virtual cohort cannot be built as requested (e.g. acceptance rate below the floor)."""


class ModelError(TwinTrialError, ValueError):
    """A model is unknown or mis-specified for the data given."""


class ConvergenceError(TwinTrialError, RuntimeError):
    """An MCMC fit failed the diagnostics gate and was not explicitly allowed to continue."""


class AnalysisError(TwinTrialError, ValueError):
    """A trial analysis, sensitivity or validation request cannot be carried out."""


class TwinTrialWarning(RuntimeWarning):
    """Base class of statistical warnings (shown to the user and carried into the report)."""


class ConvergenceWarning(TwinTrialWarning):
    """An MCMC fit did not pass the gate but was allowed to continue (``allow_unconverged``)."""


class FidelityWarning(TwinTrialWarning):
    """A virtual cohort deviates from its target distribution more than the thresholds allow."""


class SensitivityWarning(TwinTrialWarning):
    """Sensitivity indices did not converge (N vs N/2 change above the tolerance)."""
