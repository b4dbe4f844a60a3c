"""`hwnas report RUN`: one self-contained HTML report of a run, plus its plots as PNG files beside it.

`hwnas report --compare RUN1 RUN2 ...` draws several runs' fronts side by side instead; a benchmark
archive CSV (`hwnas bench --out DIR` -> `DIR/<method>/seed<k>.csv`) may stand for a run.

Python equivalent: `hwnas.report.write_report(resolve_run(RUN, DIR), out=..., tables=...)` and
`hwnas.report.write_comparison([...], out=..., tables=...)`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwnas.cli import COMMANDS
from hwnas.errors import UsageError
from hwnas.runs import resolve_run
from hwnas.spaces import get_space


def register(subparsers: Any) -> None:
    """Add the `report` sub-command."""
    parser = subparsers.add_parser("report", help=COMMANDS["report"], description=__doc__)
    parser.add_argument("run", nargs="?", help="run name (in --dir) or run folder")
    parser.add_argument("--compare", nargs="+", metavar="RUN", help="runs (or bench archive CSVs) to compare")
    parser.add_argument("--dir", type=Path, default=Path("runs"), help="folder holding runs (hwnas run --out)")
    parser.add_argument("--out", type=Path, help="HTML file (default: RUN/report.html, or compare.html)")
    parser.add_argument("--data", help="shared data folder for the true front (default: HWNAS_DATA)")
    parser.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> int:
    """Write the report and say where it is."""
    if (args.run is None) == (args.compare is None):
        raise UsageError("give one RUN, or --compare RUN1 RUN2 ...")
    # matplotlib takes most of a second to import: only this verb pays for it.
    from hwnas.report import load_compared, write_comparison, write_report

    if args.compare:
        entries = [load_compared(ref, args.dir) for ref in args.compare]
        tables = get_space("nb201").load_tables(args.data, required=False)
        path = write_comparison(entries, out=args.out or Path("compare.html"), tables=tables)
    else:
        run = resolve_run(args.run, args.dir)
        tables = get_space(str(run.settings().get("space", "nb201"))).load_tables(args.data, required=False)
        path = write_report(run, out=args.out, tables=tables)
    if tables is None:
        print("no benchmark data (--data/HWNAS_DATA): fronts are predicted, not true")
    print(f"report: {path} (plots beside it as {path.stem}-*.png)")
    return 0
