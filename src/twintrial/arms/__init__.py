"""Treatment arms: every virtual patient under every arm, as paired counterfactuals, on Dask.

- :mod:`~twintrial.arms.regimens`: regimen -> dose arrays (titration, per-kg, adherence).
- :mod:`~twintrial.arms.effects`: trial-level effect sizes applied to individual parameters.
- :mod:`~twintrial.arms.intercurrent`: dropout, rescue and the ICH E9(R1) strategies.
- :mod:`~twintrial.arms.endpoints`: continuous, responder and time-to-event values.
- :mod:`~twintrial.arms.simulate`: :func:`simulate_arms` (one chunk) and
  :func:`simulate_trial_outcomes` (all chunks, optionally on Dask) -> the outcomes table.
"""

from twintrial.arms.simulate import simulate_arms, simulate_trial_outcomes, visit_grid

__all__ = ["simulate_arms", "simulate_trial_outcomes", "visit_grid"]
