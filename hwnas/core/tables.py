"""The benchmark-truth contract: what a space's tables give to oracles, indicators and reports.

A space with a tabular benchmark (NB201's joined NAS-Bench-201 / HW-NAS-Bench / HELP tables, the tests'
small space) exposes one row per member: accuracy columns per dataset and latency columns per
(dataset, device). The indicators take the true front from `accuracy(dataset, "test")` and a latency
column; oracles read `accuracy(dataset, "val")`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from hwnas.core.space import Architecture, SearchSpace


class Tables(Protocol):
    """Per-member benchmark columns of one space, as read-only float64 arrays in row order."""

    @property
    def space(self) -> SearchSpace:
        """The space whose members the rows are."""
        ...

    @property
    def folder(self) -> Path:
        """Where the tables were read from (reports name it)."""
        ...

    @property
    def arch_strs(self) -> tuple[str, ...]:
        """Each row's architecture text."""
        ...

    def __hash__(self) -> int:
        """Tables are hashable: indicators cache the true front per (tables, dataset, device)."""
        ...

    def rows(self, archs: Sequence[Architecture | str]) -> np.ndarray:
        """Row numbers of architectures (or their texts), as int64."""
        ...

    def accuracy(self, dataset: str, kind: str = "test") -> np.ndarray:
        """Accuracy in % of every row; `kind` is `test`, `val` or a space-specific fidelity."""
        ...

    def latency_ms(self, dataset: str, device: str) -> np.ndarray:
        """Latency in ms of every row on `device`; a UsageError naming what is available otherwise."""
        ...

    def has(self, dataset: str, device: str) -> bool:
        """Whether the tables hold latency for `device` on `dataset`."""
        ...

    @property
    def valid_mask(self) -> np.ndarray:
        """True for rows whose architecture is valid (False: degenerate)."""
        ...
