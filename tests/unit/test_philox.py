"""The counter-based generator of the arms streams: known answers, exactness of the vectorised
ziggurat, distributions, independence, and invariance to how patients are grouped."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from twintrial import philox
from twintrial.models import get_model
from twintrial.models.backend import NUMPY
from twintrial.models.simulate import residual_observations

# Random123 (D. E. Shaw Research) kat_vectors: "philox4x32 10 <counter x4> <key x2> <output x4>"
KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]
KEY = philox.stream_key(20240601, "arms", "test")


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_philox_reproduces_the_random123_known_answers(counter, key, expected) -> None:
    assert philox.philox4x32(counter, key)[0].tolist() == expected


def test_ziggurat_layers_have_equal_area() -> None:
    ki, wi, fi = philox.ziggurat_tables()
    x = wi * 2.0**52  # layer edges x_i (x_0 is the base strip's virtual width)
    v, r = philox._ZIG_V, philox._ZIG_R
    assert x[255] == r and math.isclose(x[0] * math.exp(-0.5 * r * r), v, rel_tol=1e-14)
    areas = x[1:] * (np.r_[1.0, fi[1:-1]] - fi[1:])  # layer i: width x_i, heights f(x_{i-1})..f(x_i)
    np.testing.assert_allclose(areas, v, rtol=1e-10)
    np.testing.assert_allclose(fi, np.exp(-0.5 * x**2) * (np.arange(256) > 0) + (np.arange(256) == 0))
    # rectangle fractions x_{i-1} / x_i (layer 1 has none) and the base strip's R / x_0
    assert ki[1] == 0
    np.testing.assert_allclose(ki[2:] / 2.0**52, x[1:-1] / x[2:], rtol=1e-15, atol=2.0**-52)
    assert abs(ki[0] / 2.0**52 - r / x[0]) <= 2.0**-52
    # NumPy's tables (numpy/random/src/distributions/ziggurat_constants.h), same construction
    assert abs(int(ki[0]) - 0x000EF33D8025EF6A) <= 16
    assert math.isclose(wi[0], 8.68362706080130616677e-16, rel_tol=1e-13)
    assert math.isclose(wi[255], 8.11384933765648418565e-16, rel_tol=1e-15)


def test_vectorised_normals_are_exactly_the_scalar_algorithm() -> None:
    vid = np.arange(20_000, dtype=np.int64) * 7919 + 11
    width = 5
    z = philox.normals(KEY, vid, width)
    ki, wi, fi = philox._KI, philox._WI, philox._FI
    scalar = np.array([[philox._normal(np.uint64(v & 0xFFFFFFFF), np.uint64(v >> 32),
                                       np.uint64(j), KEY[0], KEY[1], ki, wi, fi)
                        for j in range(width)] for v in vid.tolist()])
    assert z.tobytes(order="C") == scalar.tobytes()
    # the comparison covered draws outside the rectangles: wedges and the tail (layer 0)
    counter = np.zeros((vid.size, width, 4), dtype=np.uint64)
    counter[..., 0], counter[..., 1] = (vid & 0xFFFFFFFF)[:, None], (vid >> 32)[:, None]
    counter[..., 2] = np.arange(width)
    words = philox.philox4x32(counter.reshape(-1, 4), np.array(KEY)).astype(np.uint64)
    r = (words[:, 0] << np.uint64(32)) | words[:, 1]
    idx = (r & np.uint64(0xFF)).astype(np.intp)
    rabs = ((r >> np.uint64(9)) & np.uint64(0x000FFFFFFFFFFFFF)).astype(np.int64)
    outside = rabs >= ki[idx]
    assert 0.005 < outside.mean() < 0.03
    assert (outside & (idx == 0)).sum() >= 5


def test_normals_are_standard_normal() -> None:
    z = philox.normals(KEY, np.arange(400_000, dtype=np.int64), 5)
    x = z.ravel()
    assert stats.kstest(x, "norm").pvalue > 1e-3
    # equiprobable bins: the rectangles, wedges and tail are all visited in proportion
    edges = stats.norm.ppf(np.linspace(0, 1, 201))
    counts = np.histogram(x, edges)[0]
    assert stats.chisquare(counts).pvalue > 1e-3
    for c in (2.0, philox._ZIG_R, 4.5):  # the tail beyond R has its own algorithm
        p = 2 * stats.norm.sf(c)
        assert abs((np.abs(x) > c).mean() - p) < 4 * math.sqrt(p * (1 - p) / x.size)
    assert abs(stats.skew(x)) < 4 * math.sqrt(6 / x.size)
    assert abs(stats.kurtosis(x)) < 4 * math.sqrt(24 / x.size)


def test_uniforms_and_exponentials() -> None:
    vid = np.arange(300_000, dtype=np.int64)
    u = philox.uniforms(KEY, vid, 3)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3
    e = philox.exponentials(KEY, vid)
    assert e.min() >= 0.0 and stats.kstest(e, "expon").pvalue > 1e-3


def test_neighbouring_patients_columns_and_keys_are_uncorrelated() -> None:
    n = 200_000
    z = philox.normals(KEY, np.arange(n, dtype=np.int64), 3)
    other = philox.normals(philox.stream_key(20240601, "arms", "test2"), np.arange(n), 1)
    bound = 4 / math.sqrt(n)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < bound  # columns
    assert abs(np.corrcoef(z[1:, 0], z[:-1, 0])[0, 1]) < bound  # consecutive patients
    assert abs(np.corrcoef(z[:, 0], other[:, 0])[0, 1]) < bound  # streams
    u = philox.uniforms(KEY, np.arange(n), 2)
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < bound  # the two words of one counter


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.integers(0, 2**40), min_size=1, max_size=60), width=st.integers(1, 6),
       extra=st.integers(0, 3))
def test_a_patients_numbers_depend_only_on_its_index_and_column(rows, width, extra) -> None:
    vid = np.array(rows, dtype=np.int64)
    z = philox.normals(KEY, vid, width + extra)
    u = philox.uniforms(KEY, vid, width + extra)
    for i, v in enumerate(rows):
        one = np.array([v], dtype=np.int64)
        assert philox.normals(KEY, one, width)[0].tobytes() == z[i, :width].tobytes()
        assert philox.uniforms(KEY, one, width)[0].tobytes() == u[i, :width].tobytes()
        assert philox.exponentials(KEY, one)[0] == philox.exponentials(KEY, vid)[i]


def test_stream_keys_are_stable_and_distinct() -> None:
    assert philox.stream_key(1, "arms", "noise") == philox.stream_key(1, "arms", "noise")
    assert philox.stream_key(1, "arms", "noise") != philox.stream_key(2, "arms", "noise")
    assert philox.stream_key(1, "arms", "noise") != philox.stream_key(1, "arms", "dropout")
    with pytest.raises(ValueError, match="non-negative"):
        philox.uniforms(KEY, np.array([3, -2]), 1)


def test_combined_residual_kernel_is_the_numpy_formula() -> None:
    model = get_model("pk_1cmt_oral")
    assert model.residual.kind == "combined"
    g = np.random.default_rng(3)
    n, t = 1000, 7
    f = np.asfortranarray(g.lognormal(0, 1, (n, t)))
    z = np.asfortranarray(g.standard_normal((n, t)))
    sig = {"sigma_add": g.uniform(0.01, 0.5, n), "sigma_prop": g.uniform(0.05, 0.3, n)}
    got = residual_observations(model, f, sig, z)
    expected = f + model.residual.sd(NUMPY, f, {k: v[:, None] for k, v in sig.items()}) * z
    assert got.shape == (n, t) and got.tobytes(order="C") == expected.tobytes(order="C")
