from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hwnas.errors import UsageError
from hwnas.spaces.nb201.space import NB201
from hwnas.spaces.nb201.tables import HELP_FILE, MAIN_FILE, BenchmarkTables, load_tables

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_spot_values_of_the_readme(tables: BenchmarkTables) -> None:
    row = tables.row(NB201.parse(BEST_C10))
    assert row == 6111
    assert tables.accuracy("cifar10", "test")[row] == pytest.approx(94.373, abs=1e-3)
    assert tables.accuracy("cifar10", "val")[row] == pytest.approx(91.607, abs=1e-3)
    assert tables.latency_ms("cifar10", "fpga")[row] == pytest.approx(6.679, abs=1e-3)
    assert tables.latency_ms("cifar10", "pixel3")[row] == pytest.approx(23.58, abs=1e-2)


def test_rows_accept_strings_and_architectures(tables: BenchmarkTables) -> None:
    archs = [tables.architecture(r) for r in (0, 17, 15624)]
    assert tables.rows(archs).tolist() == [0, 17, 15624]
    assert tables.rows([str(a) for a in archs]).tolist() == [0, 17, 15624]
    with pytest.raises(UsageError, match="malformed"):
        tables.rows(["|bogus~0|"])


def test_columns_are_read_only(tables: BenchmarkTables) -> None:
    with pytest.raises(ValueError):
        tables.accuracy("cifar10")[0] = 0.0


def test_availability_matrix(tables: BenchmarkTables) -> None:
    available = tables.availability()
    assert set(available) == {"cifar10", "cifar100", "imagenet16"}
    assert {"fpga", "eyeriss", "raspi4", "pixel3", "1080ti_1", "titanxp_256", "gold_6226"} <= set(available["cifar10"])
    assert len(available["cifar10"]) == 27 + 1  # HELP's 27 devices and NB201's own GPU latency
    assert available["cifar100"] == ("nb201_gpu",)
    assert tables.has("cifar10", "fpga") and not tables.has("cifar100", "fpga")


@pytest.mark.parametrize(("dataset", "device"), [("cifar10", "edgegpu"), ("cifar100", "fpga")])
def test_absent_pairs_fail_listing_what_is_available(tables: BenchmarkTables, dataset: str, device: str) -> None:
    with pytest.raises(UsageError) as error:
        tables.latency_ms(dataset, device)
    message = str(error.value)
    assert device in message and "cifar10: fpga, eyeriss, raspi4, pixel3" in message and "\n" not in message


def test_load_is_cached(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hwnas.spaces.nb201.tables

    first = load_tables(data_dir)

    def read_again(*_: object, **__: object) -> None:
        pytest.fail("the tables were read a second time")

    monkeypatch.setattr(hwnas.spaces.nb201.tables, "_read_csv", read_again)
    assert load_tables(data_dir / "nb201_hw") is first  # the folder or its parent: one cache entry


def test_missing_data_says_how_to_provide_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HWNAS_DATA", raising=False)
    with pytest.raises(UsageError, match=r"--data PATH .* HWNAS_DATA"):
        load_tables()
    assert BenchmarkTables.load(required=False) is None
    with pytest.raises(UsageError, match="not found"):
        load_tables(tmp_path / "absent")
    with pytest.raises(UsageError, match="no nb201_hw"):
        load_tables(tmp_path)


def _damaged_copy(data_dir: Path, tmp_path: Path, damage: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    folder = tmp_path / "nb201_hw"
    folder.mkdir()
    (folder / HELP_FILE).symlink_to(data_dir / "nb201_hw" / HELP_FILE)
    frame = pd.read_csv(data_dir / "nb201_hw" / MAIN_FILE)
    damage(frame).to_csv(folder / MAIN_FILE, index=False)
    return tmp_path


def _set(column: str, row: int, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def damage(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame

    return damage


@pytest.mark.parametrize(
    ("damage", "complaint"),
    [
        (lambda f: f.drop(columns=["cifar10_fpga_latency"]), "missing columns cifar10_fpga_latency"),
        (lambda f: f.iloc[:-1], "15624 rows, expected 15625"),
        (_set("cifar10_val_acc", 7, "n/a"), "cifar10_val_acc is not numeric at row 7"),
        (_set("cifar10_raspi4_latency", 3, np.nan), "cifar10_raspi4_latency is not numeric at row 3"),
        (_set("arch_str", 5, "|nor_conv_3x3~0|+|none~0|"), "row 5 has a malformed arch_str"),
        (_set("ops", 5, 0), "row 5: `ops` 0 disagrees"),
    ],
)
def test_damaged_main_table_is_refused(
    data_dir: Path, tmp_path: Path, damage: Callable[[pd.DataFrame], pd.DataFrame], complaint: str
) -> None:
    with pytest.raises(UsageError, match="damaged") as error:
        load_tables(_damaged_copy(data_dir, tmp_path, damage))
    assert complaint in str(error.value)


def test_truncated_gzip_is_refused(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "nb201_hw"
    folder.mkdir()
    (folder / HELP_FILE).symlink_to(data_dir / "nb201_hw" / HELP_FILE)
    original = (data_dir / "nb201_hw" / MAIN_FILE).read_bytes()
    (folder / MAIN_FILE).write_bytes(original[: len(original) // 2])
    with pytest.raises(UsageError, match="is damaged"):
        load_tables(tmp_path)
