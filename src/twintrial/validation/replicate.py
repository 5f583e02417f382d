"""Trial-level validation: simulate a completed trial many times and compare with what it observed.

The completed trial is re-run in silico with its own patients (covariates and randomized arm, so the
arm sizes are the trial's), its own follow-up, and twins drawn from the population posterior
(:func:`~twintrial.twins.virtual.sample_virtual_patients`, conditioned on the baseline biomarker
like the arms stage). Replicate ``r`` of patient ``i`` is virtual patient ``vid = r * n + i``.

Follow-up (administrative censoring): a patient censored in the trial keeps his observed
censoring time as potential follow-up; a patient who had an event has an unknown potential
follow-up, drawn per replicate from the censoring times of the censored patients that exceed
his event time (the empirical conditional censoring distribution; the largest censoring time
when none does). Streams: ``(seed, "validation", "trial", "followup")`` and
``(seed, "validation", "trial", "events")``.

For every replicate the same quantities as the observed comparator are computed: the Cox hazard
ratio of treatment vs control (``hr``, also ``effect``) and each arm's Kaplan-Meier survival at the
landmarks (``<arm>:survival@<t>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twintrial.exceptions import AnalysisError
from twintrial.models.simulate import simulate_event_times
from twintrial.rng import generator, job_seed
from twintrial.validation.survival import kaplan_meier, km_at, step_at
from twintrial.validation.trial_level import cox_hazard_ratio

FloatArray = npt.NDArray[np.float64]


def trial_patients(dataset: Any, *, control: str, treatment: str) -> pd.DataFrame:
    """Randomized patients of the two arms with their observed ``time`` and ``event``.

    Raises
    ------
    AnalysisError
        If an arm is absent or the dataset has no events.
    """
    subj = dataset.subjects.assign(id=dataset.subjects["id"].astype(str))
    arms = subj["arm"].astype(object).where(subj["arm"].notna(), "<NA>").astype(str)
    for a in (control, treatment):
        if not (arms == a).any():
            raise AnalysisError(f"validation.trial_replication: arm '{a}' not in the data; got "
                                f"{sorted(arms.unique())}. Name the arms as in subjects.arm.")
    ev = dataset.events
    if ev is None or len(ev) == 0:
        raise AnalysisError("validation.trial_replication: the data have no events table; a "
                            "time-to-event replication needs each patient's time and event.")
    ev = ev.assign(id=ev["id"].astype(str)).drop_duplicates("id", keep="last")
    out = subj[arms.isin([control, treatment]).to_numpy()].merge(
        ev[["id", "time", "event"]], on="id", how="inner")
    out["arm"] = out["arm"].astype(str)
    return out.reset_index(drop=True)


def potential_followup(time: npt.ArrayLike, event: npt.ArrayLike, n_replicates: int, *,
                       seed: int) -> FloatArray:
    """``(R, n)`` administrative censoring times (see the module docstring)."""
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    cens = np.sort(t[e == 0])
    out = np.broadcast_to(t, (n_replicates, t.size)).copy()
    if cens.size == 0:
        out[:, e == 1] = t.max()
        return out
    rng = generator(seed, "validation", "trial", "followup")
    u = rng.uniform(size=(n_replicates, t.size))
    for i in np.flatnonzero(e == 1):
        pool = cens[cens > t[i]]
        if pool.size == 0:
            out[:, i] = cens[-1] if cens[-1] > t[i] else t[i]
        else:
            out[:, i] = pool[np.minimum((u[:, i] * pool.size).astype(np.int64), pool.size - 1)]
    return out


def simulate_completed_trial(fit: Any, patients: pd.DataFrame, doses: pd.DataFrame | None, *,
                             control: str, treatment: str, landmarks: Sequence[float] = (),
                             n_replicates: int = 200, condition_on_baseline: bool = True,
                             grid: npt.ArrayLike | None = None, seed: int) -> dict[str, Any]:
    """Simulate the completed trial ``n_replicates`` times.

    Parameters
    ----------
    fit
        A :class:`~twintrial.twins.fit.TwinFit` with an event submodel.
    patients
        From :func:`trial_patients` (covariates, ``arm``, observed ``time``/``event``).
    landmarks
        Times (data unit) of the arm-level survival summaries.
    grid
        Optional times at which each replicate's arm KM curves are also returned (figures).

    Returns
    -------
    dict
        ``predicted``: quantity name -> ``(R,)`` draws (``hr``, ``effect``, ``log_hr``,
        ``<arm>:survival@<t>``, ``<arm>:events``); ``km_grid``: arm -> ``(R, len(grid))``;
        ``n_events``: ``(R,)``.
    """
    from twintrial.twins.virtual import sample_virtual_patients

    model = fit.model
    if model.event is None:
        raise AnalysisError(f"validation.trial_replication: model '{model.name}' has no "
                            "time-to-event submodel; the replication compares event outcomes.")
    n, r = len(patients), int(n_replicates)
    if r < 2:
        raise AnalysisError(f"n_replicates: need at least 2; got {r}.")
    cohort = pd.concat([patients] * r, ignore_index=True)
    cohort["vid"] = np.arange(n * r, dtype=np.int64)
    vp = sample_virtual_patients(fit, cohort, model=model,
                                 condition_on_baseline=condition_on_baseline,
                                 seed=job_seed(seed, "validation", "trial"))
    names = [p.name for p in model.parameters] + [p.name for p in model.event.parameters]
    params = {k: np.asarray(vp[k], dtype=np.float64) for k in names}
    empty = pd.DataFrame({"id": pd.Series([], dtype="str"), "time": [], "amount": [],
                          "route": pd.Series([], dtype="str"), "duration": []})
    d = doses if doses is not None else empty
    design1 = model.design_from_data(patients, d[d["id"].astype(str).isin(patients["id"])])
    design = {k: np.tile(np.asarray(v), (r,) + (1,) * (np.ndim(v) - 1)) for k, v in design1.items()}
    horizon = potential_followup(patients["time"], patients["event"], r, seed=seed).reshape(-1)
    t_sim, e_sim = simulate_event_times(model, params, design, horizon=horizon,
                                        rng=generator(seed, "validation", "trial", "events"))
    t_sim, e_sim = t_sim.reshape(r, n), e_sim.reshape(r, n)
    arm = patients["arm"].astype(str).to_numpy()
    treated = (arm == treatment).astype(np.float64)
    lm = np.asarray(landmarks, dtype=np.float64)
    g = None if grid is None else np.asarray(grid, dtype=np.float64)
    pred: dict[str, list[float]] = {"hr": [], "log_hr": []}
    km_grid: dict[str, list[FloatArray]] = {control: [], treatment: []}
    for a in (control, treatment):
        pred[f"{a}:events"] = []
        for t in lm:
            pred[f"{a}:survival@{t:g}"] = []
    for k in range(r):
        try:
            hr = cox_hazard_ratio(t_sim[k], e_sim[k], treated)
            pred["hr"].append(hr["hr"])
            pred["log_hr"].append(hr["log_hr"])
        except AnalysisError:
            pred["hr"].append(np.nan)
            pred["log_hr"].append(np.nan)
        for a in (control, treatment):
            sel = arm == a
            pred[f"{a}:events"].append(float(e_sim[k, sel].sum()))
            km = kaplan_meier(t_sim[k, sel], e_sim[k, sel])
            if lm.size:
                at = km_at(km, lm)["survival"].to_numpy()
                for t, s in zip(lm, at, strict=True):
                    pred[f"{a}:survival@{t:g}"].append(float(s))
            if g is not None:
                km_grid[a].append(step_at(km["time"].to_numpy(), km["survival"].to_numpy(), g))
    out = {key: np.asarray(v, dtype=np.float64) for key, v in pred.items()}
    out["effect"] = out["hr"]
    return {"predicted": out,
            "km_grid": {a: np.asarray(v) for a, v in km_grid.items()} if g is not None else {},
            "n_events": e_sim.sum(axis=1)}
