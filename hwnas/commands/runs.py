"""`hwnas runs`: the runs in a folder, with status (running / finished / interrupted), budget and best figures.

Python equivalent: `hwnas.runs.list_runs(Path("runs"))`.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hwnas.cli import COMMANDS
from hwnas.runs import RunInfo, list_runs


def register(subparsers: Any) -> None:
    """Add the `runs` sub-command."""
    parser = subparsers.add_parser("runs", help=COMMANDS["runs"], description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("runs"), help="folder holding runs (hwnas run --out)")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(handler=runs_command)


def _row(info: RunInfo) -> list[str]:
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.started)) if info.started else "-"
    used = "-" if info.budget_used is None else f"{info.budget_used}/{info.budget if info.budget else '?'}"
    rounds = "-" if info.rounds is None else str(info.rounds)
    return [info.name, info.kind, info.status, started, used, rounds, info.best]


def runs_command(args: argparse.Namespace) -> int:
    """Print one line per run, newest first."""
    infos = list_runs(args.dir)
    if args.json:
        print(json.dumps([{**asdict(i), "path": str(i.path)} for i in infos], indent=2))
        return 0
    if not infos:
        print(f"no runs in {args.dir}")
        return 0
    rows = [["name", "kind", "status", "started", "evaluated", "rounds", "figures"], *map(_row, infos)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0
