"""Tidy CSV/Parquet adapter: subjects, events, observations (wide or long) and doses tables.

Each table comes from its own file (several may share one file, e.g. PBC subjects and events both
from ``pbc.csv``) through a column mapping in config, so source files load without editing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from twintrial.data import units as U
from twintrial.data.checks import Where, check_columns, check_missing, check_nonnegative, to_numeric
from twintrial.data.common import (
    apply_filters,
    arm_values,
    as_text,
    covariate_columns,
    ids_from,
    key_text,
    one_row_per_subject,
    read_table_file,
    resolve_path,
    source_labels,
)
from twintrial.data.config import (
    DataConfig,
    DosesConfig,
    EventsConfig,
    ObservationsConfig,
    SubjectsConfig,
    VariableSpec,
)
from twintrial.data.dataset import Dataset, ids_in, make_dataset
from twintrial.exceptions import DataError


def _raise(problems: list[str]) -> None:
    if problems:
        raise DataError(problems)


def _time(df: pd.DataFrame, column: str, *, where: Where, from_unit: str,
          to_unit: str) -> tuple[pd.Series, list[str]]:
    t, problems = to_numeric(df[column], where=where, column=column)
    problems += check_missing(t, where=where, column=column) if not problems else []
    problems += check_nonnegative(t, where=where, column=column)
    return pd.Series(U.convert(t.to_numpy(), from_unit, to_unit), index=t.index), problems


def read_subjects(cfg: SubjectsConfig, *, target_units: dict[str, str],
                  base_dir: str | Path | None = None) -> tuple[pd.DataFrame, set[str],
                                                               dict[str, str]]:
    """Subjects table, the ids of every row before filtering, and covariate units."""
    df, where = read_table_file(resolve_path(cfg.path, base_dir), label=cfg.path,
                                text_columns=[cfg.id])
    cols = {"data.subjects.id": cfg.id}
    if cfg.arm:
        cols["data.subjects.arm.column"] = cfg.arm.column
    cols |= {f"data.subjects.covariates.{c.name}.column": c.column for c in cfg.covariates}
    _raise(check_columns(df, cols, where=where))
    ids, problems = ids_from(df[cfg.id], where=where, column=cfg.id)
    _raise(problems)
    all_ids = set(ids)
    df = apply_filters(df, cfg.filters, where=where)
    arm, problems = arm_values(df, cfg.arm, where=where)
    covs, p2, units = covariate_columns(df, cfg.covariates, where=where, target_units=target_units)
    table = pd.concat([pd.DataFrame({"id": ids[df.index], "arm": arm}), covs], axis=1)
    check = [c.name for c in cfg.covariates if not c.time_varying] + ["arm"]
    table, p3 = one_row_per_subject(table, id_col="id", check=check, where=where,
                                    labels=source_labels(cfg.covariates, cfg.arm))
    _raise(problems + p2 + p3)
    return table, all_ids, units


def read_events(cfg: EventsConfig, *, time_unit: str,
                base_dir: str | Path | None = None) -> pd.DataFrame:
    """Events table (``id, time, event``) in ``time_unit``; one row per subject."""
    df, where = read_table_file(resolve_path(cfg.path, base_dir), label=cfg.path,
                                text_columns=[cfg.id])
    _raise(check_columns(df, {"data.events.id": cfg.id, "data.events.time": cfg.time,
                              "data.events.status": cfg.status}, where=where))
    ids, problems = ids_from(df[cfg.id], where=where, column=cfg.id)
    t, p2 = _time(df, cfg.time, where=where, from_unit=cfg.time_unit or time_unit,
                  to_unit=time_unit)
    status = as_text(df[cfg.status])
    ev = {key_text(v) for v in cfg.event_values}
    ce = {key_text(v) for v in cfg.censored_values}
    bad = ~status.isin(ev | ce).fillna(False).astype(bool)
    p3 = []
    if bad.any():
        vals = sorted(set(status[bad].fillna("<NA>")))
        p3.append(f"{where.label}: column '{cfg.status}' has {int(bad.sum())} status value(s) "
                  f"that are neither events {sorted(ev)} nor censored {sorted(ce)} at "
                  f"{where.rows(df.index[bad])}; got {', '.join(map(repr, vals[:5]))}. "
                  "Set data.events.event_values / censored_values.")
    _raise(problems + p2 + p3)
    table = pd.DataFrame({"id": ids, "time": t, "event": status.isin(ev).astype(np.int8)})
    table, p4 = one_row_per_subject(table, id_col="id", check=["time", "event"], where=where,
                                    labels={"time": cfg.time, "event": cfg.status})
    _raise(p4)
    return table


def read_observations(cfg: ObservationsConfig, *, time_unit: str, target_units: dict[str, str],
                      base_dir: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Long observations table in canonical units, and the unit of each variable."""
    df, where = read_table_file(resolve_path(cfg.path, base_dir), label=cfg.path,
                                text_columns=[cfg.id])
    cols = {"data.observations.id": cfg.id, "data.observations.time": cfg.time}
    if cfg.cens_column:
        cols["data.observations.cens_column"] = cfg.cens_column
    if cfg.layout == "long":
        cols |= {"data.observations.variable_column": cfg.variable_column,
                 "data.observations.value_column": cfg.value_column}
    else:
        if not cfg.variables:
            raise DataError("data.observations.variables: required for layout wide; list the "
                            "columns to read as variables.")
        cols |= {f"data.observations.variables.{v.name}.column": v.source for v in cfg.variables}
    _raise(check_columns(df, cols, where=where))
    ids, problems = ids_from(df[cfg.id], where=where, column=cfg.id)
    t, p2 = _time(df, cfg.time, where=where, from_unit=cfg.time_unit or time_unit,
                  to_unit=time_unit)
    problems += p2
    cens = pd.Series(0, index=df.index, dtype=np.int8)
    if cfg.cens_column:
        c, p3 = to_numeric(df[cfg.cens_column], where=where, column=cfg.cens_column)
        problems += p3
        cens = c.fillna(0).astype(np.int8)
    units: dict[str, str] = {}
    parts = []

    def convert(values: pd.Series, spec: VariableSpec, column: str) -> pd.Series:
        if not spec.unit:
            return values
        target = target_units.get(spec.name, spec.unit)
        try:
            out = U.convert(values.to_numpy(), spec.unit, target, molar_mass=spec.molar_mass)
        except DataError as exc:
            problems.append(f"{where.label}: column '{column}': {exc}")
            return values
        units[spec.name] = U.canonical_unit(target)
        return pd.Series(out, index=values.index)

    if cfg.layout == "long":
        code = as_text(df[cfg.variable_column])
        value, p4 = to_numeric(df[cfg.value_column], where=where, column=cfg.value_column)
        problems += p4
        specs = cfg.variables or ()
        if specs:
            for spec in specs:
                m = code == spec.source
                parts.append(pd.DataFrame({"id": ids[m], "time": t[m], "variable": spec.name,
                                           "value": convert(value[m], spec, cfg.value_column),
                                           "cens": cens[m]}))
        else:
            parts.append(pd.DataFrame({"id": ids, "time": t, "variable": code, "value": value,
                                       "cens": cens}))
    else:
        for spec in cfg.variables:
            value, p4 = to_numeric(df[spec.source], where=where, column=spec.source)
            problems += p4
            parts.append(pd.DataFrame({"id": ids, "time": t, "variable": spec.name,
                                       "value": convert(value, spec, spec.source), "cens": cens}))
    _raise(problems)
    obs = pd.concat(parts, ignore_index=True)
    return obs[obs["value"].notna()], units


def read_doses(cfg: DosesConfig, *, time_unit: str, amount_unit: str,
               base_dir: str | Path | None = None) -> pd.DataFrame:
    """Doses table with amounts in ``amount_unit`` (per-kg doses scaled by the weight column)."""
    df, where = read_table_file(resolve_path(cfg.path, base_dir), label=cfg.path,
                                text_columns=[cfg.id])
    cols = {"data.doses.id": cfg.id, "data.doses.time": cfg.time, "data.doses.amount": cfg.amount}
    if cfg.duration:
        cols["data.doses.duration"] = cfg.duration
    if cfg.weight:
        cols["data.doses.weight"] = cfg.weight
    _raise(check_columns(df, cols, where=where))
    ids, problems = ids_from(df[cfg.id], where=where, column=cfg.id)
    t, p2 = _time(df, cfg.time, where=where, from_unit=cfg.time_unit or time_unit,
                  to_unit=time_unit)
    amt, p3 = to_numeric(df[cfg.amount], where=where, column=cfg.amount)
    problems += p2 + p3 + check_missing(amt, where=where, column=cfg.amount)
    problems += check_nonnegative(amt, where=where, column=cfg.amount)
    weight = None
    if cfg.weight:
        weight, p4 = to_numeric(df[cfg.weight], where=where, column=cfg.weight)
        problems += p4 + check_missing(weight, where=where, column=cfg.weight)
    dur = pd.Series(0.0, index=df.index)
    if cfg.duration:
        dur, p5 = to_numeric(df[cfg.duration], where=where, column=cfg.duration)
        problems += p5
        dur = pd.Series(U.convert(dur.fillna(0).to_numpy(), cfg.time_unit or time_unit,
                                  time_unit), index=df.index)
    _raise(problems)
    amount = U.convert_dose(amt.to_numpy(), cfg.amount_unit, amount_unit,
                            weight_kg=None if weight is None else weight.to_numpy())
    return pd.DataFrame({"id": ids, "time": t, "amount": amount, "route": cfg.route,
                         "duration": dur})


def default_amount_unit(cfg: DataConfig, source_unit: str) -> str:
    """The dataset's dose unit: ``data.units.amount``, else the source's (mg for per-kg doses)."""
    if "amount" in cfg.units:
        return U.canonical_unit(cfg.units["amount"])
    return "mg" if U.dimension(source_unit) == "dose_per_kg" else U.canonical_unit(source_unit)


def restrict(table: pd.DataFrame, keep: set[str], known: set[str] | None) -> pd.DataFrame:
    """Drop rows of subjects removed by the subjects filter (unknown ids are kept: an error)."""
    if known is None:
        return table
    dropped = known - keep
    return table[~ids_in(table["id"], dropped)]


def load_tidy(cfg: DataConfig, *, base_dir: str | Path | None = None) -> Dataset:
    """Load a dataset from tidy tables described by ``cfg`` (``data.format: tidy``).

    Parameters
    ----------
    cfg
        The data configuration.
    base_dir
        Directory the configured paths are relative to (default: the working directory).
    """
    tu = cfg.time_unit
    units: dict[str, str] = {}
    source: dict[str, str] = {}
    subjects, all_ids = None, None
    if cfg.subjects:
        subjects, all_ids, u = read_subjects(cfg.subjects, target_units=cfg.units,
                                             base_dir=base_dir)
        units |= u
        source["subjects"] = cfg.subjects.path
    keep = set(subjects["id"]) if subjects is not None else set()
    tables: dict[str, pd.DataFrame] = {}
    if cfg.events:
        tables["events"] = read_events(cfg.events, time_unit=tu, base_dir=base_dir)
        source["events"] = cfg.events.path
    if cfg.observations:
        obs, u = read_observations(cfg.observations, time_unit=tu, target_units=cfg.units,
                                   base_dir=base_dir)
        tables["observations"] = obs
        units |= u
        source["observations"] = cfg.observations.path
    if cfg.doses:
        amount_unit = default_amount_unit(cfg, cfg.doses.amount_unit)
        tables["doses"] = read_doses(cfg.doses, time_unit=tu, amount_unit=amount_unit,
                                     base_dir=base_dir)
        units["amount"] = amount_unit
        source["doses"] = cfg.doses.path
    if subjects is None:
        if not tables:
            raise DataError("data: no tables configured; give data.subjects and/or "
                            "data.observations (or use data.format nonmem/fhir).")
        ids = pd.concat([t["id"] for t in tables.values()]).drop_duplicates()
        subjects = pd.DataFrame({"id": ids, "arm": pd.NA})
    tables = {k: restrict(v, keep, all_ids) for k, v in tables.items()}
    return make_dataset(subjects, observations=tables.get("observations"),
                        doses=tables.get("doses"), events=tables.get("events"), units=units,
                        time_unit=tu, source=source)
