"""Adapter: rule `twins` -> twintrial.pipeline.run_twins."""

from pathlib import Path

from twintrial import io, pipeline

io.run_user_facing(
    lambda: pipeline.run_twins(
        snakemake.params.config,
        results_dir=Path(snakemake.output.summary).parent,
        cores=snakemake.threads,
    ),
    log_path=snakemake.log[0],
)
