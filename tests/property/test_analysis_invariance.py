"""Property tests: invariances every trial-analysis method must respect."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twintrial.analysis import ancova, cox_test, logrank_test, t_test, welch_test

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, shift=st.floats(-50, 50), scale=st.floats(0.1, 10))
def test_t_tests_are_location_scale_equivariant(seed, shift, scale):
    rng = np.random.default_rng(seed)
    y1, y0 = rng.normal(size=(3, 12)), rng.normal(size=(3, 9))
    for test in (t_test, welch_test):
        a = test(y1, y0)
        b = test(shift + scale * y1, shift + scale * y0)
        np.testing.assert_allclose(b.estimate, scale * a.estimate, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(b.p_value, a.p_value, rtol=1e-6, atol=1e-12)
        swapped = test(y0, y1)
        np.testing.assert_allclose(swapped.statistic, -a.statistic, rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, a=st.floats(-5, 5), b=st.floats(0.2, 5))
def test_ancova_is_invariant_to_linear_recoding_of_the_covariate(seed, a, b):
    rng = np.random.default_rng(seed)
    x1, x0 = rng.normal(size=(2, 15)), rng.normal(size=(2, 15))
    y1, y0 = x1 + rng.normal(size=(2, 15)), x0 + rng.normal(size=(2, 15))
    r1, r2 = ancova(y1, y0, x1, x0), ancova(y1, y0, a + b * x1, a + b * x0)
    np.testing.assert_allclose(r2.estimate, r1.estimate, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(r2.se, r1.se, rtol=1e-7)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, power=st.floats(0.3, 3.0), ties=st.booleans())
def test_rank_tests_depend_only_on_the_order_of_times(seed, power, ties):
    rng = np.random.default_rng(seed)
    t1, t0 = rng.exponential(1.0, (2, 20)), rng.exponential(1.3, (2, 25))
    if ties:
        t1, t0 = np.ceil(t1 * 3), np.ceil(t0 * 3)
    e1, e0 = (rng.random((2, 20)) < 0.7) * 1.0, (rng.random((2, 25)) < 0.7) * 1.0
    e1[:, 0], e0[:, 0] = 1.0, 1.0  # at least one event per arm
    for test in (logrank_test, cox_test):
        a = test(t1, e1, t0, e0)
        b = test(t1**power, e1, t0**power, e0)  # monotone transformation of time
        np.testing.assert_allclose(b.statistic, a.statistic, rtol=1e-7)
        c = test(t0, e0, t1, e1)  # swapping arms flips the sign
        np.testing.assert_allclose(c.estimate, -a.estimate, rtol=1e-6, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=seeds)
def test_replicates_are_analysed_independently(seed):
    rng = np.random.default_rng(seed)
    t1, t0 = rng.exponential(1.0, (4, 15)), rng.exponential(1.0, (4, 15))
    e1, e0 = np.ones((4, 15)), (rng.random((4, 15)) < 0.8) * 1.0
    batch = cox_test(t1, e1, t0, e0)
    for i in range(4):
        one = cox_test(t1[i], e1[i], t0[i], e0[i])
        np.testing.assert_allclose(batch.estimate[i], one.estimate, rtol=1e-10)
        lr = logrank_test(t1[i], e1[i], t0[i], e0[i])
        np.testing.assert_allclose(logrank_test(t1, e1, t0, e0).statistic[i], lr.statistic)
