"""The `hwnas` command line.

Each verb lives in its own module under `hwnas.commands` and mirrors a Python function; this file only
parses, dispatches, and turns user errors into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from hwnas.errors import UsageError

# Modules under hwnas.commands, each exposing `register(subparsers)`; the parser it adds sets `handler`.
COMMAND_MODULES = ("bench", "run", "llm", "runs", "trace", "report", "export", "predictor", "latency")


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; a user asked for one line saying what was wrong."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every command module's sub-command registered."""
    parser = _OneLineParser(prog="hwnas", description=__doc__.split("\n")[0] if __doc__ else None)
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"hwnas.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # so that a closed pipe is reported here, not at interpreter exit
        return code
    except UsageError as error:
        print(f"hwnas: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwnas: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hwnas trace RUN | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
