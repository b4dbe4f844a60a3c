"""The Coordinator's free information: the surrogate, the EHVI ranking, and the options a Generator sees."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from pymoo.indicators.hv import HV
from scipy.stats import kendalltau

from hwnas.core.evaluation import Estimator, LatencyModel
from hwnas.core.space import Architecture, SearchSpace
from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.partition import Partitioning, make_partitioning
from hwnas.registry import make_estimator, make_latency_model
from hwnas.spaces.nb201.space import NB201
from hwnas.spaces.nb201.tables import BenchmarkTables
from hwnas.tools.ranking import (
    REFERENCE,
    expected_improvement,
    expected_improvement_fleet,
    greedy_batch,
    greedy_groups,
    improvement_groups,
)
from hwnas.tools.surrogate import SURROGATES, ScoreWarp, make_surrogate

if TYPE_CHECKING:
    from hwnas.graph.state import Evaluated


def sample(count: int, seed: int) -> list[Architecture]:
    rng = np.random.default_rng(seed)
    return [NB201.sample(rng) for _ in range(count)]


def evaluated_archive(
    archs: list[Architecture], parts: Partitioning, estimator: Estimator, latency: LatencyModel
) -> list[Evaluated]:
    """The archive a Coordinator would hold after evaluating `archs` in an initial round."""
    from hwnas.graph.state import Evaluated

    return [
        Evaluated(arch=str(a), key=a.canonical_key, partition=parts.assign(a), score=float(s),
                  latency_ms=float(t), round=0, operator="init", parents=[], rationale="")
        for a, s, t in zip(archs, estimator.predict(archs), latency.latency_ms(archs), strict=True)
    ]  # fmt: skip


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_surrogate_fits_and_is_surer_near_its_data(name: str, space_and_tables: tuple[SearchSpace, Tables]) -> None:
    space, tables = space_and_tables
    dataset = space.datasets[0]
    estimator = make_estimator("oracle-val", space=space, dataset=dataset, tables=tables)
    rng = np.random.default_rng(0)
    pool = list(space.distinct_architectures)
    order = rng.permutation(len(pool))
    train = [pool[i] for i in order[:60]]
    unseen = [pool[i] for i in order[60:260]]
    model = make_surrogate(name, space=space, dataset=dataset, seed=0)
    model.fit(train, estimator.predict(train))
    seen_mean, seen_std = model.predict(train)
    unseen_mean, unseen_std = model.predict(unseen)
    truth = estimator.predict(unseen)
    assert kendalltau(unseen_mean, truth)[0] > 0.3  # it learnt something
    assert np.mean(np.abs(seen_mean - estimator.predict(train))) < np.mean(np.abs(unseen_mean - truth))
    assert seen_std.mean() < unseen_std.mean()
    again = make_surrogate(name, space=space, dataset=dataset, seed=0)
    again.fit(train, estimator.predict(train))
    assert np.array_equal(again.predict(unseen)[0], unseen_mean)  # deterministic under a seed


def test_copula_warp_keeps_the_order_depends_on_it_alone_and_maps_back() -> None:
    scores = np.array([10.0, 91.2, 88.0, 60.0, 91.2, 90.5])
    warp = ScoreWarp(scores, "copula")
    assert np.array_equal(np.argsort(warp.values, kind="stable"), np.argsort(scores, kind="stable"))
    assert warp.values[1] == warp.values[4]  # equal scores share a value
    # Only the order counts: a 10 % cell and a 59 % one below the same others get the same value.
    assert np.array_equal(ScoreWarp(np.where(scores == 10.0, 59.0, scores), "copula").values, warp.values)
    distinct = ScoreWarp(np.array([3.0, 50.0, 51.0, 99.0]), "copula").values  # quantiles 1/8, 3/8, 5/8, 7/8
    assert np.allclose(distinct, -distinct[::-1]) and distinct[-1] == pytest.approx(1.1503, abs=1e-4)
    assert np.allclose(warp.to_scores(warp.values), scores)  # the way back goes through every evaluated pair
    above, below = warp.to_scores(np.array([warp.values.max() + 0.5, warp.values.min() - 0.5]))
    assert above > scores.max() and below < scores.min()  # extended, not clipped
    mean, std = warp.prediction_in_scores(np.array([0.0]), np.array([0.2]))
    assert scores.min() < mean[0] < scores.max() and std[0] > 0
    raw = ScoreWarp(scores, "none")
    assert np.array_equal(raw.values, scores)
    assert np.array_equal(raw.prediction_in_scores(np.array([1.0]), np.array([2.0]))[0], [1.0])
    with pytest.raises(UsageError, match="unknown --score-warp 'rank'; accepted: copula, none"):
        ScoreWarp(scores, "rank")


def test_options_show_predictions_in_the_estimators_units_under_either_warp(tables: BenchmarkTables) -> None:
    from hwnas.tools.coordinator import Coordinator

    parts = make_partitioning(NB201, "conv3", dataset="cifar10", tables=tables)
    latency = make_latency_model("fpga", dataset="cifar10", tables=tables)
    estimator = make_estimator("oracle-val", dataset="cifar10", tables=tables)
    archive = evaluated_archive(sample(30, seed=5), parts, estimator, latency)
    offered = {}
    for warp in ("copula", "none"):
        coordinator = Coordinator(
            estimator, latency, parts, make_surrogate("gp", space=NB201, dataset="cifar10"), budget=120,
            score_warp=warp,
        )  # fmt: skip
        coordinator.reset(archive)
        coordinator.fit_surrogate(archive)
        proposals = coordinator.candidates_of(3, [], "explore", 4, np.random.default_rng(0))
        offered[warp] = coordinator.ranked_options(proposals, 8)
        predicted = np.array([o["predicted"] for o in offered[warp]])
        truth = estimator.predict([NB201.parse(o["arch"]) for o in offered[warp]])
        assert np.all(np.abs(predicted - truth) < 15)  # accuracy points, not normal quantiles
        assert all(o["uncertainty"] > 0 for o in offered[warp])
    assert [o["arch"] for o in offered["copula"]] != [o["arch"] for o in offered["none"]]  # the warp changes picks


def test_unknown_surrogate_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown surrogate 'forest'; accepted: gp, trees"):
        make_surrogate("forest", space=NB201, dataset="cifar10")


FRONT = np.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.2]])
"""A hand-built front (both objectives minimised)."""


def exact_improvement(point: list[float]) -> float:
    hv = HV(ref_point=np.array([REFERENCE, REFERENCE]))
    return float(hv(np.vstack([FRONT, point])) - hv(FRONT))


def test_ehvi_is_the_exact_improvement_when_certain() -> None:
    points = [[0.1, 0.9], [0.3, 0.3], [0.6, 0.6], [0.9, 0.05]]
    mean, latency = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    got = expected_improvement(FRONT, mean, np.full(len(points), 1e-9), latency)
    assert got == pytest.approx([exact_improvement(p) for p in points], abs=1e-9)
    assert got[2] == pytest.approx(0.0, abs=1e-9)  # dominated by (0.5, 0.5)


def test_a_candidate_that_extends_the_front_ranks_above_a_dominated_one() -> None:
    mean = np.array([0.6, 0.3, 0.9])  # dominated / fills the gap at latency 0.3 / slower and worse
    latency = np.array([0.6, 0.3, 0.9])
    gains = expected_improvement(FRONT, mean, np.full(3, 0.02), latency)
    assert np.argmax(gains) == 1 and gains[1] > 10 * gains[0]
    # Uncertainty is worth something: the same dominated mean with a wide spread may still improve.
    assert expected_improvement(FRONT, mean[:1], np.array([0.3]), latency[:1])[0] > gains[0]


def test_greedy_batch_spreads_along_latency() -> None:
    # Two candidates in the same gap, one in another gap: the second pick goes to the other gap.
    mean, latency = np.array([0.3, 0.31, 0.6]), np.array([0.3, 0.31, 0.1])
    picks = greedy_batch(FRONT, mean, np.full(3, 1e-6), latency, 2)
    assert [p.index for p in picks] == [0, 2] and picks[0].gain > 0


FLEET_FRONT = np.array([[0.2, 0.8, 0.7], [0.5, 0.5, 0.2], [0.8, 0.2, 0.6], [0.4, 0.3, 0.9]])
"""A hand-built front in (loss, latency on device 1, latency on device 2), all minimised."""


def test_fleet_ehvi_is_the_exact_improvement_when_certain() -> None:
    candidates = np.array([[0.1, 0.9, 0.9], [0.3, 0.3, 0.3], [0.6, 0.6, 0.6], [0.9, 0.05, 0.1], [0.2, 0.8, 0.7]])
    got = expected_improvement_fleet(FLEET_FRONT, candidates[:, 0], np.full(5, 1e-9), candidates[:, 1:])
    hv = HV(ref_point=np.full(3, REFERENCE))
    exact = [hv(np.vstack([FLEET_FRONT, c])) - hv(FLEET_FRONT) for c in candidates]
    assert got == pytest.approx(exact, abs=1e-9)
    assert got[2] == pytest.approx(0.0, abs=1e-9) and got[4] == pytest.approx(0.0, abs=1e-9)  # dominated, repeated
    assert got[1] > 0 and got[3] > 0  # each extends the front


def test_fleet_ehvi_of_one_device_is_the_staircase_ehvi() -> None:
    rng = np.random.default_rng(3)
    mean, std, latency = rng.random(40), np.full(40, 0.1), rng.random(40)
    staircase = expected_improvement(FRONT, mean, std, latency)
    assert expected_improvement_fleet(FRONT, mean, std, latency[:, None]) == pytest.approx(staircase, abs=1e-12)


def test_fleet_greedy_batch_picks_what_rescoring_everything_picks() -> None:
    rng = np.random.default_rng(4)
    front, candidates = rng.random((30, 3)), rng.random((500, 3))
    std = np.full(500, 0.05)
    lazy = [p.index for p in greedy_batch(front, candidates[:, 0], std, candidates[:, 1:], 12)]
    eager, grown, open_ = [], front, np.ones(500, dtype=bool)
    for _ in range(12):
        gains = np.where(open_, expected_improvement_fleet(grown, candidates[:, 0], std, candidates[:, 1:]), -np.inf)
        best = int(np.argmax(gains))
        eager.append(best)
        open_[best] = False
        grown = np.vstack([grown, candidates[best]])
    assert lazy == eager and len(set(lazy)) == 12


def test_greedy_groups_keep_each_steps_runners_up_beside_its_pick() -> None:
    # Two near-ties fill the front's gap near latency 0.3, two more its gap near 0.63; one adds nothing.
    mean = np.array([0.6, 0.61, 0.3, 0.31, 0.9])
    latency = np.array([0.3, 0.31, 0.63, 0.64, 0.9])
    std = np.full(5, 1e-6)
    groups = greedy_groups(FRONT, mean, std, latency, 2, 2)
    assert [[r.index for r in g] for g in groups] == [[0, 1], [2, 3]]  # each gap's near-ties, best first
    assert all(g[0].gain >= g[1].gain > 0 for g in groups)
    # One pick per step is the greedy batch: after 0 joins the front, 1 adds nothing, 2 fills the other gap.
    assert [g[0].index for g in greedy_groups(FRONT, mean, std, latency, 2, 1)] == [0, 2]
    assert [r.index for r in greedy_batch(FRONT, mean, std, latency, 2)] == [0, 2]
    # Too few candidates for every group to be full: groups shrink, every step still gets its pick.
    assert [len(g) for g in greedy_groups(FRONT, mean, std, latency, 3, 3)] == [1, 1, 1]
    # The single-objective ranking groups the same way: the greedy picks (0.9, 0.8), each with the best
    # prediction that no step picked beside it.
    single = improvement_groups(np.array([0.5, 0.6]), np.array([0.9, 0.2, 0.8, 0.7]), np.full(4, 0.01), 2, 2)
    assert [[r.index for r in g] for g in single] == [[0, 3], [2, 1]]
    # Whatever the runners-up, the picks are the greedy batch's, so `--generator-policy top` is unchanged.
    rng = np.random.default_rng(5)
    mean, latency, std = rng.random(300), rng.random(300), np.full(300, 0.05)
    groups = greedy_groups(FRONT, mean, std, latency, 8, 3)
    assert [g[0].index for g in groups] == [r.index for r in greedy_batch(FRONT, mean, std, latency, 8)]
    flat = [r.index for g in groups for r in g]
    assert len(flat) == len(set(flat)) == 24


def test_options_carry_prediction_latency_and_gain(tables: BenchmarkTables) -> None:
    from hwnas.agents.generator import deal_options
    from hwnas.graph.state import PartitionTask
    from hwnas.tools.coordinator import OPTIONS_PER_SLOT, Coordinator

    parts = make_partitioning(NB201, "conv3", dataset="cifar10", tables=tables)
    latency = make_latency_model("fpga", dataset="cifar10", tables=tables)
    estimator = make_estimator("oracle-val", dataset="cifar10", tables=tables)
    coordinator = Coordinator(
        estimator, latency, parts, make_surrogate("gp", space=NB201, dataset="cifar10"), budget=120,
        option_labels="ranked",
    )  # fmt: skip
    archive = evaluated_archive(sample(30, seed=2), parts, estimator, latency)
    coordinator.reset(archive)
    task = PartitionTask(round=1, attempt=0, partition=3, slots=2, strategy="explore", note="", parents=[],
                         heuristics=[], rejections=[], options=[])  # fmt: skip
    heuristic = {"id": 7, "from_op": "any", "to_op": "skip_connect", "edge": -1, "accuracy": "up", "latency": "down"}
    parent = next(r["arch"] for r in archive if r["partition"] == 3)
    task["parents"] = [{"arch": parent, "score": 0.0, "latency_ms": 0.0}]
    options = coordinator.offer(archive, task, np.random.default_rng(0), [heuristic])
    ranked = [o for o in options if o["rationale"].startswith("o")]
    assert [o["rationale"] for o in ranked] == [f"o{i}" for i in range(1, OPTIONS_PER_SLOT * 2 + 1)]
    archs = [NB201.parse(o["arch"]) for o in options]
    assert all(parts.assign(a) == 3 and a.is_valid for a in archs)
    assert len({a.canonical_key for a in archs}) == len(archs)
    assert not {a.canonical_key for a in archs} & {r["key"] for r in archive}
    assert [o["latency_ms"] for o in options] == pytest.approx(latency.latency_ms(archs).tolist())
    predicted = coordinator.predict_score([o["arch"] for o in options])  # the tool: in the estimator's units
    assert [o["predicted"] for o in options] == pytest.approx([mean for mean, _ in predicted])
    assert [o["uncertainty"] for o in options] == pytest.approx([std for _, std in predicted])
    assert all(o["gain"] >= 0 for o in options) and ranked[0]["gain"] >= ranked[1]["gain"]
    # The kept heuristic adds its best child of the parent: one edit to skip_connect.
    (child,) = [o for o in options if o["rationale"] == "h7"]
    assert child["operator"] == "heuristic" and child["parents"] == [parent]
    assert [op for _, _, op in NB201.parse(child["arch"]).edits_from(NB201.parse(parent))] == ["skip_connect"]
    # Runners-up lists: each child's dealt list is one greedy step's pick and that step's runners-up.
    coordinator.option_lists = "runners-up"
    grouped = coordinator.offer(archive, task, np.random.default_rng(0), [heuristic])
    lists = deal_options([o["rationale"] for o in grouped if o["rationale"].startswith("o")], 2)
    by_label = {o["rationale"]: o for o in grouped}
    assert [len(choices) for choices in lists] == [OPTIONS_PER_SLOT, OPTIONS_PER_SLOT]
    assert by_label[lists[0][0]]["arch"] == ranked[0]["arch"]  # step 1's pick is the batch's first
    for choices in lists:
        gains = [by_label[label]["gain"] for label in choices]
        assert gains == sorted(gains, reverse=True)
    dealt = deal_options([o["arch"] for o in ranked], 2)
    assert [[by_label[label]["arch"] for label in choices] for choices in lists] != dealt
    coordinator.option_lists = "dealt"
    # Shuffled labels (the default): the same options in the same order, labels a seeded permutation.
    coordinator.option_labels = "shuffled"
    shuffled = coordinator.offer(archive, task, np.random.default_rng(0), [heuristic])
    assert [o["arch"] for o in shuffled] == [o["arch"] for o in options]
    labels = [o["rationale"] for o in shuffled if o["rationale"].startswith("o")]
    assert sorted(labels) == sorted(o["rationale"] for o in ranked) and labels != [o["rationale"] for o in ranked]
    assert [o["rationale"] for o in coordinator.offer(archive, task, np.random.default_rng(0), [heuristic])] == [
        o["rationale"] for o in shuffled
    ]


def test_generator_prompt_lists_each_option_with_its_figures() -> None:
    from hwnas.agents.generator import deal_options, describe_option, generator_messages
    from hwnas.graph.state import Option, PartitionTask

    option = Option(partition=2, arch="|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
                    operator="ranked", parents=[], rationale="o1", predicted=0.7123, uncertainty=0.0311,
                    latency_ms=1.234, gain=4.06)  # fmt: skip
    assert describe_option(option, NB201) == "o1: [c3x3 none skip c1x1 none pool] | 0.712±0.031 | 1.23 ms | gain 4.1"
    task = PartitionTask(round=1, attempt=0, partition=2, slots=1, strategy="exploit", note="", parents=[],
                         heuristics=[], rejections=[], options=[option])  # fmt: skip
    assert describe_option(option, NB201) in generator_messages(task, "exactly one nor_conv_3x3 edge", 1, NB201)[1][1]
    assert deal_options([f"o{i}" for i in range(1, 8)], 3) == [["o1", "o4", "o7"], ["o2", "o5"], ["o3", "o6"]]


def test_fastest_representatives_change_what_is_offered_not_which_functions(tables: BenchmarkTables) -> None:
    from hwnas.tools.coordinator import Coordinator

    parts = make_partitioning(NB201, "conv3", dataset="cifar10", tables=tables)
    latency = make_latency_model("titan_rtx_1", dataset="cifar10", tables=tables)
    estimator = make_estimator("oracle-val", dataset="cifar10", tables=tables)
    offered = {}
    for rule in ("first", "fastest"):
        coordinator = Coordinator(
            estimator, latency, parts, make_surrogate("gp", space=NB201, dataset="cifar10"), budget=120,
            representatives=rule,
        )  # fmt: skip
        coordinator.reset(evaluated_archive(sample(12, seed=3), parts, estimator, latency))
        offered[rule] = [
            NB201.parse(p["arch"]) for p in coordinator.candidates_of(2, [], "explore", 4, np.random.default_rng(0))
        ]
    assert [a.canonical_key for a in offered["fastest"]] == [a.canonical_key for a in offered["first"]]
    assert offered["fastest"] != offered["first"]
    members = NB201.function_members
    for arch in offered["fastest"]:
        fastest = min(latency.latency_ms([NB201.at(p) for p in members[arch.canonical_key]]))
        assert latency.latency_ms([arch])[0] == fastest
