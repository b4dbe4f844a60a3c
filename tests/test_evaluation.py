from __future__ import annotations

import numpy as np
import pytest

from hwnas.core.evaluation import BudgetedEvaluator, BudgetExhausted, Estimator, LatencyModel
from hwnas.errors import UsageError
from hwnas.registry import ESTIMATORS, make_estimator, make_latency_model
from hwnas.spaces.nb201.space import NB201
from hwnas.spaces.nb201.tables import BenchmarkTables


def _evaluator(tables: BenchmarkTables, budget: int) -> BudgetedEvaluator:
    estimator = make_estimator("oracle-val", dataset="cifar10", tables=tables)
    return BudgetedEvaluator(NB201, estimator, make_latency_model("fpga", dataset="cifar10", tables=tables), budget)


def test_oracles_read_validation_columns_not_test(tables: BenchmarkTables) -> None:
    archs = [tables.architecture(r) for r in (0, 6111)]
    val = make_estimator("oracle-val", dataset="cifar100", tables=tables)
    short = make_estimator("oracle-12ep", dataset="cifar100", tables=tables)
    assert isinstance(val, Estimator) and val.is_accuracy
    assert val.predict(archs).tolist() == tables.accuracy("cifar100", "val")[[0, 6111]].tolist()
    assert short.predict(archs).tolist() == tables.accuracy("cifar100", "val_12ep")[[0, 6111]].tolist()
    latency = make_latency_model("eyeriss", dataset="cifar10", tables=tables)
    assert isinstance(latency, LatencyModel) and latency.device == "eyeriss"
    assert latency.latency_ms(archs).tolist() == tables.latency_ms("cifar10", "eyeriss")[[0, 6111]].tolist()


def test_registry_rejects_unknown_names(tables: BenchmarkTables) -> None:
    with pytest.raises(UsageError, match=", ".join(ESTIMATORS)):
        make_estimator("oracle-test", dataset="cifar10", tables=tables)
    with pytest.raises(UsageError, match="available"):
        make_latency_model("edgetpu", dataset="cifar10", tables=tables)
    with pytest.raises(UsageError, match="HWNAS_DATA"):
        make_estimator("oracle-val", dataset="cifar10", tables=None)


def test_budget_counts_distinct_architectures_only(tables: BenchmarkTables) -> None:
    evaluator = _evaluator(tables, budget=3)
    archs = [tables.architecture(r) for r in (10, 11, 12, 13)]
    first = evaluator.evaluate(archs[0])
    assert evaluator.evaluate(archs[0]) is first and evaluator.remaining == 2
    records = evaluator.evaluate_many([archs[1], archs[0], archs[1], archs[2]])
    assert [r.step for r in records] == [1, 0, 1, 2]
    assert evaluator.remaining == 0
    assert evaluator.evaluate(archs[2]).arch == archs[2]  # known: still free
    with pytest.raises(BudgetExhausted):
        evaluator.evaluate(archs[3])
    assert [r.arch for r in evaluator.history] == archs[:3]


def test_batch_too_large_for_the_budget_is_refused_whole(tables: BenchmarkTables) -> None:
    evaluator = _evaluator(tables, budget=2)
    with pytest.raises(BudgetExhausted):
        evaluator.evaluate_many([tables.architecture(r) for r in (1, 2, 3)])
    assert evaluator.history == [] and evaluator.remaining == 2


def test_records_carry_estimator_and_latency_values_and_feed_the_archive(tables: BenchmarkTables) -> None:
    evaluator = _evaluator(tables, budget=50)
    archs = [NB201.sample(np.random.default_rng(i)) for i in range(60)]
    unique = list(dict.fromkeys(archs))[:50]
    records = evaluator.evaluate_many(unique)
    rows = tables.rows(unique)
    assert [r.score for r in records] == tables.accuracy("cifar10", "val")[rows].tolist()
    assert [r.latency_ms for r in records] == tables.latency_ms("cifar10", "fpga")[rows].tolist()
    front = evaluator.archive.front
    assert front and all(
        not (o.score >= f.score and o.latency_ms <= f.latency_ms and o != f) for f in front for o in records
    )


@pytest.mark.parametrize("budget", [0, -3, 15626])
def test_budget_out_of_range_is_a_usage_error(tables: BenchmarkTables, budget: int) -> None:
    with pytest.raises(UsageError, match="--budget"):
        _evaluator(tables, budget)


def test_restored_history_costs_nothing_and_counts_against_the_budget(tables: BenchmarkTables) -> None:
    evaluator = _evaluator(tables, budget=5)
    archs = [NB201.at(p) for p in (100, 200, 300)]
    evaluator.restore((a, 90.0, 1.0) for a in archs[:2])
    assert evaluator.remaining == 3
    assert evaluator.lookup(archs[0]).score == 90.0  # the restored value, not the estimator's
    assert [r.step for r in evaluator.history] == [0, 1]
    record = evaluator.evaluate(archs[2])
    assert record.step == 2 and evaluator.remaining == 2
    evaluator.restore([])
    assert evaluator.remaining == 5 and evaluator.lookup(archs[0]) is None
