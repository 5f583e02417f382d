"""Fast paths of the arms stage give exactly (bit for bit) what the plain definitions give."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from twintrial import philox
from twintrial.arms import simulate_arms, simulate_trial_outcomes
from twintrial.arms.effects import WindowedModel, windowed_inputs, windowed_prediction
from twintrial.arms.streams import STAGE, exponentials, normals, uniforms
from twintrial.arms.synthetic import synthetic_virtual_patients
from twintrial.arms_config import arms_from_list, endpoints_from_list, estimands_from_list
from twintrial.models import get_model
from twintrial.models.simulate import predict_numpy

ARMS = arms_from_list([
    {"name": "placebo", "control": True, "dropout_rate": 0.2},
    {"name": "active", "dropout_rate": 0.2, "rescue": {"threshold": 2.0, "visit_interval": 0.5},
     "effects": [{"parameter": "slope", "size": {"dist": "lognormal", "median": 0.7, "sigma": 0.2}}]},
    {"name": "late", "dropout_rate": 0.3, "onset": 0.5,
     "effects": [{"parameter": "slope", "type": "additive",
                  "size": {"dist": "normal", "mean": -0.1, "sd": 0.05}}]}])
ENDPOINTS = endpoints_from_list([
    {"name": "d", "type": "continuous", "time": 2.0, "scale": "log", "visit_interval": 0.5},
    {"name": "death", "type": "time_to_event", "horizon": 4.0}])
ESTIMANDS = estimands_from_list([
    {"name": f"{e}_{s}", "endpoint": e, "treatment": "active", "intercurrent": s}
    for e in ("d", "death") for s in ("treatment_policy", "hypothetical", "while_on_treatment")])


@pytest.fixture(scope="module")
def pbc() -> tuple:
    model = get_model("biomarker_progression", biomarker_center=0.4)
    n = 2600
    cohort = pd.DataFrame({"vid": np.arange(n, dtype=np.int64)})
    virtual = synthetic_virtual_patients(model, cohort, n_draws=30, seed=12, event={
        "weibull_shape": 1.3, "weibull_scale": 6.0, "association": 1.2})
    return model, cohort, virtual


@pytest.mark.parametrize("onset", [0.0, 0.5, 1.25])
def test_windowed_prediction_equals_the_windowed_model(pbc, onset: float) -> None:
    model, _, virtual = pbc
    n = len(virtual["vid"])
    g = np.random.default_rng(1)
    ctl = {k: virtual[k] for k in model.parameter_names}
    trt = {**ctl, "slope": ctl["slope"] * g.uniform(0.2, 1.5, n)}
    stop = np.where(g.random(n) < 0.3, np.inf, g.exponential(1.0, n))  # some stop before onset
    stop[:5] = [0.0, onset, 2.0, 0.25, np.inf]
    grid = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0])
    design = {"treatment": np.zeros(n)}
    wp, wd = windowed_inputs(trt, ctl, design, onset=onset, stop=stop, names=list(ctl))
    expected = predict_numpy(WindowedModel(model), wp, grid, wd)
    got = windowed_prediction(model, trt, ctl, grid, design, onset=onset, stop=stop,
                              names=list(ctl), f_trt=predict_numpy(model, trt, grid, design),
                              f_ctl=predict_numpy(model, ctl, grid, design))
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert got.tobytes() == expected.tobytes()


def test_streams_do_not_depend_on_row_order_contiguity_or_width() -> None:
    vid = np.arange(700, 4200, dtype=np.int64)
    contiguous = normals(5, "noise", vid, 3)
    assert contiguous.flags.f_contiguous and contiguous.shape == (vid.size, 3)
    perm = np.random.default_rng(0).permutation(vid.size)
    shuffled = normals(5, "noise", vid[perm], 3)
    assert shuffled.tobytes() == contiguous[perm].tobytes()
    gaps = vid[::3]
    assert normals(5, "noise", gaps, 3).tobytes() == contiguous[::3].tobytes()
    assert normals(5, "noise", vid, 8)[:, :3].tobytes() == contiguous.tobytes()
    wide = uniforms(5, "adherence", vid, 5)
    assert uniforms(5, "adherence", vid[perm], 2).tobytes() == wide[perm, :2].tobytes()
    e = exponentials(5, "dropout", vid)
    assert exponentials(5, "dropout", vid[::-1]).tobytes() == e[::-1].tobytes()
    # each stream is the counter-based generator keyed by (seed, "arms", stream)
    key = philox.stream_key(5, STAGE, "noise")
    assert philox.normals(key, vid[:10], 3).tobytes() == contiguous[:10].tobytes()
    assert normals(6, "noise", vid, 3)[0, 0] != contiguous[0, 0]
    assert normals(5, "x", np.zeros(0, np.int64), 2).shape == (0, 2)
    with pytest.raises(ValueError, match="non-negative"):
        normals(5, "noise", np.array([-1]), 2)


def test_trial_outcomes_match_simulate_arms_for_any_chunking(pbc) -> None:
    model, cohort, virtual = pbc
    kw = dict(model=model, seed=21)
    whole = simulate_arms(virtual, cohort, ARMS, ENDPOINTS, ESTIMANDS, **kw)
    assert (whole.rescue_time < np.inf).any() and (whole.discontinuation_time < 0.5).any()
    for chunk in (None, 1024, 2048, 5000):
        out = simulate_trial_outcomes(virtual, cohort, ARMS, ENDPOINTS, ESTIMANDS,
                                      chunk_size=chunk, **kw)
        pd.testing.assert_frame_equal(out, whole, check_exact=True)
    frame = simulate_trial_outcomes(pd.DataFrame(virtual), cohort, ARMS, ENDPOINTS, ESTIMANDS,
                                    chunk_size=1024, **kw)
    pd.testing.assert_frame_equal(frame, whole, check_exact=True)


def test_empty_population_gives_an_empty_table_with_the_columns(pbc) -> None:
    model, cohort, virtual = pbc
    none = {k: v[:0] for k, v in virtual.items()}
    out = simulate_trial_outcomes(none, cohort.iloc[:0], ARMS, ENDPOINTS, ESTIMANDS, model=model,
                                  seed=1)
    full = simulate_arms(virtual, cohort, ARMS, ENDPOINTS, ESTIMANDS, model=model, seed=1,
                         stop=1024)
    assert len(out) == 0 and list(out.columns) == list(full.columns)
    assert out.dtypes.tolist() == full.dtypes.tolist()


def _pk_patients(n: int, seed: int) -> tuple[Any, pd.DataFrame, dict[str, np.ndarray],
                                              dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """PK model, cohort with weights, parameters, residual sigmas, visit grid and noise."""
    model = get_model("pk_1cmt_oral")
    cohort = pd.DataFrame({"vid": np.arange(n), "wt": np.linspace(45, 110, n)})
    virtual = synthetic_virtual_patients(model, cohort, seed=seed)
    p = {k: virtual[k] for k in model.parameter_names}
    sig = {k: virtual[k] for k in model.residual.priors}
    grid = np.arange(0.0, 121.0, 6.0)
    return model, cohort, p, sig, grid, normals(4, "noise", np.arange(n), grid.size)


def test_stopped_rows_observations_equal_a_full_prediction() -> None:
    from twintrial.arms.regimens import regimen_doses, stop_doses, stopped_rows
    from twintrial.arms.simulate import _design_rows, _observe_rows
    from twintrial.models.simulate import residual_observations

    n = 3000
    model, cohort, p, sig, grid, z = _pk_patients(n, seed=5)
    rng = np.random.default_rng(6)
    stop = rng.exponential(200.0, n)
    stop[:4] = [0.0, 12.0, 108.0, np.nan]  # at dose times (not given), after the last, NaN
    for spec in ({"dose": 200, "interval": 12, "n_doses": 10},  # one shared row of amounts
                 {"dose": 3, "unit": "mg/kg", "interval": 12, "n_doses": 10}):
        regimen = arms_from_list([{"name": "a", "control": True, "regimen": spec}])[0].regimen
        full = regimen_doses(regimen, n, weight=cohort["wt"].to_numpy(), adherence=0.8,
                             uniforms=uniforms(7, "adherence", np.arange(n), 10))
        for design in (full, regimen_doses(regimen, n, weight=cohort["wt"].to_numpy())):
            y = residual_observations(model, predict_numpy(model, p, grid, design), sig, z)
            rows = stopped_rows(design, stop)
            assert rows is not None and 0.2 < rows.size / n < 0.8
            sub = stop_doses({k: _design_rows(v, rows) for k, v in design.items()}, stop[rows])
            got = _observe_rows(model, p, grid, rows, sub, y, sig, z)
            expected = residual_observations(
                model, predict_numpy(model, p, grid, stop_doses(design, stop)), sig, z)
            assert got.tobytes(order="C") == expected.tobytes(order="C")


def test_changed_rows_observations_equal_a_full_prediction() -> None:
    from twintrial.arms.regimens import regimen_doses
    from twintrial.arms.simulate import _changed_rows_observations
    from twintrial.models.simulate import residual_observations

    n = 3000
    model, _, p, sig, grid, z = _pk_patients(n, seed=2)
    regimen = arms_from_list([{"name": "a", "control": True,
                               "regimen": {"dose": 200, "interval": 12, "n_doses": 10}}])[0].regimen
    full = regimen_doses(regimen, n)
    stop = np.random.default_rng(3).exponential(200.0, n)  # ~40% stop before the last dose
    stopped = regimen_doses(regimen, n, stop_time=stop)
    f = predict_numpy(model, p, grid, full)
    y = residual_observations(model, f, sig, z)
    got = _changed_rows_observations(model, p, grid, full, stopped, f, y, sig, z)
    expected = residual_observations(model, predict_numpy(model, p, grid, stopped), sig, z)
    assert 0.2 < (stop < 108).mean() < 0.8
    assert got.tobytes(order="C") == expected.tobytes(order="C")
    assert _changed_rows_observations(model, p, grid, full, full, f, y, sig, z) is y
    # NaN in both designs at the same place is no change; other keys or shapes: everything again
    nan_full = {**full, "dose_amount": np.where(np.arange(10) == 3, np.nan, full["dose_amount"])}
    nan_same = {**nan_full, "dose_amount": nan_full["dose_amount"].copy()}
    assert _changed_rows_observations(model, p, grid, nan_full, nan_same, f, y, sig, z) is y
    fewer = regimen_doses(arms_from_list([{"name": "a", "control": True, "regimen": {
        "dose": 200, "interval": 12, "n_doses": 4}}])[0].regimen, n)
    again = _changed_rows_observations(model, p, grid, full, fewer, f, y, sig, z)
    ref = residual_observations(model, predict_numpy(model, p, grid, fewer), sig, z)
    assert again.tobytes(order="C") == ref.tobytes(order="C")


def test_treatment_policy_event_times_are_solved_again_only_for_those_who_stop_first(pbc) -> None:
    from twintrial.arms.events import EventTimes, FixedExponentials
    from twintrial.models.simulate import simulate_event_times

    model, _, virtual = pbc
    n = len(virtual["vid"])
    ctl = {k: np.asarray(v, dtype=float) for k, v in virtual.items() if k not in ("vid", "draw")}
    trt = {**ctl, "slope": ctl["slope"] * 0.6}
    stop = np.random.default_rng(4).exponential(3.0, n)
    stop[:3] = [0.0, np.inf, 10.0]
    design = {"treatment": np.zeros(n)}
    full = (model, trt, design)
    wp, wd = windowed_inputs(trt, ctl, design, onset=0.0, stop=stop, names=list(ctl))
    policy = (WindowedModel(model), wp, wd)
    e = exponentials(3, "event", np.asarray(virtual["vid"]))
    horizon = 4.0
    events = EventTimes(full, lambda: policy, e, stop)
    t, ev = events.policy(horizon)
    t_all, ev_all = simulate_event_times(*policy, horizon=horizon, rng=FixedExponentials(e))
    assert ev.tobytes() == ev_all.tobytes()
    np.testing.assert_allclose(t, t_all, rtol=1e-9, atol=0)
    # who stops before the full-treatment event time (or the horizon) has a later event or none
    t_full, ev_full = events.full(horizon)
    again = stop < t_full
    assert 0.2 < again.mean() < 0.8
    assert np.all(t[again] > stop[again])
    assert t[~again].tobytes() == t_full[~again].tobytes()
    assert ev[~again].tobytes() == ev_full[~again].tobytes()
    # stopping early: events come earlier where the therapy slows a rising biomarker (a positive
    # association), later where it slows a falling one
    assert np.all(ctl["association"] > 0)
    rising, falling = again & (ctl["slope"] > 0), again & (ctl["slope"] < 0)
    assert rising.any() and falling.any()
    assert np.all(t[rising] <= t_full[rising] * (1 + 1e-9))
    assert np.all(t[falling] >= t_full[falling] * (1 - 1e-9))
    # when nothing stops, the policy is full treatment itself
    same = EventTimes(full, lambda: full, e, stop)
    assert same.policy(horizon)[0] is same.full(horizon)[0]
