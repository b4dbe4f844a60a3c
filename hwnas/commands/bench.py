r"""`hwnas bench`: run baseline searchers over seeds on one (dataset, device) and report IGD and HV_B.

Example::

    hwnas bench --methods rs,rs-partition,nsga2,ls,tpe,gp --dataset cifar10 --device fpga --budget 120 \\
        --seeds 10 --estimator oracle-val --out bench/fpga-120

Python equivalent: `hwnas.harness.run_benchmark(tables=load_tables(data), methods=[...], ...)`.

A campaign (`evals/NAME.toml`: a grid of devices, budgets, estimators and methods, agents included) runs
with `--campaign`; it is resumable and regenerates its BENCHMARKS.md block and plots::

    hwnas bench --campaign main --workers 2 --update-md BENCHMARKS.md --plots docs/benchmarks

Python equivalent: `hwnas.campaign.run_campaign(load_campaign("main"), out=..., workers=2)`.

On Ray (a local instance, or a cluster's head; README "Scaling out"), each unit a retried Ray task::

    hwnas bench --campaign main --executor ray [--ray-address HEAD:6379] [--ray-resources CPU=1]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path
from typing import Any

from hwnas.baselines import SEARCHERS
from hwnas.cli import COMMANDS
from hwnas.core.objectives import is_accuracy_only, parse_objectives
from hwnas.core.tables import Tables
from hwnas.errors import UsageError, check_writable_file, check_writable_folder
from hwnas.harness import RunResult, run_benchmark
from hwnas.progress import Progress
from hwnas.registry import ESTIMATORS
from hwnas.scale import Execution, add_execution_arguments, execution_from_args
from hwnas.spaces import get_space


def register(subparsers: Any) -> None:
    """Add the `bench` sub-command."""
    parser = subparsers.add_parser("bench", help=COMMANDS["bench"], description=__doc__)
    parser.add_argument("--methods", default=",".join(SEARCHERS), help=f"comma-separated: {', '.join(SEARCHERS)}")
    parser.add_argument("--space", default="nb201", help="search space of the baselines (default: nb201)")
    parser.add_argument("--dataset", default="cifar10", help="cifar10, cifar100 or imagenet16")
    parser.add_argument("--device", default="fpga", help="latency device of the tables (e.g. fpga, eyeriss, raspi4)")
    parser.add_argument("--budget", type=int, default=120, help="distinct architectures each run evaluates")
    parser.add_argument("--seeds", type=int, help="runs per method, seeds 0..N-1 (default 10; a campaign: its own)")
    parser.add_argument("--estimator", default="oracle-val", help=f"accuracy estimator: {', '.join(ESTIMATORS)}")
    parser.add_argument(
        "--objectives",
        default="accuracy,latency",
        help="accuracy,latency (default: IGD and HV_B of the front) or accuracy (CoLLM-NAS's protocol: the "
        "test accuracy of the architecture each run picks by its estimator)",
    )
    parser.add_argument("--partition-axis", default="conv3", help="partitions of rs-partition (default: conv3)")
    parser.add_argument("--bins", type=int, default=6, help="bins for quantile partition axes")
    parser.add_argument("--out", type=Path, help="folder for per-run archive CSVs and results.json")
    parser.add_argument("--data", help="shared data folder (default: HWNAS_DATA)")
    parser.add_argument("--json", action="store_true", help="print results.json instead of the markdown table")
    campaign = parser.add_argument_group("campaigns (hwnas.campaign)")
    campaign.add_argument("--campaign", help="run the campaign evals/NAME.toml (or a .toml path) instead")
    campaign.add_argument("--workers", type=int, default=1, help="campaign units run in parallel processes")
    campaign.add_argument("--only", help="comma-separated globs (or substrings) of cell names to run")
    campaign.add_argument("--report-only", action="store_true", help="run nothing; aggregate what is done")
    campaign.add_argument("--update-md", type=Path, help="rewrite the campaign's block in this markdown file")
    campaign.add_argument("--plots", type=Path, help="folder for the campaign's PNG plots")
    campaign.add_argument("--export", type=Path, help="copy finished units compactly to this folder")
    add_execution_arguments(campaign, llm=False)
    campaign.add_argument(
        "--matched-latency",
        action="store_true",
        help="also report each method's lowest latency at the best baseline's accuracy minus 0.5/1/2 points "
        "(its own markdown block, NAME-matched)",
    )
    parser.set_defaults(handler=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    """Run the benchmark (or a campaign) and print its table (or JSON)."""
    execution = execution_from_args(args)
    if args.campaign:
        return campaign_command(args, execution)
    if execution.on_ray:
        raise UsageError("--executor ray runs the units of a campaign: add --campaign NAME (e.g. tiny)")
    args.seeds = 10 if args.seeds is None else args.seeds
    if args.out is not None:
        check_writable_folder(args.out, "--out")
    objectives = parse_objectives(args.objectives)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    progress = Progress(len(methods) * args.seeds, unit="runs")
    finished = itertools.count(1)

    def heard(run: RunResult) -> None:
        progress.log(f"{run.method} seed {run.seed}: {run.line()} ({run.evaluated} evaluated, {run.wall_s:.2f} s)")
        progress.update(next(finished), last=f"{run.method} seed {run.seed}")

    with progress:
        report = run_benchmark(
            tables=_tables(args.space, args.data),
            methods=methods,
            dataset=args.dataset,
            device=args.device,
            budget=args.budget,
            seeds=args.seeds,
            estimator=args.estimator,
            partition_axis=args.partition_axis,
            bins=args.bins,
            out=args.out,
            on_run=heard,
            objectives=objectives,
        )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        settings = report.settings
        if is_accuracy_only(objectives):
            print(
                f"{settings['dataset']}, accuracy only, budget {settings['budget']}, estimator "
                f"{settings['estimator']}: test accuracy of each run's pick (best by its estimator)\n"
            )
        else:
            print(
                f"{settings['dataset']} / {settings['device']}, budget {settings['budget']}, estimator "
                f"{settings['estimator']}, true front {report.front_size} points "
                f"({report.front_size_valid} without degenerate cells)\n"
            )
        print(report.markdown())
    return 0


def campaign_command(args: argparse.Namespace, execution: Execution) -> int:
    """Run the campaign's missing units, write its results JSON, and optionally its markdown block and plots."""
    from hwnas import campaign as runner

    # Read once: the report after hours of work describes the campaign that ran, even if its file was
    # edited meanwhile (an edit naming a method this process does not know would otherwise fail it).
    whole = runner.load_campaign(args.campaign)
    chosen = whole.select(args.only)
    out = args.out or runner.DEFAULT_OUT
    check_writable_folder(out, "--out")  # before hours of work, not after
    if args.update_md:
        check_writable_file(args.update_md, "--update-md")
    if args.plots:
        check_writable_folder(args.plots, "--plots")
    if not args.report_only:
        todo = runner.pending_units(chosen, out, args.seeds)
        progress = Progress(len(todo), unit="units")
        status: dict[str, Any] = {"done": 0, "running": 0, "failed": 0, "last": None}
        finished = itertools.count(1)

        def heard(cell: runner.Cell, seed: int, result: dict[str, Any]) -> None:
            status.update(done=next(finished), last=f"{cell.key} seed {seed}")
            if cell.accuracy_only:
                figures = f"test {result['test_acc']:.2f}" + (" (optimum)" if result["found_optimum"] else "")
            else:
                figures = f"IGD {result['igd']:.4f} HV_B {result['hv_b']:.4f}"
            progress.log(
                f"{cell.key} seed {seed}: {figures} ({result['evaluated']} evaluated, {result['wall_s']:.1f} s) "
                f"| done {status['done']}/{len(todo)} running {status['running']} failed {status['failed']}"
            )
            progress.update(status["done"], **{k: v for k, v in status.items() if k != "done"})

        def counted(done: int, running: int, failed: int) -> None:
            status.update(done=done, running=running, failed=failed)
            progress.update(done, **{k: v for k, v in status.items() if k != "done"})

        with progress:
            done = runner.run_campaign(
                chosen,
                out=out,
                data=args.data,
                workers=args.workers,
                seeds=args.seeds,
                on_unit=heard,
                execution=execution,
                on_counts=counted,
            )
        print(
            f"campaign {chosen.name}: {len(done.ran)} units run, {len(done.skipped)} already done, "
            f"{len(done.failed)} failed"
        )
        for key, seed, error in done.failed:
            print(f"  failed: {key} seed {seed}: {error}")
    if args.export:
        print(f"exported {runner.export_results(whole, out, args.export)} units to {args.export}")
    results = runner.summarise_campaign(whole, out, data=args.data)
    plots = runner.write_plots(results, args.plots) if args.plots else []
    command = f"hwnas bench --campaign {args.campaign} --workers {args.workers} --out {out}"
    if args.update_md:
        command += f" --update-md {args.update_md}" + (f" --plots {args.plots}" if args.plots else "")
    shown = [os.path.relpath(p, args.update_md.parent) if args.update_md else str(p) for p in plots]
    body = runner.campaign_markdown(results, command=command, plots=shown)
    if args.update_md:
        runner.update_markdown(args.update_md, whole.name, body)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(body)
    if args.matched_latency:
        _matched_latency(args, whole, out)
    return 0


def _matched_latency(args: argparse.Namespace, campaign: Any, out: Path) -> None:
    """Write the campaign's matched-latency block (`hwnas.matched`) and its JSON beside the results."""
    from hwnas import campaign as runner
    from hwnas.matched import matched_latency, matched_markdown

    figures = matched_latency(campaign, out, data=args.data)
    runner.write_json_atomically(out / f"matched-{campaign.name}.json", figures)
    command = f"hwnas bench --campaign {args.campaign} --report-only --out {out} --matched-latency"
    if args.update_md:
        command += f" --update-md {args.update_md}"
    body = matched_markdown(figures, command=command)
    if args.update_md:
        runner.update_markdown(
            args.update_md, f"{campaign.name}-matched", body, title=f"Latency at matched accuracy (`{campaign.name}`)"
        )
    print(json.dumps(figures, indent=2) if args.json else body)


def _tables(space_name: str, data: str | None) -> Tables:
    """The benchmark tables of the space called `space_name` (a UsageError if it has none)."""
    tables = get_space(space_name).load_tables(data)
    assert tables is not None  # required: the space raises rather than return nothing
    return tables
