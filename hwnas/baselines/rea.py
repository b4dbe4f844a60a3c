"""Regularised evolution (`rea`, Real et al., AAAI 2019), the evolutionary baseline of NAS-Bench-201.

Settings as NAS-Bench-201's own runs of it (Dong & Yang, ICLR 2020; the authors' script
`exps/algos-v2/REA.py` in D-X-Y/AutoDL-Projects is run with `--ea_population 10 --ea_sample_size 3`):
a population of `POPULATION` random architectures; then every cycle draws `SAMPLE` members uniformly
(with replacement, as the paper's pseudo-code), mutates the best-scoring of them on one uniformly drawn
slot to a different op, adds the child and retires the oldest member. It is single-objective: fitness is
the estimator's score (the search's first objective). The run stops when the evaluator's budget of
distinct architectures is spent.

A child that was evaluated before costs no budget and joins the population with its recorded score (the
cycle is not skipped, as in the original, where a repeated architecture is just another member). So that a
population that keeps breeding known architectures cannot stall the run, after `MAX_CONSECUTIVE_DUPLICATES`
such children in a row the next child is a uniformly drawn unevaluated architecture.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import numpy as np

from hwnas.baselines.random_search import draw_unseen
from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord
from hwnas.core.space import Architecture

POPULATION: Final = 10
"""Population size (NAS-Bench-201's REA runs: `--ea_population 10`)."""
SAMPLE: Final = 3
"""Tournament sample size (NAS-Bench-201's REA runs: `--ea_sample_size 3`)."""
MAX_CONSECUTIVE_DUPLICATES: Final = 50
"""Already-evaluated children in a row after which the next child is a random unevaluated architecture."""


def mutate(arch: Architecture, rng: np.random.Generator) -> Architecture:
    """The architecture with one uniformly drawn slot changed to a different, uniformly drawn op."""
    slot = int(rng.integers(len(arch.ops)))
    others = [op for op in arch.space.ops if op != arch.ops[slot]]
    return arch.with_op(slot, others[int(rng.integers(len(others)))])


def search(
    evaluator: BudgetedEvaluator, rng: np.random.Generator, *, population: int = POPULATION, sample: int = SAMPLE
) -> list[EvaluationRecord]:
    """Run regularised evolution until the budget is spent."""
    members: deque[EvaluationRecord] = deque(maxlen=population)  # appending retires the oldest
    while len(members) < population and evaluator.remaining > 0:
        members.append(evaluator.evaluate(draw_unseen(evaluator, rng)))
    duplicates_in_a_row = 0
    while evaluator.remaining > 0:
        if duplicates_in_a_row == MAX_CONSECUTIVE_DUPLICATES:
            child = draw_unseen(evaluator, rng)
        else:
            contestants = [members[int(i)] for i in rng.integers(len(members), size=sample)]
            parent = max(contestants, key=lambda r: r.score)  # ties: the first drawn
            child = mutate(parent.arch, rng)
        known = evaluator.lookup(child)
        duplicates_in_a_row = 0 if known is None else duplicates_in_a_row + 1
        members.append(known or evaluator.evaluate(child))
    return evaluator.history
