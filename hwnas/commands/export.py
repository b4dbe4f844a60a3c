"""`hwnas export RUN --format csv|json`: a run's archive, front, knowledge base and summary.

JSON is one document on stdout (or `--out FILE`); CSV is five files in a folder (`--out DIR`, default
`RUN-export`): archive.csv, front.csv, knowledge_base.csv, knowledge_history.csv, summary.csv.

Python equivalent: `hwnas.runs.export_json(run)` / `hwnas.runs.export_csv(run, folder)`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwnas.cli import COMMANDS
from hwnas.errors import UsageError
from hwnas.runs import export_csv, export_json, resolve_run


def register(subparsers: Any) -> None:
    """Add the `export` sub-command."""
    parser = subparsers.add_parser("export", help=COMMANDS["export"], description=__doc__)
    parser.add_argument("run", help="run name (in --dir) or run folder")
    parser.add_argument("--dir", type=Path, default=Path("runs"), help="folder holding runs (hwnas run --out)")
    parser.add_argument("--format", choices=("csv", "json"), required=True)
    parser.add_argument("--out", type=Path, help="JSON file, or folder for the CSV files")
    parser.set_defaults(handler=export_command)


def export_command(args: argparse.Namespace) -> int:
    """Export and say where the files are (JSON without --out goes to stdout)."""
    run = resolve_run(args.run, args.dir)
    if args.format == "json":
        text = export_json(run)
        if args.out is None:
            print(text)
            return 0
        try:
            args.out.write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise UsageError(f"--out {args.out} cannot be written: {error.strerror}") from None
        print(f"exported {args.out}")
        return 0
    for path in export_csv(run, args.out or Path(f"{run.name}-export")):
        print(f"exported {path}")
    return 0
