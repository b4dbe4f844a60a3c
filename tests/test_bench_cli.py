from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hwnas.cli import main
from hwnas.spaces.nb201.tables import BenchmarkTables


def _bench(data_dir: Path, *extra: str) -> list[str]:
    return ["bench", "--data", str(data_dir), "--dataset", "cifar10", "--device", "eyeriss", *extra]


def test_bench_writes_archives_and_results(
    data_dir: Path, tables: BenchmarkTables, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench"
    args = _bench(data_dir, "--methods", "rs,nsga2", "--budget", "15", "--seeds", "2", "--out", str(out))
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "| rs | 2 |" in table and "| nsga2 | 2 |" in table and "true front 16 points" in table

    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]) == {"rs", "nsga2"}
    assert results["methods"]["rs"]["seeds"] == 2 and set(results["methods"]["rs"]["mean"]) >= {"igd", "hv_b"}
    with (out / "nsga2" / "seed1.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 15 and len({r["arch_str"] for r in rows}) == 15
    first = rows[0]
    row = tables.row(first["arch_str"])
    assert float(first["test_acc"]) == tables.accuracy("cifar10", "test")[row]
    assert float(first["score"]) == tables.accuracy("cifar10", "val")[row]

    # Same seeds, same archives, bit for bit.
    again = tmp_path / "again"
    assert main([*args[:-1], str(again)]) == 0
    assert (again / "nsga2" / "seed1.csv").read_bytes() == (out / "nsga2" / "seed1.csv").read_bytes()
    assert (
        json.loads((again / "results.json").read_text())["methods"]["nsga2"]["mean"]
        == (results["methods"]["nsga2"]["mean"])
    )


def test_bench_json_output(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_bench(data_dir, "--methods", "ls", "--budget", "5", "--seeds", "1", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["methods"]["ls"]["seeds"] == 1


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (["--device", "edgegpu"], "no latency for device 'edgegpu'"),
        (["--dataset", "cifar100", "--device", "fpga"], "no latency for device 'fpga' on cifar100"),
        (["--dataset", "svhn"], "unknown dataset 'svhn'"),
        (["--methods", "rs,bohb"], "unknown method 'bohb'"),
        (["--estimator", "oracle-test"], "unknown estimator 'oracle-test'"),
        (["--partition-axis", "width"], "unknown partition axis 'width'"),
        (["--budget", "0"], "--budget must be between 1 and 15625"),
        (["--seeds", "0"], "--seeds must be at least 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str], flags: list[str], complaint: str
) -> None:
    assert main([*_bench(data_dir, "--budget", "3", "--seeds", "1"), *flags]) == 2
    error = capsys.readouterr().err
    assert complaint in error and error.count("\n") == 1 and "Traceback" not in error


def test_unparsable_flag_exits_2_with_one_line(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(_bench(data_dir, "--budget", "many"))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "invalid int value" in error and error.count("\n") == 1


def test_missing_or_damaged_data_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HWNAS_DATA", raising=False)
    assert main(["bench", "--budget", "3", "--seeds", "1"]) == 2
    assert "pass --data PATH" in capsys.readouterr().err
    (tmp_path / "nb201_hw").mkdir()
    (tmp_path / "nb201_hw" / "nb201_hw.csv.gz").write_bytes(b"\x1f\x8b not really gzip")
    assert main(["bench", "--data", str(tmp_path), "--budget", "3", "--seeds", "1"]) == 2
    assert "is damaged" in capsys.readouterr().err
