"""`hwnas llm check|bench`: try a provider before a search spends time on it.

    hwnas llm check --llm embedded
    hwnas llm check --llm openai-compatible:qwen2.5-7b --base-url http://127.0.0.1:8000/v1
    hwnas llm check --llm openai-compatible:smollm2 --base-url http://127.0.0.1:8765/v1 --json-mode json_object
    hwnas llm bench --llm embedded --calls 50

Python equivalents: `hwnas.llm.probe.check(make_llm(spec))` and `hwnas.llm.probe.benchmark(...)`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hwnas.cli import COMMANDS
from hwnas.errors import UsageError, check_writable_file
from hwnas.llm import SPEC_HELP, LLMClient, LLMError, LLMUnreachable, make_llm
from hwnas.llm.modes import JSON_MODE_CHOICES, JSON_MODE_HELP
from hwnas.llm.probe import benchmark, check
from hwnas.trace import TraceWriter


def register(subparsers: Any) -> None:
    """Add the `llm` sub-command with its `check` and `bench` actions."""
    parser = subparsers.add_parser(
        "llm", help=COMMANDS["llm"], description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    for name, handler, help_text in (
        (
            "check",
            _check,
            "the structured-output modes a provider accepts, then a "
            "structured round trip: load time, tokens/s, a proposal",
        ),
        ("bench", _bench, "repeated Generator-sized calls: median time, valid rate"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("--llm", default="embedded", help=SPEC_HELP)
        action.add_argument("--base-url", help="server URL for openai-compatible providers")
        action.add_argument("--json-mode", choices=JSON_MODE_CHOICES, help=JSON_MODE_HELP)
        action.add_argument("--trace", type=Path, help="also record the calls to this JSONL trace")
        action.add_argument("--seed", type=int, default=0)
        if name == "bench":
            action.add_argument("--calls", type=int, default=50, help="number of calls (default 50)")
            action.add_argument("--max-tokens", type=int, default=400, help="reply limit per call (default 400)")
            action.add_argument("--repair-rounds", type=int, default=2, help="repair rounds per call (default 2)")
        action.set_defaults(handler=handler)


def _client(args: argparse.Namespace) -> LLMClient:
    if args.trace:
        check_writable_file(args.trace, "--trace")
    trace = TraceWriter(args.trace) if args.trace else None
    # One retry: a probe should say quickly that a server is down.
    return make_llm(
        args.llm, base_url=args.base_url, trace=trace, seed=args.seed, max_retries=1, json_mode=args.json_mode
    )


def _check(args: argparse.Namespace) -> int:
    llm = _client(args)
    try:
        report = check(llm)
    except LLMUnreachable as error:
        raise UsageError(f"{error}; check --base-url and that the server is running") from None
    except LLMError as error:
        print(f"hwnas: llm check failed: {error}", file=sys.stderr)
        return 1
    print(f"provider {report.provider}, model {report.model}")
    print(f"load {report.load_s:.2f} s")
    for trial in report.mode.trials:
        print(f"json mode {trial.describe()}")
    print(f"using json mode {report.mode.mode} ({report.mode.reason})")
    validity = "valid on the first reply" if report.repairs == 0 else f"valid after {report.repairs} repair round(s)"
    print(
        f"round trip {report.wall_s:.2f} s, {report.tokens_out} tokens out, {report.tokens_per_s:.1f} tokens/s, "
        f"{validity}"
    )
    print(f"proposal {report.proposal.architecture()}  ({report.proposal.rationale})")
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.calls < 1:
        raise UsageError(f"--calls must be at least 1, got {args.calls}")
    llm = _client(args)
    try:
        report = benchmark(llm, calls=args.calls, max_tokens=args.max_tokens, repair_rounds=args.repair_rounds)
    except LLMUnreachable as error:
        raise UsageError(f"{error}; check --base-url and that the server is running") from None
    print(f"provider {report.provider}, model {report.model}, load {report.load_s:.2f} s")
    print(
        f"{report.calls} calls of 4 proposals: median {report.median_wall_s:.2f} s per call, "
        f"min {min(report.wall_s):.2f}, max {max(report.wall_s):.2f}"
    )
    print(f"tokens: {report.tokens_in} in, {report.tokens_out} out, {report.tokens_per_s:.1f} out/s")
    print(
        f"schema-valid: {report.valid_first}/{report.calls} on the first reply, {report.valid}/{report.calls} "
        f"after up to {args.repair_rounds} repair rounds"
    )
    return 0
