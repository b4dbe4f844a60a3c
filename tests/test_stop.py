from __future__ import annotations

import pytest

from hwnas.core.stop import BudgetSpent, EveryPartitionStable, FirstMet, RoundCap, SearchStatus
from hwnas.graph.context import RunSettings
from hwnas.graph.stop import stop_criteria


def status(evaluated: int = 10, rounds: int = 1, stable: set[int] = frozenset(), assessed: set[int] = frozenset()):
    return SearchStatus(evaluated, rounds, 3, frozenset(stable), frozenset(assessed))


def test_each_criterion_reports_progress_and_is_met_at_one() -> None:
    assert BudgetSpent(40).progress(status(evaluated=10)) == 0.25
    assert BudgetSpent(40).progress(status(evaluated=40)) == 1.0
    assert RoundCap(4).progress(status(rounds=2)) == 0.5
    assert EveryPartitionStable().progress(status(stable={0, 1, 2}, assessed={0, 1, 2})) == 1.0
    assert EveryPartitionStable().progress(status(stable={0, 1}, assessed={0, 1, 2})) == pytest.approx(2 / 3)


def test_partitions_never_assessed_keep_the_search_going() -> None:
    # Two stable partitions and one never tried: not "every partition is stable".
    assert EveryPartitionStable().progress(status(stable={0, 1}, assessed={0, 1})) < 1.0


def test_first_met_names_the_first_criterion_in_order() -> None:
    criteria = stop_criteria(RunSettings(budget=40, max_rounds=2))
    assert criteria.reason_to_stop(status(evaluated=10, rounds=1)) == ""
    assert criteria.reason_to_stop(status(evaluated=10, rounds=2)) == "round cap reached"
    everything = status(evaluated=40, rounds=2, stable={0, 1, 2}, assessed={0, 1, 2})
    assert criteria.reason_to_stop(everything) == "budget spent"
    assert criteria.progress(status(evaluated=30, rounds=1)) == 0.75
    assert FirstMet([RoundCap(5), BudgetSpent(10)]).reason_to_stop(everything) == "budget spent"
