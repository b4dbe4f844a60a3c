"""Stop criteria: small objects that each report how far a search is towards one reason to stop.

In the spirit of pymoo's terminations, every criterion reports progress in [0, 1] (1: stop now), so they
compose: `FirstMet` stops at the first of several, in order, and names it. The agent graph combines
the budget, the round cap and per-partition front stability (or, with accuracy as the only objective,
the best score's progress: `BestScoreStalled`) in one place (`hwnas.graph.stop`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SearchStatus:
    """What the criteria read: evaluations spent, rounds done, and which partitions' fronts are stable."""

    evaluated: int
    rounds: int
    partitions: int
    stable: frozenset[int]
    """Partitions whose front stopped growing (see `hwnas.graph.stop.is_stable`)."""
    assessed: frozenset[int]
    """Partitions with at least one assessment (a partition never tried cannot be stable)."""
    best_by_round: tuple[float, ...] = ()
    """The best score evaluated by the end of each round so far (round 0, the random start, first)."""


class StopCriterion(Protocol):
    """One reason to stop, and how close the search is to it."""

    @property
    def reason(self) -> str:
        """What the run's summary says when this criterion ends the search."""
        ...

    def progress(self, status: SearchStatus) -> float:
        """In [0, 1]; 1 means the criterion is met."""
        ...


@dataclass(frozen=True)
class BudgetSpent:
    """Every evaluation of the budget is spent."""

    budget: int
    reason: str = "budget spent"

    def progress(self, status: SearchStatus) -> float:
        """Share of the budget spent."""
        return min(1.0, status.evaluated / self.budget)


@dataclass(frozen=True)
class RoundCap:
    """The search has run its maximum number of rounds."""

    rounds: int
    reason: str = "round cap reached"

    def progress(self, status: SearchStatus) -> float:
        """Share of the rounds done."""
        return min(1.0, status.rounds / self.rounds)


@dataclass(frozen=True)
class EveryPartitionStable:
    """Every partition has been assessed and its front has stopped growing (PEL-NAS's stabilised niches)."""

    reason: str = "every partition is stable"

    def progress(self, status: SearchStatus) -> float:
        """Share of the partitions that are stable; 1 only when all were assessed and all are stable."""
        if len(status.assessed) < status.partitions:
            return min(len(status.stable) / status.partitions, 1.0 - 1.0 / (status.partitions + 1))
        return len(status.stable) / status.partitions


def rounds_without_gain(best_by_round: Sequence[float]) -> int:
    """How many of the last rounds in a row did not raise the best score (0 when the last one did)."""
    stalled = 0
    for earlier, later in zip(best_by_round[-2::-1], best_by_round[::-1], strict=False):
        if later > earlier:
            break
        stalled += 1
    return stalled


@dataclass(frozen=True)
class BestScoreStalled:
    """The best score has not risen for `window` rounds in a row (the single-objective stop test)."""

    window: int
    reason: str = "best score stopped improving"

    def progress(self, status: SearchStatus) -> float:
        """Share of the window that has passed since the best score last rose."""
        return min(1.0, rounds_without_gain(status.best_by_round) / self.window)


@dataclass(frozen=True)
class FirstMet:
    """Several criteria: met when any is, reported as the first met in the given order."""

    criteria: Sequence[StopCriterion]

    def progress(self, status: SearchStatus) -> float:
        """The largest progress of any criterion."""
        return max(c.progress(status) for c in self.criteria)

    def reason_to_stop(self, status: SearchStatus) -> str:
        """The reason of the first criterion met, or "" to go on."""
        return next((c.reason for c in self.criteria if c.progress(status) >= 1.0), "")
