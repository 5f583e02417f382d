"""Properties of the arms simulation: chunk invariance, common random numbers, endpoint logic."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twintrial.arms import simulate_arms, simulate_trial_outcomes
from twintrial.arms.streams import normals
from twintrial.arms.synthetic import synthetic_virtual_patients
from twintrial.arms_config import arms_from_list, endpoints_from_list, estimands_from_list
from twintrial.models import get_model

MODEL = get_model("biomarker_progression", biomarker_center=0.4)
N = 2600
COHORT = pd.DataFrame({"vid": np.arange(N, dtype=np.int64)})
VIRTUAL = synthetic_virtual_patients(MODEL, COHORT, n_draws=30, seed=2, event={
    "weibull_shape": 1.2, "weibull_scale": 7.0, "association": 1.0})
EPS = endpoints_from_list([
    {"name": "y", "type": "continuous", "time": 1.5, "scale": "log", "visit_interval": 0.5},
    {"name": "r", "type": "responder", "time": 1.5, "scale": "log", "threshold": 0.05,
     "visit_interval": 0.5},
    {"name": "t", "type": "time_to_event", "horizon": 4.0}])
STRATS = ("treatment_policy", "hypothetical", "while_on_treatment", "composite")
ESTS = estimands_from_list(
    [{"name": f"{e}_{s[:3]}", "endpoint": e, "treatment": "active", "intercurrent": s}
     for e in ("y", "r", "t") for s in STRATS if not (e == "y" and s == "composite")])
FAST = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _arms(mult: float, rate: float, rescue: float | None = None) -> tuple:
    active = {"name": "active", "dropout_rate": rate,
              "effects": [{"parameter": "slope", "size": mult}]}
    if rescue is not None:
        active["rescue"] = {"threshold": rescue, "visit_interval": 0.5}
    return arms_from_list([{"name": "placebo", "control": True, "dropout_rate": rate}, active])


@FAST
@given(chunk=st.integers(1, 3000), seed=st.integers(0, 2**31), n=st.integers(1, N))
def test_outcomes_do_not_depend_on_chunking(chunk: int, seed: int, n: int) -> None:
    arms = _arms(0.6, 0.3, rescue=3.0)
    virtual = {k: v[:n] for k, v in VIRTUAL.items()}
    whole = simulate_arms(virtual, COHORT.iloc[:n], arms, EPS, ESTS, model=MODEL, seed=seed)
    parts = simulate_trial_outcomes(virtual, COHORT.iloc[:n], arms, EPS, ESTS, model=MODEL,
                                    seed=seed, chunk_size=chunk)
    pd.testing.assert_frame_equal(whole, parts, check_exact=True)


@FAST
@given(seed=st.integers(0, 2**31), rate=st.floats(0.0, 2.0))
def test_multiplier_one_arm_is_an_exact_copy_of_control(seed: int, rate: float) -> None:
    out = simulate_arms(VIRTUAL, COHORT, _arms(1.0, rate), EPS, ESTS, model=MODEL, seed=seed)
    a = out.iloc[1::2].drop(columns="arm").reset_index(drop=True)
    p = out.iloc[0::2].drop(columns="arm").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, p, check_exact=True)


@FAST
@given(seed=st.integers(0, 2**31), mult=st.floats(0.2, 1.5), rate=st.floats(0.0, 1.0))
def test_strategy_invariants(seed: int, mult: float, rate: float) -> None:
    virtual = {k: v[:1000] for k, v in VIRTUAL.items()}
    out = simulate_arms(virtual, COHORT.iloc[:1000], _arms(mult, rate, rescue=2.5), EPS, ESTS,
                        model=MODEL, seed=seed)
    stop = out.discontinuation_time.to_numpy()
    # responder = threshold applied to the continuous value (same strategy)
    for s in ("tre", "hyp", "whi"):
        np.testing.assert_array_equal(out[f"r_{s}"], (out[f"y_{s}"] < 0.05).astype(float))
    # on-treatment patients: every strategy agrees
    on = stop > 1.5
    for s in ("tre", "whi"):
        np.testing.assert_allclose(out[f"y_{s}"][on], out["y_hyp"][on], rtol=0, atol=1e-12)
    assert np.all(out.r_com[~on] == 0)
    # time to event: within the horizon; censored only at the horizon unless while on treatment
    for s in ("tre", "hyp", "whi", "com"):
        t, ev = out[f"t_{s}"].to_numpy(), out[f"t_{s}_event"].to_numpy()
        assert np.all((t > 0) & (t <= 4.0)) and set(np.unique(ev)) <= {0, 1}
    for s in ("tre", "hyp"):
        assert np.all(out[f"t_{s}"][out[f"t_{s}_event"] == 0] == 4.0)
    assert np.all(out.t_whi <= out.t_hyp) and np.all(out.t_com <= out.t_hyp)
    assert np.all(out.t_com_event >= out.t_whi_event)


@FAST
@given(vids=st.lists(st.integers(0, 5000), min_size=1, max_size=50), width=st.integers(1, 6))
def test_patient_streams_depend_only_on_the_patient(vids: list[int], width: int) -> None:
    v = np.array(vids, dtype=np.int64)
    z = normals(4, "noise", v, width)
    wide = normals(4, "noise", v, width + 3)
    for i, vid in enumerate(v):
        np.testing.assert_array_equal(z[i], normals(4, "noise", np.array([vid]), width)[0])
    np.testing.assert_array_equal(z, wide[:, :width])
