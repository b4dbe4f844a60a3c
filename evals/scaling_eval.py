"""Measure the within-run fan-out: one round's `zc` batch scored locally and as Ray tasks (BENCHMARKS.md).

For each draw, `batch` random distinct functions are scored with a cold score cache twice: by the local
`zc` estimator (torch in this process, one thread) and by `RayEstimator` over a local Ray instance of
`cpus` CPUs (the driver looks its own cold cache up, the workers compute the misses). Both must give the
same scores. Also printed: the round trip of an empty task (Ray's own cost per task) and Ray's start::

    python -m hwnas.evals.scaling_eval 24 2 3      # batch 24, 2 CPUs, 3 draws
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from hwnas.estimators.zero_cost import compute_jobs, make_zero_cost
from hwnas.spaces.nb201 import NB201


def main(batch: int, cpus: int, draws: int) -> None:
    """Print one line per draw, then Ray's start and per-task round trip."""
    import ray

    from hwnas.scale.evaluation import RayEstimator

    started = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR)
    print(f"ray start: {time.perf_counter() - started:.2f} s ({cpus} CPUs)")
    pool = list(NB201.distinct_architectures)
    with tempfile.TemporaryDirectory() as folder:
        for draw in range(draws):
            archs = [pool[i] for i in np.random.default_rng(draw).choice(len(pool), batch, replace=False)]
            local = make_zero_cost("zc", dataset="cifar10", cache=Path(folder) / f"local{draw}.sqlite")
            started = time.perf_counter()
            expected = local.predict(archs)
            local_s = time.perf_counter() - started
            fanned = RayEstimator(make_zero_cost("zc", dataset="cifar10", cache=Path(folder) / f"ray{draw}.sqlite"),
                                  address=None, resources={})  # fmt: skip
            started = time.perf_counter()
            scores = fanned.predict(archs)
            ray_s = time.perf_counter() - started
            assert np.array_equal(scores, expected), "Ray tasks scored differently"
            print(f"draw {draw}: batch {batch}, torch jobs {fanned.stats.items} in {fanned.stats.tasks} tasks | "
                  f"local {local_s:.2f} s | ray {ray_s:.2f} s | ratio {local_s / ray_s:.2f}")  # fmt: skip
    empty = cast(Any, ray).remote(compute_jobs)  # Ray's stubs type remote functions by arity only
    ray.get(empty.remote([], dataset="cifar10", seed=0, threads=1, batch=None))  # a warm worker
    rounds = 50
    started = time.perf_counter()
    for _ in range(rounds):
        ray.get(empty.remote([], dataset="cifar10", seed=0, threads=1, batch=None))
    print(f"empty task round trip: {1000 * (time.perf_counter() - started) / rounds:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
