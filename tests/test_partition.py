from __future__ import annotations

import numpy as np
import pytest

from hwnas.errors import UsageError
from hwnas.partition import axes, make_partitioning
from hwnas.spaces.nb201.cost import flops_m
from hwnas.spaces.nb201.space import NB201, SPACE_SIZE
from hwnas.spaces.nb201.tables import BenchmarkTables


def test_conv3_niches_have_pel_nas_sizes() -> None:
    niches = make_partitioning(NB201, "conv3")
    assert niches.sizes() == (729, 3367, 6144, 3840, 1280, 265)
    assert sum(niches.sizes()) == SPACE_SIZE


@pytest.mark.parametrize(
    ("text", "niche"),
    [
        ("|none~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|", 0),
        ("|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|", 1),
        ("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|", 2),
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            5,
        ),
    ],
)
def test_conv3_assignment(text: str, niche: int) -> None:
    from hwnas.spaces.nb201.space import NB201

    niches = make_partitioning(NB201, "conv3")
    arch = NB201.parse(text)
    assert niches.assign(arch) == niche
    assert niches.partitions[niche].contains(arch)
    assert not niches.partitions[(niche + 1) % 6].contains(arch)


def test_sampling_stays_inside_and_covers_a_small_partition() -> None:
    niches = make_partitioning(NB201, "conv3")
    rng = np.random.default_rng(3)
    drawn = {str(niches.sample(5, rng)) for _ in range(3000)}
    assert all(niches.assign(a) == 5 for a in map(NB201.at, niches.positions(5)))
    assert drawn <= {str(a) for a in niches.members(5)}
    assert len(drawn) > 250  # 265 members: uniform draws reach nearly all of them


def test_positions_round_trip() -> None:
    for position, arch in enumerate(NB201):
        if position % 97 == 0:
            assert NB201.position(arch) == position
            assert NB201.at(position) == arch


def test_quantile_bins_are_ordered_and_balanced_where_values_allow(tables: BenchmarkTables) -> None:
    bins = make_partitioning(NB201, "flops", bins=4, dataset="cifar10")
    values = np.array([flops_m(a, "cifar10") for a in NB201])
    labels = np.array([bins.assign(a) for a in NB201])
    assert len(bins) == 4
    for low, high in zip(range(3), range(1, 4), strict=True):
        assert values[labels == low].max() < values[labels == high].min()
    latency = make_partitioning(NB201, "latency", bins=5, tables=tables, device="raspi4")
    assert len(latency) == 5 and max(latency.sizes()) - min(latency.sizes()) <= 1
    assert "raspi4 latency from" in latency.partitions[0].description


def test_none_axis_is_one_partition_and_bad_input_fails(tables: BenchmarkTables) -> None:
    assert make_partitioning(NB201, "none").sizes() == (SPACE_SIZE,)
    with pytest.raises(UsageError, match=", ".join(axes(NB201))):
        make_partitioning(NB201, "depth")
    with pytest.raises(UsageError, match="device"):
        make_partitioning(NB201, "latency", tables=tables)
    with pytest.raises(UsageError, match="no latency"):
        make_partitioning(NB201, "latency", tables=tables, device="edgegpu")
    with pytest.raises(UsageError, match="partition 6 does not exist"):
        make_partitioning(NB201, "conv3").sample(6, np.random.default_rng(0))


def test_random_axis_keeps_the_niche_sizes_and_is_seeded() -> None:
    from chain_space import CHAIN

    for space in (NB201, CHAIN):
        niches = make_partitioning(space, space.niches().axis, dataset=space.datasets[0])
        first = make_partitioning(space, "random", dataset=space.datasets[0], seed=1)
        assert first.sizes() == niches.sizes()
        again = make_partitioning(space, "random", dataset=space.datasets[0], seed=1)
        other = make_partitioning(space, "random", dataset=space.datasets[0], seed=2)
        members = [tuple(first.positions(i)) for i in range(len(first))]
        assert members == [tuple(again.positions(i)) for i in range(len(again))]
        assert members != [tuple(other.positions(i)) for i in range(len(other))]
        assert members != [tuple(niches.positions(i)) for i in range(len(niches))]
    # Drawn at random, a random partition mixes every complexity niche.
    conv3 = make_partitioning(NB201, "conv3")
    mixed = {conv3.assign(a) for a in make_partitioning(NB201, "random", seed=0).members(0)}
    assert mixed == set(range(6))
