"""On-device latency: measurement protocol, caching per machine fingerprint, the lookup-table model, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from hwnas.cli import main
from hwnas.core.evaluation import LatencyModel
from hwnas.errors import UsageError
from hwnas.estimators.score_cache import ScoreCache
from hwnas.latency.device import (
    LookupTableLatency,
    OnDeviceLatency,
    available_local_devices,
    machine_fingerprint,
)
from hwnas.registry import make_latency_model
from hwnas.spaces.nb201.space import NB201

EMPTY = NB201.make(("none",) * 6)
HEAVY = NB201.make(("nor_conv_3x3",) * 6)
LIGHT = NB201.parse("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")


@pytest.fixture
def cache(tmp_path: Path) -> ScoreCache:
    return ScoreCache(tmp_path / "latency.sqlite")


def test_measured_latency_is_positive_and_orders_extreme_networks(cache: ScoreCache) -> None:
    model = OnDeviceLatency("local-cpu", repeats=5, warmup=1, cache=cache)
    latency = model.latency_ms([LIGHT, HEAVY])
    assert isinstance(model, LatencyModel) and latency.dtype == np.float64
    assert 0 < latency[0] < latency[1]


def test_latency_is_cached_per_machine_fingerprint_and_thread_count(cache: ScoreCache) -> None:
    first = OnDeviceLatency("local-cpu", repeats=3, warmup=1, cache=cache)
    measured = first.latency_ms([LIGHT, LIGHT, EMPTY])
    assert first.measured == 2 and measured[0] == measured[1]
    again = OnDeviceLatency("local-cpu", repeats=3, warmup=1, cache=cache)
    np.testing.assert_array_equal(again.latency_ms([LIGHT, EMPTY]), measured[[0, 2]])
    assert again.measured == 0
    other_threads = OnDeviceLatency("local-cpu", threads=2, repeats=3, warmup=1, cache=cache)
    other_threads.latency_ms([LIGHT])
    assert other_threads.measured == 1
    assert machine_fingerprint("local-cpu", 1) != machine_fingerprint("local-cpu", 2)


def test_timing_restores_the_torch_thread_count(cache: ScoreCache) -> None:
    before = torch.get_num_threads()
    OnDeviceLatency("local-cpu", threads=1, repeats=2, warmup=0).latency_ms([LIGHT])
    assert torch.get_num_threads() == before


def test_lookup_table_adds_measured_op_costs(cache: ScoreCache) -> None:
    lut = LookupTableLatency("local-cpu", repeats=5, warmup=1, cache=cache)
    light, empty, heavy = lut.latency_ms([LIGHT, EMPTY, HEAVY])
    assert empty == pytest.approx(lut.base_ms)
    assert heavy > empty and heavy > light
    assert lut.device == "local-cpu-lut"
    rebuilt = LookupTableLatency("local-cpu", repeats=5, warmup=1, cache=cache)  # read back, not re-measured
    assert rebuilt.base_ms == lut.base_ms and np.array_equal(rebuilt.op_delta_ms, lut.op_delta_ms)


def test_unknown_or_unavailable_devices_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown on-device latency device"):
        OnDeviceLatency("local-tpu")
    if "local-cuda" not in available_local_devices():
        with pytest.raises(UsageError, match="needs a GPU"):
            OnDeviceLatency("local-cuda")


def test_registry_builds_local_models(tmp_path: Path) -> None:
    model = make_latency_model("local-cpu", dataset="cifar10", tables=None, cache=tmp_path / "r.sqlite", repeats=2)
    assert model.device == "local-cpu"
    lut = make_latency_model("local-cpu-lut", dataset="imagenet16", tables=None, cache=tmp_path / "r.sqlite", repeats=2)
    assert lut.latency_ms([HEAVY])[0] > 0


def test_profile_cli_measures_caches_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "latency",
        "profile",
        "--sample",
        "4",
        "--repeats",
        "3",
        "--repeatability",
        "1",
        "--cache",
        str(tmp_path / "p.sqlite"),
    ]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["measured"] == 4 and report["repeatability_cv"]["architectures"] == 1
    # The reported fit is the rank correlation of the LUT's predictions with the measurements just cached.
    rng = np.random.default_rng(0)
    sampled = [NB201.sample(rng) for _ in range(4)]
    cached = ScoreCache(tmp_path / "p.sqlite")
    measured = OnDeviceLatency("local-cpu", repeats=3, cache=cached)
    predicted = LookupTableLatency("local-cpu", cache=cached).latency_ms(sampled)
    expected = spearmanr(predicted, measured.latency_ms(sampled))[0]
    assert measured.measured == 0  # read back, not re-measured
    assert report["lookup_table"]["spearman"] == pytest.approx(float(expected))
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["measured"] == 0
    assert main(["latency", "profile", "--device", "local-tpu"]) == 2
