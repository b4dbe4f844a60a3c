"""The HTML report: its figures, its plots, and how it renders in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from hwnas.cli import main
from hwnas.harness import run_benchmark
from hwnas.pareto import true_indicators
from hwnas.report import Truth, load_compared, round_figures, write_comparison, write_report
from hwnas.runs import Run
from hwnas.spaces.nb201.tables import BenchmarkTables

PLOTS = ("front", "indicators", "coverage", "knowledge", "llm")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_report_embeds_every_plot_and_writes_them_beside_it(
    recorded_run: Path, tables: BenchmarkTables, tmp_path: Path
) -> None:
    out = write_report(Run(recorded_run), out=tmp_path / "out" / "rec.html", tables=tables)
    page = out.read_text()
    images = embedded_pngs(page)
    assert len(images) == len(PLOTS)
    for key, data in zip(PLOTS, images, strict=True):
        assert (tmp_path / "out" / f"rec-{key}.png").read_bytes() == data
        picture = Image.open(io.BytesIO(data))
        assert picture.format == "PNG" and picture.width > 300 and picture.height > 200
        assert len(picture.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20  # not blank
    assert "<script" not in page and "http://" not in page and "https://" not in page  # nothing to fetch
    for section in (
        "Pareto front",
        "Quality over rounds",
        "Partition coverage",
        "Knowledge base",
        "LLM usage and cost",
        "Settings",
        "3x3 buys accuracy",
        "evidence 1 case(s)",
        "partition 5 got no slot",
        "true test accuracy and fpga latency",
    ):
        assert section in page, section


def test_round_figures_are_the_true_indicators_of_everything_evaluated_so_far(
    recorded_run: Path, tables: BenchmarkTables
) -> None:
    archive = Run(recorded_run).archive()
    figures = round_figures(archive, Truth.find(tables, "cifar10", "fpga"))
    assert [f.round for f in figures] == [0, 1, 2] and [f.evaluated for f in figures] == [6, 12, 18]
    for f in figures:
        expected = true_indicators(tables, "cifar10", "fpga", [r.arch for r in archive if r.round <= f.round])
        assert (f.igd, f.hv_b, f.igd_valid, f.hv_b_valid) == pytest.approx(
            (expected["igd"], expected["hv_b"], expected["igd_valid"], expected["hv_b_valid"])
        )
    assert figures[-1].hv_b >= figures[0].hv_b and figures[-1].igd <= figures[0].igd  # the set only grows


def test_without_benchmark_truth_the_front_is_predicted(recorded_run: Path, tmp_path: Path) -> None:
    page = write_report(Run(recorded_run), out=tmp_path / "r.html", tables=None).read_text()
    assert "predicted: no benchmark truth" in page and len(embedded_pngs(page)) == len(PLOTS)
    assert all(f.igd is None for f in round_figures(Run(recorded_run).archive(), None))


def test_compare_draws_runs_and_bench_archives_side_by_side(
    recorded_run: Path, tables: BenchmarkTables, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_benchmark(
        tables=tables, methods=["rs"], dataset="cifar10", device="fpga", budget=18, seeds=1, out=tmp_path / "bench"
    )
    baseline = str(tmp_path / "bench" / "rs" / "seed0.csv")
    entries = [load_compared("rec", recorded_run.parent), load_compared(baseline, recorded_run.parent)]
    assert [e.label for e in entries] == ["rec", "rs seed0"] and len(entries[1].archive) == 18
    page = write_comparison(entries, out=tmp_path / "cmp.html", tables=tables).read_text()
    assert len(embedded_pngs(page)) == 2 and "rs seed0" in page
    assert (tmp_path / "cmp-fronts.png").is_file() and (tmp_path / "cmp-indicators.png").is_file()
    rs = json.loads((tmp_path / "bench" / "results.json").read_text())["runs"][0]
    assert f"{rs['hv_b']:.4f}" in page  # the bench's own HV_B, recomputed from its archive

    code = main(["report", "--compare", "rec", "--dir", str(recorded_run.parent), "--out", str(tmp_path / "x.html")])
    assert code == 2 and "at least two runs" in capsys.readouterr().err
    code = main(["report", "rec", "--compare", "rec", "rec", "--dir", str(recorded_run.parent)])
    assert code == 2 and "one RUN, or --compare" in capsys.readouterr().err


def test_report_cli_writes_into_the_run_by_default(
    recorded_run: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "rec", "--dir", str(recorded_run.parent), "--data", str(data_dir)]) == 0
    assert f"report: {recorded_run / 'report.html'}" in capsys.readouterr().out
    assert all((recorded_run / f"report-{key}.png").is_file() for key in PLOTS)
    code = main(["report", "rec", "--dir", str(recorded_run.parent), "--out", str(recorded_run / "r.txt")])
    assert code == 2 and "must name an .html file" in capsys.readouterr().err


@needs_chromium
def test_report_renders_in_headless_chromium(recorded_run: Path, tables: BenchmarkTables, tmp_path: Path) -> None:
    report = write_report(Run(recorded_run), out=tmp_path / "report.html", tables=tables)
    screenshot = tmp_path / "screenshot.png"
    shown = chromium(
        f"--screenshot={screenshot}", "--window-size=1200,2400", report.as_uri(), profile=tmp_path / "profile"
    )
    assert console_messages(shown.stderr) == []
    picture = Image.open(screenshot).convert("RGB")
    assert picture.size == (1200, 2400)
    assert len(picture.getcolors(maxcolors=1 << 20) or []) > 100  # plots drawn, not a blank page

    # A page beside the report loads it in a frame and lists what the browser decoded of each image.
    probe = tmp_path / "probe.html"
    probe.write_text(
        '<!DOCTYPE html><html><body><pre id="out">pending</pre><iframe id="page" src="report.html"></iframe>'
        "<script>document.getElementById('page').addEventListener('load', () => {"
        "const images = Array.from(document.getElementById('page').contentDocument.images);"
        "document.getElementById('out').textContent = 'IMAGES=' + JSON.stringify("
        "images.map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]));});</script></body></html>"
    )
    dom = chromium(
        "--allow-file-access-from-files",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
        profile=tmp_path / "profile",
    ).stdout
    found = re.search(r"IMAGES=(\[.*?\]\])", dom)
    assert found, dom[-500:]
    images = json.loads(found.group(1))
    assert len(images) == len(PLOTS)
    assert all(complete and width > 300 and height > 200 for _, complete, width, height in images), images


@needs_chromium
def test_the_console_check_catches_a_broken_page(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>missing_function();</script></body></html>")
    messages = console_messages(chromium("--dump-dom", broken.as_uri(), profile=tmp_path / "profile").stderr)
    assert any("missing_function" in m for m in messages)
