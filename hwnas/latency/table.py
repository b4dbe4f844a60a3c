"""Latency looked up in a benchmark's tables: `TableLatency` reads one device's column."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwnas.core.space import Architecture
from hwnas.core.tables import Tables


class TableLatency:
    """A `LatencyModel` that reads a device's latency column of the tables (in ms)."""

    def __init__(self, tables: Tables, dataset: str, device: str) -> None:
        """Fails with a UsageError listing the available devices when the tables lack the pair."""
        self.device = device
        self._tables = tables
        self._column = tables.latency_ms(dataset, device)

    def latency_ms(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Table latency of each architecture."""
        return self._column[self._tables.rows(archs)]
