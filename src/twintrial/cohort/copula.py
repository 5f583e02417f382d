"""Gaussian copula: calibration of the latent correlation to rank correlations, PD repair.

A virtual patient is ``x_j = F_j^{-1}(Phi(z_j))`` with ``z ~ N(0, R)``. The latent ``R`` is chosen
so that the *Spearman* correlation of every pair of covariates equals its target (observed in the
data, or given by a summary), including discrete covariates, whose ranks are tied.

Spearman's rho with ties is the Pearson correlation of mid-ranks, whose population version is the
correlation of ``h_j(z_j) = F_j^{mid}(x_j)`` (the mid-distribution function). By Mehler's formula,
for ``(z_i, z_j)`` standard bivariate normal with correlation ``rho``,

    corr(h_i(z_i), h_j(z_j)) = sum_{k>=1} a_ik a_jk rho^k,

with ``a_jk`` the normalised Hermite coefficients of ``h_j``. They are closed-form for step
functions (discrete covariates: ``E[1{z > t} He_k(z)] = phi(t) He_{k-1}(t)``) and Gauss-Hermite
exact for ``h = Phi`` (continuous). The map is increasing in ``rho``, so each pair is solved by
vectorised bisection; for two continuous covariates it reduces to ``rho = 2 sin(pi r_s / 6)``.
Naive normal scores of mid-ranks would attenuate the dependence of binary covariates twice.
If the solved matrix is not positive definite it is repaired with Higham's (2002) alternating
projections (nearest correlation matrix) and a warning is recorded.

References
----------
Higham, N. J. (2002). Computing the nearest correlation matrix - a problem from finance.
IMA Journal of Numerical Analysis 22, 329-343.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from twintrial.cohort.marginals import DiscreteMarginal, Marginal

FloatArray = npt.NDArray[np.float64]
N_HERMITE = 80
"""Terms of the Hermite series (|rho|^80 < 2e-4 for |rho| <= 0.9)."""


def _hermite_normalised(x: FloatArray, k_max: int) -> FloatArray:
    """``He_k(x) / sqrt(k!)`` for k = 0..k_max (rows), stable recurrence."""
    out = np.empty((k_max + 1, x.size))
    out[0] = 1.0
    if k_max >= 1:
        out[1] = x
    for k in range(1, k_max):
        out[k + 1] = (x * out[k] - np.sqrt(k) * out[k - 1]) / np.sqrt(k + 1)
    return out


def hermite_coefficients(marginal: Marginal, k_max: int = N_HERMITE) -> FloatArray:
    """Normalised Hermite coefficients ``a_1..a_K`` of the standardised mid-distribution map.

    ``sum_k a_k^2 = 1`` up to truncation of the series.
    """
    k = np.arange(1, k_max + 1)
    if isinstance(marginal, DiscreteMarginal):
        p = marginal.probs
        cum = np.cumsum(p)
        mid = cum - p / 2
        sd = float(np.sqrt(np.sum(p * mid**2) - np.sum(p * mid) ** 2))
        t = special.ndtri(np.clip(cum[:-1], 1e-300, 1 - 1e-16))
        jumps = (p[:-1] + p[1:]) / 2
        keep = np.isfinite(t)
        if sd <= 0 or not keep.any():
            return np.zeros(k_max)
        h = _hermite_normalised(t[keep], k_max - 1)  # rows He_0..He_{K-1}
        phi = np.exp(-t[keep] ** 2 / 2) / np.sqrt(2 * np.pi)
        return (h @ (jumps[keep] * phi)) / np.sqrt(k) / sd
    return _continuous_coefficients(k_max).copy()


@lru_cache(maxsize=4)
def _continuous_coefficients(k_max: int) -> FloatArray:
    """Coefficients of ``h = Phi`` (every continuous marginal has the same ones)."""
    k = np.arange(1, k_max + 1)
    nodes, weights = np.polynomial.hermite.hermgauss(k_max + 2)
    h = _hermite_normalised(nodes, k_max - 1)
    integral = h @ weights / (2 * np.pi)  # int phi(z)^2 He_{k-1}/sqrt((k-1)!) dz
    return integral / np.sqrt(k) / np.sqrt(1 / 12)


def implied_spearman(latent: FloatArray, coefs: FloatArray) -> FloatArray:
    """Spearman matrix implied by latent correlation ``latent`` (d x d) and coefficients (d x K)."""
    k = np.arange(1, coefs.shape[1] + 1)
    powers = latent[..., None] ** k
    out = np.einsum("ik,jk,ijk->ij", coefs, coefs, powers)
    np.fill_diagonal(out, 1.0)
    return out


def calibrate_latent(target: FloatArray, coefs: FloatArray, *, iterations: int = 60
                     ) -> tuple[FloatArray, list[tuple[int, int, float]]]:
    """Latent correlations reproducing the ``target`` Spearman matrix.

    Returns
    -------
    latent, unreachable
        The latent matrix (maybe not PD) and the pairs ``(i, j, target)`` whose target lies outside
        what these marginals can reach (set to the nearest reachable value).
    """
    d = target.shape[0]
    iu, ju = np.triu_indices(d, 1)
    r = np.nan_to_num(target[iu, ju], nan=0.0)
    ca, cb = coefs[iu], coefs[ju]
    k = np.arange(1, coefs.shape[1] + 1)

    def g(rho: FloatArray) -> FloatArray:
        return np.sum(ca * cb * rho[:, None] ** k, axis=1)

    lo, hi = -np.ones_like(r), np.ones_like(r)
    g_lo, g_hi = g(lo), g(hi)
    unreachable = [(int(iu[m]), int(ju[m]), float(r[m])) for m in
                   np.flatnonzero((r < g_lo - 1e-9) | (r > g_hi + 1e-9))]
    for _ in range(iterations):
        mid = (lo + hi) / 2
        up = g(mid) < r
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    latent = np.eye(d)
    latent[iu, ju] = latent[ju, iu] = (lo + hi) / 2
    return latent, unreachable


def nearest_correlation(a: FloatArray, *, tol: float = 1e-10, max_iter: int = 500,
                        min_eigenvalue: float = 1e-8) -> FloatArray:
    """Nearest correlation matrix (Frobenius norm), Higham (2002) with Dykstra's correction."""
    y = (np.asarray(a, dtype=float) + np.asarray(a, dtype=float).T) / 2
    ds = np.zeros_like(y)
    for _ in range(max_iter):
        r = y - ds
        w, v = np.linalg.eigh(r)
        x = (v * np.maximum(w, 0.0)) @ v.T
        ds = x - r
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        if np.linalg.norm(y_new - y, "fro") < tol * max(1.0, np.linalg.norm(y, "fro")):
            y = y_new
            break
        y = y_new
    w, v = np.linalg.eigh((y + y.T) / 2)
    y = (v * np.maximum(w, min_eigenvalue)) @ v.T
    s = np.sqrt(np.diag(y))
    y = y / s[:, None] / s[None, :]
    np.fill_diagonal(y, 1.0)
    return y


def check_correlation(m: FloatArray, *, where: str = "correlation") -> list[str]:
    """Problems of a proposed correlation matrix (shape, symmetry, unit diagonal, range)."""
    a = np.asarray(m, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        return [f"{where}: must be a square matrix; got shape {a.shape}"]
    out = []
    if not np.all(np.isfinite(a)):
        out.append(f"{where}: must contain only numbers; got NaN/inf")
        return out
    if not np.allclose(a, a.T, atol=1e-8):
        i, j = np.unravel_index(np.argmax(np.abs(a - a.T)), a.shape)
        out.append(f"{where}: must be symmetric; got [{i}][{j}] = {a[i, j]} but [{j}][{i}] = "
                   f"{a[j, i]}")
    if not np.allclose(np.diag(a), 1.0):
        out.append(f"{where}: diagonal must be 1; got {np.diag(a).tolist()}")
    if np.any(np.abs(a) > 1 + 1e-12):
        out.append(f"{where}: entries must lie in [-1, 1]; got max |r| = {np.abs(a).max():g}")
    return out


def is_positive_definite(m: FloatArray) -> bool:
    """Whether ``m`` has a Cholesky factorisation."""
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        return False
    return True


def spearman_matrix(columns: Sequence[npt.ArrayLike]) -> FloatArray:
    """Spearman correlations (mid-ranks), pairwise-complete when values are missing."""
    arr = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    if arr.shape[0] < 2:
        out = np.full((arr.shape[1], arr.shape[1]), np.nan)
        np.fill_diagonal(out, 1.0)
        return out
    if np.isnan(arr).any():
        return pd.DataFrame(arr).corr(method="spearman").to_numpy()
    from scipy.stats import rankdata

    ranks = rankdata(arr, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # constant column -> NaN
        out = np.corrcoef(ranks, rowvar=False)
    return np.atleast_2d(out)


def latent_sample(cholesky: FloatArray, rng: np.random.Generator, n: int) -> FloatArray:
    """``n`` draws of ``N(0, L L^T)`` (rows), from ``rng``."""
    return rng.standard_normal((n, cholesky.shape[0])) @ cholesky.T
