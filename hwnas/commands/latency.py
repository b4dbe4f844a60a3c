r"""`hwnas latency profile`: measure batch-1 latency of sampled architectures on this machine, and cache it.

Example::

    hwnas latency profile --device local-cpu --sample 100 [--dataset cifar10] [--threads 1] [--json]

Reports the latency distribution, its repeatability (coefficient of variation of repeated
measurements of the same architecture) and the op-level lookup-table model's rank correlation with
whole-network measurement. Python equivalent: `hwnas.latency.device.profile_latency(...)`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hwnas.cli import COMMANDS


def register(subparsers: Any) -> None:
    """Add the `latency` sub-command with its `profile` action."""
    parser = subparsers.add_parser("latency", help=COMMANDS["latency"], description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    profile = actions.add_parser("profile", help="measure and cache latencies of sampled architectures")
    profile.add_argument("--device", default="local-cpu", help="local-cpu, or local-cuda when torch sees a GPU")
    profile.add_argument("--sample", type=int, default=100, help="architectures to measure (uniform, seeded)")
    profile.add_argument("--seed", type=int, default=0, help="seed of the sample")
    profile.add_argument("--dataset", default="cifar10", help="cifar10, cifar100 or imagenet16 (input size)")
    profile.add_argument("--threads", type=int, default=1, help="torch threads while timing (default 1)")
    profile.add_argument("--repeats", type=int, default=30, help="timed runs per measurement (median kept)")
    profile.add_argument("--repeatability", type=int, default=10, help="architectures re-measured 5 times for CV")
    profile.add_argument("--cache", type=Path, help="score cache file (default: the user cache)")
    profile.add_argument("--json", action="store_true", help="print JSON instead of text")
    profile.set_defaults(handler=profile_command)


def profile_command(args: argparse.Namespace) -> int:
    """Measure, cache and print the profile."""
    from hwnas.estimators.score_cache import ScoreCache
    from hwnas.latency.device import check_device, profile_latency

    check_device(args.device)
    with ScoreCache(args.cache) as cache:
        report = profile_latency(
            device=args.device,
            dataset=args.dataset,
            sample=args.sample,
            seed=args.seed,
            threads=args.threads,
            repeats=args.repeats,
            repeatability=args.repeatability,
            cache=cache,
        )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    lat = report["latency_ms"]
    cv = report["repeatability_cv"]
    print(
        f"{report['device']} ({report['dataset']}, {report['threads']} thread(s), "
        f"fingerprint {report['fingerprint']}): "
        f"{report['sample']} architectures, {report['measured']} measured now, {report['sample'] - report['measured']} "
        f"from the cache in {report['seconds']:.1f} s"
    )
    print(f"latency ms: min {lat['min']:.2f}  median {lat['median']:.2f}  max {lat['max']:.2f}")
    print(
        f"repeatability over {cv['architectures']} architectures x {cv['runs']} measurements: "
        f"CV median {cv['median'] * 100:.1f} %, max {cv['max'] * 100:.1f} %, "
        f"{cv['share_within_10_percent'] * 100:.0f} % of architectures within 10 %"
    )
    lut = report["lookup_table"]
    print(
        f"lookup-table model: Spearman {lut['spearman']:.3f}, Kendall {lut['kendall']:.3f} with measured latency; "
        f"{lut['archs_per_second']:.0f} archs/s"
    )
    return 0
