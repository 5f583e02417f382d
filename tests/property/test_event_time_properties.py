"""Event-time simulation: the solver inverts the cumulative hazard for any parameters, patient
by patient (a patient's time does not depend on who else is solved with it)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twintrial.arms.events import FixedExponentials
from twintrial.models import NUMPY, get_model
from twintrial.models.simulate import simulate_event_times

MODEL = get_model("biomarker_progression", biomarker_center=0.5)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.floats(0.3, 5.0), log_scale=st.floats(-4.0, 6.0),
       association=st.floats(-3.0, 3.0), slope_sd=st.floats(0.0, 2.0),
       horizon=st.floats(0.01, 50.0))
def test_event_times_solve_the_cumulative_hazard(seed: int, shape: float, log_scale: float,
                                                 association: float, slope_sd: float,
                                                 horizon: float) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    p = {"intercept": rng.normal(0.4, 1.0, n), "slope": rng.normal(0.1, slope_sd, n),
         "treatment_slope": np.zeros(n), "weibull_shape": np.full(n, shape),
         "weibull_scale": np.full(n, np.exp(log_scale)), "association": np.full(n, association)}
    d = {"treatment": np.zeros(n)}
    e = rng.standard_exponential(n)
    t, ev = simulate_event_times(MODEL, p, d, horizon=horizon, rng=FixedExponentials(e))
    hit = ev == 1.0
    assert np.all(t[~hit] == horizon)
    assert np.all((t[hit] > 0) & (t[hit] <= horizon))
    with np.errstate(over="ignore"):
        lch = MODEL.event.log_cumulative_hazard(NUMPY, t, p, d, MODEL)
    np.testing.assert_allclose(lch[hit], np.log(e[hit]), rtol=0, atol=1e-8)
    assert np.all(lch[~hit] < np.log(e[~hit]))
    # the same patients solved among others: the same bits
    rows = np.sort(rng.choice(n, 37, replace=False))
    t_rows, ev_rows = simulate_event_times(
        MODEL, {k: v[rows] for k, v in p.items()}, {"treatment": np.zeros(rows.size)},
        horizon=horizon, rng=FixedExponentials(e[rows]))
    assert t_rows.tobytes() == t[rows].tobytes() and ev_rows.tobytes() == ev[rows].tobytes()
