"""Partition-stratified random search (`rs-partition`): round-robin over partitions, uniform inside each.

By default the partitions are the space's complexity niches (NB201: PEL-NAS's six `conv3` niches),
so the small high-accuracy niches are sampled as often as the large ones; a partition that runs out of
architectures drops out of the turn.
"""

from __future__ import annotations

import numpy as np

from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord
from hwnas.core.space import Architecture
from hwnas.partition import Partitioning, make_partitioning


def search(
    evaluator: BudgetedEvaluator, rng: np.random.Generator, *, partitioning: Partitioning | None = None
) -> list[EvaluationRecord]:
    """Take one unseen architecture from each partition in turn until the budget is spent."""
    space = evaluator.space
    partitioning = partitioning or make_partitioning(space, space.niches().axis)
    # Each queue is its partition in random order, consumed from the end.
    queues = [list(rng.permutation(partitioning.positions(p.index))) for p in partitioning.partitions]
    picked: list[Architecture] = []
    chosen: set[str] = set()
    while len(picked) < evaluator.remaining and any(queues):
        for queue in queues:
            while queue and len(picked) < evaluator.remaining:
                arch = space.at(int(queue.pop()))
                if evaluator.lookup(arch) is None and str(arch) not in chosen:
                    picked.append(arch)
                    chosen.add(str(arch))
                    break
    evaluator.evaluate_many(picked)
    return evaluator.history
