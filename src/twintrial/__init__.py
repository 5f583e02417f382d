"""twintrial: an engine for in-silico clinical trials.

Stages: virtual cohort -> Bayesian digital twins -> simulated treatment arms -> trial analysis,
global sensitivity analysis, validation against observed outcomes, and a regulator-ready report.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("twintrial")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
