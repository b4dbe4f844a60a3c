"""Benchmark-table oracles: accuracy `Estimator`s and a `LatencyModel` that look values up.

`oracle-val` scores an architecture with its 200-epoch validation accuracy and `oracle-12ep` with
its 12-epoch validation accuracy (a cheap, noisy fidelity); neither sees test accuracy, which only
the indicators use. `TableLatency` returns the table latency of any device the tables hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from hwnas.benchmark import BenchmarkTables
from hwnas.space import Architecture

ORACLE_KINDS: Final = {"oracle-val": "val", "oracle-12ep": "val_12ep"}
"""Estimator name -> accuracy column kind of `BenchmarkTables.accuracy`."""


class TableAccuracy:
    """An `Estimator` that reads a validation-accuracy column of the tables (in %)."""

    is_accuracy = True

    def __init__(self, name: str, tables: BenchmarkTables, dataset: str) -> None:
        """`name` is a key of ORACLE_KINDS."""
        self.name = name
        self._tables = tables
        self._column = tables.accuracy(dataset, ORACLE_KINDS[name])

    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Table accuracy of each architecture."""
        return self._column[self._tables.rows(archs)]


class TableLatency:
    """A `LatencyModel` that reads a device's latency column of the tables (in ms)."""

    def __init__(self, tables: BenchmarkTables, dataset: str, device: str) -> None:
        """Fails with a UsageError listing the available devices when the tables lack the pair."""
        self.device = device
        self._tables = tables
        self._column = tables.latency_ms(dataset, device)

    def latency_ms(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Table latency of each architecture."""
        return self._column[self._tables.rows(archs)]
