r"""`hwnas bench`: run baseline searchers over seeds on one (dataset, device) and report IGD and HV_B.

Example::

    hwnas bench --methods rs,rs-partition,nsga2,ls --dataset cifar10 --device fpga --budget 120 \\
        --seeds 10 --estimator oracle-val --out bench/fpga-120

Python equivalent: `hwnas.harness.run_benchmark(tables=load_tables(data), methods=[...], ...)`.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

from hwnas.baselines import SEARCHERS
from hwnas.benchmark import load_tables
from hwnas.harness import RunResult, run_benchmark
from hwnas.progress import Progress
from hwnas.registry import ESTIMATORS


def register(subparsers: Any) -> None:
    """Add the `bench` sub-command."""
    parser = subparsers.add_parser(
        "bench", help="benchmark baseline searchers against the true front", description=__doc__
    )
    parser.add_argument("--methods", default=",".join(SEARCHERS), help=f"comma-separated: {', '.join(SEARCHERS)}")
    parser.add_argument("--dataset", default="cifar10", help="cifar10, cifar100 or imagenet16")
    parser.add_argument("--device", default="fpga", help="latency device of the tables (e.g. fpga, eyeriss, raspi4)")
    parser.add_argument("--budget", type=int, default=120, help="distinct architectures each run evaluates")
    parser.add_argument("--seeds", type=int, default=10, help="runs per method, seeds 0..N-1")
    parser.add_argument("--estimator", default="oracle-val", help=f"accuracy estimator: {', '.join(ESTIMATORS)}")
    parser.add_argument("--partition-axis", default="conv3", help="partitions of rs-partition (default: conv3)")
    parser.add_argument("--bins", type=int, default=6, help="bins for quantile partition axes")
    parser.add_argument("--out", type=Path, help="folder for per-run archive CSVs and results.json")
    parser.add_argument("--data", help="shared data folder (default: HWNAS_DATA)")
    parser.add_argument("--json", action="store_true", help="print results.json instead of the markdown table")
    parser.set_defaults(handler=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table (or JSON)."""
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    progress = Progress(len(methods) * args.seeds, unit="runs")
    finished = itertools.count(1)

    def heard(run: RunResult) -> None:
        progress.log(f"{run.method} seed {run.seed}: IGD {run.igd:.4f} HV_B {run.hv_b:.4f} "
                     f"({run.evaluated} evaluated, {run.wall_s:.2f} s)")
        progress.update(next(finished), last=f"{run.method} seed {run.seed}")

    with progress:
        report = run_benchmark(
            tables=load_tables(args.data),
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
        )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        settings = report.settings
        print(
            f"{settings['dataset']} / {settings['device']}, budget {settings['budget']}, estimator "
            f"{settings['estimator']}, true front {report.front_size} points "
            f"({report.front_size_valid} without degenerate cells)\n"
        )
        print(report.markdown())
    return 0
