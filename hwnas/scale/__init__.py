"""Scaling out on Ray: campaign units and a run's evaluations as Ray tasks (README, "Scaling out").

`Execution` says how a command runs, never what it computes: results are the same under either executor,
so it is not part of a run's settings (a run started locally may be resumed on a cluster).

- `hwnas bench --campaign NAME --executor ray`: each (cell, seed) unit is a Ray task
  (`hwnas.scale.campaign`); the driver writes every result file.
- `hwnas run --executor ray`: the accuracy estimator's batches are split into Ray tasks
  (`hwnas.scale.evaluation`); the driver keeps the archive, checkpoints and score cache.

Nothing here imports Ray: `hwnas.scale.cluster` does, and only when the executor is `ray`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from hwnas.errors import UsageError

EXECUTORS: Final = ("local", "ray")
RESOURCE_ITEM: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)=(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Execution:
    """Where the work of a command runs, and how many LLM calls may be in flight at once."""

    executor: str = "local"
    address: str | None = None
    """A Ray cluster (`HOST:PORT` of its head, or `auto`); None: `RAY_ADDRESS`, else a new local instance."""
    resources: Mapping[str, float] = field(default_factory=dict)
    """What each Ray task asks for (`CPU`, `GPU`, or a named resource such as `board`); empty: the default."""
    llm_concurrency: int | None = None
    """At most this many Generator branches (hence LLM calls) at once; None: LangGraph's thread pool default."""

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise UsageError(f"unknown --executor {self.executor!r}; accepted: {', '.join(EXECUTORS)}")
        if self.executor == "local" and (self.address is not None or self.resources):
            raise UsageError("--ray-address and --ray-resources need --executor ray")
        if self.llm_concurrency is not None and self.llm_concurrency < 1:
            raise UsageError(f"--llm-concurrency must be at least 1, got {self.llm_concurrency}")

    @property
    def on_ray(self) -> bool:
        """Whether the work goes to Ray."""
        return self.executor == "ray"


def parse_resources(text: str | None) -> dict[str, float]:
    """`CPU=1,GPU=0.5,board=1` as a dict; a `UsageError` naming the bad item otherwise."""
    resources: dict[str, float] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        match = RESOURCE_ITEM.fullmatch(item)
        if match is None:
            raise UsageError(f"--ray-resources item {item!r} is not NAME=AMOUNT (e.g. CPU=1,GPU=0.5,board=1)")
        resources[match[1]] = float(match[2])
    return resources


def add_execution_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, llm: bool) -> None:
    """The `--executor`, `--ray-address` and `--ray-resources` flags (and `--llm-concurrency` when `llm`)."""
    parser.add_argument(
        "--executor",
        default="local",
        choices=EXECUTORS,
        help="where the work runs: local (this process) or ray (Ray tasks; see README)",
    )
    parser.add_argument("--ray-address", help="Ray head HOST:PORT or auto (default: RAY_ADDRESS, else a new local one)")
    parser.add_argument("--ray-resources", help="what each Ray task asks for, e.g. CPU=1,GPU=1,board=1 (default CPU=1)")
    if llm:
        parser.add_argument(
            "--llm-concurrency", type=int, help="at most this many LLM calls at once (parallel Generator branches)"
        )


def execution_from_args(args: argparse.Namespace) -> Execution:
    """The `Execution` the flags of `add_execution_arguments` ask for."""
    return Execution(
        executor=args.executor,
        address=args.ray_address,
        resources=parse_resources(args.ray_resources),
        llm_concurrency=getattr(args, "llm_concurrency", None),
    )
