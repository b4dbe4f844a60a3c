"""The `zc` predictor and its score cache: fixed per-architecture scores, caching, non-finite rule, few-shot."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hwnas.cli import main
from hwnas.core.evaluation import Estimator
from hwnas.core.space import Architecture
from hwnas.errors import UsageError
from hwnas.estimators.score_cache import ProxyEntry, ScoreCache
from hwnas.estimators.zero_cost import (
    HIGHEST_U,
    LOWEST_U,
    Reference,
    ZeroCostEstimator,
    evaluation_sample,
    few_shot_labelled,
    make_few_shot,
    reference_architectures,
    representative,
)
from hwnas.registry import make_estimator
from hwnas.spaces.nb201.space import NB201
from hwnas.spaces.nb201.tables import BenchmarkTables

# Isomorphic: nodes 1 and 2 swap roles (edges 1<-0 / 2<-0 and 3<-1 / 3<-2 exchanged).
LEFT = NB201.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
RIGHT = NB201.parse("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ScoreCache]:
    with ScoreCache(tmp_path / "scores.sqlite") as store:
        yield store


def _archs(n: int, seed: int = 0) -> list[Architecture]:
    rng = np.random.default_rng(seed)
    return [NB201.sample(rng) for _ in range(n)]


def test_score_is_a_fixed_function_of_the_architecture_whatever_the_batch(cache: ScoreCache) -> None:
    archs = _archs(6)
    together = ZeroCostEstimator("cifar10", cache=cache).predict(archs)
    alone = [ZeroCostEstimator("cifar10").predict([a])[0] for a in reversed(archs)][::-1]
    assert together.dtype == np.float64 and together.shape == (6,)
    np.testing.assert_array_equal(together, alone)
    assert isinstance(ZeroCostEstimator("cifar10"), Estimator)


def test_isomorphic_candidates_share_one_score_and_one_torch_evaluation(cache: ScoreCache) -> None:
    assert LEFT != RIGHT and LEFT.canonical_key == RIGHT.canonical_key
    estimator = ZeroCostEstimator("cifar10", cache=cache)
    before = estimator.stats.computed
    left = estimator.predict([LEFT])
    after_left = estimator.stats.computed
    right = estimator.predict([RIGHT])
    assert after_left == before + 1 and estimator.stats.computed == after_left
    assert left[0] == right[0]


def test_second_run_on_the_same_cache_does_no_torch_work(tmp_path: Path) -> None:
    archs = _archs(5, seed=1)
    with ScoreCache(tmp_path / "c.sqlite") as store:
        first = ZeroCostEstimator("cifar10", cache=store).predict(archs)
    with ScoreCache(tmp_path / "c.sqlite") as store:
        again = ZeroCostEstimator("cifar10", cache=store)
        np.testing.assert_array_equal(again.predict(archs), first)
        assert again.stats.computed == 0


def test_cache_key_includes_seed_and_input(cache: ScoreCache) -> None:
    key = LEFT.canonical_key
    cache.put_proxies([(key, "naswot", ProxyEntry(1.0, 0.1, "x"))], dataset="cifar10", seed=0, input_id="a")
    assert cache.get_proxies([key], dataset="cifar10", proxies=["naswot"], seed=1, input_id="a") == {}
    assert cache.get_proxies([key], dataset="cifar10", proxies=["naswot"], seed=0, input_id="b") == {}
    assert (
        cache.get_proxies([key], dataset="cifar10", proxies=["naswot"], seed=0, input_id="a")[key]["naswot"].value
        == 1.0
    )


def test_non_finite_values_round_trip_through_the_cache(cache: ScoreCache) -> None:
    rows = [(f"k{i}", "naswot", ProxyEntry(v, 0.0, "x")) for i, v in enumerate([-math.inf, math.inf, math.nan])]
    cache.put_proxies(rows, dataset="cifar10", seed=0, input_id="a")
    found = cache.get_proxies(["k0", "k1", "k2"], dataset="cifar10", proxies=["naswot"], seed=0, input_id="a")
    assert found["k0"]["naswot"].value == -math.inf and found["k1"]["naswot"].value == math.inf
    assert math.isnan(found["k2"]["naswot"].value)


_WRITER = """
import sys
from hwnas.estimators.score_cache import ProxyEntry, ScoreCache
cache = ScoreCache(sys.argv[1])
print("ready", flush=True)
batch = 0
while True:
    rows = [(f"arch{batch}-{i}", "naswot", ProxyEntry(float(i), 0.0, "x")) for i in range(200)]
    cache.put_proxies(rows, dataset="cifar10", seed=0, input_id="a")
    batch += 1
"""


def test_a_writer_killed_mid_write_leaves_a_consistent_cache(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with ScoreCache(path) as store:
        assert store.integrity_ok()
        count = store._connection.execute("SELECT COUNT(*) FROM proxy_values").fetchone()[0]
        assert count > 0 and count % 200 == 0  # whole transactions only
        full = store._connection.execute(
            "SELECT COUNT(DISTINCT substr(arch_key, 1, instr(arch_key, '-'))) FROM proxy_values"
        ).fetchone()[0]
        assert full * 200 == count


def test_reference_rule_for_non_finite_and_out_of_range_values() -> None:
    reference = Reference.from_values("naswot", np.linspace(100.0, 200.0, 50))
    u = reference.u(np.array([-math.inf, math.nan, math.inf, 100.0, 150.0, 200.0, 250.0, 1e9, -1e9]))
    assert u[0] == LOWEST_U and u[1] == LOWEST_U and u[2] == HIGHEST_U
    assert u[3] == 0.0 and u[4] == pytest.approx(0.5, abs=0.02) and u[5] == 1.0
    assert u[6] == pytest.approx(1.5) and u[7] == HIGHEST_U and u[8] == LOWEST_U
    assert np.all(np.diff(reference.u(np.linspace(90, 260, 100))) >= 0)


def test_network_that_ignores_its_input_is_scored_without_error_and_ranked_last(cache: ScoreCache) -> None:
    dead = NB201.make(("none",) * 6)
    scores = ZeroCostEstimator("cifar10", cache=cache).predict([dead, *_archs(8, seed=2)])
    assert np.all(np.isfinite(scores))
    assert scores[0] == scores.min()


def test_representative_keeps_the_function_and_drops_dead_convolutions() -> None:
    dead_branch = NB201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    rep = representative(dead_branch)
    assert rep.canonical_key == dead_branch.canonical_key
    assert rep.op_counts["nor_conv_3x3"] == 0


def test_evaluation_and_few_shot_labels_never_overlap() -> None:
    reference = set(reference_architectures())
    labelled = few_shot_labelled(100, seed=0)
    assert len(reference) == 300 and set(labelled) <= reference
    assert not reference & set(evaluation_sample(1000, seed=0))


def test_few_shot_mode_reports_its_labels_and_ranks_better_than_chance(
    tables: BenchmarkTables, cache: ScoreCache
) -> None:
    base = ZeroCostEstimator("cifar10", cache=cache)
    few = make_few_shot(base, tables, 20, seed=0)
    archs = evaluation_sample(30, seed=5)
    predicted = few.predict(archs)
    truth = tables.accuracy("cifar10", "test")[tables.rows(archs)]
    assert few.labels_used == 20 and predicted.shape == (30,)
    assert np.corrcoef(np.argsort(np.argsort(predicted)), np.argsort(np.argsort(truth)))[0, 1] > 0.5


def test_registry_builds_zc_and_refuses_few_shot_without_tables(tmp_path: Path) -> None:
    estimator = make_estimator("zc", dataset="cifar10", tables=None, cache=tmp_path / "r.sqlite")
    assert estimator.name == "zc" and not estimator.is_accuracy
    with pytest.raises(UsageError, match="zc-fewshot"):
        make_estimator("zc-fewshot", dataset="cifar10", tables=None, cache=tmp_path / "r.sqlite")


def test_predictor_cli_reports_every_proxy_and_rejects_unknown_ones(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["predictor", "eval", "--sample", "4", "--proxies", "synflow,params", "--data", str(data_dir)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| synflow |" in out and "zc ensemble" in out and "median scoring time" in out
    assert main([*args[:4], "--proxies", "zen", "--data", str(data_dir)]) == 2
    assert "unknown proxy 'zen'" in capsys.readouterr().err
