"""The two measurement contracts every searcher speaks: an accuracy `Estimator` and a `LatencyModel`.

Baselines, the agent graph's Coordinator and the evaluation harness all take one of each; the
implementations (benchmark-table oracles, the zero-cost predictor, table or on-device latency) live
in their own modules and are built by name through `hwnas.registry`. `BudgetedEvaluator` wraps one of
each with the budget of distinct architectures that makes methods comparable (EVAL.md): every baseline
and the agent graph's Coordinator evaluate through it, so budget and duplicates have one rule.

Duplicates are judged by the architecture's text in its space (EVAL.md: isomorphic duplicates are
distinct architectures; a searcher may skip them, which only helps it). The agent graph does skip them:
its Coordinator rejects any candidate whose `canonical_key` was taken before it reaches the evaluator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

import numpy as np

from hwnas.core.objectives import ACCURACY_LATENCY, Objective
from hwnas.core.space import Architecture, SearchSpace
from hwnas.errors import UsageError
from hwnas.pareto import Archive


@runtime_checkable
class Estimator(Protocol):
    """Predicts how accurate an architecture is; higher is better.

    Scores only need to rank architectures (a zero-cost ensemble is not in % units); `is_accuracy`
    says whether they are accuracies in %.
    """

    name: str
    is_accuracy: bool

    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        """One score per architecture, as float64."""
        ...


@runtime_checkable
class LatencyModel(Protocol):
    """Batch-1 inference latency of an architecture on one device, in milliseconds."""

    device: str

    def latency_ms(self, archs: Sequence[Architecture]) -> np.ndarray:
        """One latency per architecture, as float64."""
        ...


@runtime_checkable
class FleetLatencyModel(LatencyModel, Protocol):
    """Latency on several devices at once (`--device fpga,raspi4`); `latency_ms` is the first device's."""

    devices: tuple[str, ...]

    def latency_ms_per_device(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Shape (len(archs), len(devices)), float64, columns in device order."""
        ...


def latency_values(model: LatencyModel, archs: Sequence[Architecture]) -> np.ndarray:
    """Each architecture's latency: a vector on one device, one column per device for a fleet model."""
    if isinstance(model, FleetLatencyModel):
        return np.asarray(model.latency_ms_per_device(archs), dtype=np.float64)
    return np.asarray(model.latency_ms(archs), dtype=np.float64)


REPRESENTATIVES: Final = ("fastest", "first")
"""Which member of each function a ranked search offers (`representatives`). Members of one function
differ only in ops whose output never reaches the cell's output, yet the latency tables give them
different latencies on most devices. `fastest`: the member the latency model says is fastest (on a fleet: the
smallest sum of latencies, each scaled by its device's range), the function's cheapest realisation;
`first`: the first in enumeration order, as runs before this setting did. The evaluated architecture is
the member itself, so the choice changes what is measured, not how it is scored."""


def check_representative_rule(rule: str) -> None:
    """Raise a UsageError naming the accepted rules unless `rule` is one of `REPRESENTATIVES`."""
    if rule not in REPRESENTATIVES:
        raise UsageError(f"unknown --representatives {rule!r}; accepted: {', '.join(REPRESENTATIVES)}")


def representatives(space: SearchSpace, model: LatencyModel, rule: str) -> tuple[Architecture, ...]:
    """One member per distinct valid function of `space`, in `distinct_positions` order, chosen by `rule`.

    `fastest` looks up the latency of every valid member (free for the tables and the lookup-table
    model; a measured model measures each once); ties go to the earliest member.
    """
    check_representative_rule(rule)
    if rule == "first":
        return space.distinct_architectures
    members = list(space.function_members.values())
    positions = [p for group in members for p in group]
    latency = latency_values(model, [space.at(p) for p in positions]).reshape(len(positions), -1)
    span = latency.max(axis=0) - latency.min(axis=0)
    cost = (latency / np.where(span > 0, span, 1.0)).sum(axis=1)
    chosen, start = [], 0
    for group in members:
        chosen.append(space.at(group[int(np.argmin(cost[start : start + len(group)]))]))
        start += len(group)
    return tuple(chosen)


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    """One evaluated architecture: what the searcher's estimator and latency model said about it."""

    arch: Architecture
    score: float
    latency_ms: float
    step: int
    """0-based order of first evaluation; also the number of budget units spent before it."""
    latencies: tuple[float, ...] = ()
    """With a fleet latency model: the latency on each device, in device order (else empty)."""

    @property
    def arch_str(self) -> str:
        """The architecture's text in its space."""
        return str(self.arch)

    @property
    def latency_objectives(self) -> float | tuple[float, ...]:
        """The latency as `latency_values` gives it: one value, or the per-device tuple of a fleet."""
        return self.latencies or self.latency_ms


def check_budget(space: SearchSpace, budget: int) -> None:
    """A UsageError unless 1 <= budget <= the space's size."""
    if not 1 <= budget <= space.size:
        raise UsageError(f"--budget must be between 1 and {space.size} distinct architectures, got {budget}")


class BudgetExhausted(RuntimeError):
    """A searcher asked for a new architecture after spending its whole budget."""


class BudgetedEvaluator:
    """The only way a searcher scores architectures: at most `budget` distinct ones (by their text).

    Asking again for an architecture already evaluated returns its record and costs nothing. Every
    record is kept in evaluation order (`history`), and the non-dominated ones under the search's
    `objectives` in `archive` (with accuracy alone: the first record of the best score).
    """

    def __init__(
        self,
        space: SearchSpace,
        estimator: Estimator,
        latency_model: LatencyModel,
        budget: int,
        *,
        objectives: Sequence[Objective] = ACCURACY_LATENCY,
    ) -> None:
        """Spend at most `budget` (>= 1, <= the space size) evaluations of `space`'s architectures."""
        check_budget(space, budget)
        self.space = space
        self.estimator = estimator
        self.latency_model = latency_model
        self.budget = budget
        self.objectives = tuple(objectives)
        self.history: list[EvaluationRecord] = []
        self.archive: Archive[EvaluationRecord] = Archive(self.objectives)
        self._by_arch: dict[str, EvaluationRecord] = {}

    @property
    def remaining(self) -> int:
        """Budget left, in distinct architectures."""
        return self.budget - len(self.history)

    def restore(self, evaluated: Iterable[tuple[Architecture, float, float | Sequence[float]]]) -> None:
        """Replace the history by earlier evaluations (architecture, score, latency), in order, for free.

        A fleet's latency is the per-device sequence. The agent graph keeps its archive in checkpointed
        state; each node hands it back here, so budget and duplicates are judged by the same rule as every
        baseline's.
        """
        self.history.clear()
        self.archive = Archive(self.objectives)
        self._by_arch.clear()
        for arch, score, latency in evaluated:
            if isinstance(latency, Sequence):
                latencies = tuple(float(v) for v in latency)
                self._keep(EvaluationRecord(arch, float(score), latencies[0], len(self.history), latencies))
            else:
                self._keep(EvaluationRecord(arch, float(score), float(latency), len(self.history)))

    def _keep(self, record: EvaluationRecord) -> None:
        self.history.append(record)
        self._by_arch[str(record.arch)] = record
        self.archive.add(record)

    def lookup(self, arch: Architecture) -> EvaluationRecord | None:
        """Return the record of `arch` if it was evaluated, without spending anything."""
        return self._by_arch.get(str(arch))

    def evaluate(self, arch: Architecture) -> EvaluationRecord:
        """Score one architecture: free if already evaluated, BudgetExhausted if new and none is left."""
        return self.evaluate_many([arch])[0]

    def evaluate_many(self, archs: Sequence[Architecture]) -> list[EvaluationRecord]:
        """Score several architectures in one estimator call; new ones must fit in the remaining budget."""
        new: dict[str, Architecture] = {}
        for arch in archs:
            key = str(arch)
            if key not in self._by_arch:
                new.setdefault(key, arch)
        if len(new) > self.remaining:
            raise BudgetExhausted(f"{len(new)} new architectures requested, {self.remaining} left of {self.budget}")
        if new:
            fresh = list(new.values())
            scores = np.asarray(self.estimator.predict(fresh), dtype=np.float64)
            if isinstance(self.latency_model, FleetLatencyModel):
                per_device = np.asarray(self.latency_model.latency_ms_per_device(fresh), dtype=np.float64)
                for arch, score, row in zip(fresh, scores, per_device, strict=True):
                    latencies = tuple(float(v) for v in row)
                    self._keep(EvaluationRecord(arch, float(score), latencies[0], len(self.history), latencies))
            else:
                latency = np.asarray(self.latency_model.latency_ms(fresh), dtype=np.float64)
                for arch, score, value in zip(fresh, scores, latency, strict=True):
                    self._keep(EvaluationRecord(arch, float(score), float(value), len(self.history)))
        return [self._by_arch[str(arch)] for arch in archs]
