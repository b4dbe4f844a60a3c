from __future__ import annotations

import numpy as np
import pytest

from hwnas.baselines import SEARCHERS, ehvi, get_searcher
from hwnas.baselines.stratified_random_search import search as stratified_search
from hwnas.benchmark import BenchmarkTables
from hwnas.errors import UsageError
from hwnas.evaluation import BudgetedEvaluator
from hwnas.partition import make_partitioning
from hwnas.registry import make_estimator, make_latency_model


def _run(tables: BenchmarkTables, method: str, budget: int, seed: int) -> list[tuple[str, float, float]]:
    evaluator = BudgetedEvaluator(
        make_estimator("oracle-val", dataset="cifar10", tables=tables),
        make_latency_model("pixel3", dataset="cifar10", tables=tables),
        budget,
    )
    records = get_searcher(method)(evaluator, np.random.default_rng(seed))
    assert records == evaluator.history
    assert evaluator.remaining == 0
    return [(r.arch_str, r.score, r.latency_ms) for r in records]


@pytest.mark.parametrize("method", list(SEARCHERS))
@pytest.mark.parametrize("budget", [1, 7, 45])
def test_each_baseline_spends_exactly_its_budget_on_distinct_archs(
    tables: BenchmarkTables, method: str, budget: int
) -> None:
    if method == "ehvi" and budget <= ehvi.INITIAL:
        with pytest.raises(UsageError, match=f"ehvi needs a budget above its initial design of {ehvi.INITIAL}"):
            _run(tables, method, budget, seed=1)
        return
    run = _run(tables, method, budget, seed=1)
    assert len(run) == budget
    assert len({arch for arch, _, _ in run}) == budget


@pytest.mark.parametrize("method", list(SEARCHERS))
def test_each_baseline_is_reproducible_under_its_seed(tables: BenchmarkTables, method: str) -> None:
    np.random.seed(123)  # global numpy state must not matter
    first = _run(tables, method, 60, seed=5)
    np.random.seed(456)
    assert _run(tables, method, 60, seed=5) == first
    assert _run(tables, method, 60, seed=6) != first


def test_stratified_search_takes_partitions_in_turn(tables: BenchmarkTables) -> None:
    niches = make_partitioning("conv3")
    evaluator = BudgetedEvaluator(
        make_estimator("oracle-val", dataset="cifar10", tables=tables),
        make_latency_model("fpga", dataset="cifar10", tables=tables),
        18,
    )
    records = stratified_search(evaluator, np.random.default_rng(0), partitioning=niches)
    assert [niches.assign(r.arch) for r in records] == list(range(6)) * 3


def test_nsga2_and_local_search_beat_random_search_at_a_moderate_budget(tables: BenchmarkTables) -> None:
    """A sanity check that the guided searchers use their feedback: best validation score found."""
    best = {m: np.mean([max(s for _, s, _ in _run(tables, m, 200, seed)) for seed in range(5)]) for m in SEARCHERS}
    assert best["nsga2"] > best["rs"] and best["ls"] > best["rs"] and best["ehvi"] > best["rs"]


def test_unknown_method_lists_the_accepted_ones() -> None:
    with pytest.raises(UsageError, match="rs, rs-partition, nsga2, ls"):
        get_searcher("bayesopt")


def test_ehvi_beats_random_search_on_the_true_front(tables: BenchmarkTables) -> None:
    """The surrogate and ranking alone already find a better front than random search at budget 60."""
    from hwnas.pareto import true_front

    front = true_front(tables, "cifar10", "pixel3", exclude_degenerate=True)
    hv = {m: np.mean([front.hv_b([a for a, _, _ in _run(tables, m, 60, seed)]) for seed in range(3)])
          for m in ("rs", "ehvi")}  # fmt: skip
    assert hv["ehvi"] > hv["rs"]
