"""The canonical data model: :class:`Dataset` and validation of its four tables.

Adapters (tidy, NONMEM, FHIR) build the tables; :func:`make_dataset` sorts, types and validates
them, so every ``Dataset`` in the program satisfies the contract in ``docs/contracts.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from twintrial.data import units as U
from twintrial.data.checks import show
from twintrial.exceptions import DataError

SUBJECT_KEYS = ("id", "arm")
OBSERVATION_COLUMNS = ("id", "time", "variable", "value", "cens")
DOSE_COLUMNS = ("id", "time", "amount", "route", "duration")
EVENT_COLUMNS = ("id", "time", "event")
ROUTES = ("oral", "iv_bolus", "infusion")


@dataclass(frozen=True)
class Dataset:
    """Patient-level data in canonical form.

    Attributes
    ----------
    subjects
        One row per patient: ``id`` (str), ``arm`` (str or <NA>), then baseline covariates
        (continuous and binary as float64, categorical as str).
    observations
        Long table ``id, time, variable, value, cens`` sorted by id, variable, time.
    doses
        ``id, time, amount, route, duration``.
    events
        ``id, time, event`` (1 event, 0 censored).
    units
        Unit of every variable and covariate that has one, and of ``amount``.
    time_unit
        Unit of every ``time`` column.
    source
        Input paths used, by role (for provenance hashing).
    """

    subjects: pd.DataFrame
    observations: pd.DataFrame
    doses: pd.DataFrame
    events: pd.DataFrame
    units: dict[str, str] = field(default_factory=dict)
    time_unit: str = "h"
    source: dict[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        """Subject ids in table order."""
        return self.subjects["id"].tolist()

    @property
    def variables(self) -> list[str]:
        """Observed variable names (sorted)."""
        return sorted(self.observations["variable"].unique().tolist())


# --------------------------------------------------------------------------- construction helpers
def id_sort_key(ids: pd.Series) -> pd.Series:
    """A sort key for ids: numeric order when every id is a number, text order otherwise."""
    codes, uniques = pd.factorize(ids)
    text = pd.Series(np.asarray(uniques, dtype=object)).astype(str)
    num = pd.to_numeric(text, errors="coerce")
    if num.notna().all():
        key = num.to_numpy(dtype=np.float64)
    else:
        key = np.empty(len(text), dtype=np.int64)
        key[np.argsort(text.to_numpy(dtype=object), kind="stable")] = np.arange(len(text))
    return pd.Series(key[codes], index=ids.index)


def ids_in(ids: pd.Series, members: object) -> np.ndarray:
    """Boolean mask: which of ``ids`` are in ``members`` (hash lookup, fast for text ids)."""
    index = pd.Index(pd.unique(np.asarray(list(members) if isinstance(members, (set, frozenset))
                                          else members, dtype=object)))
    return index.get_indexer(ids.to_numpy(dtype=object)) >= 0


def empty_observations() -> pd.DataFrame:
    """An empty observations table with canonical dtypes."""
    return _typed_observations(pd.DataFrame({c: [] for c in OBSERVATION_COLUMNS}))


def empty_doses() -> pd.DataFrame:
    """An empty doses table with canonical dtypes."""
    return _typed_doses(pd.DataFrame({c: [] for c in DOSE_COLUMNS}))


def empty_events() -> pd.DataFrame:
    """An empty events table with canonical dtypes."""
    return _typed_events(pd.DataFrame({c: [] for c in EVENT_COLUMNS}))


def _typed_observations(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "id": df["id"].astype(str).astype("str"),
        "time": df["time"].astype(np.float64),
        "variable": df["variable"].astype(str).astype("str"),
        "value": df["value"].astype(np.float64),
        "cens": df["cens"].fillna(0).astype(np.int8),
    })
    if len(out):
        key = id_sort_key(out["id"])
        out = (out.assign(_k=key).sort_values(["_k", "variable", "time"], kind="stable")
               .drop(columns="_k"))
    return out.reset_index(drop=True)


def _typed_doses(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "id": df["id"].astype(str).astype("str"),
        "time": df["time"].astype(np.float64),
        "amount": df["amount"].astype(np.float64),
        "route": df["route"].astype(str).astype("str"),
        "duration": df["duration"].fillna(0.0).astype(np.float64),
    })
    if len(out):
        key = id_sort_key(out["id"])
        out = out.assign(_k=key).sort_values(["_k", "time"], kind="stable").drop(columns="_k")
    return out.reset_index(drop=True)


def _typed_events(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "id": df["id"].astype(str).astype("str"),
        "time": df["time"].astype(np.float64),
        "event": df["event"].astype(np.int8),
    })
    if len(out):
        key = id_sort_key(out["id"])
        out = out.assign(_k=key).sort_values(["_k"], kind="stable").drop(columns="_k")
    return out.reset_index(drop=True)


def _typed_subjects(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["id"] = out["id"].astype(str).astype("str")
    if "arm" not in out.columns:
        out["arm"] = pd.NA
    out["arm"] = out["arm"].astype("str")
    cols = ["id", "arm"] + [c for c in out.columns if c not in SUBJECT_KEYS]
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------- validation
def validate_subjects(df: pd.DataFrame, *, where: str = "subjects") -> pd.DataFrame:
    """Check the canonical subjects table; raise :class:`DataError` listing every problem."""
    problems = []
    for col in SUBJECT_KEYS:
        if col not in df.columns:
            problems.append(f"{where}: column '{col}' missing from the canonical subjects table.")
    if problems:
        raise DataError(problems)
    if len(df) == 0:
        problems.append(f"{where}: no subjects. Check the input file and the filter.")
    dup = df["id"].duplicated(keep=False)
    if dup.any():
        problems.append(f"{where}: {int(df['id'][dup].nunique())} duplicated subject id(s); got "
                        f"{show(df['id'][dup].iloc[0])}. Give each subject one row.")
    if df["id"].isna().any():
        problems.append(f"{where}: {int(df['id'].isna().sum())} subject(s) without an id.")
    for col in df.columns:
        if col in SUBJECT_KEYS:
            continue
        s = df[col]
        if not (pd.api.types.is_float_dtype(s) or pd.api.types.is_string_dtype(s)
                or isinstance(s.dtype, pd.CategoricalDtype)):
            problems.append(f"{where}: covariate '{col}' has dtype {s.dtype}; expected float64 "
                            "(continuous/binary) or str (categorical).")
    if problems:
        raise DataError(problems)
    return df


def _check_table(df: pd.DataFrame, columns: tuple[str, ...], where: str,
                 nonneg: tuple[str, ...]) -> list[str]:
    problems = [f"{where}: column '{c}' missing from the canonical table."
                for c in columns if c not in df.columns]
    if problems:
        return problems
    for col in nonneg:
        values = df[col]
        if values.isna().any():
            problems.append(f"{where}: column '{col}' has {int(values.isna().sum())} missing "
                            "value(s). Drop or fill those rows.")
        bad = values < 0
        if bad.any():
            problems.append(f"{where}: column '{col}' has {int(bad.sum())} negative value(s); "
                            f"got {show(values[bad].iloc[0])}. Must be >= 0.")
    return problems


def validate_observations(df: pd.DataFrame, *, where: str = "observations") -> pd.DataFrame:
    """Check the canonical observations table (columns, non-negative times, finite values)."""
    problems = _check_table(df, OBSERVATION_COLUMNS, where, ("time",))
    if not problems:
        bad = ~np.isfinite(df["value"].to_numpy(dtype=np.float64))
        if bad.any():
            problems.append(f"{where}: column 'value' has {int(bad.sum())} missing or infinite "
                            "value(s). Drop rows without a measurement.")
        if not df["cens"].isin([0, 1]).all():
            problems.append(f"{where}: column 'cens' must be 0 (observed) or 1 (below LLOQ).")
    if problems:
        raise DataError(problems)
    return df


def validate_doses(df: pd.DataFrame, *, where: str = "doses") -> pd.DataFrame:
    """Check the canonical doses table (non-negative times and amounts, known routes)."""
    problems = _check_table(df, DOSE_COLUMNS, where, ("time", "amount", "duration"))
    if not problems:
        bad = ~df["route"].isin(ROUTES)
        if bad.any():
            problems.append(f"{where}: column 'route' has unknown route(s); got "
                            f"{show(df['route'][bad].iloc[0])}. Use one of {', '.join(ROUTES)}.")
        inf = df["route"].eq("infusion") & ~(df["duration"] > 0)
        if inf.any():
            problems.append(f"{where}: {int(inf.sum())} infusion dose(s) without a positive "
                            "duration. Give RATE or a duration column.")
    if problems:
        raise DataError(problems)
    return df


def validate_events(df: pd.DataFrame, *, where: str = "events") -> pd.DataFrame:
    """Check the canonical events table (one row per subject, times >= 0, event 0/1)."""
    problems = _check_table(df, EVENT_COLUMNS, where, ("time",))
    if not problems:
        if df["id"].duplicated().any():
            problems.append(f"{where}: more than one event row for subject "
                            f"{show(df['id'][df['id'].duplicated()].iloc[0])}. Give one row each.")
        if not df["event"].isin([0, 1]).all():
            problems.append(f"{where}: column 'event' must be 0 (censored) or 1 (event).")
    if problems:
        raise DataError(problems)
    return df


def make_dataset(subjects: pd.DataFrame, *, observations: pd.DataFrame | None = None,
                 doses: pd.DataFrame | None = None, events: pd.DataFrame | None = None,
                 units: Mapping[str, str] | None = None, time_unit: str = "h",
                 source: Mapping[str, str] | None = None) -> Dataset:
    """Type, sort and validate the four tables and return a :class:`Dataset`.

    Raises
    ------
    DataError
        If a table violates the canonical model, or a table refers to an unknown subject.
    """
    subj = validate_subjects(_typed_subjects(subjects))
    obs = validate_observations(empty_observations() if observations is None
                                else _typed_observations(observations))
    dos = validate_doses(empty_doses() if doses is None else _typed_doses(doses))
    evt = validate_events(empty_events() if events is None else _typed_events(events))
    problems = []
    for name, table in (("observations", obs), ("doses", dos), ("events", evt)):
        unknown = ~ids_in(table["id"], subj["id"])
        stray = sorted(pd.unique(table["id"].to_numpy(dtype=object)[unknown]).tolist())
        if stray:
            problems.append(f"{name}: {len(stray)} subject id(s) not in the subjects table; got "
                            f"{', '.join(map(repr, stray[:5]))}. Check the id columns match.")
    unit_map = dict(units or {})
    for name, unit in unit_map.items():
        if not U.is_known_unit(unit):
            problems.append(f"units.{name}: unknown unit; got {unit!r}. "
                            f"Known units: {', '.join(U.known_units())}.")
    if time_unit not in U.TIME_UNITS:
        problems.append(f"time_unit: must be one of {', '.join(U.TIME_UNITS)}; got {time_unit!r}.")
    if problems:
        raise DataError(problems)
    return Dataset(subjects=subj, observations=obs, doses=dos, events=evt,
                   units={k: U.canonical_unit(v) for k, v in unit_map.items()},
                   time_unit=time_unit, source=dict(source or {}))


def dataset_summary(ds: Dataset) -> dict[str, Any]:
    """Numbers the report shows about a dataset.

    Returns
    -------
    dict
        ``n_subjects``, ``arms`` (count per arm, ``"<NA>"`` for unknown), ``observations``
        (per variable: n, subjects, median per subject), ``follow_up`` (max observation or
        event time per subject: median, max), ``events`` (n, events, censored),
        ``n_observations_after_event_time`` (measurements later than the subject's event or
        censoring time), ``doses`` (n, subjects), ``missing`` (missing covariate values per
        subjects column) and units.
    """
    subj = ds.subjects
    arms = subj["arm"].astype(object).where(subj["arm"].notna(), "<NA>").value_counts()
    obs = ds.observations
    per_var: dict[str, Any] = {}
    for var, grp in obs.groupby("variable", sort=True):
        counts = grp.groupby("id").size()
        per_var[str(var)] = {"n": int(len(grp)), "subjects": int(counts.size),
                             "median_per_subject": float(counts.median()),
                             "n_below_lloq": int(grp["cens"].sum())}
    last = pd.concat([obs[["id", "time"]], ds.events[["id", "time"]]]).groupby("id")["time"].max()
    follow = ({"median": float(last.median()), "max": float(last.max()), "unit": ds.time_unit}
              if len(last) else {"median": None, "max": None, "unit": ds.time_unit})
    evt = ds.events
    after = 0
    if len(evt) and len(obs):
        end = obs["id"].map(evt.set_index("id")["time"])
        after = int((obs["time"] > end).sum())
    return {
        "n_subjects": int(len(subj)),
        "arms": {str(k): int(v) for k, v in arms.sort_index().items()},
        "observations": per_var,
        "n_observations": int(len(obs)),
        "n_observations_after_event_time": after,
        "follow_up": follow,
        "events": {"n": int(len(evt)), "events": int(evt["event"].sum()),
                   "censored": int((evt["event"] == 0).sum())},
        "doses": {"n": int(len(ds.doses)), "subjects": int(ds.doses["id"].nunique())},
        "missing": {str(c): int(subj[c].isna().sum()) for c in subj.columns
                    if c not in SUBJECT_KEYS},
        "units": dict(ds.units),
        "time_unit": ds.time_unit,
        "source": dict(ds.source),
    }
