"""Cross-field checks of the ``data`` section (re-exported as ``twintrial.data.config.semantic_problems``).

The JSON Schema checks shapes and types; these check what a schema cannot: that files exist and
have the mapped columns, that units are known and convertible, that the sections match
``data.format``. Each problem starts with its key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twintrial.data import units as U
from twintrial.data.checks import closest

NONMEM_COLUMNS = ("ID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT", "RATE", "CENS", "ADDL", "II")


def _header(path: Path) -> list[str] | None:
    """Column names of a CSV/Parquet file, or ``None`` if it cannot be read cheaply."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if path.suffix.lower() in (".csv", ".tsv", ".txt"):
            import pandas as pd

            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            return [str(c) for c in pd.read_csv(path, nrows=0, sep=sep).columns]
    except Exception:  # noqa: BLE001 - the adapter reports unreadable files with detail
        return None
    return None


def _column_problems(key: str, path: Path, wanted: dict[str, str | None]) -> list[str]:
    cols = _header(path)
    if cols is None:
        return []
    out = []
    for sub, col in wanted.items():
        if col is not None and col not in cols:
            near = closest(col, cols)
            hint = f" (did you mean '{near}'?)" if near else f"; columns are: {', '.join(cols[:20])}"
            out.append(f"{key}.{sub}: column {col!r} not in {path}{hint}")
    return out


def _unit_problem(key: str, unit: str | None) -> list[str]:
    if unit is None or U.is_known_unit(unit):
        return []
    return [f"{key}: unknown unit {unit!r}; known units: {', '.join(U.known_units())}"]


def _convert_problem(key: str, unit: str | None, target: str | None,
                     molar_mass: float | None = None) -> list[str]:
    if not unit or not target or not U.is_known_unit(unit) or not U.is_known_unit(target):
        return []
    try:
        U.conversion_factor(unit, target, molar_mass=molar_mass)
    except Exception as exc:  # noqa: BLE001 - DataError; reworded with the key path
        return [f"{key}: cannot convert {unit!r} to declared data.units {target!r} "
                f"({str(exc).split(': ', 1)[-1]})"]
    return []


def _path_problem(key: str, path: str | None) -> list[str]:
    if not path:
        return [f"{key}: required key is missing"]
    if not Path(path).is_file():
        return [f"{key}: file not found: {path!r} (paths are relative to the working directory)"]
    return []


def _filter_problems(key: str, filt: Any) -> list[str]:
    out = []
    items = [(key, filt)] if isinstance(filt, Mapping) else \
        [(f"{key}[{i}]", f) for i, f in enumerate(filt or [])]
    for k, f in items:
        kinds = [n for n in ("in", "not_in", "op") if n in f]
        if len(kinds) != 1 or ("op" in f) != ("value" in f):
            out.append(f"{k}: give exactly one of 'in', 'not_in' or 'op' with 'value'; got keys "
                       f"{sorted(f)}")
    return out


def _covariate_problems(key: str, covs: Mapping[str, Any], units: Mapping[str, str]) -> list[str]:
    out = []
    for name, spec in (covs or {}).items():
        spec = spec or {}
        ckey = f"{key}.{name}"
        typ = spec.get("type", "continuous")
        if spec.get("levels") and typ != "categorical":
            out.append(f"{ckey}.levels: only for type categorical; got type {typ!r}")
        if spec.get("unit") and typ != "continuous":
            out.append(f"{ckey}.unit: only continuous covariates have units; got type {typ!r}")
        out += _unit_problem(f"{ckey}.unit", spec.get("unit"))
        out += _convert_problem(f"{ckey}.unit", spec.get("unit"), units.get(name))
    return out


def semantic_problems(raw: Mapping[str, Any]) -> list[str]:
    """Cross-field problems of the ``data`` section (each line starts with its key path).

    Checks: the sections match ``data.format``; files exist and contain the mapped columns; units
    are known and convertible to the declared ``data.units``; status codes do not overlap.
    """
    d = raw.get("data") or {}
    out: list[str] = []
    fmt = d.get("format", "tidy")
    units = d.get("units") or {}
    for name, unit in units.items():
        out += _unit_problem(f"data.units.{name}", unit)
    tidy_keys = [k for k in ("subjects", "events", "observations", "doses") if d.get(k)]
    if fmt == "tidy":
        for other in ("nonmem", "fhir"):
            if d.get(other):
                out.append(f"data.{other}: given but data.format is 'tidy'; set data.format: "
                           f"{other} or remove data.{other}")
    else:
        if not d.get(fmt):
            out.append(f"data.{fmt}: required when data.format is {fmt!r}")
        out += [f"data.{k}: tidy tables are not used when data.format is {fmt!r}; remove it"
                for k in tidy_keys]
    subj = d.get("subjects")
    if subj:
        out += _path_problem("data.subjects.path", subj.get("path"))
        if subj.get("path") and Path(subj["path"]).is_file():
            cols = {"id": subj.get("id", "id")}
            if subj.get("arm"):
                cols["arm.column"] = subj["arm"]["column"]
            filt = subj.get("filter") or []
            if isinstance(filt, Mapping):
                cols["filter.column"] = filt.get("column")
            else:
                for i, f in enumerate(filt):
                    cols[f"filter[{i}].column"] = f.get("column")
            for name, spec in (subj.get("covariates") or {}).items():
                cols[f"covariates.{name}.column"] = (spec or {}).get("column", name)
            out += _column_problems("data.subjects", Path(subj["path"]), cols)
        out += _filter_problems("data.subjects.filter", subj.get("filter"))
        out += _covariate_problems("data.subjects.covariates", subj.get("covariates"), units)
    ev = d.get("events")
    if ev:
        path = ev.get("path") or (subj or {}).get("path")
        out += _path_problem("data.events.path", path)
        if path and Path(path).is_file():
            out += _column_problems("data.events", Path(path), {
                "id": ev.get("id") or (subj or {}).get("id", "id"), "time": ev.get("time", "time"),
                "status": ev.get("status", "status")})
        both = {str(v) for v in ev.get("event_values", [1])} & \
            {str(v) for v in ev.get("censored_values", [0])}
        if both:
            out.append(f"data.events.event_values: values {sorted(both)} are also in "
                       "censored_values; a status is either an event or a censoring")
    obs = d.get("observations")
    if obs:
        out += _path_problem("data.observations.path", obs.get("path"))
        layout = obs.get("layout", "wide")
        if obs.get("path") and Path(obs["path"]).is_file():
            cols: dict[str, str | None] = {"id": obs.get("id", "id"),
                                           "time": obs.get("time", "time"),
                                           "cens_column": obs.get("cens_column")}
            if layout == "long":
                cols["variable_column"] = obs.get("variable_column", "variable")
                cols["value_column"] = obs.get("value_column", "value")
            else:
                for name, spec in (obs.get("variables") or {}).items():
                    cols[f"variables.{name}.column"] = (spec or {}).get("column", name)
            out += _column_problems("data.observations", Path(obs["path"]), cols)
        if layout == "wide" and not obs.get("variables"):
            out.append("data.observations.variables: required for layout wide; map each "
                       "variable name to its column")
        for name, spec in (obs.get("variables") or {}).items():
            spec = spec or {}
            vkey = f"data.observations.variables.{name}"
            if layout == "wide" and "code" in spec:
                out.append(f"{vkey}.code: only for layout long; use column for layout wide")
            if layout == "long" and "column" in spec:
                out.append(f"{vkey}.column: only for layout wide; use code for layout long")
            out += _unit_problem(f"{vkey}.unit", spec.get("unit"))
            out += _convert_problem(f"{vkey}.unit", spec.get("unit"), units.get(name),
                                    spec.get("molar_mass"))
    dos = d.get("doses")
    if dos:
        out += _path_problem("data.doses.path", dos.get("path"))
        out += _unit_problem("data.doses.amount_unit", dos.get("amount_unit"))
        if dos.get("path") and Path(dos["path"]).is_file():
            out += _column_problems("data.doses", Path(dos["path"]), {
                "id": dos.get("id", "id"), "time": dos.get("time", "time"),
                "amount": dos.get("amount", "amount"), "duration": dos.get("duration"),
                "weight": dos.get("weight")})
        if U.is_known_unit(dos.get("amount_unit", "mg")) and \
                U.dimension(dos.get("amount_unit", "mg")) == "dose_per_kg" and not dos.get("weight"):
            out.append("data.doses.weight: required when amount_unit is per kg "
                       f"({dos.get('amount_unit')!r})")
    nm = d.get("nonmem")
    if nm and fmt == "nonmem":
        out += _path_problem("data.nonmem.path", nm.get("path"))
        out += _unit_problem("data.nonmem.amount_unit", nm.get("amount_unit"))
        out += _unit_problem("data.nonmem.dv.unit", (nm.get("dv") or {}).get("unit"))
        for cmt, spec in (nm.get("cmt_variables") or {}).items():
            out += _unit_problem(f"data.nonmem.cmt_variables.{cmt}.unit", (spec or {}).get("unit"))
        for item in nm.get("columns") or {}:
            if item not in NONMEM_COLUMNS:
                near = closest(item, NONMEM_COLUMNS)
                out.append(f"data.nonmem.columns.{item}: unknown NONMEM item"
                           + (f" (did you mean '{near}'?)" if near else
                              f"; known: {', '.join(NONMEM_COLUMNS)}"))
        out += _covariate_problems("data.nonmem.covariates", nm.get("covariates"), units)
        wc = nm.get("weight_covariate")
        if wc and wc not in (nm.get("covariates") or {}):
            out.append(f"data.nonmem.weight_covariate: {wc!r} is not a configured covariate; "
                       f"add it under data.nonmem.covariates")
    fh = d.get("fhir")
    if fh and fmt == "fhir":
        out += _path_problem("data.fhir.path", fh.get("path"))
        out += _unit_problem("data.fhir.amount_unit", fh.get("amount_unit"))
        for i, c in enumerate(fh.get("observations") or []):
            out += _unit_problem(f"data.fhir.observations[{i}].unit", c.get("unit"))
        for name, spec in (fh.get("patient_extensions") or {}).items():
            out += _unit_problem(f"data.fhir.patient_extensions.{name}.unit", spec.get("unit"))
        anchor = str(fh.get("anchor", "first_record"))
        if anchor != "first_record":
            import pandas as pd

            try:
                pd.Timestamp(anchor)
            except ValueError:
                out.append(f"data.fhir.anchor: must be 'first_record' or an ISO date; "
                           f"got {anchor!r}")
    return out
