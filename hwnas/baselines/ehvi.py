"""`ehvi`: the agent graph's Coordinator tools alone, with no LLM and no graph (Bayesian optimisation).

After a random start (`INITIAL` architectures, spread over the space's complexity niches as the agent
graph's first round is; `ehvi-init6`: `SMALL_START`), every round refits the surrogate on everything
evaluated and evaluates the `ROUND` architectures a greedy expected-hypervolume-improvement batch picks
among every unevaluated function of the space (`hwnas.tools.ranking`; `ehvi-fastest`: each function's
fastest member, as the graph with `--representatives fastest`; `ehvi-copula`: those, with the surrogate
fit on the normal quantiles of the scores' ranks, as the graph's default `--score-warp copula`).
Comparing it with the agent graph separates what the agents add from what the surrogate and the
ranking give on their own. With accuracy as the only objective (`BudgetedEvaluator.objectives`) the
batch is picked by expected improvement over the best score instead
(`hwnas.tools.ranking.rank_by_improvement`): Bayesian optimisation with EI. A fleet of two devices is
ranked by EHVI in the three objectives.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from hwnas.core.evaluation import BudgetedEvaluator, EvaluationRecord, latency_values, representatives
from hwnas.core.objectives import is_accuracy_only
from hwnas.errors import UsageError
from hwnas.partition import make_partitioning
from hwnas.tools.ranking import Frame, rank, rank_by_improvement
from hwnas.tools.surrogate import ScoreWarp, make_surrogate

INITIAL: Final = 12
"""The random start: two architectures per niche of the six, as the agent graph's default first round."""
SMALL_START: Final = 6
"""The random start of `ehvi-init6`: one per niche, as the graph with `--init-per-partition 1`."""
ROUND: Final = 24


def search(
    evaluator: BudgetedEvaluator,
    rng: np.random.Generator,
    *,
    dataset: str = "cifar10",
    surrogate: str = "gp",
    round_size: int = ROUND,
    initial: int = INITIAL,
    representative_rule: str = "first",
    score_warp: str = "none",
) -> list[EvaluationRecord]:
    """Spend the budget: a stratified random start, then greedy EHVI (or, with accuracy alone, EI) batches.

    The start is `initial` architectures, dealt over the niches in turn; the batches pick among one member
    per function (`hwnas.core.evaluation.representatives`: `representative_rule`); the surrogate fits, and
    the ranking compares, the scores through `ScoreWarp(score_warp)`.
    """
    if evaluator.budget <= initial:
        raise UsageError(
            f"ehvi needs a budget above its initial design of {initial} architectures, got {evaluator.budget}"
        )
    space = evaluator.space
    niches = make_partitioning(space, space.niches().axis, dataset=dataset)
    first = [niches.sample(i % len(niches), rng) for i in range(min(initial, evaluator.remaining))]
    evaluator.evaluate_many(first)
    accuracy_only = is_accuracy_only(evaluator.objectives)
    pool = representatives(space, evaluator.latency_model, "first" if accuracy_only else representative_rule)
    keys = {a: a.canonical_key for a in pool}
    pool_latency = np.zeros(len(pool)) if accuracy_only else latency_values(evaluator.latency_model, pool)
    model = make_surrogate(surrogate, space=space, dataset=dataset, seed=int(rng.integers(2**31)))
    while evaluator.remaining > 0:
        history = evaluator.history
        taken = {r.arch.canonical_key for r in history}
        open_ = np.array([keys[a] not in taken for a in pool])
        candidates = [a for a, keep in zip(pool, open_, strict=True) if keep]
        if not candidates:
            break
        scores = ScoreWarp(np.array([r.score for r in history]), score_warp).values
        model.fit([r.arch for r in history], scores)
        mean, std = model.predict(candidates)
        if accuracy_only:
            picks = rank_by_improvement(scores, mean, std, min(round_size, evaluator.remaining))
            evaluator.evaluate_many([candidates[p.index] for p in picks])
            continue
        latencies = np.array([r.latency_objectives for r in history])
        frame = Frame.around(scores, np.concatenate([latencies, pool_latency]))
        front = frame.points(scores, latencies)
        picks = rank(frame, front, mean, std, pool_latency[open_], min(round_size, evaluator.remaining))
        evaluator.evaluate_many([candidates[p.index] for p in picks])
    return evaluator.history
