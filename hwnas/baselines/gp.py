"""Optuna's Gaussian-process Bayesian optimisation (`gp`): `optuna.samplers.GPSampler`, seeded from the run.

With two objectives GPSampler fits one GP per objective (Matern 5/2 with one length scale per edge; a
categorical parameter's distance is 0 if the ops match, else 1) and proposes the point of largest log
expected hypervolume improvement.
`deterministic_objective=True`: an estimator gives the same score for the same architecture every time,
and so does a latency table, so the GP's noise is held at its floor. Otherwise Optuna's defaults:
10 random start-up trials. The loop is `optuna_study.run_study`.
"""

from __future__ import annotations

import numpy as np

from hwnas.baselines.optuna_study import run_study
from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord


def search(evaluator: BudgetedEvaluator, rng: np.random.Generator) -> list[EvaluationRecord]:
    """Run GP-based multi-objective Bayesian optimisation until the budget is spent."""
    from optuna.samplers import GPSampler

    return run_study(evaluator, rng, lambda seed: GPSampler(seed=seed, deterministic_objective=True))
