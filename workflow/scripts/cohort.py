"""Adapter: rule `cohort` -> twintrial.pipeline.run_cohort."""

from pathlib import Path

from twintrial import io, pipeline

io.run_user_facing(
    lambda: pipeline.run_cohort(
        snakemake.params.config, results_dir=Path(snakemake.output.summary).parent
    ),
    log_path=snakemake.log[0],
)
