# Shared helpers: load + validate the config through the library (the same function as the CLI
# and the tests), derive paths, seeds and provenance inputs. No rules here.
import sys

from twintrial import pipeline
from twintrial.config import load_config
from twintrial.exceptions import ConfigError

try:
    STUDY = load_config(config)
except ConfigError as _err:
    for _line in _err.problems:
        print(f"twintrial: error: {_line}", file=sys.stderr)
    sys.exit(2)

TRIAL = STUDY.trial.name
RESULTS = f"results/{TRIAL}"
REPORTS = f"reports/{TRIAL}"
LOGS = f"logs/{TRIAL}"


def result(name):
    """Path of a stage output under results/<trial>/."""
    return f"{RESULTS}/{name}"


def stage_config(stage):
    """The resolved config sections a stage depends on (so edits elsewhere do not rerun it)."""
    return pipeline.stage_config(STUDY.raw, stage)


def stage_inputs(stage):
    """Input data files a stage reads (so Snakemake reruns it when they change)."""
    return pipeline.stage_data_inputs(STUDY.raw, stage)


def final_targets():
    """Every output of every stage enabled in this config, plus the report."""
    targets = [result(p) for stage in pipeline.enabled_stages(STUDY.raw)
               for p in pipeline.OUTPUTS[stage]]
    if STUDY.raw["twins"].get("update_data"):
        targets.append(result("update/changes.json"))
    return targets + [f"{REPORTS}/report.html", f"{REPORTS}/summary.json"]
