"""Shared fixtures: the benchmark data folder and the tables loaded from it (once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hwnas.benchmark import BenchmarkTables, load_tables

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder: HWNAS_DATA, else `../shared/data` beside the repository."""
    path = Path(os.environ.get("HWNAS_DATA") or REPO_ROOT.parent / "shared" / "data")
    if not (path / "nb201_hw").is_dir():
        pytest.skip(f"benchmark data not found at {path}; set HWNAS_DATA")
    return path


@pytest.fixture(scope="session")
def tables(data_dir: Path) -> BenchmarkTables:
    """The checked benchmark tables."""
    return load_tables(data_dir)
