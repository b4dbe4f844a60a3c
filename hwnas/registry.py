"""Build estimators and latency models by name: the one place that knows every implementation.

`make_estimator("oracle-val", space=..., dataset=..., tables=...)` and `make_latency_model("fpga", ...)`.
Table oracles and table latency serve any space with tables; the zero-cost predictor and on-device
latency build NB201 networks, so they serve `nb201` only. A new implementation is one more name in
ESTIMATORS / one more branch below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from hwnas.core.evaluation import Estimator, LatencyModel
from hwnas.core.objectives import parse_fleet
from hwnas.core.space import SearchSpace
from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.estimators.tables import ORACLE_KINDS, TableAccuracy
from hwnas.latency.table import FleetLatency, TableLatency
from hwnas.spaces.nb201 import NB201

if TYPE_CHECKING:
    from hwnas.spaces.nb201.tables import BenchmarkTables

ZERO_COST_KINDS: tuple[str, ...] = ("zc", "zc-fewshot")
ESTIMATORS: tuple[str, ...] = (*ORACLE_KINDS, *ZERO_COST_KINDS)
"""Accepted estimator names."""
LOCAL_LATENCY_DEVICES: tuple[str, ...] = ("local-cpu", "local-cuda", "local-cpu-lut", "local-cuda-lut")
"""Latency measured on this machine (hwnas.latency.device); the -lut ones are op lookup tables."""


def _need_tables(tables: Tables | None, what: str) -> Tables:
    if tables is None:
        raise UsageError(f"{what} reads the benchmark tables: pass --data PATH or set HWNAS_DATA")
    return tables


def _need_nb201(space: SearchSpace, what: str) -> None:
    if space != NB201:
        raise UsageError(f"{what} builds NB201 networks and serves space nb201 only, not {space.name}")


def make_estimator(
    name: str, *, dataset: str, tables: Tables | None, seed: int = 0, space: SearchSpace = NB201, **options: Any
) -> Estimator:
    """Build the estimator called `name` for `dataset` (`seed` and `options` serve the stochastic ones)."""
    space.check_dataset(dataset)
    if name in ORACLE_KINDS:
        return TableAccuracy(name, _need_tables(tables, f"estimator {name!r}"), dataset)
    if name in ZERO_COST_KINDS:
        from hwnas.estimators.zero_cost import make_zero_cost

        _need_nb201(space, f"estimator {name!r}")
        return make_zero_cost(
            name, dataset=dataset, tables=cast("BenchmarkTables | None", tables), seed=seed, **options
        )
    raise UsageError(f"unknown estimator {name!r}; accepted: {', '.join(ESTIMATORS)}")


def make_latency_model(
    device: str, *, dataset: str, tables: Tables | None, space: SearchSpace = NB201, **options: Any
) -> LatencyModel:
    """Build the latency model of `device` on `dataset` (a table device, or a local one with `options`).

    A comma-separated fleet (`fpga,raspi4`) of table devices gives a `FleetLatency`.
    """
    space.check_dataset(dataset)
    if "," in device:
        devices = parse_fleet(device)
        local = [d for d in devices if d in LOCAL_LATENCY_DEVICES]
        if local:
            raise UsageError(f"--device {device}: a fleet reads benchmark tables; {local[0]!r} is measured locally")
        return FleetLatency(_need_tables(tables, f"device {device!r}"), dataset, devices)
    if device in LOCAL_LATENCY_DEVICES:
        from hwnas.latency.device import make_local_latency_model

        _need_nb201(space, f"device {device!r}")
        return make_local_latency_model(device, dataset=dataset, **options)
    return TableLatency(_need_tables(tables, f"device {device!r}"), dataset, device)
