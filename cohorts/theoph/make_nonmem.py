"""Regenerate ``theoph_nonmem.csv`` (NONMEM-style) from ``pk_theoph.csv`` (R ``datasets::Theoph``).

Run from the project root: ``python cohorts/theoph/make_nonmem.py``.

One dose row per subject at TIME 0 (EVID 1, MDV 1, CMT 1 = depot, AMT = Dose [mg/kg] x Wt [kg] in
mg, rounded to 0.01 mg), then one observation row per sample (EVID 0, MDV 0, CMT 2 = central,
DV = conc in mg/L). The TIME 0 sample is written before the dose row: it is a pre-dose sample
(NONMEM convention), which is why some subjects have a non-zero concentration at time 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def make_nonmem(theoph: pd.DataFrame) -> pd.DataFrame:
    """NONMEM-style table (ID, TIME, DV, AMT, EVID, MDV, CMT, WT) from the Theoph table."""
    rows = []
    for subject, grp in theoph.groupby("Subject", sort=False):
        grp = grp.sort_values("Time", kind="stable")
        wt, dose_mgkg = float(grp["Wt"].iloc[0]), float(grp["Dose"].iloc[0])
        dose = {"ID": int(subject), "TIME": 0.0, "DV": ".", "AMT": round(dose_mgkg * wt, 2),
                "EVID": 1, "MDV": 1, "CMT": 1, "WT": wt}
        samples = [{"ID": int(subject), "TIME": float(t), "DV": float(c), "AMT": 0,
                    "EVID": 0, "MDV": 0, "CMT": 2, "WT": wt}
                   for t, c in zip(grp["Time"], grp["conc"], strict=True)]
        pre = [s for s in samples if s["TIME"] == 0.0]
        post = [s for s in samples if s["TIME"] > 0.0]
        rows += pre + [dose] + post
    return pd.DataFrame(rows, columns=["ID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT", "WT"])


if __name__ == "__main__":
    table = make_nonmem(pd.read_csv(HERE / "pk_theoph.csv"))
    table.to_csv(HERE / "theoph_nonmem.csv", index=False)
    print(f"wrote {HERE / 'theoph_nonmem.csv'}: {len(table)} rows, {table['ID'].nunique()} subjects")
