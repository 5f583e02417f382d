"""Pieces shared by the adapters: reading a table, row filters, arms and baseline covariates."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twintrial.data import units as U
from twintrial.data.checks import (
    Where,
    check_binary,
    check_columns,
    check_constant_within,
    check_levels,
    check_not_empty,
    to_numeric,
)
from twintrial.data.config import ArmSpec, CovariateSpec, FilterSpec
from twintrial.exceptions import DataError

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


def resolve_path(path: str, base_dir: str | Path | None) -> Path:
    """``path`` relative to ``base_dir`` (default: the working directory)."""
    p = Path(path)
    return p if p.is_absolute() or base_dir is None else Path(base_dir) / p


def read_table_file(path: Path, *, label: str | None = None,
                    text_columns: Sequence[str] = ()) -> tuple[pd.DataFrame, Where]:
    """Read a CSV/TSV or Parquet file; ``.`` and ``NA`` are missing values.

    ``text_columns`` (id columns) are read verbatim as text from CSV, so ``001`` stays ``001``.
    Returns the table (index 0..n-1 in file order) and a :class:`Where` naming its rows.
    """
    name = label or str(path)
    if not path.is_file():
        raise DataError(f"{name}: file not found. Check the path (relative to the working "
                        "directory).")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
            where = Where(name, first_line=1, row_word="row")
        else:
            sep = "\t" if suffix == ".tsv" else ","
            df = pd.read_csv(path, sep=sep, na_values=["."], skipinitialspace=True,
                             dtype=dict.fromkeys(text_columns, "str"))
            df.columns = [str(c).strip() for c in df.columns]
            where = Where(name)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{name}: cannot read the file ({first}). Use CSV with a header row "
                        "or Parquet.") from None
    problems = check_not_empty(df, where=where)
    if problems:
        raise DataError(problems)
    return df.reset_index(drop=True), where


def as_text(series: pd.Series) -> pd.Series:
    """Values as text; integer-valued numbers without ``.0`` (so ``1.0`` and ``1`` agree)."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        vals = series.astype(np.float64)
        whole = (vals.notna() & np.isfinite(vals) & (vals == np.round(vals))).to_numpy()
        out = np.full(len(vals), None, dtype=object)
        out[whole] = vals.to_numpy()[whole].astype(np.int64).astype(str)
        other = ~whole & vals.notna().to_numpy()
        out[other] = [repr(float(v)) for v in vals.to_numpy()[other]]
        return pd.Series(out, index=series.index, dtype="str")
    return series.astype("str").str.strip()


def key_text(value: Any) -> str:
    """Config value as text with the same rule as :func:`as_text`."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def ids_from(series: pd.Series, *, where: Where, column: str) -> tuple[pd.Series, list[str]]:
    """Subject ids as text; a problem for missing ids."""
    ids = as_text(series)
    bad = ids.isna() | (ids == "")
    if bad.any():
        return ids, [f"{where.label}: column '{column}' has {int(bad.sum())} missing id(s) at "
                     f"{where.rows(series.index[bad])}. Every row needs a subject id."]
    return ids, []


def apply_filters(df: pd.DataFrame, filters: Sequence[FilterSpec], *, where: Where) -> pd.DataFrame:
    """Keep rows passing every filter (a missing value never passes)."""
    problems = check_columns(df, {f"filter[{i}].column": f.column for i, f in enumerate(filters)},
                             where=where)
    if problems:
        raise DataError(problems)
    keep = pd.Series(True, index=df.index)
    for f in filters:
        col = df[f.column]
        numeric = pd.api.types.is_numeric_dtype(col)
        if f.isin is not None or f.not_in is not None:
            values = {key_text(v) for v in (f.isin if f.isin is not None else f.not_in)}
            hit = as_text(col).isin(values).fillna(False).astype(bool)
            keep &= hit if f.isin is not None else (~hit & col.notna())
        elif f.op is not None:
            if f.op not in _OPS:
                raise DataError(f"filter on '{f.column}': unknown operator {f.op!r}; use one of "
                                f"{', '.join(_OPS)}.")
            value = float(f.value) if numeric else str(f.value)
            res = _OPS[f.op](col.astype(np.float64) if numeric else col.astype("str"), value)
            keep &= res.fillna(False).astype(bool) & col.notna()
    out = df[keep]
    if len(out) == 0:
        raise DataError(f"{where.label}: no rows left after the filter; got {len(df)} rows before. "
                        "Check the filter column and values.")
    return out


def arm_values(df: pd.DataFrame, spec: ArmSpec | None, *, where: Where) -> tuple[pd.Series,
                                                                                    list[str]]:
    """Arm names per row from ``spec`` (``<NA>`` where the source is missing)."""
    if spec is None:
        return pd.Series(pd.NA, index=df.index, dtype="str"), []
    raw = as_text(df[spec.column])
    if not spec.mapping:
        return raw, []
    mapped = raw.map(spec.mapping)
    bad = raw.notna() & mapped.isna()
    if bad.any():
        vals = sorted(set(raw[bad]))
        return mapped.astype("str"), [
            f"{where.label}: column '{spec.column}' has {int(bad.sum())} value(s) not in the arm "
            f"map at {where.rows(df.index[bad])}; got {', '.join(map(repr, vals[:5]))}. Add them "
            f"to arm.map (known: {', '.join(spec.mapping)}) or filter those rows out."]
    return mapped.astype("str"), []


def source_labels(specs: Sequence[CovariateSpec], arm: ArmSpec | None) -> dict[str, str]:
    """Canonical column -> file column, for messages."""
    out = {c.name: c.column for c in specs}
    if arm is not None:
        out["arm"] = arm.column
    return out


def covariate_columns(df: pd.DataFrame, specs: Sequence[CovariateSpec], *, where: Where,
                      target_units: Mapping[str, str]) -> tuple[pd.DataFrame, list[str],
                                                                dict[str, str]]:
    """Typed covariate columns (one per spec, same rows as ``df``), problems, and units."""
    problems: list[str] = []
    out = {}
    units: dict[str, str] = {}
    for spec in specs:
        col = df[spec.column]
        if spec.type == "categorical":
            text = as_text(col)
            if spec.levels:
                problems += check_levels(text, [key_text(v) for v in spec.levels], where=where,
                                         column=spec.column)
            out[spec.name] = text
            continue
        num, p = to_numeric(col, where=where, column=spec.column)
        problems += p
        if spec.type == "binary":
            problems += check_binary(num, where=where, column=spec.column)
        elif spec.unit:
            target = target_units.get(spec.name, spec.unit)
            try:
                num = pd.Series(U.convert(num.to_numpy(), spec.unit, target), index=num.index)
            except DataError as exc:
                problems.append(f"{where.label}: column '{spec.column}': {exc}")
            units[spec.name] = U.canonical_unit(target) if U.is_known_unit(target) else target
        out[spec.name] = num.astype(np.float64)
    return pd.DataFrame(out, index=df.index), problems, units


def one_row_per_subject(df: pd.DataFrame, *, id_col: str, check: Sequence[str], where: Where,
                        labels: dict[str, str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """First row of each subject; a problem for columns in ``check`` that differ within one."""
    problems = check_constant_within(df, id_col=id_col, columns=check, where=where, labels=labels)
    return df.drop_duplicates(id_col, keep="first"), problems
