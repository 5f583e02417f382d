"""Analytic test functions with known Sobol' indices (known-answer tests and benchmarks).

References
----------
Ishigami, T. and Homma, T. (1990). An importance quantification technique in uncertainty
analysis for computer models. ISUMA'90, 398-403.
Saltelli, A. et al. (2008). Global Sensitivity Analysis. The Primer. Wiley, section 4.9
(Ishigami: S1 = 0.3139, 0.4424, 0; ST = 0.5576, 0.4424, 0.2437 for a = 7, b = 0.1), as used in
SALib's own tests (``SALib.test_functions.Ishigami``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def ishigami(X: npt.NDArray[np.float64], names: Sequence[str] | None = None, *, a: float = 7.0,
             b: float = 0.1) -> npt.NDArray[np.float64]:
    """Ishigami function ``sin x1 + a sin^2 x2 + b x3^4 sin x1``, inputs uniform on [-pi, pi].

    Returns an ``(n, 1)`` array (the evaluation contract of ``evaluate_sensitivity``).
    """
    x1, x2, x3 = X[:, 0], X[:, 1], X[:, 2]
    return (np.sin(x1) + a * np.sin(x2) ** 2 + b * x3**4 * np.sin(x1))[:, None]


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> dict[str, npt.NDArray[np.float64]]:
    """Analytic S1, ST (length 3) and S2 (3 x 3 upper triangle) of the Ishigami function."""
    pi4, pi8 = np.pi**4, np.pi**8
    v1 = 0.5 * (1.0 + b * pi4 / 5.0) ** 2
    v2 = a**2 / 8.0
    v13 = b**2 * pi8 * (1.0 / 18.0 - 1.0 / 50.0)
    v = v1 + v2 + v13
    s2 = np.full((3, 3), np.nan)
    s2[0, 1], s2[0, 2], s2[1, 2] = 0.0, v13 / v, 0.0
    return {"S1": np.array([v1, v2, 0.0]) / v, "ST": np.array([v1 + v13, v2, v13]) / v, "S2": s2}


def linear(coefficients: Sequence[float]):  # noqa: ANN201 - returns an evaluate callable
    """Return ``evaluate(X, names) -> X @ a`` (one output), a model with analytic indices."""
    a = np.asarray(coefficients, dtype=np.float64)

    def evaluate(X: npt.NDArray[np.float64], names: Sequence[str] | None = None
                 ) -> npt.NDArray[np.float64]:
        return (X @ a)[:, None]

    return evaluate


def linear_indices(coefficients: Sequence[float], variances: Sequence[float]
                   ) -> npt.NDArray[np.float64]:
    """S1 (= ST; S2 = 0) of ``Y = sum a_i X_i`` with independent inputs:
    ``a_i^2 Var(X_i) / sum_j a_j^2 Var(X_j)``."""
    parts = np.asarray(coefficients, dtype=np.float64) ** 2 * np.asarray(variances, np.float64)
    return parts / parts.sum()
