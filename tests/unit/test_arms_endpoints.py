"""Endpoint values: scales, change from baseline, responder thresholds, visit lookup."""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.arms.endpoints import continuous_outcome, responder, to_scale, value_at, visit_index
from twintrial.arms_config import EndpointConfig
from twintrial.models import get_model

BIO = get_model("biomarker_progression", biomarker_center=0.0)
PK = get_model("pk_1cmt_oral")
GRID = np.array([0.0, 1.0, 2.0])


def test_scales_follow_the_model_transform() -> None:
    y = np.log(np.array([1.0, 2.0]))
    np.testing.assert_allclose(to_scale(y, model=BIO, scale="natural"), [1.0, 2.0])
    np.testing.assert_array_equal(to_scale(y, model=BIO, scale="log"), y)
    c = np.array([2.0, 0.0, -1.0])
    np.testing.assert_array_equal(to_scale(c, model=PK, scale="natural"), c)
    got = to_scale(c, model=PK, scale="log")
    assert got[0] == np.log(2.0) and np.isnan(got[1]) and np.isnan(got[2])


def test_value_and_change_from_baseline() -> None:
    y = np.log(np.array([[1.0, 2.0, 4.0], [2.0, 2.0, 1.0]]))
    cfb = EndpointConfig("e", "continuous", time=2.0, scale="natural")
    np.testing.assert_allclose(value_at(y, GRID, cfb, model=BIO), [3.0, -1.0])
    logv = EndpointConfig("e", "continuous", time=1.0, scale="log", change_from_baseline=False)
    np.testing.assert_allclose(value_at(y, GRID, logv, model=BIO), np.log([2.0, 2.0]))


def test_responder_direction_and_missing() -> None:
    below = EndpointConfig("r", "responder", time=1.0, threshold=0.5)
    above = EndpointConfig("r", "responder", time=1.0, threshold=0.5, direction="above")
    v = np.array([0.2, 0.5, 0.9, np.nan])
    assert responder(v, below)[:3].tolist() == [1.0, 0.0, 0.0]
    assert responder(v, above)[:3].tolist() == [0.0, 0.0, 1.0]
    assert np.isnan(responder(v, below)[3])


def test_while_on_treatment_uses_the_endpoint_visits() -> None:
    y = np.log(np.array([[1.0, 2.0, 4.0]] * 3))
    ep = EndpointConfig("e", "continuous", time=2.0, scale="log", visit_interval=1.0)
    got = continuous_outcome("while_on_treatment", y, y, GRID, np.array([0.5, 1.0, 9.0]), ep,
                             model=BIO)
    np.testing.assert_allclose(got, [0.0, np.log(2.0), np.log(4.0)])
    resp = EndpointConfig("r", "responder", time=2.0, scale="log", threshold=1.0, direction="above")
    comp = continuous_outcome("composite", y, y, GRID, np.array([0.5, 2.0, 9.0]), resp, model=BIO)
    assert comp.tolist() == [0.0, 0.0, 1.0]


def test_visit_index_rejects_off_grid_times() -> None:
    assert visit_index(GRID, [2.0, 0.0]).tolist() == [2, 0]
    with pytest.raises(ValueError, match="not all on the visit grid"):
        visit_index(GRID, [1.5])
