"""Simulated one-compartment PK datasets with known population values (twins and validation tests).

Generated from the model itself, so a correct fit must recover the true values and a correct
validation must find nominal coverage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twintrial.data.dataset import Dataset
from twintrial.models import get_model
from twintrial.models.backend import NUMPY

TRUE = {"ka": 1.5, "CL": 2.8, "V": 32.0}
OMEGA = {"ka": 0.4, "CL": 0.25, "V": 0.15}
TIMES = np.array([0.25, 0.5, 1.0, 2.0, 3.5, 5.0, 7.0, 9.0, 12.0, 24.0])


def simulate_pk(n: int, seed: int, times: np.ndarray = TIMES) -> Dataset:
    """Data from the model itself with known population parameters (combined error)."""
    rng = np.random.default_rng(seed)
    model = get_model("pk_1cmt_oral")
    wt = rng.uniform(55, 90, n)
    ids = [f"p{i:03d}" for i in range(n)]
    params = {p: TRUE[p] * np.exp(OMEGA[p] * rng.standard_normal(n)) for p in TRUE}
    params["CL"] *= (wt / 70) ** 0.75
    params["V"] *= wt / 70
    dose = np.full(n, 320.0)
    design = {"dose_time": np.zeros((n, 1)), "dose_amount": dose[:, None]}
    f = model.predict(NUMPY, {k: v[:, None] for k, v in params.items()}, times[None, :],
                      {k: v[:, None, :] for k, v in design.items()})
    y = f + np.sqrt(0.1 ** 2 + (0.1 * f) ** 2) * rng.standard_normal(f.shape)
    obs = pd.DataFrame({"id": np.repeat(ids, len(times)), "time": np.tile(times, n),
                        "variable": "conc", "value": y.ravel(), "cens": np.int8(0)})
    subjects = pd.DataFrame({"id": ids, "arm": pd.Series([pd.NA] * n, dtype="str"), "wt": wt})
    doses = pd.DataFrame({"id": ids, "time": 0.0, "amount": dose, "route": "oral",
                          "duration": 0.0})
    events = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": pd.Series([], dtype=float),
                           "event": pd.Series([], dtype=np.int8)})
    return Dataset(subjects, obs, doses, events, time_unit="h")


TINY_TIMES = np.array([0.5, 1.0, 2.0, 4.0, 6.0, 9.0, 12.0, 24.0])


def tiny_pk(n: int = 10, seed: int = 4) -> Dataset:
    """Data simulated from the one-compartment model itself (known population values)."""
    rng = np.random.default_rng(seed)
    model = get_model("pk_1cmt_oral")
    ids = [f"s{i:02d}" for i in range(n)]
    wt = rng.uniform(55, 90, n)
    p = {"ka": 1.5 * np.exp(0.3 * rng.standard_normal(n)),
         "CL": 2.8 * (wt / 70) ** 0.75 * np.exp(0.25 * rng.standard_normal(n)),
         "V": 32.0 * (wt / 70) * np.exp(0.15 * rng.standard_normal(n))}
    design = {"dose_time": np.zeros((n, 1, 1)), "dose_amount": np.full((n, 1, 1), 320.0)}
    f = model.predict(NUMPY, {k: v[:, None] for k, v in p.items()}, TINY_TIMES[None, :], design)
    y = f + np.sqrt(0.1**2 + (0.1 * f) ** 2) * rng.standard_normal(f.shape)
    obs = pd.DataFrame({"id": np.repeat(ids, TINY_TIMES.size), "time": np.tile(TINY_TIMES, n),
                        "variable": "conc", "value": y.ravel(), "cens": np.int8(0)})
    subjects = pd.DataFrame({"id": ids, "arm": pd.Series([pd.NA] * n, dtype="str"), "wt": wt})
    doses = pd.DataFrame({"id": ids, "time": 0.0, "amount": 320.0, "route": "oral", "duration": 0.0})
    events = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": pd.Series([], dtype=float),
                           "event": pd.Series([], dtype=np.int8)})
    return Dataset(subjects, obs, doses, events, units={"conc": "mg/L", "wt": "kg"}, time_unit="h")
