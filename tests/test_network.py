"""The torch NB201 network: parameter counts equal the table's, shapes and seeding behave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas.errors import UsageError
from hwnas.spaces.nb201.cost import DATASETS
from hwnas.spaces.nb201.network import AvgPool3x3, build_network, parameter_count
from hwnas.spaces.nb201.space import NB201
from hwnas.spaces.nb201.tables import BenchmarkTables

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_parameter_count_equals_the_table_for_200_architectures_per_dataset(
    tables: BenchmarkTables, dataset: str
) -> None:
    rng = np.random.default_rng(2024)
    rows = rng.choice(len(tables.arch_strs), size=200, replace=False)
    expected = tables.params_m(dataset)[rows]
    counted = [parameter_count(build_network(tables.architecture(int(r)), dataset)) / 1e6 for r in rows]
    np.testing.assert_allclose(counted, expected, atol=5e-7)


@pytest.mark.parametrize(
    ("dataset", "classes", "size"), [("cifar10", 10, 32), ("cifar100", 100, 32), ("imagenet16", 120, 16)]
)
def test_logits_have_one_column_per_class(dataset: str, classes: int, size: int) -> None:
    arch = NB201.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    net = build_network(arch, dataset).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 3, size, size)).shape == (2, classes)


def test_same_seed_same_weights_and_batch_norm_free_copy_shares_them() -> None:
    arch = NB201.sample(np.random.default_rng(0))
    a, b = build_network(arch, "cifar10", seed=3), build_network(arch, "cifar10", seed=3)
    plain = build_network(arch, "cifar10", seed=3, batch_norm=False)
    other = build_network(arch, "cifar10", seed=4)
    conv_weights = [m.weight for m in a.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    plain_weights = [m.weight for m in plain.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert all(torch.equal(x, y) for x, y in zip(conv_weights, plain_weights, strict=True))
    assert not torch.equal(next(a.parameters()), next(other.parameters()))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())


def test_building_leaves_the_global_torch_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_network(NB201.make(("nor_conv_3x3",) * 6), "cifar10", seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_unknown_dataset_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown dataset"):
        build_network(NB201.make(("none",) * 6), "mnist")


@pytest.mark.parametrize("shape", [(2, 16, 32, 32), (1, 64, 8, 8), (2, 4, 2, 5), (1, 3, 1, 1)])
def test_average_pooling_equals_torch_average_pooling_without_padding_counts(shape: tuple[int, ...]) -> None:
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    expected = torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)(x)
    torch.testing.assert_close(AvgPool3x3(shape[1])(x), expected)
    assert not list(AvgPool3x3(shape[1]).parameters())
