"""The search-space contract, checked on every implementation, and the whole engine on a second space.

Every test here takes `space_and_tables`, so it runs on NB201 and on the tests' `chain` space: what the
agents, the graph, the Coordinator, the partitions and the baselines assume of a space is what
`hwnas.core.space.SearchSpace` declares, nothing more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hwnas.baselines import SEARCHERS
from hwnas.core.evaluation import representatives
from hwnas.core.space import SearchSpace
from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.graph.context import RunSettings
from hwnas.graph.runner import run_search
from hwnas.partition import make_partitioning
from hwnas.registry import make_latency_model

Case = tuple[SearchSpace, Tables]


def device_of(space: SearchSpace) -> str:
    return "fpga" if space.name == "nb201" else "dev-a"


def test_text_form_round_trips_and_bad_text_is_a_usage_error(space_and_tables: Case) -> None:
    space, _ = space_and_tables
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = space.sample(rng)
        assert space.parse(str(arch)) == arch
        assert hash(space.parse(str(arch))) == hash(arch)
    with pytest.raises(UsageError):
        space.parse("not an architecture")
    with pytest.raises(UsageError, match="unknown op"):
        space.make(["no-such-op"] * len(space.slots))


def test_enumeration_positions_and_size_agree(space_and_tables: Case) -> None:
    space, _ = space_and_tables
    members = list(space)
    assert len(members) == space.size == len(space.ops) ** len(space.slots) == len(set(members))
    for position in (0, 1, space.size // 2, space.size - 1):
        assert space.position(members[position]) == position
        assert space.at(position) == members[position]


def test_variation_stays_in_the_space(space_and_tables: Case) -> None:
    space, _ = space_and_tables
    rng = np.random.default_rng(1)
    a, b = space.sample(rng), space.sample(rng)
    neighbours = a.neighbours()
    assert len(neighbours) == len(set(neighbours)) == len(space.slots) * (len(space.ops) - 1)
    assert all(len(n.edits_from(a)) == 1 for n in neighbours)
    child = a.crossover(b, rng)
    assert all(op in (x, y) for op, x, y in zip(child.ops, a.ops, b.ops, strict=True))


def test_encoding_is_one_hot_per_slot(space_and_tables: Case) -> None:
    space, _ = space_and_tables
    archs = [space.at(p) for p in (0, 7, space.size - 1)]
    encoded = space.encode(archs)
    assert encoded.shape == (3, len(space.slots) * len(space.ops))
    assert (encoded.sum(axis=1) == len(space.slots)).all()


def test_distinct_pool_holds_one_valid_member_per_function(space_and_tables: Case) -> None:
    space, _ = space_and_tables
    pool = space.distinct_architectures
    keys = [a.canonical_key for a in pool]
    assert len(set(keys)) == len(keys) and all(a.is_valid for a in pool)
    assert 0 < len(pool) < space.size  # every space here has invalid members and isomorphs
    assert {a.canonical_key for a in space if a.is_valid} == set(keys)


def test_function_members_group_every_valid_member_once(space_and_tables: Case) -> None:
    space, _ = space_and_tables
    groups = space.function_members
    positions = [p for members in groups.values() for p in members]
    assert sorted(positions) == [p for p, a in enumerate(space) if a.is_valid]
    assert all(space.at(p).canonical_key == key for key, members in groups.items() for p in members)
    assert space.distinct_positions == {key: members[0] for key, members in groups.items()}


def test_fastest_representative_is_no_slower_than_any_member(space_and_tables: Case) -> None:
    space, tables = space_and_tables
    model = make_latency_model(device_of(space), space=space, dataset=space.datasets[0], tables=tables)
    first = space.distinct_architectures
    fastest = representatives(space, model, "fastest")
    assert [a.canonical_key for a in fastest] == [a.canonical_key for a in first]
    assert fastest != first  # both spaces have functions whose first member is not the fastest
    for chosen, members in zip(fastest, space.function_members.values(), strict=True):
        assert model.latency_ms([chosen])[0] == min(model.latency_ms([space.at(p) for p in members]))
    assert representatives(space, model, "first") == first
    with pytest.raises(UsageError, match="unknown --representatives 'slowest'"):
        representatives(space, model, "slowest")


def test_niches_partition_the_whole_space(space_and_tables: Case) -> None:
    space, tables = space_and_tables
    niches = make_partitioning(space, space.niches().axis, dataset=space.datasets[0])
    assert sum(niches.sizes()) == space.size
    latency = make_partitioning(space, "latency", bins=3, dataset=space.datasets[0], tables=tables,
                                device=device_of(space))  # fmt: skip
    assert sum(latency.sizes()) == space.size and len(latency) <= 3


@pytest.mark.parametrize("method", sorted(SEARCHERS))
def test_every_baseline_spends_its_budget_on_either_space(
    space_and_tables: Case, baseline_on: Any, method: str
) -> None:
    space, _ = space_and_tables
    run = baseline_on(method)
    archs = [r.arch_str for r in run.records]
    assert len(archs) == len(set(archs)) == 30
    assert all(r.arch.space == space for r in run.records)


def test_agent_graph_runs_end_to_end_on_either_space(space_and_tables: Case, tmp_path: Path) -> None:
    space, tables = space_and_tables
    settings = RunSettings(
        space=space.name, dataset=space.datasets[0], device=device_of(space), estimator="oracle-val",
        partition_axis=space.niches().axis, budget=24, round_size=6, max_rounds=3, llm="random",
    )  # fmt: skip
    data = str(tables.folder)
    summary = run_search(settings, name="contract", out=tmp_path, data=data, on_progress=lambda _: None)
    lines = (tmp_path / "contract" / "archive.csv").read_text().splitlines()[1:]
    archs = [space.parse(line.split(",")[0]) for line in lines]
    assert summary["budget_used"] == len(archs) > 0
    assert len({a.canonical_key for a in archs}) == len(archs)  # no function evaluated twice
    assert all(a.is_valid for a in archs)
    assert 0 < summary["true"]["hv_b"] <= 1


def test_unknown_space_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown space 'cifar-cells'; accepted: nb201"):
        RunSettings(space="cifar-cells")


def test_zero_cost_proxies_score_networks_of_either_space(space_and_tables: Case) -> None:
    from hwnas.estimators.inputs import make_batch
    from hwnas.estimators.proxies import compute_proxies

    space, _ = space_and_tables
    dataset = space.datasets[0]
    batch = make_batch(dataset, space=space, kind="gaussian", size=8)
    arch = next(a for a in space.distinct_architectures if a.op_counts[space.ops[2]] > 0)  # one with a conv
    result = compute_proxies(arch, ["naswot", "synflow", "snip", "params"], dataset=dataset, batch=batch)
    assert all(np.isfinite(v) for v in result.values.values()) and result.values["params"] > 0
    again = compute_proxies(arch, ["synflow"], dataset=dataset, batch=batch)
    assert again.values["synflow"] == result.values["synflow"]  # seeded: the same network each time
