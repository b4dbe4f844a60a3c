"""Latency looked up in a benchmark's tables: `TableLatency` reads one device's column, `FleetLatency` several."""

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


class FleetLatency:
    """A `FleetLatencyModel`: the latency columns of several devices (`--device fpga,raspi4`)."""

    def __init__(self, tables: Tables, dataset: str, devices: Sequence[str]) -> None:
        """Fails with a UsageError naming the device when the tables lack one (see `TableLatency`)."""
        self.devices = tuple(devices)
        self.device = ",".join(self.devices)
        self._models = [TableLatency(tables, dataset, device) for device in self.devices]

    def latency_ms(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Latency on the first device."""
        return self._models[0].latency_ms(archs)

    def latency_ms_per_device(self, archs: Sequence[Architecture]) -> np.ndarray:
        """One column per device, in device order."""
        return np.column_stack([model.latency_ms(archs) for model in self._models])
