"""Probes of a provider: a structured round trip (`check`) and a repeated Generator-sized call (`benchmark`).

These back `hwnas llm check` and `hwnas llm bench`. The schemas are small architecture proposals whose
op fields are an enum of the five NB201 ops, so a valid reply is always a legal cell.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from pydantic import BaseModel, Field

from hwnas.core.space import Architecture
from hwnas.llm.client import LLMClient
from hwnas.llm.errors import LLMReplyError
from hwnas.llm.modes import ModeChoice
from hwnas.spaces.nb201.space import NB201, OpName

_SYSTEM = "You design cells for a NAS-Bench-201 network: 6 edges, each one of 5 ops."


class ArchitectureProposal(BaseModel):
    """One cell: the op on each of the 6 edges in canonical-string order, and why."""

    ops: list[OpName] = Field(min_length=6, max_length=6)
    rationale: str = Field(max_length=80)

    def architecture(self) -> Architecture:
        """The proposal as an `Architecture`."""
        return NB201.make(tuple(self.ops))


class ProposalBatch(BaseModel):
    """A Generator-sized reply: four candidate cells."""

    proposals: list[ArchitectureProposal] = Field(min_length=4, max_length=4)


@dataclass(frozen=True)
class CheckReport:
    """What `check` saw: who answered, the structured-output modes probed and chosen, how fast, the proposal."""

    provider: str
    model: str
    load_s: float
    mode: ModeChoice
    wall_s: float
    tokens_out: int
    repairs: int
    """Repair rounds the proposal needed (0: the first reply was valid)."""
    proposal: ArchitectureProposal

    @property
    def tokens_per_s(self) -> float:
        """Output tokens per second of the round trip's wall time (prompt processing included)."""
        return self.tokens_out / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class BenchReport:
    """`benchmark` results over `calls` Generator-sized calls."""

    provider: str
    model: str
    load_s: float
    calls: int
    valid_first: int
    """Calls whose first reply was schema-valid."""
    valid: int
    """Calls that ended with a schema-valid reply (repair rounds included)."""
    wall_s: list[float]
    tokens_in: int
    tokens_out: int

    @property
    def median_wall_s(self) -> float:
        """Median wall time of one call (repair rounds included)."""
        return statistics.median(self.wall_s) if self.wall_s else 0.0

    @property
    def tokens_per_s(self) -> float:
        """Output tokens per second of call wall time (prompt processing included)."""
        total = sum(self.wall_s)
        return self.tokens_out / total if total > 0 else 0.0


def check(llm: LLMClient) -> CheckReport:
    """Probe every structured-output mode, then one structured round trip in the chosen one.

    The round trip asks for a single architecture proposal, validated (and repaired) like any agent call.
    """
    mode = llm.negotiate(every_mode=True)
    before = llm.usage
    start = time.perf_counter()
    proposal = llm.structured(
        agent="llm-check",
        messages=[("system", _SYSTEM), ("user", "Propose one cell with high accuracy and low latency.")],
        schema=ArchitectureProposal,
    )
    wall_s = time.perf_counter() - start
    after = llm.usage
    return CheckReport(
        llm.provider,
        llm.model,
        llm.load_s,
        mode,
        wall_s,
        after.tokens_out - before.tokens_out,
        after.repairs - before.repairs,
        proposal,
    )


def benchmark(llm: LLMClient, calls: int = 50, max_tokens: int = 400, repair_rounds: int = 2) -> BenchReport:
    """`calls` four-proposal calls with distinct prompts; counts first-reply and final schema validity."""
    before = llm.usage
    walls: list[float] = []
    valid = valid_first = 0
    for number in range(calls):
        repairs_before = llm.usage.repairs
        start = time.perf_counter()
        try:
            llm.structured(
                agent="llm-bench",
                messages=[
                    ("system", _SYSTEM),
                    ("user", f"Round {number + 1}: propose four different cells, fast ones and accurate ones."),
                ],
                schema=ProposalBatch,
                repair_rounds=repair_rounds,
                max_tokens=max_tokens,
            )
            valid += 1
            valid_first += llm.usage.repairs == repairs_before
        except LLMReplyError:
            pass
        walls.append(time.perf_counter() - start)
    after = llm.usage
    return BenchReport(
        llm.provider,
        llm.model,
        llm.load_s,
        calls,
        valid_first,
        valid,
        walls,
        after.tokens_in - before.tokens_in,
        after.tokens_out - before.tokens_out,
    )
