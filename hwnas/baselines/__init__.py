"""Non-LLM searchers that every agent search is compared against.

Each method is a function `search(evaluator, rng) -> list[EvaluationRecord]` that spends exactly the
evaluator's budget of distinct architectures and returns every record in evaluation order; the same
generator seed gives the same run, bit for bit. `get_searcher(name)` looks one up by its CLI name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np

from hwnas.baselines import gp, local_search, nsga2, random_search, stratified_random_search, tpe
from hwnas.errors import UsageError
from hwnas.evaluation import BudgetedEvaluator, EvaluationRecord

Searcher = Callable[[BudgetedEvaluator, np.random.Generator], list[EvaluationRecord]]

SEARCHERS: Final[dict[str, Searcher]] = {
    "rs": random_search.search,
    "rs-partition": stratified_random_search.search,
    "nsga2": nsga2.search,
    "ls": local_search.search,
    "tpe": tpe.search,
    "gp": gp.search,
}


def get_searcher(name: str) -> Searcher:
    """Return the baseline called `name`, or a UsageError listing the accepted names."""
    try:
        return SEARCHERS[name]
    except KeyError:
        raise UsageError(f"unknown method {name!r}; accepted: {', '.join(SEARCHERS)}") from None
