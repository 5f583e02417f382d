"""Unit registry: conversions within a dimension, molar mass, per-kg doses, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from twintrial.data import units as U
from twintrial.exceptions import DataError


@pytest.mark.parametrize(("value", "src", "dst", "expected"), [
    (365.25, "day", "year", 1.0),
    (1.0, "week", "h", 168.0),
    (90.0, "min", "h", 1.5),
    (3600.0, "s", "h", 1.0),
    (1.0, "month", "day", 365.25 / 12),
    (1.0, "g", "mg", 1000.0),
    (250.0, "ug", "mg", 0.25),
    (1.0, "mg/dL", "mg/L", 10.0),
    (35.0, "g/L", "g/dL", 3.5),
    (1.0, "ng/mL", "ug/L", 1.0),
    (1.0, "ug/mL", "mg/L", 1.0),
    (2.0, "mmol/L", "umol/L", 2000.0),
    (12.0, "hr", "day", 0.5),      # alias
    (1.0, "a", "year", 1.0),       # UCUM year
])
def test_convert_within_dimension(value: float, src: str, dst: str, expected: float) -> None:
    assert U.convert(value, src, dst) == pytest.approx(expected, rel=1e-12)


def test_convert_arrays_and_round_trip() -> None:
    x = np.array([0.0, 1.5, np.nan, 1e4])
    y = U.convert(U.convert(x, "day", "year"), "year", "day")
    np.testing.assert_allclose(y, x, rtol=1e-14)
    assert np.isnan(y[2])


def test_bilirubin_molar_conversion_needs_molar_mass() -> None:
    # 1 mg/dL bilirubin (584.66 g/mol) = 17.104 umol/L (the clinical factor 17.1)
    assert U.convert(1.0, "mg/dL", "umol/L", molar_mass=584.66) == pytest.approx(17.1039, rel=1e-4)
    assert U.convert(17.1039, "umol/L", "mg/dL", molar_mass=584.66) == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(DataError, match="needs the molar mass"):
        U.convert(1.0, "mg/dL", "umol/L")


def test_cross_dimension_and_unknown_units_are_errors() -> None:
    with pytest.raises(DataError, match="cannot convert time to mass"):
        U.convert(1.0, "h", "mg")
    with pytest.raises(DataError, match=r"unknown unit; known units: s, min, h"):
        U.convert(1.0, "fortnight", "day")
    assert U.unknown_units(["mg", "mg/furlong", "µg"]) == ["mg/furlong"]


def test_per_kg_doses() -> None:
    amt = U.convert_dose([4.02, 4.4], "mg/kg", "mg", weight_kg=[79.6, 72.4])
    np.testing.assert_allclose(amt, [4.02 * 79.6, 4.4 * 72.4])
    np.testing.assert_allclose(U.convert_dose(amt, "mg", "mg/kg", weight_kg=[79.6, 72.4]),
                               [4.02, 4.4])
    np.testing.assert_allclose(U.convert_dose([500.0], "ug/kg", "mg", weight_kg=[2.0]), [1.0])
    with pytest.raises(DataError, match="per-kg doses need body weight"):
        U.convert_dose([1.0], "mg/kg", "mg")


def test_label_units_do_not_convert() -> None:
    assert U.convert(5.0, "U/L", "U/L") == 5.0
    with pytest.raises(DataError):
        U.convert(5.0, "U/L", "kg")


@pytest.mark.parametrize("dim", ["time", "mass", "mass_concentration", "molar_concentration"])
def test_round_trip_and_transitivity_property(dim: str) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    names = [u for u in U.known_units() if U.dimension(u) == dim]

    @settings(max_examples=60, deadline=None)
    @given(a=st.sampled_from(names), b=st.sampled_from(names), c=st.sampled_from(names),
           x=st.floats(min_value=1e-6, max_value=1e6))
    def check(a: str, b: str, c: str, x: float) -> None:
        assert U.convert(U.convert(x, a, b), b, a) == pytest.approx(x, rel=1e-12)
        assert U.convert(U.convert(x, a, b), b, c) == pytest.approx(U.convert(x, a, c), rel=1e-12)

    check()
