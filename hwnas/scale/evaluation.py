"""A run's evaluations as Ray tasks: `RayEstimator` wraps the run's `Estimator` (`hwnas run --executor ray`).

The Coordinator scores a round's accepted candidates in one `predict` call; the wrapper splits that batch
into one chunk per free task slot of the cluster and predicts the chunks as Ray tasks, each asking for the
estimator's resources (`resources` attribute, e.g. a GPU or a board; `--ray-resources` overrides; default
one CPU). Scores come back in order, so the run is the one the local executor makes.

The driver stays the only writer of the run's files and of the score cache: for the zero-cost estimators
(`zc`, `zc-fewshot`) it looks the batch up in its cache first and sends only the misses out; workers
compute them with torch and touch no cache; the driver records what comes back (memory, cache) and then
predicts from memory. Any other estimator is sent to the workers whole (once per run, through Ray's
object store) and its `predict` runs there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from hwnas.core.evaluation import Estimator
from hwnas.core.space import Architecture
from hwnas.estimators.proxies import ProxyResult
from hwnas.estimators.zero_cost import FewShotZeroCost, ProxyJob, ZeroCostEstimator, compute_jobs
from hwnas.scale.cluster import TASK_RETRIES, check_feasible, connect, task_resources

T = TypeVar("T")


@dataclass
class FanOutStats:
    """What went to Ray: tasks submitted and the items (architectures or proxy jobs) they carried."""

    tasks: int = 0
    items: int = 0


def _predict_chunk(estimator: Estimator, archs: Sequence[Architecture]) -> np.ndarray:
    """The body of a task for a whole estimator."""
    return np.asarray(estimator.predict(archs), dtype=np.float64)


def _chunks(items: Sequence[T], slots: int) -> list[Sequence[T]]:
    """`items` in at most `slots` contiguous chunks of near-equal size."""
    size = math.ceil(len(items) / max(1, min(slots, len(items))))
    return [items[start : start + size] for start in range(0, len(items), size)]


def zero_cost_base(estimator: Estimator) -> ZeroCostEstimator | None:
    """The label-free estimator whose torch work `estimator` needs, if it is a zero-cost one."""
    if isinstance(estimator, ZeroCostEstimator):
        return estimator
    if isinstance(estimator, FewShotZeroCost):
        return estimator.base
    return None


class RayEstimator:
    """An `Estimator` that predicts through Ray tasks; same name, kind and scores as the one it wraps."""

    def __init__(self, inner: Estimator, *, address: str | None, resources: Mapping[str, float]) -> None:
        self.inner = inner
        self.name = inner.name
        self.is_accuracy = inner.is_accuracy
        self.stats = FanOutStats()
        self._ray = connect(address)
        self._request = task_resources(resources or getattr(inner, "resources", {}))
        check_feasible(self._ray, self._request)  # a request no node can satisfy fails before the run starts
        self._base = zero_cost_base(inner)
        self._shared: Any = None  # the estimator or the image batch, put in the object store once

    def _remote(self, function: Callable[..., Any]) -> Any:
        request = self._request
        return self._ray.remote(function).options(
            num_cpus=request.get("CPU", 0.0),
            num_gpus=request.get("GPU", 0.0),
            resources={k: v for k, v in request.items() if k not in ("CPU", "GPU")},
            max_retries=TASK_RETRIES,
        )

    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        """One score per architecture, the work done by Ray tasks."""
        if not archs:
            return np.zeros(0)
        slots = check_feasible(self._ray, self._request)
        if self._base is None:
            if self._shared is None:
                self._shared = self._ray.put(self.inner)
            chunks = _chunks(list(archs), slots)
            task = self._remote(_predict_chunk)
            parts = self._ray.get([task.remote(self._shared, chunk) for chunk in chunks])
            self._count(chunks)
            return np.concatenate(parts)
        base = self._base
        jobs = base.torch_jobs(archs)
        if jobs:
            job_chunks = _chunks(jobs, slots)
            batch = base.batch_for(jobs)
            if batch is not None and self._shared is None:
                self._shared = self._ray.put(batch)
            task = self._remote(compute_jobs)
            shared = self._shared if batch is not None else None
            refs = [
                task.remote(chunk, dataset=base.dataset, seed=base.seed, threads=base.threads, batch=shared)
                for chunk in job_chunks
            ]
            results: list[list[ProxyResult]] = self._ray.get(refs)
            for chunk, computed in zip(job_chunks, results, strict=True):
                for job, result in zip(chunk, computed, strict=True):
                    base.record(job.key, result)
            self._count(job_chunks)
        return np.asarray(self.inner.predict(archs), dtype=np.float64)  # every value is in memory now

    def _count(self, chunks: Sequence[Sequence[ProxyJob] | Sequence[Architecture]]) -> None:
        self.stats.tasks += len(chunks)
        self.stats.items += sum(len(c) for c in chunks)
