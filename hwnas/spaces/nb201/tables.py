"""Benchmark truth: the joined NAS-Bench-201 / HW-NAS-Bench / HELP tables, checked on load.

`load_tables(data)` reads `nb201_hw/nb201_hw.csv.gz` and `nb201_hw/nb201_help_latency.csv.gz` under
the shared data folder (`--data PATH` or `HWNAS_DATA`), checks them (columns, 15,625 rows in NB201
index order, numeric values, every architecture string exactly once), and caches the result per
process. Columns are read-only float64 arrays in NB201 index order; `rows(archs)` maps architectures
to row numbers, so a lookup is `tables.latency_ms("cifar10", "fpga")[tables.rows(archs)]`.

Devices per dataset (`availability()`):
- cifar10: HW-NAS-Bench `fpga`, `eyeriss`, `raspi4`, `pixel3`; the 23 other HELP devices, named by
  their column stem (`help_1080ti_1_ms` -> `1080ti_1`; suffix = batch size for GPUs); `nb201_gpu`.
- cifar100, imagenet16: `nb201_gpu` only (NB201's own measured GPU latency). HW-NAS-Bench's CIFAR-100
  and ImageNet16-120 latencies and its Edge GPU / Edge TPU columns are not in the data.
HELP's GPU, CPU and phone measurements are listed under cifar10 because they were taken on the
32x32 NB201 networks whose other four devices HELP took from HW-NAS-Bench's CIFAR-10 set.
"""

from __future__ import annotations

import itertools
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import ClassVar, Final, Literal, overload

import numpy as np
import pandas as pd

from hwnas.core.space import Architecture, SearchSpace
from hwnas.errors import UsageError
from hwnas.spaces.nb201.cost import DATASETS, dataset_shape
from hwnas.spaces.nb201.space import NB201, OPS, SPACE_SIZE

MAIN_FILE: Final = "nb201_hw.csv.gz"
HELP_FILE: Final = "nb201_help_latency.csv.gz"
HW_NAS_BENCH_DEVICES: Final = ("fpga", "eyeriss", "raspi4", "pixel3")
NB201_GPU: Final = "nb201_gpu"
ACCURACY_KINDS: Final = {
    "test": "{dataset}_test_acc",
    "val": "{dataset}_val_acc",
    "test_12ep": "{dataset}_test_acc_12ep",
    "val_12ep": "{dataset}_val_acc_12ep",
}
"""Accuracy columns (%, mean over seeds): 200-epoch test and validation, and their 12-epoch versions."""

HELP_DEVICES: Final = (
    "1080ti_1", "1080ti_256", "1080ti_32", "2080ti_1", "2080ti_256", "2080ti_32", "essential_ph_1",
    "eyeriss", "fpga", "gold_6226", "gold_6240", "pixel2", "pixel3", "raspi4", "samsung_a50",
    "samsung_s7", "silver_4114", "silver_4210r", "titan_rtx_1", "titan_rtx_256", "titan_rtx_32",
    "titanx_1", "titanx_256", "titanx_32", "titanxp_1", "titanxp_256", "titanxp_32",
)  # fmt: skip
"""The 27 devices of the HELP latency file (column `help_<device>_ms`; its README says 26), in file order."""


def _main_columns() -> tuple[str, ...]:
    columns = ["index", "arch_str", "ops"]
    for dataset in DATASETS:
        columns += [pattern.format(dataset=dataset) for pattern in ACCURACY_KINDS.values()]
        columns += [f"{dataset}_params_M", f"{dataset}_nb201_latency_s"]
    columns += [f"cifar10_{device}_latency" for device in HW_NAS_BENCH_DEVICES]
    return tuple(columns)


MAIN_COLUMNS: Final = _main_columns()
HELP_COLUMNS: Final = ("index", "arch_str", *(f"help_{device}_ms" for device in HELP_DEVICES))


def resolve_data_dir(data: str | os.PathLike[str] | None = None) -> Path:
    """Return the `nb201_hw` folder under `data` (or HWNAS_DATA); `data` may also name it directly."""
    if data is None:
        data = os.environ.get("HWNAS_DATA")
        if not data:
            raise UsageError("no benchmark data given: pass --data PATH (the shared data folder) or set HWNAS_DATA")
    root = Path(data).expanduser()
    for candidate in (root / "nb201_hw", root):
        if (candidate / MAIN_FILE).is_file():
            return candidate.resolve()
    if not root.exists():
        raise UsageError(f"--data {root} not found; pass --data PATH (the shared data folder) or set HWNAS_DATA")
    raise UsageError(f"--data {root} has no nb201_hw/{MAIN_FILE}; point --data or HWNAS_DATA at the shared data folder")


@cache
def _all_arch_codes() -> dict[str, int]:
    """Every canonical architecture string with its `ops` column code (one decimal digit per edge)."""
    codes: dict[str, int] = {}
    for digits in itertools.product(range(len(OPS)), repeat=6):
        codes[str(NB201.from_codes(digits))] = int("".join(map(str, digits)))
    return codes


def _damaged(path: Path, what: str) -> UsageError:
    return UsageError(f"benchmark file {path} is damaged: {what}; rebuild it with nb201_hw/build.py")


def _read_csv(path: Path, expected: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        raise UsageError(f"benchmark file {path} not found; point --data or HWNAS_DATA at the shared data folder")
    try:
        frame = pd.read_csv(path)
    except (OSError, EOFError, zlib.error, ValueError) as error:  # gzip and CSV errors
        raise _damaged(path, f"{type(error).__name__}: {error}") from None
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise _damaged(path, f"missing columns {', '.join(missing)}")
    if len(frame) != SPACE_SIZE:
        raise _damaged(path, f"{len(frame)} rows, expected {SPACE_SIZE}")
    if not np.array_equal(frame["index"].to_numpy(), np.arange(SPACE_SIZE)):
        raise _damaged(path, f"`index` is not 0..{SPACE_SIZE - 1} in order")
    for column in expected:
        if column == "arch_str":
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise _damaged(path, f"column {column} is not numeric at row {bad}")
    return frame


def _check_arch_strings(path: Path, arch_strs: Sequence[str], ops: np.ndarray) -> None:
    known = _all_arch_codes()
    for row, text in enumerate(arch_strs):
        code = known.get(text)
        if code is None:
            raise _damaged(path, f"row {row} has a malformed arch_str {text!r}")
        if code != int(ops[row]):
            raise _damaged(path, f"row {row}: `ops` {ops[row]} disagrees with arch_str")
    if len(set(arch_strs)) != SPACE_SIZE:
        raise _damaged(path, "some architecture strings repeat")


def _frozen(values: pd.Series) -> np.ndarray:
    array = values.to_numpy(dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class BenchmarkTables:
    """The checked tables, as read-only columns in NB201 index order. Build with `load_tables`."""

    space: ClassVar[SearchSpace] = NB201
    folder: Path
    arch_strs: tuple[str, ...]
    _columns: dict[str, np.ndarray] = field(repr=False)
    _latency: dict[tuple[str, str], np.ndarray] = field(repr=False)
    _row_of: dict[str, int] = field(repr=False)

    @overload
    @classmethod
    def load(cls, data: str | os.PathLike[str] | None = None, *, required: Literal[True] = True) -> BenchmarkTables: ...

    @overload
    @classmethod
    def load(cls, data: str | os.PathLike[str] | None = None, *, required: bool) -> BenchmarkTables | None: ...

    @classmethod
    def load(cls, data: str | os.PathLike[str] | None = None, *, required: bool = True) -> BenchmarkTables | None:
        """`load_tables(data)`; with `required=False`, None when neither `data` nor HWNAS_DATA is given.

        A path that is given but missing or damaged is always an error.
        """
        if not required and data is None and not os.environ.get("HWNAS_DATA"):
            return None
        return load_tables(data)

    # ---- lookups ---------------------------------------------------------------------------------
    def row(self, arch: Architecture | str) -> int:
        """Return the NB201 index (row) of one architecture."""
        text = str(arch) if isinstance(arch, Architecture) else str(NB201.parse(arch))
        return self._row_of[text]

    def rows(self, archs: Sequence[Architecture | str]) -> np.ndarray:
        """NB201 indices of many architectures, as an int64 array (strings are checked by parsing)."""
        row_of = self._row_of
        out = np.empty(len(archs), dtype=np.int64)
        for i, arch in enumerate(archs):
            text = str(arch)
            row = row_of.get(text)
            out[i] = row if row is not None else self.row(text)
        return out

    def architecture(self, row: int) -> Architecture:
        """Return the architecture at NB201 index `row`."""
        return NB201.parse(self.arch_strs[row])

    # ---- columns ---------------------------------------------------------------------------------
    def accuracy(self, dataset: str, kind: str = "test") -> np.ndarray:
        """Accuracy in % for every architecture; `kind` is one of ACCURACY_KINDS."""
        dataset_shape(dataset)
        if kind not in ACCURACY_KINDS:
            raise UsageError(f"unknown accuracy kind {kind!r}; accepted: {', '.join(ACCURACY_KINDS)}")
        return self._columns[ACCURACY_KINDS[kind].format(dataset=dataset)]

    def params_m(self, dataset: str) -> np.ndarray:
        """Parameters in millions for every architecture."""
        dataset_shape(dataset)
        return self._columns[f"{dataset}_params_M"]

    def latency_ms(self, dataset: str, device: str) -> np.ndarray:
        """Latency in ms on `device` for every architecture; a UsageError if the data lack the pair."""
        self.check_available(dataset, device)
        return self._latency[(dataset, device)]

    # ---- availability ----------------------------------------------------------------------------
    def devices(self, dataset: str) -> tuple[str, ...]:
        """Return the devices with latency for `dataset`."""
        dataset_shape(dataset)
        return tuple(device for ds, device in self._latency if ds == dataset)

    def availability(self) -> dict[str, tuple[str, ...]]:
        """Dataset -> devices with latency: the availability matrix in sparse form."""
        return {dataset: self.devices(dataset) for dataset in DATASETS}

    def has(self, dataset: str, device: str) -> bool:
        """Whether the tables hold latency for `device` on `dataset`."""
        return (dataset, device) in self._latency

    def check_available(self, dataset: str, device: str) -> None:
        """Raise a UsageError that lists what is available when (dataset, device) has no latency."""
        if (dataset, device) in self._latency:
            return
        dataset_shape(dataset)
        pairs = "; ".join(f"{ds}: {', '.join(devices)}" for ds, devices in self.availability().items())
        raise UsageError(f"no latency for device {device!r} on {dataset}; available: {pairs}")

    @cached_property
    def valid_mask(self) -> np.ndarray:
        """True where the cell's output is reachable from its input (False: a degenerate cell)."""
        mask = np.fromiter((NB201.parse(s).is_valid for s in self.arch_strs), dtype=bool, count=SPACE_SIZE)
        mask.setflags(write=False)
        return mask


@cache
def _load(folder: Path) -> BenchmarkTables:
    main_path, help_path = folder / MAIN_FILE, folder / HELP_FILE
    main = _read_csv(main_path, MAIN_COLUMNS)
    arch_strs = tuple(main["arch_str"].astype(str))
    _check_arch_strings(main_path, arch_strs, main["ops"].to_numpy())
    columns = {name: _frozen(main[name]) for name in MAIN_COLUMNS if name not in ("index", "arch_str", "ops")}

    latency: dict[tuple[str, str], np.ndarray] = {}
    for device in HW_NAS_BENCH_DEVICES:
        latency[("cifar10", device)] = columns[f"cifar10_{device}_latency"]
    help_table = _read_csv(help_path, HELP_COLUMNS)
    if tuple(help_table["arch_str"].astype(str)) != arch_strs:
        raise _damaged(help_path, f"its arch_str order differs from {main_path.name}")
    for device in HELP_DEVICES:
        values = _frozen(help_table[f"help_{device}_ms"])
        if device in HW_NAS_BENCH_DEVICES:
            if not np.allclose(values, latency[("cifar10", device)], rtol=0, atol=1e-9):
                raise _damaged(help_path, f"help_{device}_ms differs from {MAIN_FILE}")
            continue
        latency[("cifar10", device)] = values
    for dataset in DATASETS:
        seconds = columns[f"{dataset}_nb201_latency_s"]
        milliseconds = seconds * 1000.0
        milliseconds.setflags(write=False)
        latency[(dataset, NB201_GPU)] = milliseconds
    row_of = {text: row for row, text in enumerate(arch_strs)}
    return BenchmarkTables(folder, arch_strs, columns, latency, row_of)


def load_tables(data: str | os.PathLike[str] | None = None) -> BenchmarkTables:
    """Load and check the tables under `data` (or `HWNAS_DATA`); cached per folder for the process."""
    return _load(resolve_data_dir(data))
