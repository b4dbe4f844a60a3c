"""Benchmark-table oracles: accuracy `Estimator`s that look values up in a benchmark's tables.

`oracle-val` scores an architecture with its 200-epoch validation accuracy and `oracle-12ep` with
its 12-epoch validation accuracy (a cheap, noisy fidelity); neither sees test accuracy, which only
the indicators use. Any space's `Tables` serve, so the oracles work on every space that has tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from hwnas.core.space import Architecture
from hwnas.core.tables import Tables

ORACLE_KINDS: Final = {"oracle-val": "val", "oracle-12ep": "val_12ep"}
"""Estimator name -> accuracy column kind of `BenchmarkTables.accuracy`."""


class TableAccuracy:
    """An `Estimator` that reads a validation-accuracy column of the tables (in %)."""

    is_accuracy = True

    def __init__(self, name: str, tables: Tables, dataset: str) -> None:
        """`name` is a key of ORACLE_KINDS."""
        self.name = name
        self._tables = tables
        self._column = tables.accuracy(dataset, ORACLE_KINDS[name])

    def predict(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Table accuracy of each architecture."""
        return self._column[self._tables.rows(archs)]
