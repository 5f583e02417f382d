"""The ``twintrial`` command.

``twintrial check CONFIG`` validates a configuration; ``twintrial run CONFIG`` runs the whole
workflow (a thin wrapper over Snakemake); per-stage commands run one stage from Python, for
debugging, with the same library calls the workflow uses. User errors print one line per problem
and exit 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from twintrial import __version__
from twintrial.exceptions import TwinTrialError


def _project_snakefile() -> Path | None:
    """The workflow's Snakefile: ./Snakefile, else the source checkout this package lives in."""
    here = Path.cwd() / "Snakefile"
    if here.is_file():
        return here
    checkout = Path(__file__).resolve().parents[2] / "Snakefile"
    return checkout if checkout.is_file() else None


def _cmd_check(args: argparse.Namespace) -> int:
    from twintrial.config import load_config

    study = load_config(args.config)
    print(f"{args.config}: valid (trial '{study.trial.name}', seed {study.trial.seed}, "
          f"config hash {study.hash})")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from twintrial.config import load_config

    study = load_config(args.config)  # fail fast, with one line per problem
    snakefile = Path(args.snakefile) if args.snakefile else _project_snakefile()
    if snakefile is None or not snakefile.is_file():
        raise TwinTrialError("cannot find the workflow's Snakefile; run from the twintrial project "
                             "directory or pass --snakefile PATH")
    exe = shutil.which("snakemake", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                          os.environ.get("PATH", "")]))
    if exe is None:
        raise TwinTrialError("snakemake is not installed in this environment (pip install twintrial)")
    cmd = [exe, "--snakefile", str(snakefile), "--configfile", str(args.config),
           "--cores", str(args.cores), "--printshellcmds", "--show-failed-logs"]
    if args.profile:
        cmd += ["--workflow-profile", args.profile]
    if args.dry_run:
        cmd.append("--dry-run")
    if args.forceall:
        cmd.append("--forceall")
    cmd += list(args.snakemake_args or [])
    print("+ " + " ".join(cmd), file=sys.stderr)
    rc = subprocess.call(cmd)
    if rc == 0 and not args.dry_run:
        report = Path("reports") / study.trial.name / "report.html"
        if report.exists():
            print(f"Report: {report.resolve()}")
        print(f"Results: {Path('results', study.trial.name).resolve()}")
    return rc


def _cmd_config_docs(args: argparse.Namespace) -> int:
    from twintrial.config_docs import render_config_docs

    text = render_config_docs()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        from twintrial.io import write_text

        write_text(text, args.output)
        print(f"wrote {args.output}")
    return 0


def _cmd_stage(args: argparse.Namespace) -> int:
    from twintrial import pipeline
    from twintrial.config import load_config

    study = load_config(args.config)
    runner = getattr(pipeline, f"run_{args.stage}")
    outputs = runner(study.raw, results_dir=Path(args.results) / study.trial.name,
                     cores=args.cores)
    for path in outputs:
        print(path)
    return 0


def _cmd_update(args: argparse.Namespace) -> int:
    from twintrial import pipeline
    from twintrial.config import load_config

    study = load_config(args.config)
    paths = pipeline.run_update(study.raw, results_dir=Path(args.results) / study.trial.name,
                                new_data=args.data, cores=args.cores)
    from twintrial.io import read_json

    s = read_json(paths[-1])["summary"]
    print(f"updated twins: {s['n_patients_existing']} existing and {s['n_patients_new']} new "
          f"patients; median relative change of the predicted trajectory "
          f"{s['median_change_rel']:.3f} (max {s['max_change_rel']:.3f})")
    for path in paths:
        print(path)
    return 0


def _cmd_whatif(args: argparse.Namespace) -> int:
    from twintrial.arms_config import arms_from_list, endpoints_from_list, study_end
    from twintrial.config import load_config
    from twintrial.io import save_figure, write_json
    from twintrial.rng import job_seed
    from twintrial.twins.io import load_twins
    from twintrial.whatif import plot_whatif, project_patient

    study = load_config(args.config)
    arms = {a.name: a for a in arms_from_list(study.raw.get("arms", []))}
    unknown = [a for a in args.arm if a not in arms]
    if len(args.arm) < 2 or unknown:
        raise TwinTrialError(f"--arm: give two or more of {', '.join(arms) or '(no arms configured)'}"
                             + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    results = Path(args.results) / study.trial.name
    twins_path = results / "twins.nc"
    if not twins_path.exists():
        raise TwinTrialError(f"{twins_path}: no fitted twins; run the twins stage first "
                             f"(twintrial twins {args.config})")
    horizon = args.horizon or study_end(endpoints_from_list(study.raw.get("endpoints", [])))
    res = project_patient(load_twins(twins_path), None, str(args.patient),
                          [arms[a] for a in args.arm], horizon=horizon,
                          ci_prob=study.raw["analysis"]["ci_prob"],
                          seed=job_seed(study.trial.seed, "arms"))
    stem = results / "whatif" / f"{args.patient}_{'_vs_'.join(args.arm)}"
    write_json({"summary": res.summary}, stem.with_suffix(".json"))
    save_figure(plot_whatif(res), stem.with_suffix(".png"), dpi=110, bbox_inches="tight")
    print(f"patient {args.patient}: {' vs '.join(args.arm)} over {horizon:g} time units")
    for key, value in res.summary.items():
        if isinstance(value, (int, float, str)):
            print(f"  {key}: {value}")
    print(stem.with_suffix(".json"))
    print(stem.with_suffix(".png"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="twintrial", description="In-silico clinical trials with Bayesian digital twins.")
    parser.add_argument("--version", action="version", version=f"twintrial {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate a study configuration")
    p.add_argument("config", help="YAML config file")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("run", help="run the whole workflow (Snakemake) for a config")
    p.add_argument("config", help="YAML config file")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores (default: all)")
    p.add_argument("--profile", help="Snakemake workflow profile directory (e.g. a cluster profile)")
    p.add_argument("--snakefile", help="path to the Snakefile (default: ./Snakefile)")
    p.add_argument("-n", "--dry-run", action="store_true", help="show what would run")
    p.add_argument("--forceall", action="store_true", help="rerun every stage")
    p.add_argument("snakemake_args", nargs="*", help="extra Snakemake arguments (after --)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("config-docs", help="write the config reference (Markdown) from the schema")
    p.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    p.set_defaults(func=_cmd_config_docs)

    p = sub.add_parser("update", help="add new observations to the twins and refit")
    p.add_argument("config", help="YAML config file")
    p.add_argument("--data", required=True,
                   help="new observations, same format/columns as the config's observation file")
    p.add_argument("--results", default="results", help="results root (default: results)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores for sampling")
    p.set_defaults(func=_cmd_update)

    p = sub.add_parser("whatif", help="project one real patient's twin under two or more arms")
    p.add_argument("config", help="YAML config file")
    p.add_argument("--patient", required=True, help="patient id as in the data")
    p.add_argument("--arm", action="append", default=[], help="arm name (repeat: --arm A --arm B)")
    p.add_argument("--horizon", type=float, help="projection horizon (default: study end)")
    p.add_argument("--results", default="results", help="results root (default: results)")
    p.set_defaults(func=_cmd_whatif)

    from twintrial.pipeline import CLI_STAGES

    for stage in CLI_STAGES:
        p = sub.add_parser(stage, help=f"run the {stage} stage alone (as the workflow would)")
        p.add_argument("config", help="YAML config file")
        p.add_argument("--results", default="results", help="results root (default: results)")
        p.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                       help="cores for sampling and Dask workers (default: all)")
        p.set_defaults(func=_cmd_stage, stage=stage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``twintrial`` console script."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # argparse's subcommands do not take "--": split it off here
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    if extra:
        if not hasattr(args, "snakemake_args"):
            parser.error("arguments after '--' go to Snakemake; only 'twintrial run' takes them")
        args.snakemake_args = [*(args.snakemake_args or []), *extra]
    try:
        return int(args.func(args) or 0)
    except TwinTrialError as err:
        for line in err.problems:
            print(f"twintrial: error: {line}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
