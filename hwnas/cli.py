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
from importlib.metadata import version
from typing import NoReturn

from hwnas.errors import UsageError

COMMANDS = {
    "bench": "benchmark baseline searchers against the true front",
    "run": "run (or resume) the agent search",
    "llm": "check or benchmark an LLM provider",
    "runs": "list runs with their status and figures",
    "trace": "show a run's agent decisions",
    "report": "write an HTML report of a run (or compare runs)",
    "export": "export a run's results as CSV or JSON",
    "predictor": "evaluate or calibrate the zero-cost predictor",
    "latency": "measure latency on this machine",
}
"""Sub-commands and their one-line help. Each is a module under hwnas.commands exposing
`register(subparsers)`; the parser it adds sets `handler`. Only the module of the command being run is
imported: some import torch or LangChain, and `hwnas --help` should not wait for them."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; a user asked for one line saying what was wrong."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with `command`'s sub-command fully registered (all of them when None), the rest as stubs."""
    parser = _OneLineParser(prog="hwnas", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"hwnas {version('hwnas')}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    for name, help_line in COMMANDS.items():
        if command in (None, name):
            importlib.import_module(f"hwnas.commands.{name}").register(subparsers)
        else:
            subparsers.add_parser(name, help=help_line)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    # hwnas runs torch single-threaded (`torch_threads(1)`), but OpenMP sizes its thread pool from this
    # variable once, when torch is imported; left unset, the idle threads compete on a busy machine and
    # Optuna's GPSampler (`gp`) proposes several times slower, as its documentation warns.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    words = list(sys.argv[1:] if argv is None else argv)
    command = next((w for w in words if not w.startswith("-")), "")
    args = build_parser(command).parse_args(words)
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
