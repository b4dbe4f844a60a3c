from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from hwnas.core.space import Architecture
from hwnas.errors import UsageError
from hwnas.spaces.nb201.cost import DATASETS, flop_count, parameter_count
from hwnas.spaces.nb201.space import NB201
from hwnas.spaces.nb201.tables import BenchmarkTables

# NASLib's op order and edge order in the subset's keys (see naslib_zc/PROVENANCE.md).
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet16"}


def _from_naslib(key: str) -> Architecture:
    t = [NASLIB_OPS[i] for i in ast.literal_eval(key)]
    return NB201.make((t[0], t[1], t[3], t[2], t[4], t[5]))


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_parameters_equal_the_table_for_every_architecture(tables: BenchmarkTables, dataset: str) -> None:
    expected = np.rint(tables.params_m(dataset) * 1e6).astype(np.int64)
    computed = np.array([parameter_count(NB201.parse(s), dataset) for s in tables.arch_strs])
    mismatched = np.flatnonzero(computed != expected)
    assert mismatched.size == 0, [tables.arch_strs[i] for i in mismatched[:3]]


def test_flops_equal_the_naslib_subset(data_dir: Path) -> None:
    subset = json.loads((data_dir / "naslib_zc" / "zc_nasbench201_subset725.json").read_text())
    checked = 0
    for naslib_name, dataset in NASLIB_DATASETS.items():
        for key, entry in subset[naslib_name].items():
            expected = round(entry["flops"]["score"] * 1e6)
            assert flop_count(_from_naslib(key), dataset) == expected, (dataset, key)
            checked += 1
    assert checked == 2173


def test_naslib_subset_params_confirm_the_edge_mapping(data_dir: Path) -> None:
    subset = json.loads((data_dir / "naslib_zc" / "zc_nasbench201_subset725.json").read_text())
    for key, entry in subset["cifar10"].items():
        assert parameter_count(_from_naslib(key), "cifar10") == round(entry["params"]["score"] * 1e6)


def test_hand_computed_figures_of_the_conv_free_cell() -> None:
    skip_only = NB201.parse(
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    )
    # stem 3*16*9 + 32; reductions (4608+64 + 9216+64 + 512) and (18432+128 + 36864+128 + 2048);
    # final BN 128; classifier 64*10 + 10.
    assert parameter_count(skip_only, "cifar10") == 464 + 14464 + 57600 + 128 + 650
    # A 3x3 conv edge adds 5 cells x (9 C^2 + 2 C) per stage.
    one_conv = NB201.parse(
        "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    )
    extra = sum(5 * (9 * c * c + 2 * c) for c in (16, 32, 64))
    assert parameter_count(one_conv, "cifar10") - parameter_count(skip_only, "cifar10") == extra


def test_flops_shrink_with_resolution_and_unknown_dataset_fails() -> None:
    arch = NB201.parse(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    )
    assert flop_count(arch, "imagenet16") < flop_count(arch, "cifar10") / 3
    with pytest.raises(UsageError, match="cifar10, cifar100, imagenet16"):
        flop_count(arch, "mnist")
