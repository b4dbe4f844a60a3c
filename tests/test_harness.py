from __future__ import annotations

import pytest

from hwnas.harness import run_benchmark
from hwnas.spaces.nb201.tables import BenchmarkTables

# EVAL.md: CIFAR-10, uniform random search, N = 120, 100 seeds.
REFERENCE = {
    "fpga": (0.049, 0.887),
    "eyeriss": (0.041, 0.889),
    "raspi4": (0.026, 0.982),
    "pixel3": (0.029, 0.975),
}


@pytest.mark.parametrize("device", list(REFERENCE))
def test_random_search_lands_on_the_eval_md_reference(tables: BenchmarkTables, device: str) -> None:
    report = run_benchmark(tables=tables, methods=["rs"], dataset="cifar10", device=device, budget=120, seeds=100)
    summary = report.summaries[0]
    igd, hv_b = REFERENCE[device]
    assert summary.seeds == 100
    assert summary.mean["igd"] == pytest.approx(igd, abs=0.003)
    assert summary.mean["hv_b"] == pytest.approx(hv_b, abs=0.005)
