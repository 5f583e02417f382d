"""Adapter: rule `analysis` -> twintrial.pipeline.run_analysis."""

from pathlib import Path

from twintrial import io, pipeline

io.run_user_facing(
    lambda: pipeline.run_analysis(
        snakemake.params.config,
        results_dir=Path(snakemake.output.summary).parent,
        cores=snakemake.threads,
    ),
    log_path=snakemake.log[0],
)
