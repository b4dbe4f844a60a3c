"""Shared fixtures: the benchmark data folder and its tables (once per session), recorded runs, an offline model."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hwnas.core.space import SearchSpace
from hwnas.core.tables import Tables
from hwnas.llm.random_model import RandomChatModel
from hwnas.spaces.nb201 import NB201
from hwnas.spaces.nb201.tables import BenchmarkTables, load_tables

REPO_ROOT = Path(__file__).resolve().parents[1]

# The tests' own second space (`tests/chain_space.py`) registers itself by name, like any space module.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from chain_space import CHAIN, CHAIN_TABLES  # noqa: E402

# As `hwnas.cli.main` does, before any test module imports torch: one OpenMP thread (see there).
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder: HWNAS_DATA, else `../shared/data` beside the repository."""
    path = Path(os.environ.get("HWNAS_DATA") or REPO_ROOT.parent / "shared" / "data")
    if not (path / "nb201_hw").is_dir():
        pytest.skip(f"benchmark data not found at {path}; set HWNAS_DATA")
    return path


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Torch work in hwnas runs single-threaded: two threads on a busy 2-core machine spin-wait."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tables(data_dir: Path) -> BenchmarkTables:
    """The checked benchmark tables."""
    return load_tables(data_dir)


@pytest.fixture(params=["nb201", "chain"])
def space_and_tables(request: pytest.FixtureRequest) -> tuple[SearchSpace, Tables]:
    """Each space with its tables: space-generic tests run against NB201 and the tests' `chain` space."""
    if request.param == "chain":
        return CHAIN, CHAIN_TABLES
    return NB201, request.getfixturevalue("tables")


@pytest.fixture
def baseline_on(space_and_tables: tuple[SearchSpace, Tables]) -> Any:
    """`run(method, **options)`: the baseline on seed 0, budget 30, oracle-val, in the space under test."""
    from hwnas.harness import run_baseline
    from hwnas.partition import make_partitioning
    from hwnas.registry import make_latency_model

    space, tables = space_and_tables
    dataset = space.datasets[0]
    device = "fpga" if space.name == "nb201" else "dev-a"

    def run(method: str, **options: Any) -> Any:
        return run_baseline(
            method, 0, tables=tables, dataset=dataset, estimator="oracle-val",
            latency_model=make_latency_model(device, space=space, dataset=dataset, tables=tables),
            budget=30, partitioning=make_partitioning(space, space.niches().axis, dataset=dataset), **options,
        )  # fmt: skip

    return run


@pytest.fixture
def recorded_run(tmp_path: Path, tables: BenchmarkTables) -> Path:
    """A finished three-round agent run in `tmp_path/runs/rec`, written file by file as docs/trace-format.md says."""
    import csv

    import numpy as np

    from hwnas.partition import make_partitioning
    from hwnas.trace import TraceWriter

    root = tmp_path / "runs" / "rec"
    root.mkdir(parents=True)
    settings = {
        "dataset": "cifar10",
        "device": "fpga",
        "estimator": "oracle-val",
        "budget": 20,
        "partition_axis": "conv3",
        "partition_bins": 6,
        "seed": 0,
        "llm": "scripted",
    }
    (root / "settings.json").write_text(json.dumps(settings))
    parts = make_partitioning(NB201, "conv3", bins=6, dataset="cifar10", tables=tables)
    picks = np.random.default_rng(0).choice(len(tables.arch_strs), 18, replace=False)
    archive = [
        {
            "arch_str": tables.arch_strs[row],
            "partition": parts.assign(tables.architecture(row)),
            "score": tables.accuracy("cifar10", "val")[row],
            "latency_ms": tables.latency_ms("cifar10", "fpga")[row],
            "round": i // 6,
            "operator": "init" if i < 6 else "mutation",
            "parents": "",
            "rationale": f"child {i}",
        }
        for i, row in enumerate(picks)
    ]
    heuristic = {
        "id": 1,
        "from_op": "any",
        "to_op": "nor_conv_3x3",
        "edge": -1,
        "accuracy": "up",
        "latency": "up",
        "text": "3x3 buys accuracy",
        "evidence": 4,
        "round": 1,
    }
    history = [
        {"round": 1, "added": [heuristic], "revised": [], "retired": [], "rejected": []},
        {
            "round": 2,
            "added": [],
            "revised": [],
            "retired": [],
            "rejected": [{"action": "add", "id": 0, "reason": "evidence 1 case(s)"}],
        },
    ]
    trace = TraceWriter(root / "trace.jsonl")
    trace.write("note", text="started", settings=settings)
    trace.write(
        "tool_call",
        agent="coordinator",
        round=0,
        tool="lookup_latency+score_proxy",
        results=[{"arch": r["arch_str"], "latency_ms": r["latency_ms"], "score": r["score"]} for r in archive[:6]],
    )
    trace.write("decision", agent="coordinator", round=0, evaluated=6, note="random start per partition")
    for round_number in (1, 2):
        chosen = archive[6 * round_number : 6 * round_number + 6]
        used = {r["partition"] for r in chosen}
        trace.write(
            "llm_call",
            agent="navigator",
            round=round_number,
            provider="scripted",
            model="scripted",
            request={
                "messages": [["system", "plan"], ["user", f"round {round_number} state"]],
                "schema_name": "NavigatorPlan",
                "schema": {},
                "params": {},
            },
            reply='{"summary": "spread"}',
            parsed={"summary": "spread"},
            error=None,
            tokens_in=100,
            tokens_out=20,
            wall_s=0.5,
            cost_usd=0.001,
        )
        trace.write(
            "decision",
            agent="navigator",
            round=round_number,
            plan={"summary": f"spread {round_number}"},
            final={str(p): {"candidates": 2, "strategy": "explore", "note": ""} for p in sorted(used)},
        )
        if round_number == 1:
            trace.write(
                "guardrail", agent="navigator", round=1, overrides=["partition 5 got no slot: gave it 2 (explore)"]
            )
        for p in sorted(used):
            context = {"round": round_number, "partition": p, "attempt": 0}
            trace.write(
                "llm_call",
                agent="generator",
                **context,
                provider="scripted",
                model="scripted",
                request={
                    "messages": [["user", f"design for partition {p}"]],
                    "schema_name": "GeneratorReply",
                    "schema": {},
                    "params": {},
                },
                reply='{"children": []}',
                parsed={"children": []},
                error=None,
                tokens_in=300,
                tokens_out=60,
                wall_s=1.0,
                cost_usd=None,
            )
            trace.write(
                "decision",
                agent="generator",
                **context,
                proposals=[
                    {"arch": r["arch_str"], "operator": "mutation", "rationale": r["rationale"]}
                    for r in chosen
                    if r["partition"] == p
                ],
            )
        trace.write(
            "decision",
            agent="coordinator",
            round=round_number,
            attempt=0,
            accepted=[r["arch_str"] for r in chosen],
            rejected={str(min(used)): [f"{archive[0]['arch_str']}: duplicate: computes the same function"]},
            budget_used=6 * (round_number + 1),
        )
        trace.write(
            "tool_call",
            agent="coordinator",
            round=round_number,
            tool="lookup_latency+score_proxy",
            results=[{"arch": r["arch_str"], "latency_ms": r["latency_ms"], "score": r["score"]} for r in chosen],
        )
        entry = history[round_number - 1]
        trace.write(
            "decision",
            agent="memory",
            round=round_number,
            proposed={"actions": []},
            **{k: entry[k] for k in ("added", "revised", "retired", "rejected")},
        )
        trace.write(
            "decision",
            agent="coordinator",
            round=round_number,
            step="stop_test",
            hypervolume={str(p): 0.5 + 0.1 * round_number for p in sorted(used)},
            stable=[],
            stop_reason="budget spent" if round_number == 2 else "",
        )
    columns = ["arch_str", "partition", "score", "latency_ms", "round", "operator", "parents", "rationale"]
    with (root / "archive.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(archive)
    (root / "knowledge_base.json").write_text(json.dumps({"version": 2, "heuristics": [heuristic], "history": history}))
    summary = {
        "settings": settings,
        "budget_used": 18,
        "rounds": 2,
        "stop_reason": "budget spent",
        "front_size": 5,
        "llm_calls": 8,
        "tokens_in": 2000,
        "tokens_out": 400,
        "cost_usd": 0.002,
        "wall_s": 12.5,
        "true": {"igd": 0.05, "hv_b": 0.85, "igd_valid": 0.05, "hv_b_valid": 0.85},
    }
    (root / "summary.json").write_text(json.dumps(summary))
    trace.write("note", text="finished", summary={k: v for k, v in summary.items() if k != "settings"})
    return root


@pytest.fixture
def scripted_model() -> type[RandomChatModel]:
    """The offline chat model class for real runs (tests cannot import conftest, so they get it here)."""
    return DyingChatModel


class DyingChatModel(RandomChatModel):
    """The random model that can also die: after `die_after` calls it raises `KeyboardInterrupt`, as a kill would."""

    die_after: int | None = None

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        if self.die_after is not None:
            if self.die_after == 0:
                raise KeyboardInterrupt
            self.die_after -= 1
        return super()._generate(messages, stop, run_manager, **kwargs)


@pytest.fixture(scope="session")
def agent_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A real finished agent run (`hwnas.graph.runner.run_search`, offline model); copy it before changing it."""
    from hwnas.graph.context import RunSettings
    from hwnas.graph.runner import run_search

    out = tmp_path_factory.mktemp("agent")
    settings = RunSettings(budget=30, estimator="oracle-val", device="fpga", round_size=8, max_rounds=4, llm="scripted")
    run_search(
        settings, name="real", out=out, data=str(data_dir), chat_model=RandomChatModel(), on_progress=lambda _: None
    )
    return out / "real"
