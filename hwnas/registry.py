"""Build estimators and latency models by name: the one place that knows every implementation.

`make_estimator("oracle-val", dataset=..., tables=...)` and `make_latency_model("fpga", dataset=...,
tables=...)`. A new implementation is one more name in ESTIMATORS / one more branch below.
"""

from __future__ import annotations

from typing import Any

from hwnas.benchmark import BenchmarkTables
from hwnas.cost import dataset_shape
from hwnas.errors import UsageError
from hwnas.evaluation import Estimator, LatencyModel
from hwnas.oracles import ORACLE_KINDS, TableAccuracy, TableLatency

ZERO_COST_KINDS: tuple[str, ...] = ("zc", "zc-fewshot")
ESTIMATORS: tuple[str, ...] = (*ORACLE_KINDS, *ZERO_COST_KINDS)
"""Accepted estimator names."""
LOCAL_LATENCY_DEVICES: tuple[str, ...] = ("local-cpu", "local-cuda", "local-cpu-lut", "local-cuda-lut")
"""Latency measured on this machine (hwnas.tools.device_latency); the -lut ones are op lookup tables."""


def _need_tables(tables: BenchmarkTables | None, what: str) -> BenchmarkTables:
    if tables is None:
        raise UsageError(f"{what} reads the benchmark tables: pass --data PATH or set HWNAS_DATA")
    return tables


def make_estimator(
    name: str, *, dataset: str, tables: BenchmarkTables | None, seed: int = 0, **options: Any
) -> Estimator:
    """Build the estimator called `name` for `dataset` (`seed` and `options` serve the stochastic ones)."""
    dataset_shape(dataset)
    if name in ORACLE_KINDS:
        return TableAccuracy(name, _need_tables(tables, f"estimator {name!r}"), dataset)
    if name in ZERO_COST_KINDS:
        from hwnas.tools.zero_cost import make_zero_cost

        return make_zero_cost(name, dataset=dataset, tables=tables, seed=seed, **options)
    raise UsageError(f"unknown estimator {name!r}; accepted: {', '.join(ESTIMATORS)}")


def make_latency_model(
    device: str, *, dataset: str, tables: BenchmarkTables | None, **options: Any
) -> LatencyModel:
    """Build the latency model of `device` on `dataset` (a table device, or a local one with `options`)."""
    dataset_shape(dataset)
    if device in LOCAL_LATENCY_DEVICES:
        from hwnas.tools.device_latency import make_local_latency_model

        return make_local_latency_model(device, dataset=dataset, **options)
    return TableLatency(_need_tables(tables, f"device {device!r}"), dataset, device)
