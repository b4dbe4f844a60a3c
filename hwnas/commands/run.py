"""`hwnas run`: the agent search (Navigator, Generator, heuristic memory, Coordinator) on one device.

Python equivalent: `hwnas.graph.runner.run_search(RunSettings(...), name=..., out=...)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hwnas.cli import COMMANDS
from hwnas.graph.context import RunSettings
from hwnas.llm.modes import JSON_MODE_CHOICES, JSON_MODE_HELP
from hwnas.scale import add_execution_arguments, execution_from_args

MEASURED_DEVICES = ("local-cpu", "local-cuda")
"""Devices whose latency is measured per architecture: ranking a whole partition would time thousands."""


def register(subparsers: Any) -> None:
    """Add the `run` sub-command."""
    defaults = RunSettings()
    parser = subparsers.add_parser("run", help=COMMANDS["run"], description=__doc__)
    parser.add_argument(
        "--llm",
        default=defaults.llm,
        help="provider spec: embedded, openai:MODEL, "
        "openai-compatible:MODEL, replay:TRACE.jsonl, random (no LLM: random valid answers), "
        "or any init_chat_model provider:model",
    )
    parser.add_argument("--base-url", help="server URL for openai-compatible (and other remote) providers")
    parser.add_argument("--json-mode", choices=JSON_MODE_CHOICES, help=JSON_MODE_HELP)
    parser.add_argument("--space", default=defaults.space, help="search space (default: nb201)")
    parser.add_argument("--dataset", default=defaults.dataset, help="cifar10, cifar100 or imagenet16")
    parser.add_argument("--device", help="latency device (default: fpga with benchmark data, else local-cpu)")
    parser.add_argument("--estimator", default=defaults.estimator, help="accuracy estimator (default: zc)")
    parser.add_argument("--budget", type=int, default=defaults.budget, help="distinct architectures to evaluate")
    parser.add_argument(
        "--objectives",
        default=defaults.objectives,
        help="accuracy,latency (default: the front on --device) or accuracy (the best architecture alone)",
    )
    parser.add_argument(
        "--partition-axis",
        default=defaults.partition_axis,
        help="conv3 (PEL-NAS niches), flops, params, latency, random (conv3's sizes, members drawn by --seed) or none",
    )
    parser.add_argument("--bins", type=int, default=defaults.partition_bins, help="bins for quantile axes")
    parser.add_argument("--round-size", type=int, default=defaults.round_size, help="candidate slots per round")
    parser.add_argument(
        "--init-per-partition",
        type=int,
        default=defaults.init_per_partition,
        help="random architectures evaluated per partition before the first round (default 2)",
    )
    parser.add_argument("--max-rounds", type=int, default=defaults.max_rounds)
    parser.add_argument("--eps", type=float, default=defaults.stable_eps, help="relative HV gain below which ...")
    parser.add_argument(
        "--window", type=int, default=None, help="... for this many rounds = stable (2; 3 with --objectives accuracy)"
    )
    parser.add_argument("--no-knowledge", action="store_true", help="ablation: no heuristic-memory agent")
    parser.add_argument("--no-navigator", action="store_true", help="ablation: split slots uniformly")
    parser.add_argument("--surrogate", default=defaults.surrogate, help="the Coordinator's surrogate: gp or trees")
    parser.add_argument(
        "--candidates",
        help="where options come from: partition (every untried member; default "
        "with table or LUT latency) or moves (the parents' edits, swaps, crossovers; default with "
        "measured latency)",
    )
    parser.add_argument(
        "--generator-policy",
        default=defaults.generator_policy,
        help="llm, or the ablations top (first ranked option) and random",
    )
    parser.add_argument(
        "--blind-prompts",
        action="store_true",
        help="prompts name neither the benchmark nor the real ops (renamed opA, opB, ...; replies mapped back)",
    )
    parser.add_argument(
        "--option-labels",
        default=defaults.option_labels,
        help="how options are labelled for the Generator: shuffled (default; labels carry no rank) or ranked",
    )
    parser.add_argument(
        "--option-lists",
        default=defaults.option_lists,
        help="which options a Generator child chooses among: dealt (default; ranks i, i+k, i+2k of one batch) "
        "or runners-up (one greedy step's pick and its near-ties)",
    )
    parser.add_argument(
        "--representatives",
        default=defaults.representatives,
        help="which member of each function (cells that differ only in ops cut off from the output) is offered: "
        "fastest (default; on the device) or first (in enumeration order, as runs before this flag)",
    )
    parser.add_argument(
        "--score-warp",
        default=defaults.score_warp,
        help="what the Coordinator's surrogate fits and ranks: copula (default; the normal quantiles of the "
        "scores' ranks) or none (the raw scores, as runs before this flag)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--name", default="run", help="run name (letters, digits, '.', '_', '-'); running a name again resumes it"
    )
    parser.add_argument("--out", type=Path, default=Path("runs"), help="folder holding runs")
    parser.add_argument("--data", help="shared data folder (default: HWNAS_DATA)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_execution_arguments(parser.add_argument_group("scaling out (README: Scaling out)"), llm=True)
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Resolve defaults that depend on the data, run the search, print its summary."""
    # Imported here so that `hwnas --help` and the other verbs do not pay for LangGraph and torch.
    from hwnas.graph.runner import run_search
    from hwnas.spaces import get_space

    space = get_space(args.space)
    device = args.device
    if device is None:
        device = "fpga" if space.load_tables(args.data, required=False) is not None else "local-cpu"
        if device == "local-cpu":
            print(
                "no benchmark data (--data/HWNAS_DATA): searching for this machine's CPU with measured latency",
                file=sys.stderr,
            )
    candidates = args.candidates or ("moves" if device in MEASURED_DEVICES else "partition")
    settings = RunSettings(
        space=args.space,
        dataset=args.dataset,
        device=device,
        estimator=args.estimator,
        budget=args.budget,
        partition_axis=args.partition_axis,
        partition_bins=args.bins,
        seed=args.seed,
        llm=args.llm,
        round_size=args.round_size,
        init_per_partition=args.init_per_partition,
        max_rounds=args.max_rounds,
        stable_eps=args.eps,
        stable_window=args.window,
        use_knowledge=not args.no_knowledge,
        use_navigator=not args.no_navigator,
        surrogate=args.surrogate,
        candidates=candidates,
        generator_policy=args.generator_policy,
        option_labels=args.option_labels,
        option_lists=args.option_lists,
        representatives=args.representatives,
        score_warp=args.score_warp,
        blind_prompts=args.blind_prompts,
        objectives=args.objectives,
    )
    summary = run_search(
        settings,
        name=args.name,
        out=args.out,
        data=args.data,
        base_url=args.base_url,
        json_mode=args.json_mode,
        execution=execution_from_args(args),
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        true = summary.get("true", {})
        if settings.accuracy_only:
            found = " (the optimum)" if true.get("found_optimum") else ""
            quality = f" | test accuracy of the pick {true['test_acc']:.2f}{found}" if true else ""
            result = "best architecture picked"
        else:
            quality = f" | true IGD {true['igd']:.4f} HV_B {true['hv_b']:.4f}" if true else ""
            result = f"front {summary['front_size']}"
        print(
            f"{args.name}: {summary['budget_used']} evaluated in {summary['rounds']} rounds "
            f"({summary['stop_reason']}), "
            f"{result}, {summary['llm_calls']} LLM calls, {summary['wall_s']:.0f} s{quality}\n"
            f"outputs in {args.out / args.name}"
        )
    return 0
