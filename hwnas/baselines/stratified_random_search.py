"""Partition-stratified random search (`rs-partition`): round-robin over partitions, uniform inside each.

By default the partitions are PEL-NAS's six `conv3` niches, so the small high-accuracy niches are
sampled as often as the large ones; a partition that runs out of architectures drops out of the turn.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from hwnas.evaluation import BudgetedEvaluator, EvaluationRecord
from hwnas.partition import Partitioning, architecture_at, make_partitioning
from hwnas.space import Architecture


@cache
def _conv3_niches() -> Partitioning:
    return make_partitioning("conv3")


def search(
    evaluator: BudgetedEvaluator, rng: np.random.Generator, *, partitioning: Partitioning | None = None
) -> list[EvaluationRecord]:
    """Take one unseen architecture from each partition in turn until the budget is spent."""
    partitioning = partitioning or _conv3_niches()
    # Each queue is its partition in random order, consumed from the end.
    queues = [list(rng.permutation(partitioning.positions(p.index))) for p in partitioning.partitions]
    picked: list[Architecture] = []
    chosen: set[str] = set()
    while len(picked) < evaluator.remaining and any(queues):
        for queue in queues:
            while queue and len(picked) < evaluator.remaining:
                arch = architecture_at(int(queue.pop()))
                if evaluator.lookup(arch) is None and str(arch) not in chosen:
                    picked.append(arch)
                    chosen.add(str(arch))
                    break
    evaluator.evaluate_many(picked)
    return evaluator.history
