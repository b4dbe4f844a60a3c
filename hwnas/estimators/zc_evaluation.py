"""How well the zero-cost predictor ranks architectures, and how its ensemble was chosen.

`evaluate_predictor` scores an evaluation sample (drawn outside the reference sample) and reports
Spearman ρ and Kendall τ against the table's test accuracy for every proxy and for the ensemble,
the median per-architecture scoring time, cached re-scoring throughput, peak memory and, optionally,
the few-shot mode and agreement with the published proxy scores. `calibrate_ensemble` measures every
candidate proxy on the reference sample and ranks weightings by ρ with validation accuracy; the
default ensemble in `hwnas.estimators.zero_cost` is the pick it printed. CLI: `hwnas predictor eval` and
`hwnas predictor calibrate`.
"""

from __future__ import annotations

import itertools
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from hwnas.core.space import Architecture
from hwnas.errors import UsageError
from hwnas.estimators.proxies import PROXIES, compute_proxies
from hwnas.estimators.score_cache import ScoreCache
from hwnas.estimators.zero_cost import (
    Reference,
    ZeroCostEstimator,
    _reference_key,
    evaluation_sample,
    make_few_shot,
    reference_architectures,
)
from hwnas.spaces.nb201.network import torch_threads
from hwnas.spaces.nb201.tables import BenchmarkTables

PUBLISHED_FILE = "nb201_zc_proxies.csv.gz"
PUBLISHED_PROXIES = ("synflow", "logsynflow", "naswot")


def _rank_ready(values: np.ndarray) -> np.ndarray:
    """NaN and -inf rank lowest, +inf highest (the predictor's non-finite rule, for raw values)."""
    return np.nan_to_num(np.asarray(values, dtype=np.float64), nan=-np.inf)


def rank_correlations(scores: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Spearman ρ and Kendall τ (tau-b) of scores against the truth."""
    scores = _rank_ready(scores)
    return {
        "spearman": float(spearmanr(scores, truth)[0]),
        "kendall": float(kendalltau(scores, truth)[0]),
    }


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evaluate_predictor(
    tables: BenchmarkTables,
    *,
    dataset: str = "cifar10",
    sample: int = 1000,
    seed: int = 0,
    estimator: ZeroCostEstimator | None = None,
    report_proxies: Sequence[str] = tuple(PROXIES),
    few_shot: int = 0,
    label_kind: str = "val",
    label_seed: int | None = None,
    published: bool = False,
    cache_path: Path | None = None,
) -> dict[str, Any]:
    """Score `sample` architectures drawn with `seed` and report rank correlations and costs.

    The few-shot mode (when `few_shot` > 0) is fitted on that many reference-sample architectures drawn
    with `label_seed` (default `seed`) and labelled with the table's `label_kind` accuracy.
    """
    estimator = estimator if estimator is not None else ZeroCostEstimator(dataset, seed=seed)
    archs = evaluation_sample(sample, seed)
    truth = tables.accuracy(dataset, "test")[tables.rows(archs)]
    with tempfile.TemporaryDirectory() as scratch:
        cache = ScoreCache(cache_path if cache_path is not None else Path(scratch) / "scores.sqlite")
        estimator.cache = cache
        for member in estimator.ensemble:  # references first, so timing covers scoring only
            estimator.reference(member.proxy)
        estimator.predict(reference_architectures()[:1])  # warm-up outside the sample
        warm_up = estimator.stats.computed
        per_arch: list[float] = []
        scores = np.empty(len(archs))
        for i, arch in enumerate(archs):  # one call per candidate, as the Coordinator asks
            start = time.perf_counter()
            scores[i] = estimator.predict([arch])[0]
            per_arch.append(time.perf_counter() - start)
        torch_seconds = estimator.stats.seconds_per_arch[warm_up:]
        report: dict[str, Any] = {
            "dataset": dataset,
            "sample": sample,
            "seed": seed,
            "input": estimator.input_source,
            "batch_size": estimator.batch_size,
            "threads": estimator.threads,
            "ensemble": {m.proxy: m.weight for m in estimator.ensemble},
            "ensemble_correlation": rank_correlations(scores, truth),
            "median_seconds_per_arch": statistics.median(per_arch),
            "median_torch_seconds_per_evaluation": statistics.median(torch_seconds) if torch_seconds else 0.0,
            "torch_evaluations": len(torch_seconds),
            "cached_rescoring_per_second": _rescoring_rate(estimator, cache, archs),
        }
        raw = estimator.proxy_values(archs, report_proxies)
        report["proxies"] = {p: rank_correlations(raw[:, j], truth) for j, p in enumerate(report_proxies)}
        if few_shot:
            label_seed = seed if label_seed is None else label_seed
            few = make_few_shot(estimator, tables, few_shot, label_kind=label_kind, seed=label_seed)
            report["few_shot"] = {
                "labels_used": few.labels_used,
                "label_kind": label_kind,
                "label_seed": label_seed,
                **rank_correlations(few.predict(archs), truth),
            }
        if published:
            report["published_agreement"] = published_agreement(tables.folder, archs, dataset, seed=seed)
        estimator.cache = None
        cache.close()
    report["peak_memory_mb"] = peak_memory_mb()
    return report


def _rescoring_rate(estimator: ZeroCostEstimator, cache: ScoreCache, archs: Sequence[Architecture]) -> float:
    """Architectures per second when a fresh estimator (empty memory) re-scores them from the cache."""
    fresh = ZeroCostEstimator(
        estimator.dataset,
        seed=estimator.seed,
        ensemble=estimator.ensemble,
        input_kind=estimator.input_kind,
        cifar_folder=estimator.cifar_folder,
        batch_size=estimator.batch_size,
        cache=cache,
        threads=estimator.threads,
    )
    for member in fresh.ensemble:
        fresh.reference(member.proxy)
    start = time.perf_counter()
    for first in range(0, len(archs), 20):  # Coordinator-sized batches
        fresh.predict(archs[first : first + 20])
    elapsed = time.perf_counter() - start
    if fresh.stats.computed:
        raise RuntimeError("re-scoring from the cache ran torch; the cache key is not stable")
    return len(archs) / elapsed if elapsed > 0 else float("inf")


def published_agreement(data_folder: Path, archs: Sequence[Architecture], dataset: str, *, seed: int = 0) -> dict:
    """Spearman ρ between our synflow/logsynflow/naswot and the published (FreeREA) scores.

    Computed on the architectures themselves (not isomorphism representatives), as the published
    scores were; NASWOT here sees the estimator's default photo batch, theirs saw CIFAR images.
    """
    path = Path(data_folder) / PUBLISHED_FILE
    if not path.is_file():
        raise UsageError(f"published proxy scores {path} not found; point --data at the shared data folder")
    published = pd.read_csv(path).set_index("arch_str")
    estimator = ZeroCostEstimator(dataset, seed=seed)
    with torch_threads(estimator.threads):
        results = [
            compute_proxies(a, PUBLISHED_PROXIES, dataset=dataset, seed=seed, batch=estimator.batch) for a in archs
        ]
    ours = np.array([[r.values[p] for p in PUBLISHED_PROXIES] for r in results])
    theirs = published.loc[[str(a) for a in archs]]
    return {
        p: float(spearmanr(_rank_ready(ours[:, j]), theirs[f"{dataset}_{p}"].to_numpy())[0])
        for j, p in enumerate(PUBLISHED_PROXIES)
    }


def calibrate_ensemble(
    tables: BenchmarkTables,
    *,
    datasets: Sequence[str] = ("cifar10",),
    candidates: Sequence[str] = ("synflow", "logsynflow", "naswot", "jacob_cov", "params", "flops"),
    weights_grid: Sequence[float] = (0.0, 0.5, 1.0, 2.0),
    estimators: dict[str, ZeroCostEstimator] | None = None,
    top: int = 10,
) -> dict[str, Any]:
    """Measure candidate proxies on the reference sample; rank weightings by mean ρ with validation accuracy.

    Weightings use at most 4 proxies with a largest weight of 1 or 2 (the grid's scale is arbitrary).
    Returns per-dataset per-proxy ρ, the `top` weightings with their ρ per dataset, and the reference
    quantiles keyed as the packaged file.
    """
    estimators = estimators or {}
    per_proxy: dict[str, dict[str, float]] = {}
    references: dict[str, np.ndarray] = {}
    positions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    inputs: dict[str, str] = {}
    archs = list(reference_architectures())
    for dataset in datasets:
        estimator = estimators.get(dataset) or ZeroCostEstimator(dataset)
        truth = tables.accuracy(dataset, "val")[tables.rows(archs)]
        raw = estimator.proxy_values(archs, candidates)
        fitted = {p: Reference.from_values(p, raw[:, j]) for j, p in enumerate(candidates)}
        positions[dataset] = (np.column_stack([fitted[p].u(raw[:, j]) for j, p in enumerate(candidates)]), truth)
        per_proxy[dataset] = {p: rank_correlations(raw[:, j], truth)["spearman"] for j, p in enumerate(candidates)}
        inputs[dataset] = estimator.input_source
        for p in candidates:
            references[_reference_key(dataset, p, estimator.reference_family(p))] = fitted[p].quantiles
    ranked: list[dict[str, Any]] = []
    for weights in itertools.product(weights_grid, repeat=len(candidates)):
        w = np.asarray(weights)
        if w.sum() <= 0 or (w > 0).sum() > 4 or w.max() < 1:
            continue
        rhos = {d: float(spearmanr(u @ w, truth)[0]) for d, (u, truth) in positions.items()}
        ranked.append(
            {
                "mean_spearman": float(np.mean(list(rhos.values()))),
                "spearman": rhos,
                "weights": {p: float(x) for p, x in zip(candidates, weights, strict=True) if x},
            }
        )
    ranked.sort(key=lambda entry: -entry["mean_spearman"])
    return {
        "datasets": list(datasets),
        "reference_size": len(archs),
        "input": inputs,
        "proxies": per_proxy,
        "top": ranked[:top],
        "references": references,
    }
