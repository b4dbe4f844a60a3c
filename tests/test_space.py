from __future__ import annotations

import numpy as np
import pytest

from hwnas.core.space import Architecture
from hwnas.errors import UsageError
from hwnas.spaces.nb201.space import NB201, SPACE_SIZE
from hwnas.spaces.nb201.tables import BenchmarkTables


def test_every_table_string_parses_and_prints_back_unchanged(tables: BenchmarkTables) -> None:
    for text in tables.arch_strs:
        assert str(NB201.parse(text)) == text
    assert len(set(tables.arch_strs)) == SPACE_SIZE


def test_enumeration_covers_the_table_exactly(tables: BenchmarkTables) -> None:
    assert {str(a) for a in NB201} == set(tables.arch_strs)


@pytest.mark.parametrize(
    "text",
    [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_malformed_strings_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        NB201.parse(text)


def test_validity_means_output_reachable_from_input() -> None:
    assert NB201.parse("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|").is_valid
    assert NB201.parse("|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|").is_valid
    # Node 3 only hears node 2, which hears nothing.
    assert not NB201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|").is_valid
    assert not NB201.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|").is_valid


def test_degenerate_cells_are_the_ten_percent_ones(tables: BenchmarkTables) -> None:
    accuracy = tables.accuracy("cifar10", "test")
    assert np.all(accuracy[~tables.valid_mask] <= 10.0 + 1e-6)
    assert np.all(accuracy[tables.valid_mask] > 10.0 + 1e-6)


def _swap_intermediate_nodes(arch: Architecture) -> Architecture:
    """Relabel nodes 1 and 2 (only an isomorphism when there is no edge between them)."""
    e10, e20, e21, e30, e31, e32 = arch.ops
    assert e21 == "none"
    return NB201.make((e20, e10, "none", e30, e32, e31))


def test_relabelling_intermediate_nodes_keeps_the_canonical_key() -> None:
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 200:
        arch = NB201.sample(rng)
        if arch.ops[2] != "none":
            continue
        twin = _swap_intermediate_nodes(arch)
        assert twin.canonical_key == arch.canonical_key, (arch, twin)
        checked += 1


def test_dead_branches_do_not_change_the_key() -> None:
    direct = NB201.parse("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    with_unused_convs = NB201.parse("|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|none~2|")
    assert direct.canonical_key == with_unused_convs.canonical_key


def test_one_conv_reached_twice_differs_from_two_separate_convs() -> None:
    # 2 * conv(x): node 2 copies node 1, the output adds both.
    shared = NB201.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|skip_connect~1|skip_connect~2|")
    # conv_a(x) + conv_b(x): two convolutions with their own weights.
    separate = NB201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    assert shared.canonical_key != separate.canonical_key


def test_different_ops_give_different_keys() -> None:
    conv = NB201.parse("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    pool = NB201.parse("|none~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|")
    skip = NB201.parse("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert len({conv.canonical_key, pool.canonical_key, skip.canonical_key}) == 3


def test_isomorphic_archs_share_test_accuracy_in_the_table(tables: BenchmarkTables) -> None:
    """Functionally equal cells trained alike reach about the same accuracy: a check on the key itself."""
    accuracy = tables.accuracy("cifar10", "test")
    groups: dict[str, list[float]] = {}
    for row, text in enumerate(tables.arch_strs):
        arch = NB201.parse(text)
        if arch.is_valid:
            groups.setdefault(arch.canonical_key, []).append(float(accuracy[row]))
    spreads = [max(v) - min(v) for v in groups.values() if len(v) > 1]
    assert len(groups) == 5043
    assert np.median(spreads) < 0.5
