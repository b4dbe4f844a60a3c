"""The graph state: plain, JSON-ready TypedDicts so that every checkpoint can be read and resumed.

Reducers say how parallel branches merge: the run archive and the Navigator's log only grow; the
per-attempt `proposals` accumulator collects what the Generator branches return and is cleared by the
Coordinator once it has judged them (`CLEAR`).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired, TypedDict

CLEAR: Literal["clear"] = "clear"


def extend_or_clear(current: list[Any], update: list[Any] | Literal["clear"]) -> list[Any]:
    """Append a branch's items, or empty the list when a node returns `CLEAR`."""
    return [] if update == CLEAR else current + update


def latency_objectives(record: Mapping[str, Any]) -> list[float]:
    """A record's latency objectives: one per device of a fleet (`latencies`), else `[latency_ms]`."""
    return [float(v) for v in record.get("latencies") or [record["latency_ms"]]]


class Evaluated(TypedDict):
    """One architecture the Coordinator evaluated (charged once against the budget)."""

    arch: str
    key: str
    partition: int
    score: float
    latency_ms: float
    """On a fleet of devices (`--device fpga,raspi4`): the first device's; `latencies` has each one's."""
    latencies: NotRequired[list[float]]
    round: int
    operator: str
    """`init` (random start), `mutation`, `crossover` or `sample` (a random partition member a Generator chose)."""
    parents: list[str]
    rationale: str


class Proposal(TypedDict):
    """A child a Generator proposed, not yet judged by the Coordinator."""

    partition: int
    arch: str
    operator: str
    parents: list[str]
    rationale: str


class Option(Proposal):
    """A candidate offered to a Generator, with what the Coordinator's free tools say about it."""

    predicted: float
    """The surrogate's predicted estimator score ..."""
    uncertainty: float
    """... and its standard deviation."""
    latency_ms: float
    latencies: NotRequired[list[float]]
    gain: float
    """Expected hypervolume improvement over the run's front, in thousandths of the frame's area."""


class Parent(TypedDict):
    """A parent shown to a Generator, with the Coordinator's measurements of it."""

    arch: str
    score: float
    latency_ms: float
    latencies: NotRequired[list[float]]


class PartitionTask(TypedDict):
    """Everything one Generator branch sees: strategy, heuristics, the partition and a few parents."""

    round: int
    attempt: int
    partition: int
    slots: int
    strategy: str
    note: str
    parents: list[Parent]
    heuristics: list[str]
    rejections: list[str]
    options: list[Option]
    """The Coordinator's ranked candidates, best first, labelled (`rationale`) for the Generator to pick."""


class PartitionProgress(TypedDict):
    """Front hypervolume per round inside one partition, all measured in the partition's latest frame.

    With accuracy as the only objective the measure is the partition's best score (and `frame` is empty).
    """

    frame: list[float]
    counts: list[int]
    """How many of the partition's archive records existed at each round in which it got new ones."""
    hv_history: list[float]
    """The front hypervolume (accuracy alone: the best score) of the first `counts[i]` records, for each i."""
    stable: bool


class SearchState(TypedDict, total=False):
    """The whole search: what was evaluated, what is known, and where the current round stands."""

    round: int
    attempt: int
    plan: dict[int, PartitionTask]
    """This round's task per active partition (slots still open are updated by the Coordinator)."""
    proposals: Annotated[list[Proposal], extend_or_clear]
    archive: Annotated[list[Evaluated], operator.add]
    knowledge: dict[str, Any]
    """`{"version": round, "heuristics": [...], "history": [per-round changes]}`."""
    navigator_log: Annotated[list[dict[str, Any]], operator.add]
    progress: dict[int, PartitionProgress]
    stop_reason: str
