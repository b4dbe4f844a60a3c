"""`hwnas trace RUN`: a run's decisions in order, readable in a terminal, or as stored with `--json`.

Each record shows its agent, round and partition, a short prompt (all of it with `--full`), the raw
reply, the parsed decision, tool calls and results, rejected candidates with reasons, guardrail
overrides, tokens, time and cost. The format is documented in `docs/trace-format.md`.

Python equivalent: `hwnas.runs.format_records(TraceFilter(...).apply(resolve_run(RUN, DIR).records()))`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hwnas.cli import COMMANDS
from hwnas.runs import AGENTS, TraceFilter, format_records, resolve_run


def register(subparsers: Any) -> None:
    """Add the `trace` sub-command."""
    parser = subparsers.add_parser("trace", help=COMMANDS["trace"], description=__doc__)
    parser.add_argument("run", help="run name (in --dir) or run folder")
    parser.add_argument("--dir", type=Path, default=Path("runs"), help="folder holding runs (hwnas run --out)")
    parser.add_argument("--agent", choices=AGENTS, help="only this agent's records")
    parser.add_argument("--round", type=int, help="only this round's records")
    parser.add_argument("--partition", type=int, help="only records about this partition")
    parser.add_argument("--full", action="store_true", help="whole prompts, replies and result lists")
    parser.add_argument("--json", action="store_true", help="the matching records as stored, one per line")
    parser.set_defaults(handler=trace_command)


def trace_command(args: argparse.Namespace) -> int:
    """Print the matching records."""
    records = resolve_run(args.run, args.dir).records()
    chosen = TraceFilter(args.agent, args.round, args.partition).apply(records)
    if args.json:
        for record in chosen:
            if "ts" not in record:  # the reader's own note about a torn last line, not a stored record
                print(f"hwnas: note: {record.get('text')}", file=sys.stderr)
            else:
                print(json.dumps(record, ensure_ascii=False))
    else:
        for text in format_records(chosen, full=args.full):
            print(text)
        if not chosen:
            print(f"no records match (the trace has {len(records)})", file=sys.stderr)
    return 0
