"""Uniform random search (`rs`): distinct architectures drawn uniformly from the whole space."""

from __future__ import annotations

import numpy as np

from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord
from hwnas.core.space import Architecture


def search(evaluator: BudgetedEvaluator, rng: np.random.Generator) -> list[EvaluationRecord]:
    """Evaluate the first unseen architectures of a uniform random permutation of the space."""
    space = evaluator.space
    picked: list[Architecture] = []
    for position in rng.permutation(space.size):
        if len(picked) == evaluator.remaining:
            break
        arch = space.at(int(position))
        if evaluator.lookup(arch) is None:
            picked.append(arch)
    evaluator.evaluate_many(picked)
    return evaluator.history


def draw_unseen(evaluator: BudgetedEvaluator, rng: np.random.Generator) -> Architecture:
    """Draw architectures uniformly until one has not been evaluated yet (the budget must not be spent)."""
    while True:
        arch = evaluator.space.at(int(rng.integers(evaluator.space.size)))
        if evaluator.lookup(arch) is None:
            return arch
