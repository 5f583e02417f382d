"""The report stage's user error."""

from __future__ import annotations

from twintrial.exceptions import TwinTrialError


class ReportError(TwinTrialError, ValueError):
    """A stage output, figure or benchmark file cannot be put into the report as given."""
