"""Latency at matched accuracy: hand-built archives with hand-computed figures, and the CLI path."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hwnas.campaign import load_campaign, run_campaign
from hwnas.cli import main
from hwnas.errors import UsageError
from hwnas.matched import group_matched_latency, lowest_latency_at, matched_latency, matched_markdown

# name: (test accuracy %, latency ms)
POINTS = {"a": (94.0, 10.0), "b": (93.6, 6.0), "c": (93.2, 4.0), "d": (92.5, 3.0), "e": (91.0, 1.0), "f": (90.0, 0.5)}


@dataclass(frozen=True)
class HandTables:
    """Just the three table calls matched latency makes, over the six hand-placed architectures above."""

    def rows(self, archs: Sequence[str]) -> np.ndarray:
        return np.array([list(POINTS).index(a) for a in archs], dtype=np.int64)

    def accuracy(self, dataset: str, kind: str = "test") -> np.ndarray:
        return np.array([acc for acc, _ in POINTS.values()])

    def latency_ms(self, dataset: str, device: str) -> np.ndarray:
        return np.array([lat for _, lat in POINTS.values()])


def test_lowest_latency_at_a_level() -> None:
    accuracy, latency = np.array([90.0, 93.0, 94.0]), np.array([1.0, 3.0, 5.0])
    assert lowest_latency_at(accuracy, latency, 93.0) == 3.0  # at the level counts
    assert lowest_latency_at(accuracy, latency, 94.5) is None


def test_matched_latency_on_a_hand_built_archive() -> None:
    runs = {
        "rs": [["a", "e"], ["b", "f"]],  # best accuracies 94.0 and 93.6: mean 93.8, the reference
        "nsga2": [["b", "c"]],  # best 93.6
        "agent": [["c", "d", "e"]],  # an agent variant: compared, never the reference
    }
    figures = group_matched_latency(HandTables(), "cifar10", "fpga", runs, drops=(0.5, 1.0, 2.0))  # type: ignore[arg-type]
    assert figures["reference_method"] == "rs" and figures["reference_accuracy"] == pytest.approx(93.8)
    assert figures["baselines"] == ["rs", "nsga2"]
    levels = {round(level["accuracy"], 2): level["methods"] for level in figures["levels"]}
    assert sorted(levels) == [91.8, 92.8, 93.3]
    # >= 93.3: rs finds a (10 ms) and b (6 ms): mean 8; nsga2 b (6); the agent's best is 93.2: not reached.
    assert levels[93.3]["rs"]["latency_ms"]["mean"] == pytest.approx(8.0)
    assert levels[93.3]["nsga2"]["latency_ms"]["mean"] == pytest.approx(6.0)
    assert levels[93.3]["agent"]["reached"] == 0 and levels[93.3]["agent"]["latency_ms"] is None
    assert levels[93.3]["agent"]["ratio_to"] == {"rs": None, "nsga2": None}
    # >= 92.8: agent c (4 ms): half of rs's 8, the same as nsga2's c.
    assert levels[92.8]["agent"]["ratio_to"] == {"rs": pytest.approx(0.5), "nsga2": pytest.approx(1.0)}
    # >= 91.8: agent d (3 ms) against rs 8 and nsga2 c (4).
    assert levels[91.8]["agent"]["ratio_to"] == {"rs": pytest.approx(0.375), "nsga2": pytest.approx(0.75)}
    assert levels[91.8]["rs"]["latency_ms"]["std"] == pytest.approx(np.std([10.0, 6.0], ddof=1))

    body = matched_markdown(
        {"campaign": "hand", "drops": [0.5, 1.0, 2.0], "groups": [{"dataset": "cifar10", "device": "fpga",
         "budget": 3, "estimator": "oracle-val", **figures}]},
        command="hwnas bench --campaign hand --matched-latency",
    )  # fmt: skip
    headline = "| 91.80 (−2) | agent | 1/1 | 3.000 | nsga2 4.000 | 0.75 (-25 %) | rs 8.000 | 0.38 (-62 %) |"
    assert headline in body
    assert "| 93.30 (−0.5) | agent | 0/1 | – | – | – |" in body


def test_a_group_without_baseline_runs_is_refused() -> None:
    with pytest.raises(UsageError, match="no baseline"):
        group_matched_latency(HandTables(), "cifar10", "fpga", {"agent": [["a"]]})  # type: ignore[arg-type]


def test_cli_reports_matched_latency_from_a_campaign_and_its_export(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign = load_campaign("tiny").select("*-rs,*-nsga2")
    out = tmp_path / "c"
    run_campaign(campaign, out=out, data=str(data_dir), seeds=2)
    page = tmp_path / "B.md"
    args = ["bench", "--campaign", "tiny", "--data", str(data_dir), "--report-only", "--matched-latency"]
    assert main([*args, "--out", str(out), "--update-md", str(page), "--export", str(tmp_path / "x")]) == 0
    figures = json.loads((out / "matched-tiny.json").read_text())
    assert figures == matched_latency(load_campaign("tiny"), tmp_path / "x", data=str(data_dir))
    group = figures["groups"][0]
    assert group["reference_method"] in ("rs", "nsga2") and group["baselines"] == ["rs", "nsga2"]
    text = page.read_text()
    assert "<!-- campaign:tiny-matched:start -->" in text and "--matched-latency" in text
    capsys.readouterr()
    with pytest.raises(UsageError, match="non-negative"):
        matched_latency(campaign, out, data=str(data_dir), drops=(-1.0,))
