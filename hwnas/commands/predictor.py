r"""`hwnas predictor`: evaluate the zero-cost predictor `zc`, or re-derive its ensemble.

Examples::

    hwnas predictor eval --dataset cifar10 --sample 1000 --seed 0 [--few-shot 100] [--published] [--json]
    hwnas predictor calibrate --dataset cifar10 [--write]

Python equivalents: `hwnas.estimators.zc_evaluation.evaluate_predictor(tables, dataset=..., sample=..., seed=...)`
and `hwnas.estimators.zc_evaluation.calibrate_ensemble(tables, dataset=...)`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.cli import COMMANDS
from hwnas.estimators.inputs import INPUT_KINDS
from hwnas.estimators.proxies import PROXIES, check_proxy_names
from hwnas.spaces.nb201.tables import load_tables


def register(subparsers: Any) -> None:
    """Add the `predictor` sub-command with its `eval` and `calibrate` actions."""
    parser = subparsers.add_parser("predictor", help=COMMANDS["predictor"], description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))

    evaluate = actions.add_parser("eval", help="rank correlation of every proxy and the ensemble with test accuracy")
    _common(evaluate)
    evaluate.add_argument(
        "--sample", type=int, default=1000, help="architectures to score (outside the reference sample)"
    )
    evaluate.add_argument(
        "--seed", type=int, default=0, help="seed of the sample, the network init and the image batch"
    )
    evaluate.add_argument(
        "--proxies", default=",".join(PROXIES), help="proxies to report individually (comma-separated)"
    )
    evaluate.add_argument("--few-shot", type=int, default=0, metavar="K", help="also fit the few-shot mode on K labels")
    evaluate.add_argument("--label-kind", default="val", help="few-shot label column: val (default) or test")
    evaluate.add_argument("--label-seed", type=int, help="seed of the few-shot label draw (default: --seed)")
    evaluate.add_argument("--published", action="store_true", help="also compare with the published proxy scores")
    evaluate.add_argument("--cache", type=Path, help="score cache file to use (default: a temporary one)")
    evaluate.set_defaults(handler=eval_command)

    calibrate = actions.add_parser("calibrate", help="measure candidate proxies on the reference sample")
    _common(calibrate, dataset_help="comma-separated datasets; weightings are ranked by their mean ρ")
    calibrate.add_argument("--candidates", default="synflow,logsynflow,naswot,jacob_cov,params,flops")
    calibrate.add_argument("--cache", type=Path, help="score cache file (default: the user cache)")
    calibrate.add_argument("--write", action="store_true", help="store the reference quantiles in the package file")
    calibrate.set_defaults(handler=calibrate_command)


def _common(parser: argparse.ArgumentParser, dataset_help: str = "cifar10, cifar100 or imagenet16") -> None:
    parser.add_argument("--dataset", default="cifar10", help=dataset_help)
    parser.add_argument("--input", default="photos", choices=INPUT_KINDS, help="images for data-dependent proxies")
    parser.add_argument("--cifar", help="folder with the CIFAR python batches (for --input cifar)")
    parser.add_argument("--batch-size", type=int, help="images per batch (default: the predictor's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads while scoring (default 1)")
    parser.add_argument("--data", help="shared data folder (default: HWNAS_DATA)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _estimator(args: argparse.Namespace, cache: Any = None, dataset: str | None = None) -> Any:
    from hwnas.estimators.zero_cost import ZeroCostEstimator

    options: dict[str, Any] = {}
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    return ZeroCostEstimator(
        dataset or args.dataset,
        seed=getattr(args, "seed", 0),
        input_kind=args.input,
        cifar_folder=args.cifar,
        threads=args.threads,
        cache=cache,
        **options,
    )


def eval_command(args: argparse.Namespace) -> int:
    """Evaluate and print the report."""
    from hwnas.estimators.zc_evaluation import evaluate_predictor

    report = evaluate_predictor(
        load_tables(args.data),
        dataset=args.dataset,
        sample=args.sample,
        seed=args.seed,
        estimator=_estimator(args),
        report_proxies=check_proxy_names(p.strip() for p in args.proxies.split(",") if p.strip()),
        few_shot=args.few_shot,
        label_kind=args.label_kind,
        label_seed=args.label_seed,
        published=args.published,
        cache_path=args.cache,
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{report['dataset']}: {report['sample']} architectures (seed {report['seed']}), input {report['input']}, "
        f"batch {report['batch_size']}, {report['threads']} torch thread(s)\n"
    )
    print("| predictor | Spearman ρ | Kendall τ |\n|---|---|---|")
    for proxy, corr in report["proxies"].items():
        print(f"| {proxy} | {corr['spearman']:.3f} | {corr['kendall']:.3f} |")
    weights = " + ".join(f"{w:g}·{p}" for p, w in report["ensemble"].items())
    corr = report["ensemble_correlation"]
    print(f"| **zc ensemble** ({weights}) | **{corr['spearman']:.3f}** | **{corr['kendall']:.3f}** |")
    if "few_shot" in report:
        few = report["few_shot"]
        label = f"zc-fewshot ({few['labels_used']} {few['label_kind']} labels, draw {few['label_seed']})"
        print(f"| {label} | {few['spearman']:.3f} | {few['kendall']:.3f} |")
    print(
        f"\nmedian scoring time {report['median_seconds_per_arch'] * 1000:.0f} ms/arch "
        f"({report['torch_evaluations']} torch evaluations, median "
        f"{report['median_torch_seconds_per_evaluation'] * 1000:.0f} ms each); cached re-scoring "
        f"{report['cached_rescoring_per_second']:.0f} archs/s; peak memory {report['peak_memory_mb']:.0f} MB"
    )
    if "published_agreement" in report:
        agreement = ", ".join(f"{p} {rho:.3f}" for p, rho in report["published_agreement"].items())
        print(f"Spearman with the published scores: {agreement}")
    return 0


def calibrate_command(args: argparse.Namespace) -> int:
    """Measure the candidates on the reference sample and print the best weightings."""
    from importlib import resources

    from hwnas.estimators.score_cache import ScoreCache
    from hwnas.estimators.zc_evaluation import calibrate_ensemble
    from hwnas.estimators.zero_cost import REFERENCE_FILE, packaged_references, write_packaged_references

    candidates = check_proxy_names(p.strip() for p in args.candidates.split(",") if p.strip())
    datasets = [d.strip() for d in args.dataset.split(",") if d.strip()]
    with ScoreCache(args.cache) as cache:
        result = calibrate_ensemble(
            load_tables(args.data),
            datasets=datasets,
            candidates=candidates,
            estimators={d: _estimator(args, cache, d) for d in datasets},
        )
    if args.write:
        merged = dict(packaged_references())
        merged.update(result["references"])
        path = Path(str(resources.files("hwnas.tools") / REFERENCE_FILE))
        write_packaged_references(merged, path)
        print(f"wrote {len(result['references'])} reference distributions to {path}")
    if args.json:
        result = {**result, "references": {k: np.asarray(v).tolist() for k, v in result["references"].items()}}
        print(json.dumps(result, indent=2))
        return 0
    print(f"reference sample of {result['reference_size']} architectures; Spearman ρ with validation accuracy:")
    for dataset, rhos in result["proxies"].items():
        print(f"  {dataset} ({result['input'][dataset]}): " + ", ".join(f"{p} {r:.3f}" for p, r in rhos.items()))
    print("best weightings (mean ρ over datasets):")
    for entry in result["top"]:
        per_dataset = " ".join(f"{d} {r:.3f}" for d, r in entry["spearman"].items())
        weights = " + ".join(f"{w:g}·{p}" for p, w in entry["weights"].items())
        print(f"  {entry['mean_spearman']:.4f}  [{per_dataset}]  {weights}")
    return 0
