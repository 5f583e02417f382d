"""Validation against observed outcomes and the model credibility assessment.

Pure functions applied by the validation stage to the outputs of the other stages:

- :mod:`~twintrial.validation.metrics`: interval coverage, CRPS, RMSE/MAE/bias, PIT, by time band;
- :mod:`~twintrial.validation.baselines`: population-only and LOCF reference predictions;
- :mod:`~twintrial.validation.splits`: time-cutoff and subject-wise (k-fold / holdout) splits;
- :mod:`~twintrial.validation.vpc`: VPC and prediction-corrected VPC;
- :mod:`~twintrial.validation.survival`: Kaplan-Meier, truncated C-index, IPCW Brier, calibration;
- :mod:`~twintrial.validation.trial_level`: observed trial result vs simulated trial interval;
- :mod:`~twintrial.validation.credibility`: V&V 40 risk matrix, factors, FDA categories, gaps;
- :mod:`~twintrial.validation.evidence`: validation metrics -> credibility evidence items;
- :mod:`~twintrial.validation.summaries`: one call per activity (metrics + baselines + evidence).

The stage itself (refits and simulations) lives in :mod:`twintrial.validation.stage`
(:func:`~twintrial.validation.stage.validate`), built on :mod:`~twintrial.validation.heldout`
(split, refit, held-out predictions), :mod:`~twintrial.validation.predict` (draws of fitted twins
and of new patients), :mod:`~twintrial.validation.replicate` (the completed trial re-simulated),
:mod:`~twintrial.validation.checks` (cohort checks, credibility table) and
:mod:`~twintrial.validation.figures`. It is not imported here, to keep this package light.
"""

from twintrial.validation.baselines import (
    BaselinePrediction,
    compare_with_baselines,
    locf_baseline,
    population_baseline,
)
from twintrial.validation.credibility import (
    assess_credibility,
    credibility_frame,
    evidence_item,
    model_risk,
)
from twintrial.validation.metrics import (
    coverage,
    crps_normal,
    crps_samples,
    metrics_by_time_band,
    observation_scores,
    pit_calibration,
    pit_values,
    point_errors,
    predictive_summary,
)
from twintrial.validation.splits import Split, split_by_subjects, split_by_time
from twintrial.validation.summaries import predictive_validation, survival_validation
from twintrial.validation.survival import (
    brier_score,
    c_index_at_landmarks,
    compare_survival_at_landmarks,
    concordance_index,
    kaplan_meier,
    survival_calibration,
)
from twintrial.validation.trial_level import (
    ObservedQuantity,
    compare_interval,
    observed_from_patient_level,
    observed_from_published,
    trial_replication,
)
from twintrial.validation.vpc import plot_vpc, vpc

__all__ = [
    "BaselinePrediction", "ObservedQuantity", "Split", "assess_credibility", "brier_score",
    "c_index_at_landmarks", "compare_interval", "compare_survival_at_landmarks",
    "compare_with_baselines", "concordance_index", "coverage", "credibility_frame", "crps_normal",
    "crps_samples", "evidence_item", "kaplan_meier", "locf_baseline", "metrics_by_time_band",
    "model_risk", "observation_scores", "observed_from_patient_level", "observed_from_published",
    "pit_calibration", "pit_values", "plot_vpc", "point_errors", "population_baseline",
    "predictive_summary", "predictive_validation", "split_by_subjects", "split_by_time", "survival_calibration",
    "survival_validation", "trial_replication", "vpc",
]
