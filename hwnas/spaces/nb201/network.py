"""The NAS-Bench-201 network in torch, built from an `Architecture`.

Macro skeleton (Dong & Yang, 2020): a 3x3 conv stem with batch norm, three stages of `cells_per_stage`
cells at C, 2C and 4C channels separated by residual reduction blocks (stride 2), a BN-ReLU, global
average pooling and a linear classifier. Every cell is the same DAG (the architecture); its ops are
ReLU-Conv-BN 1x1 and 3x3, 3x3 average pooling, identity and zero, as in NB201's `InferCell`, so that
the parameter count equals the NB201 table's for every architecture.

Zero-cost proxies build the network with `batch_norm=False` (SynFlow is defined without BN); its
convolution and classifier weights equal those of the BN network built with the same seed, because
BN initialisation draws no random numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from hwnas.core.space import Architecture
from hwnas.errors import UsageError
from hwnas.spaces.nb201.cost import CELLS_PER_STAGE, STAGE_CHANNELS, dataset_shape
from hwnas.spaces.nb201.space import EDGES


class ReLUConvBN(nn.Sequential):
    """NB201's ReLU -> Conv (no bias) -> BN block; BN is an identity when `batch_norm` is False."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, batch_norm: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out) if batch_norm else nn.Identity(),
        )


class Zero(nn.Module):
    """The `none` op: multiplies by zero (NB201 computes it, so latency measurements include it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zeros shaped like `x`."""
        return x.mul(0.0)


class AvgPool3x3(nn.Module):
    """NB201's `avg_pool_3x3`: `nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)`, computed faster.

    A depthwise 3x3 box sum divided by how many in-bounds inputs each window covers: the same function
    (to float rounding), with no parameters, but about 5x faster forward and backward on CPU than
    torch's average-pooling kernel, which dominated proxy scoring time.
    """

    box: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("box", torch.ones(channels, 1, 3, 3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of each 3x3 window over its in-bounds positions."""
        height, width = x.shape[-2:]
        summed = nn.functional.conv2d(x, self.box, padding=1, groups=x.shape[1])
        return summed / (self._edge_counts(height, x)[:, None] * self._edge_counts(width, x)[None, :])

    @staticmethod
    def _edge_counts(size: int, like: torch.Tensor) -> torch.Tensor:
        counts = torch.full((size,), 3.0, dtype=like.dtype, device=like.device)
        counts[0] -= 1
        counts[-1] -= 1
        return counts.clamp_(min=1.0)


def make_op(op: str, channels: int, batch_norm: bool = True) -> nn.Module:
    """One cell edge's module (cells keep the channel count and resolution)."""
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, batch_norm)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, batch_norm)
    if op == "avg_pool_3x3":
        return AvgPool3x3(channels)
    if op == "skip_connect":
        return nn.Identity()
    if op == "none":
        return Zero()
    raise UsageError(f"unknown op {op!r}")


class Cell(nn.Module):
    """One NB201 cell: node i is the sum of its incoming edges' ops; the output is node 3."""

    def __init__(self, arch: Architecture, channels: int, batch_norm: bool = True) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, channels, batch_norm) for op in arch.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the DAG on `x`."""
        nodes = [x, None, None, None]
        for target in (1, 2, 3):
            total: torch.Tensor | None = None
            for slot, (source, dst) in enumerate(EDGES):
                if dst == target:
                    out = self.edges[slot](nodes[source])
                    total = out if total is None else total + out
            nodes[target] = total
        assert nodes[3] is not None
        return nodes[3]


class ResidualReduction(nn.Module):
    """NB201's `ResNetBasicblock` between stages: halves resolution, doubles channels."""

    def __init__(self, c_in: int, c_out: int, batch_norm: bool = True) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, batch_norm)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, batch_norm)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual sum of the shortcut and the two convolutions."""
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The full NB201 network for one architecture and dataset (logits out)."""

    def __init__(
        self,
        arch: Architecture,
        num_classes: int,
        channels: int = STAGE_CHANNELS[0],
        cells_per_stage: int = CELLS_PER_STAGE,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels) if batch_norm else nn.Identity(),
        )
        layers: list[nn.Module] = []
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(width, width * 2, batch_norm))
                width *= 2
            layers.extend(Cell(arch, width, batch_norm) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(width) if batch_norm else nn.Identity(), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of images (N, 3, H, W)."""
        features = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.global_pooling(features).flatten(1))


def build_network(arch: Architecture, dataset: str, *, seed: int = 0, batch_norm: bool = True) -> NB201Network:
    """The NB201 network for `dataset` (a `hwnas.spaces.nb201.cost.DATASETS` name).

    Initialised with PyTorch's default init from `seed`; torch's global RNG is left as it was.
    """
    shape = dataset_shape(dataset)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return NB201Network(arch, shape.num_classes, batch_norm=batch_norm)
    finally:
        torch.random.set_rng_state(generator_state)


def parameter_count(net: nn.Module) -> int:
    """Trainable parameters, counted as NB201 counts them (BN affine parameters included)."""
    return sum(p.numel() for p in net.parameters())


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set to `threads`, then restore it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
