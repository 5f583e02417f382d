"""A small, honest unit registry: conversions within one dimension only.

Dimensions: time, mass, mass concentration, molar concentration (convertible to mass concentration
only when a molar mass is given), per-kg dose (convertible to mass only with body weight), and
dimensionless/other units that are kept as labels (no conversion except to themselves).
Units are converted once, at the edges (when a dataset is loaded), into the dataset's ``time_unit``
and the declared unit of each variable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from twintrial.exceptions import DataError

#: unit -> (dimension, factor to the dimension's base unit)
#: bases: time h, mass mg, mass concentration mg/L, molar concentration umol/L, per-kg dose mg/kg
_UNITS: dict[str, tuple[str, float]] = {
    # time (base: hour); month = year / 12, year = 365.25 days
    "s": ("time", 1.0 / 3600.0),
    "min": ("time", 1.0 / 60.0),
    "h": ("time", 1.0),
    "day": ("time", 24.0),
    "week": ("time", 24.0 * 7.0),
    "month": ("time", 24.0 * 365.25 / 12.0),
    "year": ("time", 24.0 * 365.25),
    # mass (base: mg)
    "ng": ("mass", 1e-6),
    "ug": ("mass", 1e-3),
    "mg": ("mass", 1.0),
    "g": ("mass", 1e3),
    # mass concentration (base: mg/L)
    "ng/mL": ("mass_concentration", 1e-3),
    "ug/L": ("mass_concentration", 1e-3),
    "ug/mL": ("mass_concentration", 1.0),
    "mg/L": ("mass_concentration", 1.0),
    "g/L": ("mass_concentration", 1e3),
    "mg/dL": ("mass_concentration", 10.0),
    "g/dL": ("mass_concentration", 1e4),
    # molar concentration (base: umol/L)
    "nmol/L": ("molar_concentration", 1e-3),
    "umol/L": ("molar_concentration", 1.0),
    "mmol/L": ("molar_concentration", 1e3),
    # per-kg dose (base: mg/kg)
    "ug/kg": ("dose_per_kg", 1e-3),
    "mg/kg": ("dose_per_kg", 1.0),
    # labels only (no conversion between different ones)
    "1": ("dimensionless", 1.0),
    "%": ("percent", 1.0),
    "kg": ("body_mass", 1.0),
    "cm": ("length", 1.0),
    "U/L": ("enzyme_activity", 1.0),
    "10^9/L": ("cell_count", 1.0),
    "mmHg": ("pressure", 1.0),
    "kg/m2": ("bmi", 1.0),
}

#: spellings accepted on input (UCUM codes used by FHIR, common alternatives) -> canonical unit
ALIASES: dict[str, str] = {
    "sec": "s", "second": "s", "seconds": "s",
    "hr": "h", "hour": "h", "hours": "h",
    "d": "day", "days": "day",
    "wk": "week", "weeks": "week",
    "mo": "month", "months": "month",
    "a": "year", "yr": "year", "years": "year",
    "µg": "ug", "mcg": "ug",
    "ng/ml": "ng/mL", "ug/ml": "ug/mL", "mcg/mL": "ug/mL", "µg/mL": "ug/mL", "µg/L": "ug/L",
    "mg/l": "mg/L", "g/l": "g/L", "mg/dl": "mg/dL", "g/dl": "g/dL",
    "umol/l": "umol/L", "µmol/L": "umol/L", "nmol/l": "nmol/L", "mmol/l": "mmol/L",
    "mcg/kg": "ug/kg", "µg/kg": "ug/kg",
    "{count}": "1", "": "1",
}

TIME_UNITS = ("s", "min", "h", "day", "week", "month", "year")


def known_units() -> list[str]:
    """All canonical unit names."""
    return list(_UNITS)


def canonical_unit(unit: str) -> str:
    """Return the canonical spelling of ``unit``; raise :class:`DataError` if unknown."""
    text = str(unit).strip()
    if text in _UNITS:
        return text
    if text in ALIASES:
        return ALIASES[text]
    raise DataError(f"unit {text!r}: unknown unit; known units: {', '.join(_UNITS)}")


def is_known_unit(unit: str) -> bool:
    """Whether ``unit`` (or an accepted alias of it) is in the registry."""
    text = str(unit).strip()
    return text in _UNITS or text in ALIASES


def dimension(unit: str) -> str:
    """The dimension of ``unit`` (``time``, ``mass``, ``mass_concentration``, ...)."""
    return _UNITS[canonical_unit(unit)][0]


def _as_array(values: Any) -> tuple[np.ndarray, bool]:
    scalar = np.ndim(values) == 0
    return np.asarray(values, dtype=np.float64), scalar


def conversion_factor(from_unit: str, to_unit: str, *, molar_mass: float | None = None) -> float:
    """Multiplicative factor taking values in ``from_unit`` to ``to_unit``.

    Parameters
    ----------
    from_unit, to_unit
        Unit names (canonical or alias).
    molar_mass
        g/mol; required to convert between molar and mass concentrations.

    Raises
    ------
    DataError
        Unknown units, or units of different dimensions.
    """
    src, dst = canonical_unit(from_unit), canonical_unit(to_unit)
    if src == dst:
        return 1.0
    (dim_a, fa), (dim_b, fb) = _UNITS[src], _UNITS[dst]
    if dim_a == dim_b:
        return fa / fb
    pair = {dim_a, dim_b}
    if pair == {"mass_concentration", "molar_concentration"}:
        if molar_mass is None or not molar_mass > 0:
            raise DataError(f"unit {src!r} -> {dst!r}: converting between mass and molar "
                            f"concentration needs the molar mass; got {molar_mass!r}. "
                            "Give molar_mass (g/mol) for this variable.")
        # mg/L / (g/mol) = mmol/L = 1000 umol/L
        if dim_a == "mass_concentration":
            return fa * 1000.0 / molar_mass / fb
        return fa * molar_mass / 1000.0 / fb
    raise DataError(f"unit {src!r} -> {dst!r}: cannot convert {dim_a} to {dim_b}. "
                    "Declare a unit of the same dimension.")


def convert(values: Any, from_unit: str, to_unit: str, *, molar_mass: float | None = None) -> Any:
    """Convert ``values`` from ``from_unit`` to ``to_unit`` (same dimension only).

    Parameters
    ----------
    values
        A scalar or array-like of numbers (NaN passes through).
    from_unit, to_unit
        Unit names, e.g. ``"day"`` -> ``"year"``, ``"g/L"`` -> ``"g/dL"``.
    molar_mass
        g/mol, only for mass <-> molar concentration (e.g. bilirubin 584.66).

    Returns
    -------
    float or numpy.ndarray
        Converted values (float64); a float for scalar input.
    """
    arr, scalar = _as_array(values)
    out = arr * conversion_factor(from_unit, to_unit, molar_mass=molar_mass)
    return float(out) if scalar else out


def convert_dose(values: Any, from_unit: str, to_unit: str, *,
                 weight_kg: Any = None) -> np.ndarray:
    """Convert dose amounts, including per-kg doses (``mg/kg`` -> ``mg`` needs ``weight_kg``).

    Parameters
    ----------
    values
        Dose amounts.
    from_unit, to_unit
        Mass or per-kg units.
    weight_kg
        Body weight per dose (kg), same shape as ``values``; needed when exactly one of the two
        units is per kg.
    """
    arr, _ = _as_array(values)
    src, dst = canonical_unit(from_unit), canonical_unit(to_unit)
    dim_a, dim_b = _UNITS[src][0], _UNITS[dst][0]
    if {dim_a, dim_b} == {"dose_per_kg", "mass"}:
        if weight_kg is None:
            raise DataError(f"unit {src!r} -> {dst!r}: per-kg doses need body weight; "
                            "configure a weight column (kg).")
        w = np.asarray(weight_kg, dtype=np.float64)
        if dim_a == "dose_per_kg":
            return arr * _UNITS[src][1] * w / _UNITS[dst][1]
        return arr * _UNITS[src][1] / w / _UNITS[dst][1]
    return arr * conversion_factor(src, dst)


def unknown_units(units: Iterable[str]) -> list[str]:
    """The entries of ``units`` that are not in the registry."""
    return [u for u in units if not is_known_unit(u)]
