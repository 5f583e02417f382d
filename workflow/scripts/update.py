"""Adapter: rule `update` -> twintrial.pipeline.run_update."""

from pathlib import Path

from twintrial import io, pipeline

# Guard: Dask's spawned worker processes re-import this file as __mp_main__.
if __name__ == "__main__":
    io.run_user_facing(
        lambda: pipeline.run_update(
            snakemake.params.config,
            results_dir=Path(snakemake.input.posterior).parent,
            new_data=snakemake.input.new_data,
            cores=snakemake.threads,
        ),
        log_path=snakemake.log[0],
    )
