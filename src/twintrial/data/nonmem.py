"""NONMEM-style event table adapter (ID, TIME, DV, AMT, EVID, MDV, CMT, RATE, CENS/BLQ, ADDL, II).

Rows: EVID 0 observation (unless MDV = 1), EVID 1 dose, EVID 2 other (ignored); EVID 3/4 (resets)
are not supported. RATE > 0 makes an infusion of duration AMT/RATE; ADDL/II expand to additional
doses. CENS (or BLQ) = 1 marks a result below the LLOQ with DV holding the LLOQ (M3 convention).
Baseline covariates are taken at the first row of each ID; values that change within an ID are an
error unless the covariate is declared ``time_varying`` (the first value is kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from twintrial.data import units as U
from twintrial.data.checks import (
    Where,
    check_columns,
    check_missing,
    check_monotone_time,
    check_nonnegative,
    show,
    to_numeric,
)
from twintrial.data.common import (
    arm_values,
    as_text,
    covariate_columns,
    ids_from,
    one_row_per_subject,
    read_table_file,
    resolve_path,
    source_labels,
)
from twintrial.data.config import NonmemConfig
from twintrial.data.dataset import Dataset, make_dataset
from twintrial.exceptions import DataError

REQUIRED = ("ID", "TIME", "DV", "AMT", "EVID")
OPTIONAL = ("MDV", "CMT", "RATE", "CENS", "ADDL", "II")


def _optional(df: pd.DataFrame, cfg: NonmemConfig) -> dict[str, str]:
    """Optional NONMEM items present in the file (``CENS`` also found as ``BLQ``)."""
    out = {}
    for item in OPTIONAL:
        col = cfg.column(item)
        if col in df.columns:
            out[item] = col
        elif item == "CENS" and item not in cfg.columns and "BLQ" in df.columns:
            out[item] = "BLQ"
    return out


def _by_cmt(num: dict[str, pd.Series], cfg: NonmemConfig, is_obs: pd.Series,
            units: Mapping[str, str], out_units: dict[str, str], *, where: Where,
            column: str | None) -> tuple[pd.Series, pd.Series]:
    """Variable name and converted DV per row from ``cfg.cmt_variables``."""
    if column is None:
        raise DataError(f"{where.label}: column '{cfg.column('CMT')}' not found; "
                        "data.nonmem.cmt_variables needs a CMT column.")
    cmt = as_text(num["CMT"])
    variable = cmt.map({k: v[0] for k, v in cfg.cmt_variables.items()})
    bad = is_obs & variable.isna()
    if bad.any():
        vals = sorted(set(cmt[bad].fillna("<NA>")))
        raise DataError(f"{where.label}: column '{column}' has {int(bad.sum())} observation "
                        f"row(s) with a CMT not in data.nonmem.cmt_variables at "
                        f"{where.rows(bad.index[bad])}; got {', '.join(map(repr, vals[:5]))}. "
                        "Map every observed CMT.")
    dv = num["DV"].copy()
    for key, (name, unit) in cfg.cmt_variables.items():
        if unit:
            target = units.get(name, unit)
            rows = cmt == key
            dv[rows] = dv[rows] * U.conversion_factor(unit, target)
            out_units[name] = U.canonical_unit(target)
    return variable.astype("str"), dv


def load_nonmem(cfg: NonmemConfig, *, time_unit: str = "h", units: Mapping[str, str] | None = None,
                base_dir: str | Path | None = None) -> Dataset:
    """Load a NONMEM-style CSV as a canonical :class:`Dataset`.

    Parameters
    ----------
    cfg
        ``data.nonmem``: path, column names, DV variable and unit, amount unit, covariates.
    time_unit
        The dataset's time unit (``TIME`` is converted from ``cfg.time_unit``).
    units
        Declared units (``data.units``): targets for DV, covariates and ``amount``.
    base_dir
        Directory the configured path is relative to.
    """
    units = dict(units or {})
    df, where = read_table_file(resolve_path(cfg.path, base_dir), label=cfg.path,
                                text_columns=[cfg.column("ID")])
    cols = {f"data.nonmem.columns.{k}": cfg.column(k) for k in REQUIRED}
    if cfg.arm:
        cols["data.nonmem.arm.column"] = cfg.arm.column
    cols |= {f"data.nonmem.covariates.{c.name}.column": c.column for c in cfg.covariates}
    problems = check_columns(df, cols, where=where)
    if problems:
        raise DataError(problems)
    opt = _optional(df, cfg)
    c = {k: cfg.column(k) for k in REQUIRED} | opt
    ids, problems = ids_from(df[c["ID"]], where=where, column=c["ID"])
    num: dict[str, pd.Series] = {}
    for item in ("TIME", "DV", "AMT", "EVID", *opt):
        num[item], p = to_numeric(df[c[item]], where=where, column=c[item])
        problems += p
    if problems:
        raise DataError(problems)
    problems += check_missing(num["TIME"], where=where, column=c["TIME"])
    problems += check_missing(num["EVID"], where=where, column=c["EVID"])
    problems += check_nonnegative(num["TIME"], where=where, column=c["TIME"])
    problems += check_monotone_time(pd.DataFrame({c["ID"]: ids, c["TIME"]: num["TIME"]}),
                                    id_col=c["ID"], time_col=c["TIME"], where=where)
    evid = num["EVID"]
    unsupported = ~evid.isin([0, 1, 2]) & evid.notna()
    if unsupported.any():
        problems.append(f"{where.label}: column '{c['EVID']}' has {int(unsupported.sum())} "
                        f"unsupported value(s) at {where.rows(df.index[unsupported])}; got "
                        f"{show(evid[unsupported].iloc[0])}. Use 0 (observation), 1 (dose) or 2 (other).")
    mdv = num.get("MDV", pd.Series(0.0, index=df.index)).fillna(0)
    is_obs = (evid == 0) & (mdv == 0)
    is_dose = evid == 1
    amt = num["AMT"]
    bad_amt = is_dose & ~(amt > 0)
    if bad_amt.any():
        problems.append(f"{where.label}: column '{c['AMT']}' must be > 0 on dose rows (EVID 1); "
                        f"{int(bad_amt.sum())} row(s) at {where.rows(df.index[bad_amt])}; got "
                        f"{show(amt[bad_amt].iloc[0])}. Give the dose amount.")
    if "RATE" in num:
        neg = is_dose & (num["RATE"] < 0)
        if neg.any():
            problems.append(f"{where.label}: column '{c['RATE']}' has {int(neg.sum())} negative "
                            f"value(s) at {where.rows(df.index[neg])}; got "
                            f"{show(num['RATE'][neg].iloc[0])}. Modelled rates/durations (-1, -2) "
                            "are not supported: give RATE = AMT / duration.")
    if "ADDL" in num and "II" in num:
        no_ii = is_dose & (num["ADDL"].fillna(0) > 0) & ~(num["II"] > 0)
        if no_ii.any():
            problems.append(f"{where.label}: column '{c['II']}' must be > 0 where ADDL > 0; "
                            f"{int(no_ii.sum())} row(s) at {where.rows(df.index[no_ii])}. "
                            "Give the dosing interval.")
    wc = cfg.weight_covariate
    if wc and wc not in {cv.name for cv in cfg.covariates}:
        problems.append(f"data.nonmem.weight_covariate: {wc!r} is not a configured covariate; "
                        "add it under data.nonmem.covariates.")
    dv_missing = is_obs & num["DV"].isna()
    if dv_missing.any():
        problems.append(f"{where.label}: column '{c['DV']}' is missing on {int(dv_missing.sum())} "
                        f"observation row(s) at {where.rows(df.index[dv_missing])}. Set MDV=1 on "
                        "rows without a measurement.")
    # baseline covariates and arm at the first row per ID
    arm, p = arm_values(df, cfg.arm, where=where)
    problems += p
    covs, p2, cov_units = covariate_columns(df, cfg.covariates, where=where, target_units=units)
    problems += p2
    subj = pd.concat([pd.DataFrame({"id": ids, "arm": arm}), covs], axis=1)
    check = [cv.name for cv in cfg.covariates if not cv.time_varying] + ["arm"]
    subjects, p3 = one_row_per_subject(subj, id_col="id", check=check, where=where,
                                       labels=source_labels(cfg.covariates, cfg.arm))
    problems += p3
    if problems:
        raise DataError(problems)
    tfac = U.conversion_factor(cfg.time_unit, time_unit)
    # observations
    cens = num.get("CENS", pd.Series(0.0, index=df.index)).fillna(0)
    dv = num["DV"]
    out_units = dict(cov_units)
    if cfg.dv_unit:
        target = units.get(cfg.dv_variable, cfg.dv_unit)
        dv = dv * U.conversion_factor(cfg.dv_unit, target)
        out_units[cfg.dv_variable] = U.canonical_unit(target)
    variable = pd.Series(cfg.dv_variable, index=df.index, dtype="str")
    if cfg.cmt_variables:
        variable, dv = _by_cmt(num, cfg, is_obs, units, out_units, where=where, column=c.get("CMT"))
    obs = pd.DataFrame({"id": ids[is_obs], "time": num["TIME"][is_obs] * tfac,
                        "variable": variable[is_obs], "value": dv[is_obs],
                        "cens": (cens[is_obs] > 0).astype(np.int8)})
    # doses (+ ADDL/II expansion, RATE -> infusion)
    amount_unit = U.canonical_unit(units.get(
        "amount", "mg" if U.dimension(cfg.amount_unit) == "dose_per_kg" else cfg.amount_unit))
    weight = None
    if U.dimension(cfg.amount_unit) == "dose_per_kg":
        if not cfg.weight_covariate:
            raise DataError(f"data.nonmem.weight_covariate: required for per-kg amounts "
                            f"({cfg.amount_unit!r}); name the weight covariate (kg).")
        weight = subj.loc[is_dose, cfg.weight_covariate].to_numpy()
    amount = U.convert_dose(amt[is_dose].to_numpy(), cfg.amount_unit, amount_unit,
                            weight_kg=weight)
    rate = num.get("RATE", pd.Series(0.0, index=df.index)).fillna(0)[is_dose].to_numpy()
    infusion = rate > 0
    duration = np.where(infusion, amt[is_dose].to_numpy() / np.where(infusion, rate, 1.0), 0.0)
    doses = pd.DataFrame({"id": ids[is_dose].to_numpy(), "time": num["TIME"][is_dose].to_numpy(),
                          "amount": amount, "route": np.where(infusion, "infusion", cfg.route),
                          "duration": duration})
    if "ADDL" in opt and "II" in opt:
        addl = num["ADDL"].fillna(0)[is_dose].astype(int).to_numpy()
        ii = num["II"].fillna(0)[is_dose].to_numpy()
        reps = np.repeat(np.arange(len(doses)), addl + 1)
        starts = np.repeat(np.cumsum(addl + 1) - (addl + 1), addl + 1)
        k = np.arange(len(reps)) - starts  # 0..ADDL within each dose record
        doses = doses.iloc[reps].reset_index(drop=True)
        doses["time"] = doses["time"].to_numpy() + k * ii[reps]
    doses["time"] = doses["time"] * tfac
    doses["duration"] = doses["duration"] * tfac
    out_units["amount"] = amount_unit
    return make_dataset(subjects, observations=obs, doses=doses, units=out_units,
                        time_unit=time_unit, source={"nonmem": cfg.path})
