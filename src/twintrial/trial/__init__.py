"""Trial analysis of the simulated arms: ``results/<trial>/trial.json`` and its figures.

:func:`analyze_trial` takes the arms stage's outcomes table (every virtual patient under every
arm) and the cohort, and returns a :class:`TrialAnalysis` with ``summary``, ``warnings``,
``tables`` and ``figures``. ``TrialAnalysis.to_json()`` is the content of ``trial.json`` (the
pipeline adds ``provenance``).

Methods
-------
- Population-average effect per estimand with a credible interval over posterior draws: per-draw
  means of the paired individual effects, with the posterior spread separated from the
  patient-to-patient noise by a random-effects ANOVA (:mod:`twintrial.trial.effects`); hazard
  ratios from the Cox fit on all patients under both arms (the marginal HR of the virtual
  population) with the same draw decomposition of its influence values.
- Operating characteristics over replicate trials for each n (:mod:`twintrial.trial.operating`),
  the null arm (control vs control) for the type I error, PROCOVA on the twin prognostic score.
- Subgroups: the same effect in the subgroup and in its complement; their intervals combine the
  whole population's posterior SD (a subgroup's own decomposition is too imprecise) with the
  subgroup's own Monte-Carlo SE. The interaction p (Cochran's Q, subgroup vs complement) uses the
  Monte-Carlo SEs only: it asks whether the effect differs within the virtual population under
  the twin model (the posterior part is shared by both parts).

trial.json layout
-----------------
::

    summary:
      n_virtual_patients, n_posterior_draws, arms, control, alpha, ci_prob, replicates, n_per_arm
      power_by_n: {<estimand>: {"<n>": power}}
      type1_pass: bool                      # every estimand's null arm within alpha ± 3 MC SE
      procova_saving: {<estimand>: percent of patients saved at equal power}
      estimands:
        <estimand>:
          endpoint, endpoint_type, treatment, control, population, intercurrent,
          benefit ("greater" | "less"), n_patients, test
          effect: {scale, estimate, ci_low, ci_high, ci_prob, se, posterior_sd,
                   posterior_sd_upper, mc_se,
                   prob_benefit, n_patients, n_draws, n_draws_shared, identifiable,
                   [hazard_ratio | odds_ratio, *_ci_low, *_ci_high]}
          arms: {<arm>: {n, n_missing, mean, sd, median | proportion, responders |
                         events, event_fraction, median_survival, survival_at_horizon, horizon}}
          individual_effects: {mean, sd, q05, q25, q50, q75, q95, share_benefit, share_harm,
                               share_unchanged, n_patients}
          power: [{n_per_arm, power, power_mc_se, prob_success, prob_success_mc_se,
                   mean_estimate, bias, bias_mc_se, coverage, coverage_mc_se,
                   [cox_mean_estimate, cox_bias, cox_bias_mc_se, cox_coverage, ...]}]
          type1_error: {test, alpha, pass, by_n: [{n_per_arm, rate, mc_se, tolerance_low,
                        tolerance_high, ok}]}
          procova: null | {rho, rho_ci_low, rho_ci_high, rho_treated, rho_squared,
                           variance_factor, variance_reduction, simulated_variance_reduction,
                           target_power,
                           power: [{n_per_arm, power_unadjusted, power_procova,
                                    power_procova_mc_se}],
                           type1_error: [{n_per_arm, rate, mc_se}],
                           sample_size: {delta, sd, n_unadjusted, n_procova,
                                         n_procova_conservative_rho, saved_per_arm,
                                         saved_total, saved_percent}}
          subgroups: [{variable, level, n_treated, n_control, estimate, se, ci_low, ci_high,
                       mc_se, scale, p_interaction}]
    warnings: [str]
    operating_characteristics: [{estimand, analysis, test, n_per_arm, n_replicates, n_failed,
                                 power, power_mc_se, ...}]    # analysis: primary, cox, procova,
                                                              # null_<analysis> (type I error)
    subgroups: [{estimand, variable, level, ...}]
    provenance: {...}                                         # added by the pipeline

Figures: ``power_curve``, ``effect_distribution``, ``forest_<estimand>``, ``procova`` (when a
continuous estimand has PROCOVA).
"""

from __future__ import annotations

from twintrial.trial.analyze import TrialAnalysis, analyze_trial
from twintrial.trial.effects import cox_contributions, draw_effect, log_odds_contributions
from twintrial.trial.operating import simulate_estimand

__all__ = ["TrialAnalysis", "analyze_trial", "cox_contributions", "draw_effect",
           "log_odds_contributions", "simulate_estimand"]
