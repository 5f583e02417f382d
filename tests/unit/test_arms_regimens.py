"""Regimen -> dose arrays: titration, per-kg dosing, adherence, discontinuation."""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.arms.regimens import regimen_doses, scheduled_amounts, stop_doses, stopped_rows
from twintrial.arms_config import RegimenConfig, TitrationStep
from twintrial.exceptions import CohortError


def test_titration_steps_apply_from_their_dose_number() -> None:
    reg = RegimenConfig(dose=100, interval=12, n_doses=6,
                        titration=(TitrationStep(5, 400), TitrationStep(3, 200)))
    assert scheduled_amounts(reg).tolist() == [100, 100, 200, 200, 400, 400]
    d = regimen_doses(reg, 2)
    assert d["dose_time"].tolist() == [[0, 12, 24, 36, 48, 60]] * 2
    assert d["dose_amount"][1].tolist() == [100, 100, 200, 200, 400, 400]


def test_per_kg_dose_scales_with_weight_and_needs_it() -> None:
    reg = RegimenConfig(dose=4.0, unit="mg/kg", n_doses=2)
    d = regimen_doses(reg, 2, weight=np.array([50.0, 80.0]))
    assert d["dose_amount"].tolist() == [[200.0, 200.0], [320.0, 320.0]]
    with pytest.raises(CohortError, match="'wt'"):
        regimen_doses(reg, 2, weight=None)
    with pytest.raises(CohortError):
        regimen_doses(reg, 2, weight=np.array([50.0, np.nan]))


def test_adherence_is_a_bernoulli_per_dose_with_missed_amount_zero() -> None:
    reg = RegimenConfig(dose=10, n_doses=4)
    u = np.array([[0.1, 0.9, 0.5, 0.79], [0.95, 0.2, 0.8, 0.0]])
    d = regimen_doses(reg, 2, adherence=0.8, uniforms=u)
    assert d["dose_amount"].tolist() == [[10, 0, 10, 10], [0, 10, 0, 10]]
    rng = np.random.default_rng(0)
    big = regimen_doses(RegimenConfig(dose=1, n_doses=50), 4000, adherence=0.7,
                        uniforms=rng.random((4000, 50)))
    assert big["dose_amount"].mean() == pytest.approx(0.7, abs=0.01)


def test_stop_time_removes_doses_at_or_after_discontinuation() -> None:
    reg = RegimenConfig(dose=5, interval=24, n_doses=4)
    d = regimen_doses(reg, 3, stop_time=np.array([np.inf, 24.0, 30.0]))
    assert d["dose_amount"].tolist() == [[5, 5, 5, 5], [5, 0, 0, 0], [5, 5, 0, 0]]


def test_no_regimen_is_a_zero_dose() -> None:
    d = regimen_doses(None, 3)
    assert d["dose_amount"].shape == (3, 1) and not d["dose_amount"].any()


def test_dose_times_are_one_shared_read_only_row() -> None:
    reg = RegimenConfig(dose=100.0, interval=12.0, n_doses=4)
    d = regimen_doses(reg, 3, adherence=0.5, uniforms=np.array([[0.1, 0.9, 0.2, 0.7]] * 3))
    assert d["dose_time"].strides[0] == 0 and not d["dose_time"].flags.writeable
    np.testing.assert_array_equal(d["dose_time"], [[0.0, 12.0, 24.0, 36.0]] * 3)
    np.testing.assert_array_equal(d["dose_amount"], [[100.0, 0.0, 100.0, 0.0]] * 3)


def test_stopping_a_full_course_is_the_stopped_regimen_bit_for_bit() -> None:
    rng = np.random.default_rng(2)
    n = 50
    reg = RegimenConfig(dose=4.0, unit="mg/kg", interval=12.0, n_doses=6,
                        titration=(TitrationStep(from_dose=3, dose=6.0),))
    kw = dict(weight=rng.uniform(40, 100, n), adherence=0.8, uniforms=rng.random((n, 6)))
    stop = np.where(rng.random(n) < 0.5, rng.uniform(-1, 80, n), np.inf)
    stop[:3] = [0.0, 12.0, 60.0]  # at a dose time: that dose is not given
    ref = regimen_doses(reg, n, stop_time=stop, **kw)
    got = stop_doses(regimen_doses(reg, n, **kw), stop)
    assert got["dose_amount"].tobytes(order="C") == ref["dose_amount"].tobytes(order="C")
    np.testing.assert_array_equal(got["dose_time"], ref["dose_time"])


def test_equal_amounts_are_one_shared_row_else_fortran_ordered() -> None:
    reg = RegimenConfig(dose=100.0, interval=12.0, n_doses=4)
    same = regimen_doses(reg, 3)
    assert same["dose_amount"].strides[0] == 0 and not same["dose_amount"].flags.writeable
    np.testing.assert_array_equal(same["dose_amount"], [[100.0] * 4] * 3)
    per_kg = regimen_doses(RegimenConfig(dose=2.0, unit="mg/kg", n_doses=4), 3,
                           weight=np.array([50.0, 60.0, 70.0]))
    assert per_kg["dose_amount"].flags.f_contiguous and per_kg["dose_amount"].flags.writeable
    np.testing.assert_array_equal(per_kg["dose_amount"][:, 0], [100.0, 120.0, 140.0])
    # a shared row stops like a full one
    stop = np.array([np.inf, 12.0, 13.0])
    np.testing.assert_array_equal(stop_doses(same, stop)["dose_amount"],
                                  regimen_doses(reg, 3, stop_time=stop)["dose_amount"])


def test_stopped_rows_are_the_patients_with_a_dose_at_or_after_their_stop() -> None:
    reg = RegimenConfig(dose=5.0, interval=24.0, n_doses=4)  # doses at 0, 24, 48, 72
    d = regimen_doses(reg, 6, adherence=0.5, uniforms=np.full((6, 4), 0.9))  # all missed
    stop = np.array([np.inf, 72.0, 72.5, 0.0, np.nan, -np.inf])
    assert stopped_rows(d, stop).tolist() == [1, 3, 4, 5]
    # rows not listed are unchanged by stop_doses; listed ones may be (all doses missed here)
    full, stopped = regimen_doses(reg, 6), stop_doses(regimen_doses(reg, 6), stop)
    changed = np.flatnonzero((full["dose_amount"] != stopped["dose_amount"]).any(axis=1))
    assert set(changed) <= set(stopped_rows(full, stop).tolist())
    # per-patient dose times (not one shared row): no shortcut
    own = {"dose_time": np.tile([0.0, 24.0], (3, 1)), "dose_amount": np.ones((3, 2))}
    assert stopped_rows(own, np.zeros(3)) is None
