"""Nothing lost, nothing leaked: real `hwnas` processes killed with SIGKILL, resumed, and fed bad input.

The kill points are exact: a small wrapper (`_KILLER`) runs the CLI in a child process and sends that
process SIGKILL right after the k-th checkpoint write (`put`: a super-step boundary), the k-th write of a
finished task (`put_writes`: inside a step, e.g. a Generator branch of the fan-out), or the k-th trace
record of a kind (e.g. a Generator's LLM call, before its branch's writes are saved).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_KILLER = """
import os, signal, sys
target, count = sys.argv[1], int(sys.argv[2])
seen = 0

def after(owner, method, matches):
    original = getattr(owner, method)
    def wrapper(self, *args, **kwargs):
        global seen
        result = original(self, *args, **kwargs)
        if matches(args, kwargs):
            seen += 1
            if seen == count:
                os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(owner, method, wrapper)

if target in ("put", "put_writes"):
    from langgraph.checkpoint.sqlite import SqliteSaver
    after(SqliteSaver, target, lambda args, kwargs: True)
else:  # "KIND:AGENT": a trace record
    from hwnas.trace import TraceWriter
    kind, agent = target.split(":")
    after(TraceWriter, "write", lambda args, kwargs: args[0] == kind and kwargs.get("agent") == agent)
from hwnas.cli import main
sys.exit(main(sys.argv[3:]))
"""

RUN_FLAGS = ["--llm", "random", "--budget", "24", "--round-size", "8", "--estimator", "oracle-val", "--seed", "3",
             "--json"]
"""A small seeded run: 12 random starts, then two rounds of Generator branches (6 and 4 of them)."""


def hwnas(*args: str, data_dir: Path, kill_at: tuple[str, int] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process; `kill_at=(point, k)` has it SIGKILLed at the k-th such point."""
    prefix = ["-c", _KILLER, kill_at[0], str(kill_at[1])] if kill_at else ["-m", "hwnas.cli"]
    env = {**os.environ, "HWNAS_DATA": str(data_dir)}
    return subprocess.run([sys.executable, *prefix, *args], capture_output=True, text=True, env=env, timeout=300,
                          check=False)


def outputs(run: Path) -> dict[str, object]:
    """What must not depend on how many times the run was killed."""
    summary = json.loads((run / "summary.json").read_text())
    return {
        "archive": (run / "archive.csv").read_text(),
        "front": (run / "front.csv").read_text(),
        "knowledge": (run / "knowledge_base.json").read_text(),
        **{key: summary[key] for key in ("budget_used", "rounds", "stop_reason", "front_size", "llm_calls")},
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, object]:
    out = tmp_path_factory.mktemp("straight")
    finished = hwnas("run", *RUN_FLAGS, "--name", "k", "--out", str(out), data_dir=data_dir)
    assert finished.returncode == 0, finished.stderr
    return outputs(out / "k")


@pytest.mark.parametrize(
    "kill_at",
    [
        ("put", 1),  # the input saved, nothing run
        ("put_writes", 2),  # the random start evaluated, its step not yet saved
        ("put_writes", 5),  # first Generator branch of round 1 done, five pending
        ("put_writes", 10),  # every Generator branch of round 1 done, the step not yet saved
        ("llm_call:generator", 9),  # inside round 2's fan-out, before that branch's writes are saved
        ("put", 7),  # a round boundary (after round 1's stop test)
        ("put_writes", 21),  # the final stop test done, its step not yet saved
    ],
    ids=lambda point: f"{point[0]}#{point[1]}" if isinstance(point, tuple) else str(point),
)
def test_a_run_killed_at_any_point_resumes_to_the_uninterrupted_result(
    kill_at: tuple[str, int], uninterrupted: dict[str, object], data_dir: Path, tmp_path: Path
) -> None:
    killed = hwnas("run", *RUN_FLAGS, "--name", "k", "--out", str(tmp_path), data_dir=data_dir, kill_at=kill_at)
    assert killed.returncode == -9, killed.stderr  # the kill point was reached
    assert not (tmp_path / "k" / "summary.json").exists()
    resumed = hwnas("run", *RUN_FLAGS, "--name", "k", "--out", str(tmp_path), data_dir=data_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert outputs(tmp_path / "k") == uninterrupted
