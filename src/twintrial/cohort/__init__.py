"""Virtual cohorts: marginals, Gaussian copula, criteria, fidelity and privacy.

Public entry: :func:`build_cohort` (patient-level ``subjects`` table or a published summary).
"""

from twintrial.cohort.build import CohortResult, build_cohort, infer_covariates
from twintrial.cohort.config import CohortConfig, CovariateSpec, FidelityConfig, PrivacyConfig
from twintrial.cohort.summary import CohortSummary, load_summary_definition, read_summary

__all__ = ["CohortConfig", "CohortResult", "CohortSummary", "CovariateSpec", "FidelityConfig",
           "PrivacyConfig", "build_cohort", "infer_covariates", "load_summary_definition",
           "read_summary"]
