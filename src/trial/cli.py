"""Command line: ``trial generate CONFIG`` writes a config's synthetic example to its raw folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trial.config import ConfigError, load_config
from trial.synthetic import write_example


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trial`` command."""
    parser = argparse.ArgumentParser(prog="trial", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="write the synthetic example of a config")
    generate.add_argument("config", type=Path, help="config YAML with a `synthetic` section")
    generate.add_argument(
        "--out", type=Path, help="folder to write (default: the config's paths.raw)"
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if "synthetic" not in config:
        print(f"{args.config}: no `synthetic` section, nothing to generate", file=sys.stderr)
        return 2
    for path in write_example(config, args.config, args.out or config["paths"]["raw"]):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
