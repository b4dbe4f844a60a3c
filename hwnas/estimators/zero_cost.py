"""The zero-cost accuracy predictor `zc`: a label-free ensemble of proxies, and a few-shot calibrated mode.

Label-free (`ZeroCostEstimator`, estimator name `zc`). An architecture's score is a fixed function of
the architecture, never of the batch it is scored in:

1. The architecture is replaced by the representative of its isomorphism class (same
   `canonical_key`; the member with the fewest convolutions, then fewest non-`none` edges, then the
   smallest op codes), so isomorphic candidates get one score and share one cache entry, and dead
   branches, which do not change the function, do not count.
2. Each proxy of the ensemble is computed (or read from the `ScoreCache`) for that representative.
3. Each value is mapped through its proxy's fixed reference distribution: the proxy's values on the
   reference sample (300 architectures drawn with `CALIBRATION_SEED`, disjoint from every evaluation
   sample), a piecewise-linear empirical CDF u in [0, 1], continued linearly beyond the sample's range
   and clipped to [-1, 2].
4. The score is the weighted mean of the proxies' u. Proxies and weights (`DEFAULT_ENSEMBLE`) were
   chosen by `hwnas predictor calibrate`: measured rank correlation with the table's validation
   accuracy on the reference sample, never on the evaluation sample.

Non-finite proxy values never raise. Rule: -inf and NaN rank below every finite value (u = -1, the
bottom of the clip range: a singular NASWOT kernel or a zero SynFlow means the output does not depend
on the input, i.e. the worst kind of network); +inf ranks above every finite value (u = 2).

Few-shot (`FewShotZeroCost`, estimator name `zc-fewshot`): the ensemble's proxy u-values plus a one-hot
encoding of the ops feed an RBF kernel ridge regressor fitted to the normal scores of the ranks of k
labelled architectures' accuracies; its `labels_used` is the cost to report. `make_few_shot` draws the
labelled architectures from the reference sample, so they never overlap an evaluation sample drawn by
`evaluation_sample`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from scipy.stats import norm, rankdata

from hwnas.core.space import Architecture
from hwnas.errors import UsageError
from hwnas.estimators.inputs import ImageBatch, make_batch
from hwnas.estimators.proxies import PROXIES, ProxyResult, analytic_scores, check_proxy_names, compute_proxies
from hwnas.estimators.score_cache import ProxyEntry, ScoreCache
from hwnas.spaces.nb201.cost import dataset_shape
from hwnas.spaces.nb201.network import torch_threads
from hwnas.spaces.nb201.space import NB201, NUM_EDGES, SPACE_SIZE

if TYPE_CHECKING:
    from hwnas.spaces.nb201.tables import BenchmarkTables

CALIBRATION_SEED: Final = 12345
REFERENCE_SIZE: Final = 300
REFERENCE_FILE: Final = "zc_reference.json"
ZC_BATCH_SIZE: Final = 8
"""Images per batch for the data-dependent proxies: in the ensemble as accurate as 16, at half the time."""
LOWEST_U: Final = -1.0
HIGHEST_U: Final = 2.0
LOG_SCALED: Final = frozenset({"synflow", "snip", "grad_norm", "params", "flops"})
"""Proxies spread over orders of magnitude: referenced on a log scale, so tails extrapolate sensibly."""


@dataclass(frozen=True, slots=True)
class Member:
    """One proxy of the ensemble and its weight."""

    proxy: str
    weight: float


DEFAULT_ENSEMBLE: Final = (Member("naswot", 0.5), Member("jacob_cov", 2.0), Member("params", 2.0))
"""Chosen by `hwnas predictor calibrate --dataset cifar10,cifar100,imagenet16 --batch-size 8` (BENCHMARKS.md):
the best mean ρ with validation accuracy on the reference sample among weightings that need one torch
pass (naswot and jacob_cov share it; params is analytic), 0.0001 below the best weighting overall,
which needs a second (SynFlow) pass."""


# ---- reference sample and isomorphism classes -------------------------------------------------------
@cache
def reference_architectures(size: int = REFERENCE_SIZE) -> tuple[Architecture, ...]:
    """The fixed reference (calibration) sample: `size` distinct architectures drawn with CALIBRATION_SEED."""
    chosen = np.random.default_rng(CALIBRATION_SEED).choice(SPACE_SIZE, size=size, replace=False)
    return tuple(NB201.at(int(i)) for i in np.sort(chosen))


def evaluation_sample(size: int, seed: int) -> list[Architecture]:
    """`size` distinct architectures drawn with `seed` from the space minus the reference sample."""
    excluded = set(reference_architectures())
    pool = [a for a in NB201 if a not in excluded]
    if not 1 <= size <= len(pool):
        raise UsageError(f"--sample must be between 1 and {len(pool)}, got {size}")
    chosen = np.random.default_rng(seed).choice(len(pool), size=size, replace=False)
    return [pool[int(i)] for i in chosen]


def few_shot_labelled(count: int, seed: int = 0) -> list[Architecture]:
    """The `count` architectures whose labels the few-shot mode may use: a seeded subset of the reference sample."""
    pool = reference_architectures()
    if not 5 <= count <= len(pool):
        raise UsageError(f"--few-shot takes 5..{len(pool)} labelled architectures, got {count}")
    chosen = np.random.default_rng(seed).choice(len(pool), size=count, replace=False)
    return [pool[int(i)] for i in np.sort(chosen)]


def _pruning_order(arch: Architecture) -> tuple[int, int, tuple[int, ...]]:
    counts = arch.op_counts
    return counts["nor_conv_1x1"] + counts["nor_conv_3x3"], NUM_EDGES - counts["none"], arch.codes


@cache
def _representatives() -> dict[str, Architecture]:
    best: dict[str, Architecture] = {}
    for arch in NB201:
        key = arch.canonical_key
        if key not in best or _pruning_order(arch) < _pruning_order(best[key]):
            best[key] = arch
    return best


def representative(arch: Architecture) -> Architecture:
    """The member of `arch`'s isomorphism class that the predictor scores (see module docstring)."""
    return _representatives()[arch.canonical_key]


# ---- reference distributions ------------------------------------------------------------------------
def _transform(proxy: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if proxy in LOG_SCALED:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), -np.inf)
    return values


@dataclass(frozen=True)
class Reference:
    """A proxy's reference distribution: quantiles of its (transformed) values on the reference sample."""

    proxy: str
    quantiles: np.ndarray

    @classmethod
    def from_values(cls, proxy: str, values: np.ndarray, points: int = 101) -> Reference:
        """Quantiles of the finite transformed values (non-finite ones are handled by the rule instead)."""
        transformed = _transform(proxy, values)
        finite = transformed[np.isfinite(transformed)]
        if len(finite) < 2 or np.ptp(finite) == 0:
            raise UsageError(f"proxy {proxy!r} is constant on the reference sample; it cannot rank architectures")
        return cls(proxy, np.quantile(finite, np.linspace(0.0, 1.0, points)))

    def u(self, values: np.ndarray) -> np.ndarray:
        """Empirical-CDF position of each value (linear beyond the sample's range, clipped; rule for non-finite)."""
        x = _transform(self.proxy, values)
        q = self.quantiles
        levels = np.linspace(0.0, 1.0, len(q))
        inside = np.interp(np.nan_to_num(x, nan=q[0], posinf=q[-1], neginf=q[0]), q, levels)
        span = q[-1] - q[0]
        below = (x - q[0]) / span
        above = 1.0 + (x - q[-1]) / span
        with np.errstate(invalid="ignore"):
            u = np.where(x < q[0], below, np.where(x > q[-1], above, inside))
        u = np.where(np.isnan(x), LOWEST_U, u)
        return np.clip(u, LOWEST_U, HIGHEST_U)


def _reference_key(dataset: str, proxy: str, input_id: str) -> str:
    return f"{dataset}|{proxy}|{input_id}"


@cache
def packaged_references() -> dict[str, np.ndarray]:
    """The reference quantiles shipped with hwnas (written by `hwnas predictor calibrate --write`)."""
    path = resources.files("hwnas.estimators") / REFERENCE_FILE
    if not path.is_file():
        return {}
    payload = json.loads(path.read_text(encoding="utf-8"))
    return {key: np.asarray(values, dtype=np.float64) for key, values in payload["references"].items()}


def write_packaged_references(references: dict[str, np.ndarray], path: Path) -> None:
    """Write reference quantiles to the JSON file that `packaged_references` reads."""
    payload = {
        "about": "Quantiles of zero-cost proxy values on hwnas's reference sample; see hwnas.estimators.zero_cost.",
        "calibration_seed": CALIBRATION_SEED,
        "reference_size": REFERENCE_SIZE,
        "references": {key: [float(f"{v:.7g}") for v in q] for key, q in sorted(references.items())},
    }
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


# ---- the label-free estimator ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProxyJob:
    """Torch work for one isomorphism class: its key, the representative scored, and the proxies to compute."""

    key: str
    arch: Architecture
    proxies: tuple[str, ...]


def compute_jobs(
    jobs: Sequence[ProxyJob], *, dataset: str, seed: int, threads: int, batch: ImageBatch | None
) -> list[ProxyResult]:
    """Compute each job's proxies with torch, touching no cache: the estimator's misses, here or on a worker."""
    with torch_threads(threads):
        return [compute_proxies(job.arch, job.proxies, dataset=dataset, seed=seed, batch=batch) for job in jobs]


@dataclass
class ScoringStats:
    """What scoring cost so far: torch evaluations (cache misses), cache hits and torch seconds."""

    computed: int = 0
    cache_hits: int = 0
    torch_seconds: float = 0.0
    seconds_per_arch: list[float] = field(default_factory=list)


class ZeroCostEstimator:
    """The label-free `zc` Estimator (see the module docstring for how a score is made)."""

    name = "zc"
    is_accuracy = False

    def __init__(
        self,
        dataset: str = "cifar10",
        *,
        seed: int = 0,
        ensemble: Sequence[Member] = DEFAULT_ENSEMBLE,
        extra_proxies: Sequence[str] = (),
        input_kind: str = "photos",
        cifar_folder: str | Path | None = None,
        batch_size: int = ZC_BATCH_SIZE,
        cache: ScoreCache | None = None,
        threads: int = 1,
    ) -> None:
        dataset_shape(dataset)
        self.dataset = dataset
        self.seed = seed
        self.ensemble = tuple(ensemble)
        check_proxy_names(m.proxy for m in self.ensemble)
        if any(m.weight < 0 for m in self.ensemble) or sum(m.weight for m in self.ensemble) <= 0:
            raise UsageError("ensemble weights must be >= 0 with a positive sum")
        extras = check_proxy_names(extra_proxies) if extra_proxies else ()
        self.proxies = tuple(dict.fromkeys([*(m.proxy for m in self.ensemble), *extras]))
        self.input_kind = input_kind
        self.cifar_folder = cifar_folder
        self.batch_size = batch_size
        self.cache = cache
        self.threads = threads
        self.stats = ScoringStats()
        self._batch: ImageBatch | None = None
        self._memory: dict[tuple[str, str, int], float] = {}
        self._references: dict[str, Reference] = {}

    # -- inputs --
    @property
    def batch(self) -> ImageBatch:
        """The image batch for data-dependent proxies (built on first use)."""
        if self._batch is None:
            self._batch = make_batch(
                self.dataset, kind=self.input_kind, size=self.batch_size, seed=self.seed, cifar_folder=self.cifar_folder
            )
        return self._batch

    def input_id(self, proxy: str) -> str:
        """What a proxy's value depends on besides the network and seed: the exact batch, or 'none'."""
        return self.batch.input_id if PROXIES[proxy].needs_data else "none"

    def reference_family(self, proxy: str) -> str:
        """What a proxy's reference distribution depends on: the batch family (any seed), or 'none'."""
        return self.batch.family if PROXIES[proxy].needs_data else "none"

    @property
    def input_source(self) -> str:
        """Where the data-dependent proxies' images came from ('none' if no proxy uses images)."""
        return self.batch.source if any(PROXIES[p].needs_data for p in self.proxies) else "none"

    # -- raw values --
    def proxy_values(self, archs: Sequence[Architecture], proxies: Sequence[str] | None = None) -> np.ndarray:
        """Raw proxy values (len(archs), len(proxies)) of the archs' representatives, cached."""
        proxies = tuple(proxies) if proxies is not None else self.proxies
        seed = self.seed
        reps = [representative(a) for a in archs]
        keys = [r.canonical_key for r in reps]
        self._fill(dict(zip(keys, reps, strict=True)), proxies, seed)
        return np.array([[self._memory[(k, p, seed)] for p in proxies] for k in keys], dtype=np.float64).reshape(
            len(archs), len(proxies)
        )

    def torch_jobs(self, archs: Sequence[Architecture], proxies: Sequence[str] | None = None) -> list[ProxyJob]:
        """The torch work `proxy_values(archs, proxies)` still needs (default: the ensemble's, as `predict`).

        Analytic values and cached ones are brought into memory first; nothing is computed. A caller that
        computes the jobs elsewhere (`compute_jobs`, e.g. on Ray workers) hands the results to `record`.
        """
        proxies = tuple(proxies) if proxies is not None else tuple(m.proxy for m in self.ensemble)
        reps = {r.canonical_key: r for r in map(representative, archs)}
        return self._pending(reps, proxies, self.seed)

    def batch_for(self, jobs: Sequence[ProxyJob]) -> ImageBatch | None:
        """The image batch if any of the jobs needs one (built on first use), else None."""
        return self.batch if any(PROXIES[p].needs_data for job in jobs for p in job.proxies) else None

    def _pending(self, reps_by_key: dict[str, Architecture], proxies: Sequence[str], seed: int) -> list[ProxyJob]:
        """Bring analytic and cached values into memory; the (key, proxies) left for torch."""
        torch_proxies = [p for p in proxies if PROXIES[p].probe != "analytic"]
        analytic = [p for p in proxies if PROXIES[p].probe == "analytic"]
        for key, rep in reps_by_key.items():
            if any((key, p, seed) not in self._memory for p in analytic):
                values = analytic_scores(rep, self.dataset)
                for p in analytic:
                    self._memory[(key, p, seed)] = values[p]
        missing_keys = [k for k in reps_by_key if any((k, p, seed) not in self._memory for p in torch_proxies)]
        if not missing_keys:
            return []
        groups: dict[str, list[str]] = {}
        for p in torch_proxies:
            groups.setdefault(self.input_id(p), []).append(p)
        if self.cache is not None:
            for input_id, group in groups.items():
                found = self.cache.get_proxies(
                    missing_keys, dataset=self.dataset, proxies=group, seed=seed, input_id=input_id
                )
                for key, entries in found.items():
                    for p, entry in entries.items():
                        self._memory[(key, p, seed)] = entry.value
        jobs = []
        for key in missing_keys:
            todo = tuple(p for p in torch_proxies if (key, p, seed) not in self._memory)
            if todo:
                jobs.append(ProxyJob(key, reps_by_key[key], todo))
            else:
                self.stats.cache_hits += 1
        return jobs

    def _fill(self, reps_by_key: dict[str, Architecture], proxies: Sequence[str], seed: int) -> None:
        """Make every (key, proxy) available in memory: analytic, then cache, then torch (recorded one by one)."""
        for job in self._pending(reps_by_key, proxies, seed):
            [result] = compute_jobs([job], dataset=self.dataset, seed=seed, threads=self.threads,
                                    batch=self.batch_for([job]))  # fmt: skip
            self._record(job.key, result, seed)

    def record(self, key: str, result: ProxyResult) -> None:
        """Keep a job's result computed elsewhere: in memory, the stats and the score cache (the only writer)."""
        self._record(key, result, self.seed)

    def _record(self, key: str, result: ProxyResult, seed: int) -> None:
        self.stats.computed += 1
        self.stats.torch_seconds += result.seconds
        self.stats.seconds_per_arch.append(result.seconds)
        for p, value in result.values.items():
            self._memory[(key, p, seed)] = value
        if self.cache is not None:
            by_input: dict[str, list[tuple[str, str, ProxyEntry]]] = {}
            for p, value in result.values.items():
                source = result.input_source if PROXIES[p].needs_data else "none"
                by_input.setdefault(self.input_id(p), []).append((key, p, ProxyEntry(value, result.seconds, source)))
            for input_id, rows in by_input.items():
                self.cache.put_proxies(rows, dataset=self.dataset, seed=seed, input_id=input_id)

    # -- references and scores --
    def reference(self, proxy: str) -> Reference:
        """The proxy's reference distribution: packaged if it matches this input, else measured once (cached)."""
        if proxy not in self._references:
            key = _reference_key(self.dataset, proxy, self.reference_family(proxy))
            quantiles = packaged_references().get(key)
            if quantiles is not None:
                self._references[proxy] = Reference(proxy, quantiles)
            else:
                print(
                    f"hwnas: measuring the {proxy} reference distribution for {self.dataset} on "
                    f"{REFERENCE_SIZE} reference architectures (once; cached)",
                    file=sys.stderr,
                )
                values = self.proxy_values(reference_architectures(), [proxy])[:, 0]
                self._references[proxy] = Reference.from_values(proxy, values)
        return self._references[proxy]

    def features(self, archs: Sequence[Architecture], proxies: Sequence[str] | None = None) -> np.ndarray:
        """Reference-CDF positions u (len(archs), len(proxies)) after the non-finite rule."""
        proxies = tuple(proxies) if proxies is not None else self.proxies
        raw = self.proxy_values(archs, proxies)
        return np.column_stack([self.reference(p).u(raw[:, j]) for j, p in enumerate(proxies)]).reshape(
            len(archs), len(proxies)
        )

    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Ensemble score per architecture, higher = predicted more accurate; deterministic for a seed."""
        if not archs:
            return np.zeros(0)
        members = [m.proxy for m in self.ensemble]
        u = self.features(archs, members)
        total = sum(m.weight for m in self.ensemble)
        score = np.zeros(len(archs))
        for j, member in enumerate(self.ensemble):  # elementwise in a fixed order: bit-identical in any batch
            score += member.weight * u[:, j]
        return score / total


# ---- few-shot calibrated mode ------------------------------------------------------------------------
@dataclass(frozen=True)
class KernelRidge:
    """RBF kernel ridge regression; lengthscale and ridge picked by exact leave-one-out error."""

    train_x: np.ndarray
    dual: np.ndarray
    mean: float
    lengthscale: float
    ridge: float

    @staticmethod
    def _kernel(a: np.ndarray, b: np.ndarray, lengthscale: float) -> np.ndarray:
        squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return np.exp(-np.maximum(squared, 0.0) / (2 * lengthscale**2))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> KernelRidge:
        """Fit on (n, d) features and n targets."""
        mean = float(y.mean())
        centred = y - mean
        best: tuple[float, float, float] | None = None
        scale = math.sqrt(x.shape[1])
        for lengthscale in scale * np.array([0.25, 0.5, 1.0, 2.0, 4.0]):
            gram = cls._kernel(x, x, lengthscale)
            for ridge in (1e-3, 1e-2, 1e-1, 1.0):
                inverse = np.linalg.inv(gram + ridge * np.eye(len(x)))
                loo = (inverse @ centred) / np.diag(inverse)
                error = float(np.mean(loo**2))
                if best is None or error < best[0]:
                    best = (error, float(lengthscale), ridge)
        assert best is not None
        _, lengthscale, ridge = best
        dual = np.linalg.solve(cls._kernel(x, x, lengthscale) + ridge * np.eye(len(x)), centred)
        return cls(x, dual, mean, lengthscale, ridge)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted targets for (m, d) features."""
        return self.mean + self._kernel(x, self.train_x, self.lengthscale) @ self.dual


def normal_scores(values: np.ndarray) -> np.ndarray:
    """Ranks mapped to standard normal quantiles (the few-shot target).

    A squared-error fit to raw accuracies is dominated by the few 10 % networks; ranking is the task.
    """
    ranks = rankdata(values)
    return norm.ppf((ranks - 0.5) / len(values))


class FewShotZeroCost:
    """The few-shot `zc-fewshot` Estimator: proxies + op encoding -> accuracy rank, fitted on k labels."""

    name = "zc-fewshot"
    is_accuracy = False

    def __init__(self, base: ZeroCostEstimator, labelled: Sequence[Architecture], labels: Sequence[float]) -> None:
        if len(labelled) != len(labels) or len(labelled) < 5:
            raise UsageError(f"few-shot mode needs at least 5 labelled architectures, got {len(labelled)}")
        self.base = base
        self.labels_used = len(labelled)
        """The cost of this mode: how many architectures had to be trained (labelled)."""
        targets = normal_scores(np.asarray(labels, dtype=np.float64))
        self.model = KernelRidge.fit(self._features(labelled), targets)

    def _features(self, archs: Sequence[Architecture]) -> np.ndarray:
        members = [m.proxy for m in self.base.ensemble]
        return np.hstack([self.base.features(archs, members), NB201.encode([representative(a) for a in archs])])

    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Predicted accuracy rank score (standard normal scale) per architecture, higher = better."""
        if not archs:
            return np.zeros(0)
        return self.model.predict(self._features(archs))


# ---- construction by name (hwnas.registry) -----------------------------------------------------------
def make_few_shot(
    estimator: ZeroCostEstimator, tables: BenchmarkTables, labels: int, *, label_kind: str = "val", seed: int = 0
) -> FewShotZeroCost:
    """The few-shot predictor fitted on `labels` reference-sample architectures labelled from the table."""
    labelled = few_shot_labelled(labels, seed)
    accuracy = tables.accuracy(estimator.dataset, label_kind)[tables.rows(labelled)]
    return FewShotZeroCost(estimator, labelled, accuracy)


def make_zero_cost(
    name: str,
    *,
    dataset: str,
    tables: BenchmarkTables | None = None,
    seed: int = 0,
    cache: ScoreCache | str | Path | None = None,
    labels: int = 100,
    label_kind: str = "val",
    **options: Any,
) -> ZeroCostEstimator | FewShotZeroCost:
    """`zc` or `zc-fewshot` with the persistent cache (`cache`: an open cache, a file, or the default file).

    `options` go to `ZeroCostEstimator` (input_kind, cifar_folder, batch_size, threads, ensemble);
    `zc-fewshot` also needs `tables` for its `labels` labels (`label_kind` accuracy, default validation).
    """
    store = cache if isinstance(cache, ScoreCache) else ScoreCache(cache)
    base = ZeroCostEstimator(dataset, seed=seed, cache=store, **options)
    if name == "zc":
        return base
    if name == "zc-fewshot":
        if tables is None:
            raise UsageError(
                "estimator 'zc-fewshot' labels architectures from the tables: pass --data PATH or set HWNAS_DATA"
            )
        return make_few_shot(base, tables, labels, label_kind=label_kind, seed=seed)
    raise UsageError(f"unknown zero-cost estimator {name!r}; accepted: zc, zc-fewshot")
