"""Adapter: rule `report` -> twintrial.pipeline.run_report."""

from pathlib import Path

from twintrial import io, pipeline

# Guard: Dask's spawned worker processes re-import this file as __mp_main__.
if __name__ == "__main__":
    io.run_user_facing(
        lambda: pipeline.run_report(
            snakemake.params.config,
            results_dir=Path(snakemake.input.stage_outputs[0]).parent,
            report_dir=Path(snakemake.output.html).parent,
        ),
        log_path=snakemake.log[0],
    )
