"""NSGA-II (`nsga2`) from pymoo on the integer encoding of the slots (one op code per slot).

Objectives: the search's (`BudgetedEvaluator.objectives`), by default maximise the estimator's score and
minimise latency; with accuracy alone it is a plain genetic algorithm on the score. Uniform crossover and a per-slot
random reset (probability 1/slots, to one of the other ops) suit categorical genes better than
real-coded operators with rounding; pymoo drops duplicate genomes inside each generation. The run
is driven through pymoo's ask/tell interface so that it stops exactly when the evaluator's budget
of distinct architectures is spent, even in the middle of a generation.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem
from pymoo.core.termination import NoTermination
from pymoo.operators.crossover.ux import UniformCrossover
from pymoo.operators.sampling.rnd import IntegerRandomSampling

from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord
from hwnas.core.space import Architecture

POPULATION: Final = 20


class _SlotReset(Mutation):
    """Give each slot, with probability 1/slots, a different op drawn uniformly."""

    def _do(self, problem: Problem, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
        X = X.astype(np.int64, copy=True)
        ops = problem.xu[0] + 1
        hit = random_state.random(X.shape) < 1.0 / problem.n_var
        shift = random_state.integers(1, ops, size=X.shape)
        X[hit] = (X[hit] + shift[hit]) % ops
        return X


def search(
    evaluator: BudgetedEvaluator, rng: np.random.Generator, *, population: int = POPULATION
) -> list[EvaluationRecord]:
    """Run NSGA-II until the budget is spent."""
    space = evaluator.space
    problem = Problem(n_var=len(space.slots), n_obj=len(evaluator.objectives), xl=0, xu=len(space.ops) - 1, vtype=int)
    algorithm = NSGA2(
        pop_size=population,
        sampling=IntegerRandomSampling(),
        crossover=UniformCrossover(),
        mutation=_SlotReset(),
        eliminate_duplicates=True,
    )
    algorithm.setup(problem, termination=NoTermination(), seed=int(rng.integers(2**31)), verbose=False)
    while evaluator.remaining > 0:
        offspring = algorithm.ask()
        archs = [space.from_codes(x) for x in offspring.get("X").astype(np.int64)]
        if _new_count(evaluator, archs) > evaluator.remaining:
            evaluator.evaluate_many(_first_new(evaluator, archs, evaluator.remaining))
            break
        records = evaluator.evaluate_many(archs)
        offspring.set("F", np.array([evaluator.archive.minimised(r) for r in records]))
        algorithm.tell(infills=offspring)
    return evaluator.history


def _new_count(evaluator: BudgetedEvaluator, archs: list[Architecture]) -> int:
    return len({str(a) for a in archs if evaluator.lookup(a) is None})


def _first_new(evaluator: BudgetedEvaluator, archs: list[Architecture], count: int) -> list[Architecture]:
    picked: dict[str, Architecture] = {}
    for arch in archs:
        if len(picked) == count:
            break
        if evaluator.lookup(arch) is None:
            picked.setdefault(str(arch), arch)
    return list(picked.values())
