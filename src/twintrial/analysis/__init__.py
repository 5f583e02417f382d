"""Trial analysis: tests vectorised over replicate trials, power, PROCOVA, subgroups, effects.

Every test takes per-arm arrays with patients on the last axis, ``(R, n)`` for R replicate trials,
and returns a :class:`TestResult` of ``(R,)`` arrays (estimate, SE, CI, statistic, p-value).
"""

from __future__ import annotations

from twintrial.analysis._common import TestResult
from twintrial.analysis.binary import chi_square_test, logistic_test, two_proportion_test
from twintrial.analysis.config import AnalysisConfig
from twintrial.analysis.continuous import ancova, t_test, welch_test
from twintrial.analysis.effects import (
    average_effect,
    average_effects,
    effect_distribution,
    individual_effects,
    patient_effects,
)
from twintrial.analysis.power import (
    event_probability_exponential,
    logrank_power,
    schoenfeld_events,
    t_test_power,
    t_test_sample_size,
)
from twintrial.analysis.procova import (
    procova_sample_size,
    procova_test,
    prognostic_correlation,
    prognostic_normal_sampler,
    variance_factor,
)
from twintrial.analysis.simulation import (
    REPLICATE_BLOCK,
    TESTS,
    binary_sampler,
    exponential_sampler,
    normal_sampler,
    population_sampler,
    randomize_and_observe,
    run_test,
    simulate_operating_characteristics,
    summarise_replicates,
)
from twintrial.analysis.subgroups import forest_plot, interaction_test, subgroup_effects
from twintrial.analysis.survival import cox_test, kaplan_meier, km_median, logrank_test

__all__ = [
    "REPLICATE_BLOCK", "TESTS", "AnalysisConfig", "TestResult", "ancova", "average_effect",
    "average_effects", "binary_sampler", "chi_square_test", "cox_test", "effect_distribution",
    "event_probability_exponential", "exponential_sampler", "forest_plot", "individual_effects",
    "interaction_test", "kaplan_meier", "km_median", "logistic_test", "logrank_power",
    "logrank_test", "normal_sampler", "patient_effects", "population_sampler",
    "procova_sample_size", "procova_test", "prognostic_correlation", "prognostic_normal_sampler",
    "randomize_and_observe", "run_test", "schoenfeld_events", "simulate_operating_characteristics",
    "summarise_replicates",
    "subgroup_effects", "t_test", "t_test_power", "t_test_sample_size", "two_proportion_test",
    "variance_factor", "welch_test",
]
