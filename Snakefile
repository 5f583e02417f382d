# twintrial workflow: cohort -> twins -> arms -> analysis, sensitivity, validation -> report.
# Run `twintrial run CONFIG` (or `make run` for the default trial). Rules only move files: every
# rule calls one function of the `twintrial` library (src/twintrial/pipeline.py).
from snakemake.utils import min_version

min_version("9.0")


# The default trial, unless a config is given (--configfile): never deep-merge two trials.
if not config:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/twins.smk"
include: "workflow/rules/arms.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/report.smk"


if STUDY.raw["twins"].get("update_data"):

    include: "workflow/rules/update.smk"



rule all:
    input:
        final_targets(),
    default_target: True
