"""Gaussian copula: Hermite calibration, rank correlation recovered, Higham repair."""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.cohort.copula import (
    calibrate_latent,
    check_correlation,
    hermite_coefficients,
    implied_spearman,
    is_positive_definite,
    latent_sample,
    nearest_correlation,
    spearman_matrix,
)
from twintrial.cohort.marginals import DiscreteMarginal, EmpiricalMarginal


def _continuous() -> EmpiricalMarginal:
    return EmpiricalMarginal.fit("x", np.random.default_rng(0).lognormal(size=300))


def _binary(p: float) -> DiscreteMarginal:
    return DiscreteMarginal("b", "binary", (0.0, 1.0), np.array([1 - p, p]), True)


def _ordinal() -> DiscreteMarginal:
    return DiscreteMarginal("s", "categorical", (1.0, 2.0, 3.0, 4.0),
                            np.array([0.05, 0.21, 0.39, 0.35]), True)


@pytest.mark.parametrize("rho", [-0.8, -0.3, 0.1, 0.5, 0.9])
def test_continuous_pair_matches_closed_form(rho: float) -> None:
    a = hermite_coefficients(_continuous())
    assert np.sum(a**2) == pytest.approx(1.0, abs=1e-6)
    got = implied_spearman(np.array([[1, rho], [rho, 1]]), np.vstack([a, a]))[0, 1]
    assert got == pytest.approx(6 / np.pi * np.arcsin(rho / 2), abs=1e-8)


def test_calibration_inverts_the_map() -> None:
    coefs = np.vstack([hermite_coefficients(m) for m in (_continuous(), _binary(0.08),
                                                         _ordinal())])
    latent = np.array([[1.0, 0.5, -0.3], [0.5, 1.0, 0.2], [-0.3, 0.2, 1.0]])
    target = implied_spearman(latent, coefs)
    solved, unreachable = calibrate_latent(target, coefs)
    assert unreachable == []
    np.testing.assert_allclose(solved, latent, atol=1e-8)


def test_rank_correlation_recovered_by_sampling_mixed_types() -> None:
    margs = [_continuous(), _binary(0.08), _ordinal(),
             EmpiricalMarginal.fit("y", np.random.default_rng(1).normal(size=200))]
    target = np.array([[1.0, 0.25, 0.40, -0.30],
                       [0.25, 1.0, 0.20, 0.05],
                       [0.40, 0.20, 1.0, -0.10],
                       [-0.30, 0.05, -0.10, 1.0]])
    coefs = np.vstack([hermite_coefficients(m) for m in margs])
    latent, unreachable = calibrate_latent(target, coefs)
    assert unreachable == []
    # naive normal scores would give a binary-continuous latent of about the target; the
    # calibrated one must be clearly larger (binary ranks are heavily tied)
    assert latent[0, 1] > 0.4
    z = latent_sample(np.linalg.cholesky(latent), np.random.default_rng(2), 300_000)
    cols = [m.from_latent(z[:, j]) for j, m in enumerate(margs)]
    got = spearman_matrix(cols)
    np.testing.assert_allclose(got, target, atol=0.008)


def test_unreachable_target_is_reported() -> None:
    coefs = np.vstack([hermite_coefficients(_binary(0.05)), hermite_coefficients(_continuous())])
    _, unreachable = calibrate_latent(np.array([[1.0, 0.9], [0.9, 1.0]]), coefs)
    assert unreachable and unreachable[0][:2] == (0, 1)


def test_nearest_correlation_repairs_non_pd() -> None:
    bad = np.array([[1.0, 0.9, 0.7], [0.9, 1.0, -0.4], [0.7, -0.4, 1.0]])
    assert not is_positive_definite(bad)
    fixed = nearest_correlation(bad)
    assert is_positive_definite(fixed)
    np.testing.assert_allclose(np.diag(fixed), 1.0)
    np.testing.assert_allclose(fixed, fixed.T)
    assert np.max(np.abs(fixed - bad)) < 0.3
    # Higham's example (2002, section 4): nearest correlation matrix to [[2,-1,0,0],...] - I
    a = np.array([[2, -1, 0, 0], [-1, 2, -1, 0], [0, -1, 2, -1], [0, 0, -1, 2]], float)
    x = nearest_correlation(a)
    expected = np.array([[1.0000, -0.8084, 0.1916, 0.1068],
                         [-0.8084, 1.0000, -0.6562, 0.1916],
                         [0.1916, -0.6562, 1.0000, -0.8084],
                         [0.1068, 0.1916, -0.8084, 1.0000]])
    np.testing.assert_allclose(x, expected, atol=2e-4)


def test_nearest_correlation_keeps_a_valid_matrix() -> None:
    good = np.array([[1.0, 0.3], [0.3, 1.0]])
    np.testing.assert_allclose(nearest_correlation(good), good, atol=1e-9)


def test_check_correlation_messages() -> None:
    assert check_correlation(np.eye(3)) == []
    assert "square" in check_correlation(np.ones((2, 3)))[0]
    probs = check_correlation(np.array([[1.0, 0.2], [0.3, 1.0]]), where="m")
    assert probs[0].startswith("m: must be symmetric")
    assert any("diagonal" in p for p in check_correlation(np.array([[2.0, 0.0], [0.0, 1.0]])))
    assert any("[-1, 1]" in p for p in check_correlation(np.array([[1.0, 1.5], [1.5, 1.0]])))


def test_spearman_pairwise_complete() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    b = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    c = np.array([4.0, 3.0, 2.0, 1.0, 0.0])
    m = spearman_matrix([a, b, c])
    assert m[0, 1] == pytest.approx(1.0) and m[0, 2] == pytest.approx(-1.0)


def test_ks_and_wasserstein_match_scipy() -> None:
    from scipy import stats

    from twintrial.cohort.fidelity import ks_wasserstein

    g = np.random.default_rng(0)
    a, b = g.gamma(2.0, size=300), np.r_[g.gamma(2.2, size=5000), np.nan]
    ks, w1 = ks_wasserstein(a, b)
    assert ks == pytest.approx(stats.ks_2samp(a, b[:-1]).statistic, abs=1e-12)
    assert w1 == pytest.approx(stats.wasserstein_distance(a, b[:-1]), rel=1e-9)
