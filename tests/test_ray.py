"""Scaling out on a real local Ray instance (two CPUs): campaigns, a run's evaluations, and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from hwnas.campaign import load_campaign, parse_campaign, run_campaign
from hwnas.cli import main
from hwnas.graph.context import RunSettings
from hwnas.graph.runner import run_search
from hwnas.llm.random_model import RandomChatModel
from hwnas.scale import Execution
from hwnas.spaces.nb201 import NB201
from hwnas.spaces.nb201.tables import BenchmarkTables

RAY = Execution("ray")
TIMINGS = ("wall_s", "zc_torch_s")
"""Result fields that measure time, the only ones two executors may disagree on."""


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    """One local Ray instance with two CPUs for the module; hwnas joins it instead of starting its own."""
    import logging

    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


def _results(out: Path) -> dict[str, Any]:
    """Every unit result (timings left out, paths relative to `out`) and every run file, by relative path."""
    found: dict[str, Any] = {}
    for path in sorted(out.rglob("*")):
        relative = str(path.relative_to(out))
        if path.suffix == ".json" and relative.startswith("units/"):
            result = json.loads(path.read_text())
            result["archive"] = str(Path(result["archive"]).relative_to(out))
            found[relative] = {k: v for k, v in result.items() if k not in TIMINGS}
        elif path.suffix == ".csv":
            found[relative] = path.read_bytes()
    return found


def test_a_campaign_under_ray_writes_what_the_local_executor_writes(
    data_dir: Path, tmp_path: Path, ray_instance: None
) -> None:
    campaign = load_campaign("tiny").select("*-rs,*-nsga2,agent-no-llm")
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    run_campaign(campaign, out=local, data=str(data_dir), seeds=1)
    counts: list[tuple[int, int, int]] = []
    done = run_campaign(campaign, out=on_ray, data=str(data_dir), seeds=1, execution=RAY,
                        on_counts=lambda *c: counts.append(c))  # fmt: skip
    assert sorted(done.ran) == sorted((c.key, 0) for c in campaign.cells) and not done.failed
    assert _results(on_ray) == _results(local) and len(_results(local)) == 3 + 2 + 2  # results, archives, front
    assert max(running for _, running, _ in counts) == 2 and counts[-1] == (3, 0, 0)
    agent = "runs/cifar10-fpga-b24-oracle-val-agent-no-llm/seed0"
    assert (on_ray / agent / "trace.jsonl").exists() and (on_ray / agent / "checkpoints.sqlite").exists()
    assert not list(on_ray.rglob("*.tmp"))
    again = run_campaign(campaign, out=on_ray, data=str(data_dir), seeds=1, execution=RAY)
    assert again.ran == [] and len(again.skipped) == 3


def _unit_workers() -> list[int]:
    """Processes whose title says they are running a campaign unit (Ray names a busy worker after its task)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            title = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if entry.isdigit() and title.startswith(b"ray::run_unit_in_scratch"):
            pids.append(int(entry))
    return pids


def test_a_worker_killed_mid_campaign_is_retried_and_no_unit_is_lost_or_written_twice(
    data_dir: Path, tmp_path: Path, ray_instance: None
) -> None:
    grid = '[[grid]]\ndevices=["fpga"]\nbudgets=[24]\nestimators=["oracle-val"]\nmethods=["rs","nsga2","ls","tpe"]'
    campaign = parse_campaign("kill", "seeds = 2\n" + grid)
    killed: list[int] = []
    units_heard: list[tuple[str, int]] = []

    def kill_one_busy_worker() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for pid in _unit_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_busy_worker)
    killer.start()
    done = run_campaign(campaign, out=tmp_path / "ray", data=str(data_dir), execution=RAY,
                        on_unit=lambda cell, seed, _: units_heard.append((cell.key, seed)))  # fmt: skip
    killer.join()
    assert killed, "no worker was seen running a unit"
    every_unit = sorted((c.key, s) for s in range(2) for c in campaign.cells)
    assert not done.failed and sorted(done.ran) == sorted(units_heard) == every_unit
    run_campaign(campaign, out=tmp_path / "local", data=str(data_dir))
    assert _results(tmp_path / "ray") == _results(tmp_path / "local")
    assert len(list((tmp_path / "ray" / "units").rglob("seed*.json"))) == len(every_unit)


def test_ray_estimator_scores_as_the_estimator_it_wraps(
    tables: BenchmarkTables, tmp_path: Path, ray_instance: None, one_torch_thread: None
) -> None:
    from hwnas.estimators.zero_cost import make_zero_cost
    from hwnas.registry import make_estimator
    from hwnas.scale.evaluation import RayEstimator

    archs = [tables.architecture(row) for row in np.random.default_rng(3).choice(len(tables.arch_strs), 10)]
    archs += [NB201.parse(str(archs[0]))]  # a repeat costs no second job
    local = make_zero_cost("zc", dataset="cifar10", cache=tmp_path / "local.sqlite")
    driver = make_zero_cost("zc", dataset="cifar10", cache=tmp_path / "driver.sqlite")
    remote = RayEstimator(driver, address=None, resources={})
    assert np.array_equal(remote.predict(archs), local.predict(archs))
    classes = len({a.canonical_key for a in archs})
    assert remote.stats.tasks == 2 and remote.stats.items == classes  # two CPUs: two chunks of the misses
    assert driver.stats.computed == classes  # recorded by the driver, in its memory and cache
    remote.predict(archs)
    assert remote.stats.tasks == 2, "the driver's cache answers a second time; nothing goes out"

    oracle = make_estimator("oracle-val", dataset="cifar10", tables=tables)
    fanned = RayEstimator(oracle, address=None, resources={"CPU": 1})
    assert np.array_equal(fanned.predict(archs), oracle.predict(archs)) and fanned.stats.items == len(archs)


@pytest.mark.slow
def test_a_run_with_ray_evaluation_equals_the_same_run_without(
    data_dir: Path, tmp_path: Path, ray_instance: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = ["--llm", "random", "--estimator", "zc", "--budget", "18", "--round-size", "6", "--data", str(data_dir)]
    for name, executor in (("local", "local"), ("ray", "ray")):
        monkeypatch.setenv("HWNAS_CACHE_DIR", str(tmp_path / f"cache-{name}"))  # each run computes its scores
        assert main(["run", *flags, "--name", name, "--out", str(tmp_path), "--executor", executor]) == 0
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert (on_ray / "archive.csv").read_bytes() == (local / "archive.csv").read_bytes()
    assert (on_ray / "knowledge_base.json").read_bytes() == (local / "knowledge_base.json").read_bytes()
    summaries = [json.loads((root / "summary.json").read_text()) for root in (local, on_ray)]
    assert summaries[0]["true"] == summaries[1]["true"] and summaries[0]["rounds"] == summaries[1]["rounds"]


class SlowRandomModel(RandomChatModel):
    """The random model, holding each call for a moment and noting how many were in flight at once."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        with _IN_FLIGHT["lock"]:
            _IN_FLIGHT["now"] += 1
            _IN_FLIGHT["most"] = max(_IN_FLIGHT["most"], _IN_FLIGHT["now"])
        try:
            time.sleep(0.05)
            return super()._generate(messages, *args, **kwargs)
        finally:
            with _IN_FLIGHT["lock"]:
                _IN_FLIGHT["now"] -= 1


_IN_FLIGHT: dict[str, Any] = {"lock": threading.Lock(), "now": 0, "most": 0}


def test_llm_concurrency_bounds_the_calls_in_flight_and_changes_no_result(data_dir: Path, tmp_path: Path) -> None:
    settings = RunSettings(estimator="oracle-val", budget=18, round_size=6, max_rounds=1, llm="scripted")
    most: dict[int | None, int] = {}
    for bound in (None, 1, 2):
        _IN_FLIGHT["most"] = 0
        run_search(settings, name=f"r{bound}", out=tmp_path, data=str(data_dir), chat_model=SlowRandomModel(),
                   on_progress=lambda _: None, execution=Execution(llm_concurrency=bound))  # fmt: skip
        most[bound] = _IN_FLIGHT["most"]
    # Six partitions: six Generator branches in the first round; unbounded, LangGraph's pool runs several.
    assert most[1] == 1 and most[2] == 2 and most[None] > 2
    archives = {(tmp_path / f"r{bound}" / "archive.csv").read_bytes() for bound in most}
    assert len(archives) == 1


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (["--executor", "dask"], "invalid choice: 'dask'"),
        (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "no Ray head answers there"),
        (["--executor", "ray", "--ray-address", "head:port"], "is not HOST:PORT"),
        (["--executor", "ray", "--ray-resources", "board=1"], "no node of the Ray cluster can run a task"),
        (["--executor", "ray", "--ray-resources", "GPU"], "is not NAME=AMOUNT"),
        (["--ray-address", "127.0.0.1:6379"], "need --executor ray"),
        (["--executor", "ray", "--workers", "2"], "--workers is for the local executor"),
    ],
)
def test_bad_scaling_input_exits_2_with_one_line_before_any_unit(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ray_instance: None,
    flags: list[str], complaint: str,
) -> None:  # fmt: skip
    args = ["bench", "--campaign", "tiny", "--only", "*-rs", "--data", str(data_dir), "--out", str(tmp_path), *flags]
    try:
        code = main(args)
    except SystemExit as exit_info:  # argparse's own one-line error
        code = int(str(exit_info.code))
    error = capsys.readouterr().err
    assert code == 2 and complaint in error and error.count("\n") == 1, error
    assert not (tmp_path / "units").exists()


def test_a_run_asking_for_resources_no_node_has_fails_before_its_folder_exists(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ray_instance: None
) -> None:
    args = ["run", "--llm", "random", "--estimator", "oracle-val", "--data", str(data_dir), "--out", str(tmp_path),
            "--executor", "ray", "--ray-resources", "CPU=1,GPU=1"]  # fmt: skip
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "asking for CPU=1,GPU=1 (the most any node has: CPU=2, GPU=0)" in error and error.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_ray_is_imported_only_for_the_ray_executor(data_dir: Path, tmp_path: Path) -> None:
    script = (
        "import sys; from hwnas.cli import main\n"
        f"assert main(['bench', '--campaign', 'tiny', '--only', '*-rs', '--seeds', '1', '--data', {str(data_dir)!r},"
        f" '--out', {str(tmp_path)!r}]) == 0\n"
        "assert 'ray' not in sys.modules, 'the local executor imported ray'\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr


def test_a_plain_bench_on_ray_asks_for_a_campaign(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--data", str(data_dir), "--seeds", "1", "--budget", "3", "--executor", "ray"]) == 2
    error = capsys.readouterr().err
    assert "add --campaign NAME" in error and error.count("\n") == 1
