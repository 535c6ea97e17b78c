"""Command line of the trial pipeline.

``trial validate CONFIG``   check a config and every raw table it names, listing every problem
                            (exit code 2 if there is any); the workflow runs the same check;
``trial generate CONFIG``   write a config's synthetic example to its raw folder;
``trial verify CONFIG``     compare a run's result tables with the committed expected results
                            (``--update`` records the current run as expected);
``trial draft-config DIR``  draft a new trial's config from the CSV files in DIR;
``trial run CONFIG ARGS``   check CONFIG as ``trial validate`` does, then run the workflow on it
                            (``snakemake --configfile CONFIG ARGS``).

``trial run`` exists because Snakemake parses a file named with ``--configfile`` itself, before
the workflow starts, and reports a YAML error or a tab there without the file's name, line or
column; checked here first, every such problem gets this project's error screen.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from trial.cli.draft import draft_config
from trial.cli.preflight import EXIT_INVALID, problems_screen
from trial.cli.verify import compare_results, write_expected
from trial.config.load import ConfigError, load_config
from trial.studies.synthetic import write_example


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trial`` command."""
    parser = argparse.ArgumentParser(prog="trial", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a config and its raw data")
    validate.add_argument("config", type=Path, help="config YAML to check")
    generate = commands.add_parser("generate", help="write the synthetic example of a config")
    generate.add_argument("config", type=Path, help="config YAML with a `synthetic` section")
    generate.add_argument(
        "--out", type=Path, help="folder to write (default: the config's paths.raw)"
    )
    verify = commands.add_parser("verify", help="compare results with the expected results")
    verify.add_argument("config", type=Path, help="config YAML of the run to check")
    verify.add_argument("--update", action="store_true", help="record this run as expected")
    draft = commands.add_parser("draft-config", help="draft a config from a folder of CSV files")
    draft.add_argument("data_dir", type=Path, help="folder holding the trial's CSV files")
    draft.add_argument("--out", type=Path, help="file to write (default: print)")
    run = commands.add_parser(
        "run", help="check a config, then run the workflow on it (arguments go to snakemake)"
    )
    run.add_argument("config", type=Path, help="config YAML of the trial to analyse")
    args, snakemake_args = parser.parse_known_args(argv)
    if snakemake_args and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(snakemake_args)}")
    if args.command == "run":
        return _run(args.config, snakemake_args)
    if args.command == "validate":
        screen = problems_screen(args.config)
        if screen:
            print(screen, file=sys.stderr)
            return EXIT_INVALID
        print(f"{args.config}: the config and every table it names are valid")
        return 0
    if args.command == "draft-config":
        try:
            text = draft_config(args.data_dir)
        except FileNotFoundError as exc:
            print(exc, file=sys.stderr)
            return EXIT_INVALID
        if args.out:
            args.out.write_text(text, encoding="utf-8")
        else:
            print(text, end="")
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    if args.command == "verify":
        return _verify(config, args.update)
    if "synthetic" not in config:
        print(f"{args.config}: no `synthetic` section, nothing to generate", file=sys.stderr)
        return 2
    for path in write_example(config, args.out or config["paths"]["raw"]):
        print(path)
    return 0


def _run(config_path: Path, snakemake_args: list[str]) -> int:
    """Check the config and its data, then hand over to Snakemake with the same config."""
    screen = problems_screen(config_path)
    if screen:
        print(screen, file=sys.stderr)
        return EXIT_INVALID
    command = [sys.executable, "-m", "snakemake", "--configfile", str(config_path)]
    return subprocess.call(command + snakemake_args)


def _verify(config: dict, update: bool) -> int:
    tables = Path(config["paths"]["reports"]) / "tables"
    expected = config["paths"].get("expected")
    if not expected:
        print("the config names no paths.expected file to verify against", file=sys.stderr)
        return 2
    if not tables.is_dir():
        print(f"no results at {tables}: run the workflow first", file=sys.stderr)
        return 2
    if update:
        write_expected(tables, expected)
        print(f"recorded {tables} as the expected results in {expected}")
        return 0
    if not Path(expected).is_file():
        print(f"no expected results at {expected}: record them with --update", file=sys.stderr)
        return 2
    mismatches = compare_results(tables, expected)
    for mismatch in mismatches:
        print(mismatch)
    if mismatches:
        print(f"verify: {len(mismatches)} mismatch(es) against {expected}", file=sys.stderr)
        return 1
    print(f"verify: every number in {tables} matches {expected}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
