from __future__ import annotations

import numpy as np
import pytest

from hwnas.baselines import EHVI_VARIANTS, SEARCHERS, ehvi, get_searcher
from hwnas.baselines.optuna_study import run_study
from hwnas.baselines.stratified_random_search import search as stratified_search
from hwnas.core.evaluation import BudgetedEvaluator
from hwnas.errors import UsageError
from hwnas.partition import make_partitioning
from hwnas.registry import make_estimator, make_latency_model
from hwnas.spaces.nb201.space import NB201
from hwnas.spaces.nb201.tables import BenchmarkTables

SHORT_RUNS = {"gp": 16}
"""GPSampler refits its GPs and maximises EHVI for every proposal (about half a second each on 2 cores), so
its runs in tests are kept short: the budget is capped at this (10 of them are Optuna's random start-up)."""


def _budget(method: str, budget: int) -> int:
    return min(budget, SHORT_RUNS.get(method, budget))


def _run(tables: BenchmarkTables, method: str, budget: int, seed: int) -> list[tuple[str, float, float]]:
    evaluator = BudgetedEvaluator(
        NB201,
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
    initial = EHVI_VARIANTS[method].get("initial", ehvi.INITIAL) if method in EHVI_VARIANTS else 0
    if budget <= initial:
        with pytest.raises(UsageError, match=f"ehvi needs a budget above its initial design of {initial} "):
            _run(tables, method, budget, seed=1)
        return
    budget = _budget(method, budget)
    run = _run(tables, method, budget, seed=1)
    assert len(run) == budget
    assert len({arch for arch, _, _ in run}) == budget


@pytest.mark.parametrize("method", list(SEARCHERS))
def test_each_baseline_is_reproducible_under_its_seed(tables: BenchmarkTables, method: str) -> None:
    budget = _budget(method, 60)
    np.random.seed(123)  # global numpy state must not matter
    first = _run(tables, method, budget, seed=5)
    np.random.seed(456)
    assert _run(tables, method, budget, seed=5) == first
    assert _run(tables, method, budget, seed=6) != first


def test_stratified_search_takes_partitions_in_turn(tables: BenchmarkTables) -> None:
    niches = make_partitioning(NB201, "conv3")
    evaluator = BudgetedEvaluator(
        NB201,
        make_estimator("oracle-val", dataset="cifar10", tables=tables),
        make_latency_model("fpga", dataset="cifar10", tables=tables),
        18,
    )
    records = stratified_search(evaluator, np.random.default_rng(0), partitioning=niches)
    assert [niches.assign(r.arch) for r in records] == list(range(6)) * 3


def test_nsga2_and_local_search_beat_random_search_at_a_moderate_budget(tables: BenchmarkTables) -> None:
    """A sanity check that the guided searchers use their feedback: best validation score found."""
    methods = ("rs", "nsga2", "ls")  # ehvi has its own, cheaper check below
    best = {m: np.mean([max(s for _, s, _ in _run(tables, m, 200, seed)) for seed in range(5)]) for m in methods}
    assert best["nsga2"] > best["rs"] and best["ls"] > best["rs"]


def test_optuna_loop_leaves_a_sampler_stuck_on_one_architecture_for_random_unseen_ones(
    tables: BenchmarkTables,
) -> None:
    from optuna.samplers import PartialFixedSampler, RandomSampler

    stuck = NB201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    evaluator = BudgetedEvaluator(
        NB201,
        make_estimator("oracle-val", dataset="cifar10", tables=tables),
        make_latency_model("fpga", dataset="cifar10", tables=tables),
        4,
    )
    records = run_study(
        evaluator,
        np.random.default_rng(0),
        lambda seed: PartialFixedSampler(dict(zip(NB201.slots, stuck.ops, strict=True)), RandomSampler(seed=seed)),
    )
    assert records[0].arch == stuck and len({r.arch_str for r in records}) == 4 and evaluator.remaining == 0


@pytest.mark.parametrize("method", ["tpe", "gp"])
def test_optuna_searchers_print_nothing_and_leave_optunas_logging_as_it_was(
    tables: BenchmarkTables, method: str, capfd: pytest.CaptureFixture[str]
) -> None:
    import warnings

    import optuna

    before = optuna.logging.get_verbosity()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run(tables, method, _budget(method, 14), seed=0)
    assert [w for w in caught if issubclass(w.category, optuna.exceptions.ExperimentalWarning)] == []
    assert capfd.readouterr() == ("", "")
    assert optuna.logging.get_verbosity() == before


def test_unknown_method_lists_the_accepted_ones() -> None:
    with pytest.raises(UsageError, match="rs, rs-partition, nsga2, ls, tpe, gp"):
        get_searcher("bayesopt")


def test_ehvi_beats_random_search_on_the_true_front(tables: BenchmarkTables) -> None:
    """The surrogate and ranking alone already find a better front than random search at budget 60."""
    from hwnas.pareto import true_front

    front = true_front(tables, "cifar10", "pixel3", exclude_degenerate=True)
    hv = {m: np.mean([front.hv_b([a for a, _, _ in _run(tables, m, 60, seed)]) for seed in range(3)])
          for m in ("rs", "ehvi")}  # fmt: skip
    assert hv["ehvi"] > hv["rs"]


def test_ehvi_copula_starts_as_ehvi_fastest_then_ranks_by_the_warped_scores(tables: BenchmarkTables) -> None:
    raw, ranks = _run(tables, "ehvi-fastest", 36, 0), _run(tables, "ehvi-copula", 36, 0)
    assert raw[: ehvi.INITIAL] == ranks[: ehvi.INITIAL]  # the same random start
    assert raw[ehvi.INITIAL :] != ranks[ehvi.INITIAL :]  # then the warp changes what the batch picks
