"""Twin update: add observations (and new patients), refit, report how each prediction changed.

The refit keeps the previous fit's model (with its resolved covariate centres), so population
parameters keep their meaning; when no patient is added, the compiled model is reused and only the
data change (no recompilation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from twintrial.data.dataset import Dataset
from twintrial.twins.fit import TwinFit, fit_twins
from twintrial.twins.posterior import flat_draws, n_samples, predict_grid, thin_indices
from twintrial.twins_config import TwinsConfig


@dataclass
class UpdateResult:
    """The refitted twins, the merged data and the per-patient change table."""

    fit: TwinFit
    dataset: Dataset
    changes: pd.DataFrame


def merge_datasets(old: Dataset, new: Dataset) -> Dataset:
    """Append ``new`` data to ``old``.

    New patients are added to ``subjects`` (known patients keep their baseline covariates);
    observations and doses are appended without exact duplicates; an events row in ``new``
    replaces the old row of that patient (follow-up is longer now).
    """
    known = set(old.subjects["id"].astype(str))
    added = new.subjects[~new.subjects["id"].astype(str).isin(known)]
    subjects = pd.concat([old.subjects, added], ignore_index=True)
    obs = (pd.concat([old.observations, new.observations], ignore_index=True)
           .drop_duplicates(["id", "variable", "time", "value"], keep="last"))
    obs = obs.sort_values(["id", "variable", "time"], kind="stable").reset_index(drop=True)
    doses = (pd.concat([old.doses, new.doses], ignore_index=True)
             .drop_duplicates(["id", "time", "amount", "route"]).reset_index(drop=True))
    replaced = set(new.events["id"].astype(str))
    events = pd.concat([old.events[~old.events["id"].astype(str).isin(replaced)], new.events],
                       ignore_index=True)
    return Dataset(subjects=subjects, observations=obs, doses=doses, events=events,
                   units={**old.units, **new.units}, time_unit=old.time_unit,
                   source={**old.source, **{f"update:{k}": v for k, v in new.source.items()}})


def prediction_changes(before: TwinFit, after: TwinFit, *, n_draws: int = 200,
                       grid_points: int = 50, interval: float = 0.9) -> pd.DataFrame:
    """Per patient: how much the posterior predictive trajectory changed with the new data.

    Both posteriors are evaluated on the same grid, from 0 to the patient's last time in the
    updated data. ``change_mean_abs`` is the mean absolute difference of the median trajectories;
    ``change_rel`` divides it by the mean absolute median before; ``band_before`` and
    ``band_after`` are mean widths of the central ``interval`` band (narrower = more certain).
    """
    ids_after = list(after.data.ids)
    pos_before = {pid: i for i, pid in enumerate(before.data.ids)}
    last = np.where(after.data.last_time > 0, after.data.last_time, 1.0)
    grid = last[:, None] * np.linspace(0.0, 1.0, grid_points)[None, :]
    q = [(1 - interval) / 2, 0.5, (1 + interval) / 2]

    def bands(fit: TwinFit, rows: np.ndarray, pats: np.ndarray) -> np.ndarray:
        idx = thin_indices(n_samples(fit.idata), n_draws)
        ind = flat_draws(fit.idata, "individual")[idx][:, pats]
        design = {k: v[pats] for k, v in fit.data.design.items()}
        f = predict_grid(ind, grid[rows], design, fit.model)
        return np.quantile(f, q, axis=0)                          # (3, n, grid)

    new_counts = np.bincount(after.data.obs_patient, minlength=len(ids_after))
    old_counts = np.zeros(len(ids_after), dtype=np.int64)
    existing = np.array([pid in pos_before for pid in ids_after])
    if existing.any():
        bc = np.bincount(before.data.obs_patient, minlength=before.data.n_patients)
        old_counts[existing] = bc[[pos_before[p] for p, e in zip(ids_after, existing, strict=True) if e]]
    rows = np.flatnonzero(existing)
    b_after = bands(after, np.arange(len(ids_after)), np.arange(len(ids_after)))
    out = pd.DataFrame({"id": ids_after, "status": np.where(existing, "existing", "new"),
                        "n_observations_before": old_counts, "n_observations_after": new_counts,
                        "band_after": (b_after[2] - b_after[0]).mean(axis=1)})
    out["change_mean_abs"] = np.nan
    out["change_rel"] = np.nan
    out["band_before"] = np.nan
    if len(rows):
        pats = np.array([pos_before[ids_after[r]] for r in rows])
        b_before = bands(before, rows, pats)
        diff = np.abs(b_after[1][rows] - b_before[1]).mean(axis=1)
        scale = np.abs(b_before[1]).mean(axis=1)
        out.loc[rows, "change_mean_abs"] = diff
        out.loc[rows, "change_rel"] = diff / np.where(scale > 0, scale, np.nan)
        out.loc[rows, "band_before"] = (b_before[2] - b_before[0]).mean(axis=1)
    return out


def update_twins(previous: TwinFit, old: Dataset, new: Dataset, *, cfg: TwinsConfig | None = None,
                 cache_dir: str | None = None, cores: int | None = None,
                 seed: int) -> UpdateResult:
    """Refit the twins with new observations (and new patients) appended.

    Parameters
    ----------
    previous
        The current twins.
    old
        The data ``previous`` was fitted to.
    new
        New rows (same canonical tables; ``subjects`` must include any new patient).
    cfg
        Twins configuration (default: the previous one).
    cache_dir, cores
        As in :func:`~twintrial.twins.fit.fit_twins`.
    seed
        Sampler seed.

    Returns
    -------
    UpdateResult
        The new fit (gated like any fit), the merged dataset, and the change table from
        :func:`prediction_changes`.
    """
    cfg = cfg or previous.config
    merged = merge_datasets(old, new)
    centers = {f"{t.parameter}:{t.covariate}": t.center for t in previous.data.terms}
    fit = fit_twins(merged, previous.model, cfg, cache_dir=cache_dir, cores=cores,
                    centers=centers, seed=seed)
    changes = prediction_changes(previous, fit, n_draws=cfg.prediction.draws,
                                 grid_points=cfg.prediction.grid_points,
                                 interval=cfg.prediction.interval)
    return UpdateResult(fit=fit, dataset=merged, changes=changes)
