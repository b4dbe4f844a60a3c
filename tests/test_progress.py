"""Progress: a live status line on a terminal (checked under a pseudo-terminal), plain lines when piped."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from hwnas.progress import Progress, format_fields

CLEAR = "\r\x1b[2K"


def hwnas_command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "hwnas.cli", *argv]


def run_on_terminal(command: list[str]) -> tuple[int, str]:
    """Run `command` with stdin, stdout and stderr on a pseudo-terminal; return its exit code and output."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "150", "TERM": "xterm"}
    child = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return child.wait(timeout=300), b"".join(chunks).decode(errors="replace")


def run_piped(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_live_line_is_redrawn_in_place_and_logs_scroll_above_it() -> None:
    stream = io.StringIO()
    progress = Progress(4, unit="runs", stream=stream, live=True)
    progress.update(1, method="rs", hv_b=0.81234)
    assert stream.getvalue() == CLEAR + "[#####...............] 1/4 runs 0:00 | method rs | HV_B 0.8123"
    progress.log("rs seed 0 done")
    assert stream.getvalue().endswith(CLEAR + "rs seed 0 done\n" + CLEAR + progress.status_line())
    progress.update(4)
    progress.close()
    assert stream.getvalue().endswith("[####################] 4/4 runs 0:00\n")


def test_without_a_terminal_only_log_lines_are_written() -> None:
    stream = io.StringIO()
    with Progress(4, unit="runs", stream=stream) as progress:  # StringIO is not a terminal
        assert not progress.live
        progress.update(1, method="rs")
        progress.log("rs seed 0 done")
        progress.update(4)
    assert stream.getvalue() == "rs seed 0 done\n"


def test_fields_are_named_and_rounded() -> None:
    fields = {"round": 3, "hv_b": 0.5, "igd": None, "llm_calls": 7}
    assert format_fields(fields) == "round 3 | HV_B 0.5000 | llm calls 7"


def test_bench_shows_live_progress_on_a_terminal_and_plain_lines_when_piped(data_dir: Path) -> None:
    command = hwnas_command(
        "bench", "--methods", "rs", "--budget", "10", "--seeds", "3", "--device", "fpga", "--data", str(data_dir)
    )
    code, shown = run_on_terminal(command)
    assert code == 0
    assert CLEAR + "[" in shown and "3/3 runs" in shown and "last rs seed 2" in shown
    assert "rs seed 1: IGD" in shown and "| rs | 3 |" in shown

    piped = run_piped(command)
    assert piped.returncode == 0
    assert "\x1b" not in piped.stderr and "\r" not in piped.stderr
    lines = piped.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["rs seed 0", "rs seed 1", "rs seed 2"]
    assert "| rs | 3 |" in piped.stdout


def test_agent_run_shows_live_progress_on_a_terminal_and_plain_lines_when_piped(
    agent_run: Path, data_dir: Path, tmp_path: Path
) -> None:
    """`hwnas run` replaying a recorded run: same archive either way, and the display suits the output."""
    settings = json.loads((agent_run / "settings.json").read_text())
    flags = [
        f"--{key.replace('_', '-')}={settings[key]}"
        for key in ("budget", "estimator", "device", "round_size", "max_rounds")
    ]
    command = hwnas_command(
        "run", f"--llm=replay:{agent_run / 'trace.jsonl'}", *flags, "--data", str(data_dir), "--out", str(tmp_path)
    )
    code, shown = run_on_terminal([*command, "--name", "on-terminal"])
    assert code == 0, shown[-2000:]
    assert CLEAR + "[" in shown and f"/{settings['budget']} evaluated" in shown and "HV_B 0." in shown
    assert (tmp_path / "on-terminal" / "archive.csv").read_text() == (agent_run / "archive.csv").read_text()

    piped = run_piped([*command, "--name", "piped"])
    assert piped.returncode == 0, piped.stderr
    assert "\x1b" not in piped.stderr and "\r" not in piped.stderr
    rounds = [line for line in piped.stderr.splitlines() if line.startswith("evaluated ")]
    summary = json.loads((agent_run / "summary.json").read_text())
    assert len(rounds) == summary["rounds"] + 1  # one line per round, and one after the random start
    assert rounds[-1].startswith(f"evaluated {summary['budget_used']}/{settings['budget']} | round")
