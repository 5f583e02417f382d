"""Held-out splits of a dataset for predictive validation.

A "dataset" here is anything with the four canonical tables ``subjects``, ``observations``,
``doses`` and ``events`` (docs/contracts.md): a :class:`twintrial.data.Dataset` (a frozen
dataclass: the split returns copies made with :func:`dataclasses.replace`) or a mapping of table
name to DataFrame (the split returns dicts). Missing tables are allowed.

- **By time** (:func:`split_by_time`): fit on everything observed up to a cutoff, predict later
  observations of the same patients. Doses are kept in both parts (the dosing design is known in
  advance); events are censored at the cutoff in the training part, and the test part keeps the
  patients still at risk at the cutoff.
- **By patient** (:func:`split_by_subjects`): k-fold or a single leave-subjects-out holdout,
  stratified by arm, deterministic given the seed (a stream keyed ``"validation", "split"``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from twintrial.exceptions import AnalysisError
from twintrial.rng import generator

TABLES = ("subjects", "observations", "doses", "events")

#: hours per time unit (month = year / 12, year = 365.25 days; as twintrial.data.units)
HOURS: dict[str, float] = {"h": 1.0, "day": 24.0, "week": 168.0, "month": 24.0 * 365.25 / 12.0,
                           "year": 24.0 * 365.25}


@dataclass(frozen=True)
class Split:
    """One train/test split: ``name`` (e.g. ``"fold 2/5"``), ``train`` and ``test`` datasets."""

    name: str
    train: Any
    test: Any
    test_ids: tuple[str, ...]


def _tables(data: Any) -> dict[str, pd.DataFrame]:
    if isinstance(data, Mapping):
        return {k: data[k] for k in TABLES if k in data}
    if not dataclasses.is_dataclass(data):
        raise AnalysisError(f"data: expected a Dataset or a mapping of tables; got {type(data).__name__}.")
    return {k: getattr(data, k) for k in TABLES if getattr(data, k, None) is not None}


def _rebuild(data: Any, tables: dict[str, pd.DataFrame]) -> Any:
    if isinstance(data, Mapping):
        return {**data, **tables}
    return dataclasses.replace(data, **tables)


def convert_time(value: float, unit: str, to_unit: str) -> float:
    """Convert a time between units of :data:`HOURS`."""
    for u in (unit, to_unit):
        if u not in HOURS:
            raise AnalysisError(f"validation.split.cutoff.unit: unknown time unit {u!r}; use one "
                                f"of {', '.join(HOURS)}.")
    return value * HOURS[unit] / HOURS[to_unit]


def split_by_time(data: Any, *, cutoff: float, unit: str | None = None) -> Split:
    """Split every patient's follow-up at ``cutoff`` (time since the dataset's time origin).

    Parameters
    ----------
    data
        Dataset or mapping of tables.
    cutoff
        Training data are observations at ``time <= cutoff``; test data those after it.
    unit
        Unit of ``cutoff``; converted to ``data.time_unit`` when both are known.

    Returns
    -------
    Split
    """
    tabs = _tables(data)
    time_unit = getattr(data, "time_unit", None) or (data.get("time_unit") if isinstance(data, Mapping) else None)
    cut = float(cutoff) if unit is None or time_unit is None else convert_time(cutoff, unit, time_unit)
    train, test = dict(tabs), dict(tabs)
    if "observations" in tabs:
        obs = tabs["observations"]
        after = obs["time"].to_numpy(dtype=np.float64) > cut
        train["observations"], test["observations"] = obs[~after], obs[after]
    test_ids: set[str] = set()
    if "observations" in test:
        test_ids |= set(test["observations"]["id"].astype(str))
    if "events" in tabs:
        ev = tabs["events"]
        t = ev["time"].to_numpy(dtype=np.float64)
        later = t > cut
        train["events"] = ev.assign(time=np.minimum(t, cut),
                                    event=np.where(later, 0, ev["event"].to_numpy()).astype(np.int8))
        test["events"] = ev[later]
        test_ids |= set(ev.loc[later, "id"].astype(str))
    if not test_ids:
        raise AnalysisError(f"validation.split.cutoff: no observation or event after the cutoff "
                            f"{cut:g}; choose an earlier cutoff.")
    if "subjects" in tabs:
        subj = tabs["subjects"]
        test["subjects"] = subj[subj["id"].astype(str).isin(test_ids)]
    return Split(f"time cutoff {cut:g}", _rebuild(data, train), _rebuild(data, test),
                 tuple(sorted(test_ids)))


def subject_folds(ids: pd.Series, *, k: int | None = None, holdout_fraction: float | None = None,
                  strata: pd.Series | None = None, seed: int = 0) -> list[np.ndarray]:
    """Assign patients to held-out groups (a list of arrays of test ids), stratified.

    Exactly one of ``k`` (k-fold: every patient held out once) or ``holdout_fraction`` (one
    group of ``round(fraction * n)`` patients per stratum) must be given.
    """
    if (k is None) == (holdout_fraction is None):
        raise AnalysisError("validation.split: give exactly one of k or holdout_fraction.")
    uid = pd.Series(pd.unique(ids.astype(str)))
    if k is not None and not 2 <= k <= uid.size:
        raise AnalysisError(f"validation.split.k: must be between 2 and the number of patients "
                            f"({uid.size}); got {k}.")
    if holdout_fraction is not None and not 0 < holdout_fraction < 1:
        raise AnalysisError(f"validation.split.holdout_fraction: must be in (0, 1); got {holdout_fraction}.")
    rng = generator(seed, "validation", "split")
    order = np.sort(uid.to_numpy(dtype=str))  # independent of input row order
    if strata is None:
        st = np.zeros(order.size, dtype=np.int64)
    else:
        lab = strata.astype(object).where(strata.notna(), "<NA>").astype(str).to_numpy()
        per_id = pd.Series(lab, index=ids.astype(str).to_numpy()).groupby(level=0).first()
        st = pd.Categorical(per_id.reindex(order).fillna("<NA>")).codes.astype(np.int64)
    n_groups = k if k is not None else 1
    groups: list[list[str]] = [[] for _ in range(n_groups)]
    offset = 0
    for s in np.unique(st):
        members = order[st == s][rng.permutation(int(np.sum(st == s)))]
        if k is not None:
            for j, pid in enumerate(members):
                groups[(j + offset) % k].append(pid)
            offset += members.size
        else:
            groups[0].extend(members[: int(round(holdout_fraction * members.size))])
    return [np.sort(np.asarray(g, dtype=str)) for g in groups]


def split_by_subjects(data: Any, *, k: int | None = None, holdout_fraction: float | None = None,
                      stratify: str | None = "arm", seed: int = 0) -> list[Split]:
    """K-fold or leave-subjects-out splits of the patients, stratified by ``stratify``.

    Parameters
    ----------
    data
        Dataset or mapping of tables; must contain ``subjects``.
    k, holdout_fraction
        Exactly one: number of folds, or the fraction of patients held out once.
    stratify
        Column of ``subjects`` to stratify by (ignored if absent).
    seed
        Base seed; the same seed gives the same folds.

    Returns
    -------
    list of Split
    """
    tabs = _tables(data)
    if "subjects" not in tabs:
        raise AnalysisError("data: a subject-wise split needs the subjects table.")
    subj = tabs["subjects"]
    strata = subj[stratify] if stratify is not None and stratify in subj.columns else None
    folds = subject_folds(subj["id"], k=k, holdout_fraction=holdout_fraction, strata=strata, seed=seed)
    out = []
    for j, test_ids in enumerate(folds):
        train, test = {}, {}
        for name, df in tabs.items():
            held = df["id"].astype(str).isin(test_ids).to_numpy()
            train[name], test[name] = df[~held], df[held]
        name = f"fold {j + 1}/{len(folds)}" if k is not None else f"holdout {holdout_fraction:g}"
        out.append(Split(name, _rebuild(data, train), _rebuild(data, test), tuple(test_ids)))
    return out
