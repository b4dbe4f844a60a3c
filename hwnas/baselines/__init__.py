"""Non-LLM searchers that every agent search is compared against.

Each method is a function `search(evaluator, rng) -> list[EvaluationRecord]` that spends exactly the
evaluator's budget of distinct architectures and returns every record in evaluation order; the same
generator seed gives the same run, bit for bit. Each optimises the evaluator's objectives
(`BudgetedEvaluator.objectives`: accuracy and latency, or accuracy alone); `rea` (regularised evolution) is
single-objective by design and optimises the estimator's score whatever they are. `get_searcher(name)`
looks one up by its CLI name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Final

import numpy as np

from hwnas.baselines import ehvi, gp, local_search, nsga2, random_search, rea, stratified_random_search, tpe
from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord
from hwnas.errors import UsageError
from hwnas.partition import Partitioning

Searcher = Callable[[BudgetedEvaluator, np.random.Generator], list[EvaluationRecord]]

EHVI_VARIANTS: Final[dict[str, dict[str, Any]]] = {
    "ehvi": {},
    "ehvi-init6": {"initial": ehvi.SMALL_START},
    "ehvi-fastest": {"representative_rule": "fastest"},
    "ehvi-copula": {"representative_rule": "fastest", "score_warp": "copula"},
}
"""`ehvi` and its controls for the agent graph's settings: the options each passes to `ehvi.search`."""

SEARCHERS: Final[dict[str, Searcher]] = {
    "rs": random_search.search,
    "rs-partition": stratified_random_search.search,
    "nsga2": nsga2.search,
    "ls": local_search.search,
    "tpe": tpe.search,
    "gp": gp.search,
    **{name: partial(ehvi.search, **options) for name, options in EHVI_VARIANTS.items()},
    "rea": rea.search,
}


SMALL_FLEETS_ONLY: Final = frozenset(EHVI_VARIANTS)
"""Baselines whose EHVI ranking takes fleets of at most `hwnas.tools.ranking.MAX_FLEET` devices."""


def get_searcher(name: str, *, dataset: str = "cifar10", partitioning: Partitioning | None = None) -> Searcher:
    """Return the baseline called `name` set up for `dataset` (and, for `rs-partition`, `partitioning`).

    Raises a UsageError listing the accepted names when there is no such baseline.
    """
    try:
        search = SEARCHERS[name]
    except KeyError:
        raise UsageError(f"unknown method {name!r}; accepted: {', '.join(SEARCHERS)}") from None
    if name == "rs-partition" and partitioning is not None:
        return partial(stratified_random_search.search, partitioning=partitioning)
    if name in EHVI_VARIANTS:
        return partial(ehvi.search, dataset=dataset, **EHVI_VARIANTS[name])
    return search
