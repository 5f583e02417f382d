"""Small named checks on input tables (lifelines style).

Each ``check_*`` returns a list of one-line problems (empty when fine) so that a reader can collect
every problem of a file before raising one :class:`~twintrial.exceptions.DataError`. Messages
follow ``<file>: column '<c>' <what>; got <value>. <fix>`` and name rows by file line (CSV: the
header is line 1) so the user can open the file at that place.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twintrial.data import units as U

_MAX_ROWS_SHOWN = 5


@dataclass(frozen=True)
class Where:
    """Where a table came from, to name its rows in messages.

    ``first_line`` is the file line of the table's index 0 (2 for a CSV with a header row, 1 for a
    Parquet file counted as rows, ``None`` for tables without a row notion, e.g. FHIR resources).
    """

    label: str
    first_line: int | None = 2
    row_word: str = "line"

    def rows(self, index: Iterable[object]) -> str:
        """Human-readable list of rows for index labels ``index``."""
        idx = list(index)
        if self.first_line is None:
            shown = ", ".join(map(str, idx[:_MAX_ROWS_SHOWN]))
            word = "record" if len(idx) == 1 else "records"
        else:
            shown = ", ".join(str(int(i) + self.first_line) for i in idx[:_MAX_ROWS_SHOWN])
            word = self.row_word if len(idx) == 1 else self.row_word + "s"
        more = f" (+{len(idx) - _MAX_ROWS_SHOWN} more)" if len(idx) > _MAX_ROWS_SHOWN else ""
        return f"{word} {shown}{more}"


def closest(name: str, candidates: Sequence[str]) -> str | None:
    """The closest candidate to ``name`` (case-insensitive), or ``None``."""
    lower = {c.lower(): c for c in candidates}
    if name.lower() in lower:
        return lower[name.lower()]
    hit = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.6)
    return lower[hit[0]] if hit else None


def check_columns(df: pd.DataFrame, required: dict[str, str], *, where: Where) -> list[str]:
    """Columns named in ``required`` (``{config key: column}``) that the table lacks."""
    out = []
    cols = [str(c) for c in df.columns]
    for key, col in required.items():
        if col not in df.columns:
            near = closest(col, cols)
            hint = (f"did you mean '{near}'? Set {key}: {near} or rename the column" if near
                    else f"columns are: {', '.join(cols[:20])}")
            out.append(f"{where.label}: column '{col}' (from {key}) not found. {hint}.")
    return out


def check_not_empty(df: pd.DataFrame, *, where: Where, what: str = "rows") -> list[str]:
    """A problem if the table has no rows."""
    if len(df) == 0:
        return [f"{where.label}: no {what}; got an empty table. Check the file and any filter."]
    return []


def to_numeric(series: pd.Series, *, where: Where, column: str) -> tuple[pd.Series, list[str]]:
    """Return ``series`` as float64 and a problem for values that are not numbers.

    Empty strings, ``NA`` and NONMEM's ``.`` count as missing, not as errors.
    """
    if pd.api.types.is_bool_dtype(series):
        return series.astype(np.float64), []
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(np.float64), []
    text = series.astype("string").str.strip()
    missing = text.isna() | text.isin(["", ".", "NA", "NaN", "nan"])
    num = pd.to_numeric(text.where(~missing), errors="coerce").astype(np.float64)
    bad = num.isna() & ~missing
    if bad.any():
        first = text[bad].iloc[0]
        return num, [f"{where.label}: column '{column}' has {int(bad.sum())} non-numeric "
                     f"value(s) at {where.rows(series.index[bad])}; got {first!r}. "
                     "Use numbers (missing as NA or empty)."]
    return num, []


def check_nonnegative(series: pd.Series, *, where: Where, column: str) -> list[str]:
    """A problem for negative values (times, doses)."""
    bad = series < 0
    if bad.any():
        return [f"{where.label}: column '{column}' has {int(bad.sum())} negative value(s) at "
                f"{where.rows(series.index[bad])}; got {show(series[bad].iloc[0])}. "
                "Times and amounts must be >= 0 (shift times to start at the first dose)."]
    return []


def check_missing(series: pd.Series, *, where: Where, column: str) -> list[str]:
    """A problem for missing values in a column that must be complete."""
    bad = series.isna()
    if bad.any():
        return [f"{where.label}: column '{column}' has {int(bad.sum())} missing value(s) at "
                f"{where.rows(series.index[bad])}. Fill them or drop those rows."]
    return []


def check_binary(series: pd.Series, *, where: Where, column: str) -> list[str]:
    """A problem for values other than 0/1 (missing allowed)."""
    bad = series.notna() & ~series.isin([0.0, 1.0])
    if bad.any():
        return [f"{where.label}: column '{column}' is declared binary but has "
                f"{int(bad.sum())} value(s) not 0/1 at {where.rows(series.index[bad])}; "
                f"got {show(series[bad].iloc[0])}. Declare it continuous or categorical."]
    return []


def check_levels(series: pd.Series, levels: Sequence[str], *, where: Where,
                 column: str) -> list[str]:
    """A problem for categorical values outside ``levels`` (missing allowed)."""
    bad = series.notna() & ~series.isin(list(levels))
    if bad.any():
        vals = sorted(set(map(str, series[bad])))
        return [f"{where.label}: column '{column}' has {int(bad.sum())} value(s) outside the "
                f"declared levels {list(levels)} at {where.rows(series.index[bad])}; got "
                f"{', '.join(map(repr, vals[:5]))}. Add them to levels or fix the data."]
    return []


def check_unit(unit: str, *, where: str) -> list[str]:
    """A problem if ``unit`` is not in the registry."""
    if U.is_known_unit(unit):
        return []
    return [f"{where}: unknown unit; got {unit!r}. Known units: {', '.join(U.known_units())}."]


def check_monotone_time(df: pd.DataFrame, *, id_col: str, time_col: str,
                        where: Where) -> list[str]:
    """A problem where time decreases from one row to the next within a subject."""
    same = df[id_col].eq(df[id_col].shift())
    back = same & (df[time_col] < df[time_col].shift())
    if back.any():
        first = back[back].index[0]
        pos = df.index.get_loc(first)
        prev = df[time_col].iloc[pos - 1]
        return [f"{where.label}: column '{time_col}' goes backwards within subject "
                f"{df.loc[first, id_col]!s} at {where.rows(back.index[back])} "
                f"({int(back.sum())} row(s)); got {show(df.loc[first, time_col])} after {show(prev)}. "
                "Sort rows by ID then TIME."]
    return []


def check_constant_within(df: pd.DataFrame, *, id_col: str, columns: Sequence[str],
                          where: Where, labels: dict[str, str] | None = None) -> list[str]:
    """A problem for each column whose (non-missing) value differs between rows of one subject.

    Used for duplicated subject rows and for baseline covariates in NONMEM files; ``labels``
    maps table columns to the file columns named in messages.
    """
    labels = labels or {}
    out = []
    for col in columns:
        sub = df[[id_col, col]].dropna()
        n = sub.groupby(id_col, sort=False)[col].nunique()
        bad_ids = n.index[n > 1]
        if len(bad_ids):
            first = bad_ids[0]
            vals = sub.loc[sub[id_col] == first, col].unique()[:3]
            rows = sub.index[sub[id_col].isin(bad_ids)]
            out.append(f"{where.label}: column '{labels.get(col, col)}' has conflicting values within "
                       f"{len(bad_ids)} subject(s) (first: {first!s} at {where.rows(rows)}); got "
                       f"{', '.join(map(repr, map(_plain, vals)))}. Make baseline values agree, "
                       "or declare the covariate time_varying: true (the first value is kept).")
    return out


def _plain(value: object) -> object:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def show(value: object) -> str:
    """``repr`` of a value with NumPy scalars shown as plain Python numbers."""
    return repr(_plain(value))
