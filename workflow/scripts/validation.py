"""Adapter: rule `validation` -> twintrial.pipeline.run_validation."""

from pathlib import Path

from twintrial import io, pipeline

# Guard: Dask's spawned worker processes re-import this file as __mp_main__.
if __name__ == "__main__":
    io.run_user_facing(
        lambda: pipeline.run_validation(
            snakemake.params.config,
            results_dir=Path(snakemake.output.summary).parent,
            cores=snakemake.threads,
        ),
        log_path=snakemake.log[0],
    )
