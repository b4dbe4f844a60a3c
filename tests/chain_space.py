"""`chain`: a second search space, made for the tests, that proves the space contract is not NB201's.

Four layers in a row, each one of five ops: 625 members. A chain is valid when no layer is `zero` (it
cuts the signal) and at least one layer convolves; `skip` layers are identities, so chains equal
without their skips compute the same function. Its tables are computed from the ops (a made-up but
fixed benchmark: accuracy grows with convolutions and falls with pooling early on, latency grows with
convolutions, on two devices), with small deterministic noise per member.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Final

import numpy as np
import torch
from torch import nn

from hwnas.core.space import Architecture, Niches, SearchSpace
from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.spaces import register_space

_PARAMS: Final = {"skip": 0.0, "pool": 0.0, "conv3": 9.0, "conv5": 25.0, "zero": 0.0}


class ChainSpace(SearchSpace):
    """Four layers, five ops each."""

    name = "chain"
    slots = ("L1", "L2", "L3", "L4")
    slot_noun = "layer"
    invalid_reason = "broken chain: a zero layer, or no convolution at all"
    ops = ("skip", "pool", "conv3", "conv5", "zero")
    short_ops: ClassVar[dict[str, str]] = {"skip": "s", "pool": "p", "conv3": "c3", "conv5": "c5", "zero": "0"}
    datasets = ("toy",)

    def format(self, arch: Architecture) -> str:
        """Ops joined by `-`: `conv3-skip-pool-conv5`."""
        return "-".join(arch.ops)

    def parse(self, text: str) -> Architecture:
        """Read `format`'s text."""
        ops = text.strip().split("-")
        if len(ops) != len(self.slots):
            raise UsageError(f"malformed chain {text!r}: expected {len(self.slots)} ops joined by '-'")
        return self.make(ops)

    def is_valid(self, arch: Architecture) -> bool:
        """No zero layer and at least one convolution."""
        return "zero" not in arch.ops and any(op.startswith("conv") for op in arch.ops)

    def canonical_key(self, arch: Architecture) -> str:
        """The ops without the identity layers (a zero anywhere: the constant function)."""
        if "zero" in arch.ops:
            return "0"
        return "-".join(op for op in arch.ops if op != "skip") or "identity"

    def describe(self, *, latency: bool = True) -> str:
        """The prompt text."""
        return (
            "The search space is a chain of 4 layers (0..3), one operation each: skip (identity), pool, "
            "conv3, conv5, zero (cuts the chain). "
            + ("Convolutions raise accuracy and latency." if latency else "Convolutions raise accuracy.")
        )

    def niches(self) -> Niches:
        """By the number of convolution layers (0 to 4)."""
        return Niches(
            "convs",
            tuple(f"{n}-conv" for n in range(5)),
            tuple(f"exactly {n} convolution layer(s)" for n in range(5)),
            lambda a: sum(op.startswith("conv") for op in a.ops),
        )

    def analytic_costs(self, dataset: str) -> dict[str, Callable[[Architecture], float]]:
        """Parameters: 9 per conv3 layer, 25 per conv5 layer."""
        self.check_dataset(dataset)
        return {"params": lambda a: 1.0 + sum(_PARAMS[op] for op in a.ops)}

    def load_tables(self, data: str | None, *, required: bool = True) -> Tables | None:
        """The computed tables (they need no data folder)."""
        return CHAIN_TABLES

    def input_shape(self, dataset: str) -> tuple[int, int]:
        """16x16 images, 10 classes."""
        self.check_dataset(dataset)
        return 16, 10

    def build_network(self, arch: Architecture, dataset: str, *, seed: int = 0, batch_norm: bool = True) -> nn.Module:
        """A stem convolution, the four layers, global pooling and a classifier (8 channels throughout)."""
        _, classes = self.input_shape(dataset)
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            layers: list[nn.Module] = [nn.Conv2d(3, 8, 3, padding=1, bias=False)]
            for op in arch.ops:
                if op.startswith("conv"):
                    k = int(op[-1])
                    conv = [nn.ReLU(), nn.Conv2d(8, 8, k, padding=k // 2, bias=False)]
                    layers.append(nn.Sequential(*conv, *([nn.BatchNorm2d(8)] if batch_norm else [])))
                elif op == "pool":
                    layers.append(nn.AvgPool2d(3, stride=1, padding=1))
                elif op == "zero":
                    layers.append(Zero())
                else:
                    layers.append(nn.Identity())
            return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes))
        finally:
            torch.random.set_rng_state(state)


class Zero(nn.Module):
    """Cuts the chain: zeros of the input's shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


@dataclass(frozen=True)
class ChainTables:
    """Accuracy and latency of every chain, computed from its ops."""

    space: ClassVar[SearchSpace]
    folder: Path = Path("(computed)")
    arch_strs: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch_strs", tuple(str(a) for a in CHAIN))

    @cached_property
    def _row_of(self) -> dict[str, int]:
        return {text: row for row, text in enumerate(self.arch_strs)}

    def rows(self, archs: Sequence[Architecture | str]) -> np.ndarray:
        """Row (= enumeration position) of each chain."""
        try:
            return np.array([self._row_of[str(a)] for a in archs], dtype=np.int64)
        except KeyError as error:
            raise UsageError(f"not a chain: {error}") from None

    @cached_property
    def _columns(self) -> dict[str, np.ndarray]:
        acc, lat_a, lat_b = [], [], []
        for arch in CHAIN:
            noise = zlib.crc32(str(arch).encode()) % 1000 / 1000.0
            convs = [i for i, op in enumerate(arch.ops) if op.startswith("conv")]
            if not arch.is_valid:
                acc.append(10.0 + noise)
            else:
                early_pool = sum(op == "pool" and i < 2 for i, op in enumerate(arch.ops))
                acc.append(60.0 + 7.0 * len(convs) + 2.0 * arch.ops.count("conv5") - 4.0 * early_pool + noise)
            params = 1.0 + sum(_PARAMS[op] for op in arch.ops)
            lat_a.append(0.5 + 0.1 * params + 0.2 * arch.ops.count("pool") + 0.05 * noise)
            lat_b.append(1.0 + 0.3 * arch.ops.count("conv3") + 0.2 * arch.ops.count("conv5") ** 2 + 0.05 * noise)
        return {"acc": np.array(acc), "dev-a": np.array(lat_a), "dev-b": np.array(lat_b)}

    def accuracy(self, dataset: str, kind: str = "test") -> np.ndarray:
        """Accuracy in %; `val` is the test accuracy shifted by a member-wise constant (a noisy fidelity)."""
        CHAIN.check_dataset(dataset)
        if kind == "test":
            return self._columns["acc"]
        if kind == "val":
            return self._columns["acc"] - 0.3 * (np.arange(len(self.arch_strs)) % 3)
        raise UsageError(f"unknown accuracy kind {kind!r}; accepted: test, val")

    def latency_ms(self, dataset: str, device: str) -> np.ndarray:
        """Latency on `dev-a` or `dev-b`."""
        if not self.has(dataset, device):
            raise UsageError(f"no latency for device {device!r} on {dataset}; available: toy: dev-a, dev-b")
        return self._columns[device]

    def has(self, dataset: str, device: str) -> bool:
        """Both devices, on the one dataset."""
        return dataset == "toy" and device in ("dev-a", "dev-b")

    @cached_property
    def valid_mask(self) -> np.ndarray:
        """Valid chains."""
        return np.array([a.is_valid for a in CHAIN])


CHAIN: Final = register_space(ChainSpace())
ChainTables.space = CHAIN
CHAIN_TABLES: Final = ChainTables()
