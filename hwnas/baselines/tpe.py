"""Optuna's multi-objective TPE (`tpe`): `optuna.samplers.TPESampler`, seeded from the run's generator.

Multivariate TPE models the six edges' ops jointly rather than one edge at a time (Optuna's default for
two objectives is independent); an op's effect on accuracy depends on the other edges (a `none` edge
can cut a path), so the joint model suits the cell. Otherwise Optuna's defaults: 10 random start-up
trials, then MOTPE's split of the trials by non-domination rank. The loop is `optuna_study.run_study`.
"""

from __future__ import annotations

import numpy as np

from hwnas.baselines.optuna_study import run_study
from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord


def search(evaluator: BudgetedEvaluator, rng: np.random.Generator) -> list[EvaluationRecord]:
    """Run multivariate multi-objective TPE until the budget is spent."""
    from optuna.samplers import TPESampler

    return run_study(evaluator, rng, lambda seed: TPESampler(multivariate=True, seed=seed))
