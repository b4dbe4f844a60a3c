"""Pareto local search (`ls`) over the one-edge neighbourhood.

Start from a random architecture; repeatedly pick an unexplored member of the evaluator's
non-dominated archive at random and evaluate its 24 neighbours (one edge changed) in random order;
when every archive member has been explored, restart from a random unseen architecture.
"""

from __future__ import annotations

import numpy as np

from hwnas.baselines.random_search import draw_unseen
from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord


def search(evaluator: BudgetedEvaluator, rng: np.random.Generator) -> list[EvaluationRecord]:
    """Run Pareto local search until the budget is spent."""
    explored: set[str] = set()
    while evaluator.remaining > 0:
        unexplored = [r for r in evaluator.archive.front if r.arch_str not in explored]
        if not unexplored:
            evaluator.evaluate(draw_unseen(evaluator, rng))
            continue
        current = unexplored[int(rng.integers(len(unexplored)))]
        explored.add(current.arch_str)
        neighbours = current.arch.neighbours()
        unseen = [neighbours[i] for i in rng.permutation(len(neighbours)) if evaluator.lookup(neighbours[i]) is None]
        evaluator.evaluate_many(unseen[: evaluator.remaining])
    return evaluator.history
