"""Analytic parameter count and FLOPs of the full NAS-Bench-201 network around a cell, per dataset.

The network (batch 1): a stem (3x3 conv 3->16, BN); three stages of 5 cells at C = 16, 32, 64 channels,
separated by ResNet basic reduction blocks (ReLU-conv3x3-BN with stride 2, ReLU-conv3x3-BN, and an
AvgPool2d(2)+conv1x1 shortcut); then BN, ReLU, global average pooling and a linear classifier. In a
cell, `nor_conv_kxk` is ReLU-conv-BN, `avg_pool_3x3` a stride-1 3x3 average pool, `skip_connect` the
identity and `none` nothing. Convolutions have no bias; every BN is affine.

Parameters count every weight, BN scale and shift, and the classifier's weights and bias; they equal
the tables' `{dataset}_params_M` for all 15,625 cells (tests/test_cost.py).

FLOPs follow the convention of the only FLOPs reference available, the `flops` of NASLib's
725-architecture subset (`naslib_zc/`), which the tests reproduce exactly: a convolution or the
classifier counts its multiply-accumulates (k*k*C_in*C_out per output position; in*out), a ReLU 1 per
input element, a BN 2 per element, a k x k average pool k*k per output element, and the global pool
C*(H+1)^2 (the counting tool widens each pooling window by one row and one column). Run as a script
to print both figures for an architecture::

    python -m hwnas.spaces.nb201.cost '|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|'
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Final

from hwnas.core.space import Architecture
from hwnas.errors import UsageError


@dataclass(frozen=True, slots=True)
class DatasetShape:
    """What the network's input and output look like for one dataset."""

    num_classes: int
    resolution: int


DATASETS: Final[dict[str, DatasetShape]] = {
    "cifar10": DatasetShape(num_classes=10, resolution=32),
    "cifar100": DatasetShape(num_classes=100, resolution=32),
    "imagenet16": DatasetShape(num_classes=120, resolution=16),
}
"""The three NB201 datasets, named as the tables' column prefixes (imagenet16 = ImageNet16-120)."""

STAGE_CHANNELS: Final = (16, 32, 64)
CELLS_PER_STAGE: Final = 5
STEM_CHANNELS: Final = STAGE_CHANNELS[0]

# FLOPs per element of the non-MAC layers, in the reference's counting convention.
_RELU_FLOPS: Final = 1
_BN_FLOPS: Final = 2
_KERNEL: Final = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


def dataset_shape(dataset: str) -> DatasetShape:
    """Return the shape of `dataset`, or raise a UsageError listing the accepted names."""
    try:
        return DATASETS[dataset]
    except KeyError:
        raise UsageError(f"unknown dataset {dataset!r}; accepted: {', '.join(DATASETS)}") from None


def _conv_bn_params(c_in: int, c_out: int, kernel: int) -> int:
    return kernel * kernel * c_in * c_out + 2 * c_out


def _reduction_params(c_in: int, c_out: int) -> int:
    return _conv_bn_params(c_in, c_out, 3) + _conv_bn_params(c_out, c_out, 3) + c_in * c_out


def parameter_count(arch: Architecture, dataset: str) -> int:
    """Trainable parameters of the whole network for `arch` on `dataset`.

    Every conv edge owns its weights, even one cut off from the cell's input (it is still built).
    """
    shape = dataset_shape(dataset)
    total = _conv_bn_params(3, STEM_CHANNELS, 3)
    for stage, channels in enumerate(STAGE_CHANNELS):
        if stage > 0:
            total += _reduction_params(STAGE_CHANNELS[stage - 1], channels)
        per_cell = sum(_conv_bn_params(channels, channels, _KERNEL[op]) for op in arch.ops if op in _KERNEL)
        total += CELLS_PER_STAGE * per_cell
    last = STAGE_CHANNELS[-1]
    total += 2 * last  # final BN
    total += last * shape.num_classes + shape.num_classes  # classifier
    return total


def _relu_conv_bn_flops(c_in: int, c_out: int, kernel: int, in_size: int, out_size: int) -> int:
    relu = _RELU_FLOPS * c_in * in_size * in_size
    conv = kernel * kernel * c_in * c_out * out_size * out_size
    return relu + conv + _BN_FLOPS * c_out * out_size * out_size


def _cell_flops(ops: tuple[str, ...], channels: int, size: int) -> int:
    total = 0
    for op in ops:
        if op in _KERNEL:
            total += _relu_conv_bn_flops(channels, channels, _KERNEL[op], size, size)
        elif op == "avg_pool_3x3":
            total += 9 * channels * size * size
    return total


def _reduction_flops(c_in: int, c_out: int, in_size: int) -> int:
    out_size = in_size // 2
    main = _relu_conv_bn_flops(c_in, c_out, 3, in_size, out_size)
    main += _relu_conv_bn_flops(c_out, c_out, 3, out_size, out_size)
    shortcut = 4 * c_in * out_size * out_size + c_in * c_out * out_size * out_size
    return main + shortcut


def flop_count(arch: Architecture, dataset: str) -> int:
    """Floating-point operations of one forward pass (batch 1) of the network for `arch` on `dataset`."""
    shape = dataset_shape(dataset)
    size = shape.resolution
    total = 9 * 3 * STEM_CHANNELS * size * size + _BN_FLOPS * STEM_CHANNELS * size * size
    for stage, channels in enumerate(STAGE_CHANNELS):
        if stage > 0:
            total += _reduction_flops(STAGE_CHANNELS[stage - 1], channels, size)
            size //= 2
        total += CELLS_PER_STAGE * _cell_flops(arch.ops, channels, size)
    last = STAGE_CHANNELS[-1]
    total += (_BN_FLOPS + _RELU_FLOPS) * last * size * size
    total += last * (size + 1) * (size + 1)  # global average pool
    total += last * shape.num_classes  # classifier (its bias is not counted)
    return total


def flops_m(arch: Architecture, dataset: str) -> float:
    """FLOPs in millions (MFLOPs), the unit of the reference subset."""
    return flop_count(arch, dataset) / 1e6


def params_m(arch: Architecture, dataset: str) -> float:
    """Parameters in millions, the unit of the tables' `{dataset}_params_M` columns."""
    return parameter_count(arch, dataset) / 1e6


def main(argv: list[str]) -> int:
    """Print parameters and FLOPs of each architecture string given, for every dataset."""
    from hwnas.spaces.nb201.space import NB201  # the space module imports this one

    for text in argv:
        arch = NB201.parse(text)
        for dataset in DATASETS:
            figures = f"params {params_m(arch, dataset):.6f} M  flops {flops_m(arch, dataset):.6f} M"
            print(f"{dataset:10s} {figures}  {arch}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
