"""Latency measured on the machine hwnas runs on: `local-cpu`, and `local-cuda` when torch sees a GPU.

`OnDeviceLatency` times batch-1 inference of the real NB201 network (eval mode, no autograd): a few
warm-up runs, then `repeats` timed runs at a fixed torch thread count; the latency is their median.
Single-threaded CPU runs are timed in thread CPU time (`timing_clock` says why), others in wall time.
Results are cached in the `ScoreCache` under a machine fingerprint (CPU or GPU model, core count,
torch version, thread count), so a second search on the same machine measures nothing, and a
different machine never reads another's numbers.

`LookupTableLatency` costs thousands of candidates in milliseconds: latency = the measured latency of
the network whose cells are all `none`, plus, for every edge of every cell, the measured extra time of
its op over `none` at that stage's width and resolution. `hwnas latency profile` reports its rank
correlation with whole-network measurement.
"""

from __future__ import annotations

import hashlib
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import numpy as np
import torch
from torch import nn

from hwnas.core.space import Architecture
from hwnas.errors import UsageError
from hwnas.estimators.score_cache import LatencyEntry, ScoreCache
from hwnas.spaces.nb201.cost import CELLS_PER_STAGE, STAGE_CHANNELS, dataset_shape
from hwnas.spaces.nb201.network import build_network, make_op, torch_threads
from hwnas.spaces.nb201.space import NB201, NUM_EDGES, OPS

LOCAL_DEVICES: Final = ("local-cpu", "local-cuda")
DEFAULT_THREADS: Final = 1
"""One thread: the most repeatable setting on a shared machine, and what a small edge CPU core does."""


def available_local_devices() -> tuple[str, ...]:
    """`local-cpu`, plus `local-cuda` when torch sees a GPU."""
    return LOCAL_DEVICES if torch.cuda.is_available() else LOCAL_DEVICES[:1]


def check_device(device: str) -> torch.device:
    """The torch device behind a local device name, or a `UsageError` saying why it cannot be used."""
    if device not in LOCAL_DEVICES:
        raise UsageError(f"unknown on-device latency device {device!r}; accepted: {', '.join(LOCAL_DEVICES)}")
    if device == "local-cuda" and not torch.cuda.is_available():
        raise UsageError("device 'local-cuda' needs a GPU that torch can see; this machine has none (use local-cpu)")
    return torch.device("cuda" if device == "local-cuda" else "cpu")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def machine_fingerprint(device: str, threads: int) -> str:
    """A short hash of what decides latency here: hardware model, cores, torch build and thread count."""
    import os

    parts = [device, platform.machine(), platform.system(), _cpu_model(), str(os.cpu_count()), torch.__version__]
    parts += [str(threads), timing_clock(device, threads).__name__]
    if device == "local-cuda":
        parts.append(torch.cuda.get_device_name(0))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def timing_clock(device: str, threads: int) -> Callable[[], float]:
    """Thread CPU time for single-threaded CPU inference, else wall-clock time.

    On a shared machine, wall-clock timing of one thread also measures how often the neighbours
    preempt it (coefficients of variation up to ~30 % here); the CPU time of the thread that runs
    the whole network measures the network (~1-2 %). With several threads, or on a GPU, latency is
    wall-clock time, so that is what gets measured.
    """
    return time.thread_time if device == "local-cpu" and threads == 1 else time.perf_counter


def time_module(
    module: nn.Module,
    example: torch.Tensor,
    *,
    warmup: int,
    repeats: int,
    sync: Callable[[], None],
    clock: Callable[[], float] = time.perf_counter,
) -> LatencyEntry:
    """Median and coefficient of variation (std / mean) of `repeats` timed forward passes, in ms."""
    module.eval()
    timings = []
    with torch.inference_mode():
        for _ in range(warmup):
            module(example)
        sync()
        for _ in range(repeats):
            start = clock()
            module(example)
            sync()
            timings.append((clock() - start) * 1000.0)
    mean = statistics.fmean(timings)
    cv = statistics.pstdev(timings) / mean if mean > 0 else 0.0
    return LatencyEntry(median_ms=statistics.median(timings), cv=cv, repeats=repeats)


def _no_sync() -> None:
    return None


@dataclass
class _Timer:
    """What every measurement on one device shares: where it runs, its thread count and its protocol."""

    device: str
    dataset: str
    threads: int
    warmup: int
    repeats: int

    def __post_init__(self) -> None:
        dataset_shape(self.dataset)
        self.torch_device = check_device(self.device)
        if self.threads < 1 or self.warmup < 0 or self.repeats < 1:
            raise UsageError("latency measurement needs threads >= 1, warmup >= 0 and repeats >= 1")
        self.fingerprint = machine_fingerprint(self.device, self.threads)
        self.sync: Callable[[], None] = torch.cuda.synchronize if self.device == "local-cuda" else _no_sync

    def time(self, module: nn.Module, input_shape: tuple[int, ...]) -> LatencyEntry:
        example = torch.randn(*input_shape, generator=torch.Generator().manual_seed(0)).to(self.torch_device)
        with torch_threads(self.threads):
            return time_module(
                module.to(self.torch_device),
                example,
                warmup=self.warmup,
                repeats=self.repeats,
                sync=self.sync,
                clock=timing_clock(self.device, self.threads),
            )

    def time_network(self, arch: Architecture) -> LatencyEntry:
        resolution = dataset_shape(self.dataset).resolution
        return self.time(build_network(arch, self.dataset), (1, 3, resolution, resolution))


class OnDeviceLatency:
    """A `LatencyModel` that measures each architecture's network on this machine (cached)."""

    def __init__(
        self,
        device: str = "local-cpu",
        *,
        dataset: str = "cifar10",
        threads: int = DEFAULT_THREADS,
        warmup: int = 5,
        repeats: int = 30,
        cache: ScoreCache | None = None,
    ) -> None:
        self.device = device
        self._timer = _Timer(device, dataset, threads, warmup, repeats)
        self.cache = cache
        self.measured = 0
        """How many architectures this instance actually timed (cache misses)."""

    @property
    def fingerprint(self) -> str:
        """The machine fingerprint the cache entries are filed under."""
        return self._timer.fingerprint

    def measure(self, arch: Architecture) -> LatencyEntry:
        """Time one architecture now, bypassing the cache."""
        self.measured += 1
        return self._timer.time_network(arch)

    def entries(self, archs: Sequence[Architecture]) -> list[LatencyEntry]:
        """Cached or freshly measured entries, one per architecture (new ones are cached)."""
        names = [str(a) for a in archs]
        timer = self._timer
        found = (
            self.cache.get_latencies(names, dataset=timer.dataset, device=self.device, fingerprint=timer.fingerprint)
            if self.cache is not None
            else {}
        )
        fresh: dict[str, LatencyEntry] = {}
        for arch, name in zip(archs, names, strict=True):
            if name not in found and name not in fresh:
                fresh[name] = self.measure(arch)
        if fresh and self.cache is not None:
            self.cache.put_latencies(
                fresh.items(), dataset=timer.dataset, device=self.device, fingerprint=timer.fingerprint
            )
        found.update(fresh)
        return [found[name] for name in names]

    def latency_ms(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Median batch-1 latency per architecture, in ms."""
        return np.array([e.median_ms for e in self.entries(archs)], dtype=np.float64)


def _op_item(op: str, stage: int) -> str:
    return f"op:{op}@stage{stage}"


_EMPTY_CELLS: Final = "lut:all-none"


class LookupTableLatency:
    """A `LatencyModel` summing measured per-op latencies (built once per machine, then cached).

    latency(arch) = T(all-`none` network) + cells_per_stage * sum over stages and edges of
    (t(op, stage) - t(none, stage)), every term measured at batch 1 on this device.
    """

    def __init__(
        self,
        device: str = "local-cpu",
        *,
        dataset: str = "cifar10",
        threads: int = DEFAULT_THREADS,
        warmup: int = 10,
        repeats: int = 50,
        cache: ScoreCache | None = None,
    ) -> None:
        self.device = f"{device}-lut"
        self._timer = _Timer(device, dataset, threads, warmup, repeats)
        self._base_device = device
        self.cache = cache
        self.base_ms, self.op_delta_ms = self._build()

    def _measure_items(self) -> dict[str, LatencyEntry]:
        timer = self._timer
        shape = dataset_shape(timer.dataset)
        entries = {_EMPTY_CELLS: timer.time_network(NB201.make(("none",) * NUM_EDGES))}
        resolution = shape.resolution
        for stage, channels in enumerate(STAGE_CHANNELS):
            for op in OPS:
                entries[_op_item(op, stage)] = timer.time(make_op(op, channels), (1, channels, resolution, resolution))
            resolution //= 2
        return entries

    def _build(self) -> tuple[float, np.ndarray]:
        timer = self._timer
        items = [_EMPTY_CELLS, *(_op_item(op, stage) for stage in range(len(STAGE_CHANNELS)) for op in OPS)]
        key = {"dataset": timer.dataset, "device": self._base_device, "fingerprint": timer.fingerprint}
        found = self.cache.get_latencies(items, **key) if self.cache is not None else {}
        if len(found) < len(items):
            found = self._measure_items()
            if self.cache is not None:
                self.cache.put_latencies(found.items(), **key)
        deltas = np.array(
            [
                [found[_op_item(op, stage)].median_ms - found[_op_item("none", stage)].median_ms for op in OPS]
                for stage in range(len(STAGE_CHANNELS))
            ]
        )
        return found[_EMPTY_CELLS].median_ms, deltas

    def latency_ms(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Predicted batch-1 latency per architecture, in ms."""
        codes = np.array([a.codes for a in archs], dtype=np.int64).reshape(len(archs), NUM_EDGES)
        per_stage = self.op_delta_ms[:, codes].sum(axis=2)  # (stages, archs)
        return self.base_ms + CELLS_PER_STAGE * per_stage.sum(axis=0)


def profile_latency(
    *,
    device: str = "local-cpu",
    dataset: str = "cifar10",
    sample: int = 100,
    seed: int = 0,
    threads: int = DEFAULT_THREADS,
    repeats: int = 30,
    repeatability: int = 10,
    runs: int = 5,
    cache: ScoreCache | None = None,
) -> dict[str, Any]:
    """Measure (or read from the cache) `sample` seeded architectures; report repeatability and the LUT's fit.

    Repeatability: the first `repeatability` architectures are measured `runs` more times, bypassing
    the cache; the coefficient of variation (std / mean) of those medians is reported per architecture.
    """
    from scipy.stats import kendalltau, spearmanr

    if sample < 2:
        raise UsageError(f"--sample must be at least 2, got {sample}")
    rng = np.random.default_rng(seed)
    archs = [NB201.sample(rng) for _ in range(sample)]
    model = OnDeviceLatency(device, dataset=dataset, threads=threads, repeats=repeats, cache=cache)
    start = time.perf_counter()
    measured = model.latency_ms(archs)
    seconds = time.perf_counter() - start
    fresh = model.measured
    cvs = []
    for arch in archs[: max(0, repeatability)]:
        medians = np.array([model.measure(arch).median_ms for _ in range(runs)])
        cvs.append(float(medians.std() / medians.mean()))
    lut = LookupTableLatency(device, dataset=dataset, threads=threads, cache=cache)
    lut_start = time.perf_counter()
    predicted = lut.latency_ms(archs)
    lut_seconds = time.perf_counter() - lut_start
    return {
        "device": device,
        "dataset": dataset,
        "threads": threads,
        "fingerprint": model.fingerprint,
        "sample": sample,
        "measured": fresh,
        "seconds": seconds,
        "latency_ms": {
            "min": float(measured.min()),
            "median": float(np.median(measured)),
            "max": float(measured.max()),
        },
        "repeatability_cv": {
            "architectures": len(cvs),
            "runs": runs,
            "median": float(np.median(cvs)) if cvs else float("nan"),
            "max": float(np.max(cvs)) if cvs else float("nan"),
            "share_within_10_percent": float(np.mean(np.array(cvs) <= 0.10)) if cvs else float("nan"),
        },
        "lookup_table": {
            "spearman": float(spearmanr(predicted, measured)[0]),
            "kendall": float(kendalltau(predicted, measured)[0]),
            "archs_per_second": len(archs) / lut_seconds if lut_seconds > 0 else float("inf"),
            "base_ms": lut.base_ms,
        },
    }


def make_local_latency_model(
    device: str, *, dataset: str, cache: ScoreCache | str | None = None, **options: Any
) -> OnDeviceLatency | LookupTableLatency:
    """`local-cpu`/`local-cuda` (measured) or `local-cpu-lut`/`local-cuda-lut` (op lookup table), cached.

    `cache`: an open `ScoreCache`, a file path, or None for the default cache file; `options` go to the
    model (threads, warmup, repeats).
    """
    store = cache if isinstance(cache, ScoreCache) else ScoreCache(cache)
    if device.endswith("-lut"):
        return LookupTableLatency(device.removesuffix("-lut"), dataset=dataset, cache=store, **options)
    return OnDeviceLatency(device, dataset=dataset, cache=store, **options)
