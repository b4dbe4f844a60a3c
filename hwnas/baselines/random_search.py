"""Uniform random search (`rs`): distinct architectures drawn uniformly from the whole space."""

from __future__ import annotations

import numpy as np

from hwnas.evaluation import BudgetedEvaluator, EvaluationRecord
from hwnas.partition import architecture_at
from hwnas.space import SPACE_SIZE, Architecture


def search(evaluator: BudgetedEvaluator, rng: np.random.Generator) -> list[EvaluationRecord]:
    """Evaluate the first unseen architectures of a uniform random permutation of the space."""
    picked: list[Architecture] = []
    for position in rng.permutation(SPACE_SIZE):
        if len(picked) == evaluator.remaining:
            break
        arch = architecture_at(int(position))
        if evaluator.lookup(arch) is None:
            picked.append(arch)
    evaluator.evaluate_many(picked)
    return evaluator.history


def draw_unseen(evaluator: BudgetedEvaluator, rng: np.random.Generator) -> Architecture:
    """Draw architectures uniformly until one has not been evaluated yet (the budget must not be spent)."""
    while True:
        arch = architecture_at(int(rng.integers(SPACE_SIZE)))
        if evaluator.lookup(arch) is None:
            return arch
