"""The HTML report of a run, and a side-by-side comparison of several runs.

`write_report(run, out=..., tables=...)` writes one self-contained HTML file (every plot embedded as a
base64 PNG, no script, no network) and the same plots as PNG files beside it (`<stem>-<plot>.png`):

- `front`: the evaluated architectures and the front they found. With benchmark truth for the run's
  (dataset, device) both axes are true (test accuracy, table latency) and the true front is drawn;
  otherwise the axes are the run's own predicted score and latency (the predicted front).
- `indicators`: IGD and HV_B of everything evaluated up to each round (`hwnas.pareto.true_front`,
  EVAL.md), with and without degenerate cells; without truth, the predicted front's size per round.
- `coverage`: evaluations per partition and round, and in total (the exploration-bias picture).
- `knowledge`: heuristics added, revised, retired and rejected per round, and how many are kept.
- `llm`: tokens and seconds per round by agent; a table adds calls, failures and cost.

`write_comparison(entries, out=..., tables=...)` draws the fronts of several runs side by side and
their indicators against the number of evaluations; an entry is an agent run or one archive CSV of
`hwnas bench --out` (`<out>/<method>/seed<k>.csv`). Matplotlib runs headless (Agg canvas, no pyplot).
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hwnas.core.tables import Tables
from hwnas.errors import UsageError
from hwnas.pareto import TrueFront, has_truth, non_dominated_mask, non_dominated_records, true_front
from hwnas.partition import make_partitioning
from hwnas.runs.export import run_summary
from hwnas.runs.records import distinct_llm_calls
from hwnas.runs.schema import ArchiveRow, read_bench_csv, row_objectives
from hwnas.runs.store import Run, is_agent_run, resolve_run
from hwnas.spaces import get_space
from hwnas.tools.knowledge import statement

CURVE_POINTS: Final = 40
"""Prefix lengths at which a comparison computes the indicators."""
_CHANGES: Final = (("added", "tab:green"), ("revised", "tab:blue"), ("retired", "tab:red"), ("rejected", "0.6"))
_STYLE: Final = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8em 0; } td, th { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f4f4f4; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: .5em 0; } .note { color: #666; }
"""


@dataclass(frozen=True, eq=False)
class Truth:
    """Benchmark truth of one (dataset, device): the true fronts and every architecture's true objectives."""

    dataset: str
    device: str
    tables: Tables
    full: TrueFront
    valid: TrueFront

    @classmethod
    def find(cls, tables: Tables | None, dataset: str | None, device: str | None) -> Truth | None:
        """The truth of (dataset, device or fleet), or None when there are no tables or they lack a pair."""
        if tables is None or dataset is None or device is None or not has_truth(tables, dataset, device):
            return None
        full = true_front(tables, dataset, device)
        valid = true_front(tables, dataset, device, exclude_degenerate=True)
        return cls(dataset, device, tables, full, valid)

    @property
    def devices(self) -> list[str]:
        """The device, or each device of a fleet."""
        return self.device.split(",")

    def measured(self, archs: Sequence[str], device: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """True (latency ms on the `device`-th device, test accuracy %) of `archs`."""
        rows = self.tables.rows(archs)
        latency = self.tables.latency_ms(self.dataset, self.devices[device])[rows]
        return latency, self.tables.accuracy(self.dataset)[rows]


@dataclass(frozen=True)
class RoundFigures:
    """The run after a round: evaluations so far, predicted front size, true indicators (None without truth)."""

    round: int
    evaluated: int
    front_size: int
    igd: float | None
    hv_b: float | None
    igd_valid: float | None
    hv_b_valid: float | None


def round_figures(archive: Sequence[ArchiveRow], truth: Truth | None) -> list[RoundFigures]:
    """Figures of everything evaluated up to and including each round."""
    figures = []
    for number in sorted({r.round for r in archive}):
        upto = [r for r in archive if r.round <= number]
        archs = [r.arch for r in upto]
        true = (
            [None] * 4
            if truth is None
            else [truth.full.igd(archs), truth.full.hv_b(archs), truth.valid.igd(archs), truth.valid.hv_b(archs)]
        )
        figures.append(RoundFigures(number, len(upto), len(non_dominated_records(upto, row_objectives(upto))), *true))
    return figures


# ---- plots ------------------------------------------------------------------------------------------


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _rounds_axis(ax: Axes, rounds: Sequence[int]) -> None:
    """Whole rounds on the x axis: each one labelled while they fit, else a few integers."""
    if len(rounds) <= 20:
        ax.set_xticks(list(rounds))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _staircase(ax: Axes, latency: np.ndarray, accuracy: np.ndarray, **style: Any) -> None:
    order = np.argsort(latency, kind="stable")
    ax.step(latency[order], accuracy[order], where="post", **style)


def _fleet_size(archive: Sequence[ArchiveRow]) -> int:
    """Devices the run searched (a fleet's rows carry one latency per device)."""
    return len(archive[0].latencies) if archive and archive[0].latencies else 1


def _draw_front(ax: Axes, archive: Sequence[ArchiveRow], truth: Truth | None, title: str, device: int = 0) -> None:
    """Evaluated points coloured by partition, the found front, and the true front when known.

    On a fleet the plot is the projection on the `device`-th device's latency: the fronts are those in all
    the objectives, so they are drawn as points, not staircases (a point may look dominated in a projection).
    """
    archs = [r.arch for r in archive]
    fleet = _fleet_size(archive) > 1 or (truth is not None and len(truth.devices) > 1)
    if truth is not None:
        latency, accuracy = truth.measured(archs, device)
        all_latencies = np.column_stack([truth.measured(archs, d)[0] for d in range(len(truth.devices))])
        true_latency, true_accuracy = truth.measured(truth.full.arch_strs, device)
        if not fleet:
            _staircase(ax, true_latency, true_accuracy, color="0.3", linewidth=1, label="true front")
        ax.scatter(true_latency, true_accuracy, s=22, facecolors="none", edgecolors="0.3",
                   label="true front" if fleet else None)  # fmt: skip
        ax.set_xlabel(f"latency on {truth.devices[device]} (ms, benchmark table)")
        ax.set_ylabel(f"test accuracy on {truth.dataset} (%)")
    else:
        all_latencies = np.array([r.latencies or (r.latency_ms,) for r in archive]).reshape(len(archive), -1)
        latency = all_latencies[:, device]
        accuracy = np.array([r.score for r in archive])
        ax.set_xlabel("latency (ms, as the run measured it)" + (f", device {device + 1}" if fleet else ""))
        ax.set_ylabel("predicted score (the run's estimator)")
    if len(archs):
        partitions = np.array([r.partition for r in archive])
        colours = colormaps["tab10"]
        for index in sorted(set(partitions.tolist())):
            chosen = partitions == index
            label = "evaluated" if index < 0 else f"partition {index}"
            ax.scatter(
                latency[chosen], accuracy[chosen], s=10, alpha=0.6, color=colours(max(index, 0) % 10), label=label
            )
        on_front = non_dominated_mask(np.column_stack([-accuracy, all_latencies if fleet else latency]))
        found = "found front" if truth is not None else "predicted front"
        if not fleet:
            _staircase(ax, latency[on_front], accuracy[on_front], color="tab:orange", linewidth=1.8, label=found)
        ax.scatter(latency[on_front], accuracy[on_front], s=30, color="tab:orange", edgecolors="black", zorder=3,
                   label=found if fleet else None)  # fmt: skip
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")


def plot_front(archive: Sequence[ArchiveRow], truth: Truth | None, title: str) -> bytes:
    """The front plot as PNG bytes (a fleet: one projection per device, side by side)."""
    devices = len(truth.devices) if truth is not None else _fleet_size(archive)
    figure = Figure(figsize=(7.5 * devices, 5), layout="constrained")
    for device in range(devices):
        _draw_front(figure.add_subplot(1, devices, device + 1), archive, truth, title, device)
    return _png(figure)


def plot_indicators(figures: Sequence[RoundFigures]) -> bytes:
    """IGD and HV_B per round (true), or the predicted front's size per round when there is no truth."""
    rounds = [f.round for f in figures]
    if figures and figures[0].igd is not None:
        figure = Figure(figsize=(10, 3.8), layout="constrained")
        for ax, name, better in zip(figure.subplots(1, 2), ("igd", "hv_b"), ("lower", "higher"), strict=True):
            ax.plot(rounds, [getattr(f, name) for f in figures], marker="o", label="all cells")
            valid = [getattr(f, f"{name}_valid") for f in figures]
            if valid != [getattr(f, name) for f in figures]:
                ax.plot(rounds, valid, marker=".", linestyle="--", label="without degenerate cells")
            ax.set_title(f"{'IGD' if name == 'igd' else 'HV_B'} of everything evaluated ({better} is better)")
            ax.set_xlabel("round (0 = random start)")
            _rounds_axis(ax, rounds)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    else:
        figure = Figure(figsize=(6, 3.8), layout="constrained")
        ax = figure.add_subplot()
        ax.plot(rounds, [f.front_size for f in figures], marker="o")
        ax.set_title("predicted front size (no benchmark truth)")
        ax.set_xlabel("round (0 = random start)")
        _rounds_axis(ax, rounds)
        ax.grid(alpha=0.3)
    return _png(figure)


def plot_coverage(archive: Sequence[ArchiveRow], names: dict[int, str]) -> bytes:
    """Evaluations per partition and round (heatmap) and per partition in total (bars, with their values)."""
    return _png(coverage_figure(archive, names))


def coverage_figure(archive: Sequence[ArchiveRow], names: dict[int, str]) -> Figure:
    """The figure `plot_coverage` draws."""
    partitions = sorted(set(names) | {r.partition for r in archive})
    rounds = sorted({r.round for r in archive}) or [0]
    counts = np.zeros((len(partitions), len(rounds)), dtype=int)
    for r in archive:
        counts[partitions.index(r.partition), rounds.index(r.round)] += 1
    figure = Figure(figsize=(10, 0.5 * len(partitions) + 2.2), layout="constrained")
    heat, totals = figure.subplots(1, 2, gridspec_kw={"width_ratios": [4, 1]}, sharey=True)
    heat.imshow(counts, aspect="auto", cmap="Blues", vmin=0)
    for (row, column), value in np.ndenumerate(counts):
        if value:
            heat.text(
                column,
                row,
                str(value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > counts.max() / 2 else "black",
            )
    heat.set_xticks(range(len(rounds)), [str(r) for r in rounds])
    heat.set_yticks(range(len(partitions)), [names.get(p, f"p{p}") for p in partitions])
    heat.set_xlabel("round (0 = random start)")
    heat.set_title("evaluations per partition and round")
    bars = totals.barh(range(len(partitions)), counts.sum(axis=1), color="tab:blue")
    totals.bar_label(bars, padding=2, fontsize=8)
    totals.margins(x=0.25)  # room for the labels
    totals.set_title("in total")
    totals.grid(axis="x", alpha=0.3)
    return figure


def plot_knowledge(knowledge: dict[str, Any]) -> bytes:
    """Changes per round (added and revised up, retired and rejected down) and heuristics kept."""
    history = knowledge.get("history", [])
    rounds = [entry.get("round", 0) for entry in history]
    figure = Figure(figsize=(8, 3.8), layout="constrained")
    ax = figure.add_subplot()
    up = np.zeros(len(history))
    down = np.zeros(len(history))
    for change, colour in _CHANGES:
        counts = np.array([len(entry.get(change, [])) for entry in history], dtype=float)
        going_down = change in ("retired", "rejected")
        base = down if going_down else up
        ax.bar(rounds, -counts if going_down else counts, bottom=base, color=colour, label=change)
        base += -counts if going_down else counts
    kept = np.cumsum([len(e.get("added", [])) - len(e.get("retired", [])) for e in history])
    ax.plot(rounds, kept, color="black", marker="o", label="heuristics kept")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("round")
    ax.set_ylabel("heuristics (retired and rejected below 0)")
    ax.set_title("knowledge base: changes per round")
    _rounds_axis(ax, rounds)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(min(down.min(initial=0), 0) - 0.5, max(up.max(initial=0), kept.max(initial=0)) + 0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    return _png(figure)


def llm_by_agent(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per agent: calls, failed calls, tokens in and out, seconds and cost (unknown costs count as 0)."""
    usage: dict[str, dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(("calls", "failed", "tokens_in", "tokens_out", "wall_s", "cost_usd"), 0.0)
    )
    for record in distinct_llm_calls(records):
        agent = usage[str(record.get("agent", "?"))]
        agent["calls"] += 1
        agent["failed"] += bool(record.get("error"))
        for key in ("tokens_in", "tokens_out", "wall_s", "cost_usd"):
            agent[key] += record.get(key) or 0
    return dict(usage)


def plot_llm(records: Sequence[dict[str, Any]]) -> bytes:
    """Tokens (in + out) and seconds per round, stacked by agent; says so when the provider reported no tokens."""
    calls = distinct_llm_calls(records)
    rounds = sorted({int(r.get("round", 0)) for r in calls}) or [0]
    agents = sorted({str(r.get("agent", "?")) for r in calls})
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    for ax, what in zip(figure.subplots(1, 2), ("tokens", "seconds"), strict=True):
        ax.set_title(f"LLM {what} per round")
        if what == "tokens" and not any(r.get("tokens_in") or r.get("tokens_out") for r in calls):
            reason = "no LLM calls" if not calls else "no token counts reported by the provider"
            ax.text(0.5, 0.5, reason, ha="center", va="center", transform=ax.transAxes, color="0.4")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        bottom = np.zeros(len(rounds))
        for agent in agents:
            values = np.zeros(len(rounds))
            for r in calls:
                if r.get("agent") == agent:
                    amount = (
                        (r.get("tokens_in") or 0) + (r.get("tokens_out") or 0)
                        if what == "tokens"
                        else (r.get("wall_s") or 0)
                    )
                    values[rounds.index(int(r.get("round", 0)))] += amount
            ax.bar(rounds, values, bottom=bottom, label=agent)
            bottom += values
        ax.set_xlabel("round")
        _rounds_axis(ax, rounds)
        ax.grid(alpha=0.3)
        if agents:
            ax.legend(fontsize=8)
    return _png(figure)


# ---- HTML -------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4f}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    return f"<td>{_e('' if value is None else value)}</td>"


def _table(header: Sequence[str] | None, rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return '<p class="note">(none)</p>'
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


class _Page:
    """Sections of one HTML page, with its PNGs written beside it."""

    def __init__(self, out: Path, title: str) -> None:
        self.out = out
        self.title = title
        self.parts: list[str] = []
        self.images: list[Path] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def image(self, key: str, png: bytes, alt: str) -> None:
        path = self.out.with_name(f"{self.out.stem}-{key}.png")
        path.write_bytes(png)
        self.images.append(path)
        self.add(f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{_e(alt)}">')

    def write(self) -> Path:
        self.out.write_text(
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(self.title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n<h1>{_e(self.title)}</h1>\n"
            + "\n".join(self.parts)
            + "\n</body></html>\n",
            encoding="utf-8",
        )
        return self.out


def _prepare(out: Path) -> Path:
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {out} must name an .html file")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {out}: folder cannot be created ({error.strerror})") from None
    return out


def _partition_names(settings: dict[str, Any], tables: Tables | None) -> dict[int, str]:
    with contextlib.suppress(UsageError, KeyError, TypeError, ValueError):
        partitioning = make_partitioning(
            get_space(settings.get("space", "nb201")),
            settings["partition_axis"],
            bins=settings["partition_bins"],
            dataset=settings["dataset"],
            tables=tables,
            device=settings["device"],
            seed=settings.get("seed", 0),
        )
        return {p.index: f"{p.index}: {p.name}" for p in partitioning.partitions}
    return {}


DEGENERATE_NOTE: Final = (
    "Without degenerate cells: degenerate cells are those whose output is cut off from their input "
    "(every path from input to output has a `none` edge), about 10 % accuracy at almost no latency. On "
    "some devices (raspi4, pixel3) they sit on the true front and make it easy to cover; these figures "
    "leave them out of both the true front and the run's."
)


def _duration(seconds: float) -> str:
    """`0.8 s`, `42 s`, `3 min 05 s`: as precise as a wall time is worth."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _round_log(records: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Per round: the Navigator's summary, guardrail overrides, rejections, and the stop test."""
    # A step a resume repeated writes its records again: the latest guardrail record and the latest
    # Coordinator decision per attempt stand for the round, so nothing is shown or counted twice.
    rows: dict[int, dict[str, Any]] = defaultdict(lambda: {"summary": "", "overrides": [], "rejected": {}, "stop": ""})
    for r in records:
        if "round" not in r:
            continue
        row = rows[int(r["round"])]
        if r.get("agent") == "navigator" and isinstance(r.get("plan"), dict):
            row["summary"] = r["plan"].get("summary", "")
        if r.get("kind") == "guardrail":
            row["overrides"] = list(r.get("overrides", []))
        if r.get("agent") == "coordinator" and isinstance(r.get("rejected"), dict):
            row["rejected"][r.get("attempt")] = sum(len(v) for v in r["rejected"].values())
        if r.get("step") == "stop_test":
            row["stop"] = r.get("stop_reason") or "continue"
    return [
        [n, v["summary"], "; ".join(v["overrides"]), sum(v["rejected"].values()), v["stop"]]
        for n, v in sorted(rows.items())
    ]


def _knowledge_rows(knowledge: dict[str, Any], noun: str = "edge") -> list[list[Any]]:
    rows = []
    for entry in knowledge.get("history", []):
        for change, _ in _CHANGES:
            for item in entry.get(change, []):
                rows.append(
                    [
                        entry.get("round"),
                        change,
                        item.get("id", "new" if item.get("action") == "add" else ""),
                        statement(item, noun) if "to_op" in item else "",
                        item.get("text", ""),
                        item.get("evidence", ""),
                        item.get("reason", ""),
                    ]
                )
    return rows


def write_report(run: Run, *, out: Path | None = None, tables: Tables | None = None) -> Path:
    """Write the run's HTML report (default `RUN/report.html`) and its PNGs; return the HTML path."""
    out = _prepare(out or run.file("report.html"))
    settings, records, archive = run.settings(), run.records(), run.archive()
    summary, knowledge = run_summary(run, archive), run.knowledge()
    truth = Truth.find(tables, settings.get("dataset"), settings.get("device"))
    figures = round_figures(archive, truth)
    page = _Page(out, f"hwnas run {run.name}")
    last = figures[-1] if figures else None
    headline = [
        ["status", summary["status"]],
        ["dataset / device", f"{settings.get('dataset')} / {settings.get('device')}"],
        ["estimator", settings.get("estimator")],
        ["evaluated / budget", f"{len(archive)} / {settings.get('budget')}"],
        ["rounds", summary.get("rounds")],
        ["stop reason", summary.get("stop_reason", "")],
        ["front size (predicted)", len(non_dominated_records(archive, row_objectives(archive)))],
    ]
    if last is not None and last.igd is not None:
        headline += [
            ["true IGD / HV_B", f"{last.igd:.4f} / {last.hv_b:.4f}"],
            ["without degenerate cells", f"{last.igd_valid:.4f} / {last.hv_b_valid:.4f}"],
        ]
    if "wall_s" in summary:
        headline.append(["wall time", _duration(float(summary["wall_s"]))])
    page.add(_table(None, headline))
    if last is not None and last.igd is not None:
        page.add(f'<p class="note">{_e(DEGENERATE_NOTE)}</p>')

    page.add("<h2>Pareto front</h2>")
    source = (
        f"true test accuracy and {' / '.join(truth.devices)} latency from the benchmark tables"
        + (" (one projection per device of the fleet's front)" if len(truth.devices) > 1 else "")
        if truth
        else "predicted: no benchmark truth for this dataset and device (pass --data or set HWNAS_DATA)"
    )
    page.add(f'<p class="note">Axes: {_e(source)}.</p>')
    page.image("front", plot_front(archive, truth, f"{run.name}: front"), "found front against the true front")

    page.add("<h2>Quality over rounds</h2>")
    page.image("indicators", plot_indicators(figures), "IGD and HV_B over rounds")
    page.add(
        _table(
            ["round", "evaluated", "front size", "IGD", "HV_B", "IGD (no degenerate)", "HV_B (no degenerate)"],
            [[f.round, f.evaluated, f.front_size, f.igd, f.hv_b, f.igd_valid, f.hv_b_valid] for f in figures],
        )
    )

    page.add("<h2>Partition coverage</h2>")
    page.image("coverage", plot_coverage(archive, _partition_names(settings, tables)), "evaluations per partition")
    page.add("<h3>Round log</h3>")
    page.add(
        _table(
            ["round", "Navigator's plan", "guardrail overrides", "rejected proposals", "stop test"], _round_log(records)
        )
    )

    page.add("<h2>Knowledge base</h2>")
    page.image("knowledge", plot_knowledge(knowledge), "knowledge-base changes per round")
    page.add(f"<h3>Heuristics kept (version {_e(knowledge.get('version', 0))})</h3>")
    page.add(
        _table(
            ["id", "edit", "accuracy", "latency", "evidence", "since round", "text"],
            [
                [
                    h.get("id"),
                    f"{h.get('from_op')} → {h.get('to_op')} on "
                    f"{'any edge' if h.get('edge', -1) < 0 else 'edge ' + str(h.get('edge'))}",
                    h.get("accuracy"),
                    h.get("latency"),
                    h.get("evidence"),
                    h.get("round"),
                    h.get("text"),
                ]
                for h in knowledge.get("heuristics", [])
            ],
        )
    )
    page.add("<h3>Changes, with evidence and reasons</h3>")
    noun = get_space(str(settings.get("space", "nb201"))).slot_noun
    page.add(
        _table(["round", "change", "id", "statement", "text", "evidence", "reason"], _knowledge_rows(knowledge, noun))
    )

    page.add("<h2>LLM usage and cost</h2>")
    page.image("llm", plot_llm(records), "LLM tokens and seconds per round")
    if not any(r.get("tokens_in") or r.get("tokens_out") for r in distinct_llm_calls(records)):
        page.add('<p class="note">No token counts: the provider reported none (or no LLM call was made).</p>')
    usage = llm_by_agent(records)
    page.add(
        _table(
            ["agent", "calls", "failed", "tokens in", "tokens out", "seconds", "cost (USD)"],
            [
                [
                    agent,
                    int(u["calls"]),
                    int(u["failed"]),
                    int(u["tokens_in"]),
                    int(u["tokens_out"]),
                    float(u["wall_s"]),
                    float(u["cost_usd"]),
                ]
                for agent, u in sorted(usage.items())
            ],
        )
    )
    page.add('<p class="note">Cost is 0 for local models and replays, and for providers without a price.</p>')

    page.add("<h2>Settings</h2>")
    page.add(_table(["setting", "value"], [[k, v] for k, v in settings.items()]))
    return page.write()


# ---- comparison -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compared:
    """One entry of a comparison: an agent run or one benchmark archive."""

    label: str
    settings: dict[str, Any]
    archive: list[ArchiveRow]
    llm_calls: int | None
    cost_usd: float | None


def load_compared(ref: str, folder: Path) -> Compared:
    """An agent run (name in `folder` or path), or a `hwnas bench` archive CSV (settings from its results.json)."""
    path = Path(ref)
    if path.suffix == ".csv" and path.is_file() and not is_agent_run(path.parent):
        results = path.parent.parent / "results.json"
        if not results.is_file():
            raise UsageError(f"{path} has no results.json two folders up; is it a `hwnas bench --out` archive?")
        try:
            settings = json.loads(results.read_text(encoding="utf-8"))["settings"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UsageError(f"{results} is damaged (not a `hwnas bench` results file)") from None
        return Compared(f"{path.parent.name} {path.stem}", settings, read_bench_csv(path), None, None)
    run = resolve_run(ref, folder)
    usage = llm_by_agent(run.records())
    return Compared(
        run.name,
        run.settings(),
        run.archive(),
        int(sum(u["calls"] for u in usage.values())),
        float(sum(u["cost_usd"] for u in usage.values())),
    )


def _curve(archive: Sequence[ArchiveRow], truth: Truth) -> tuple[list[int], list[float], list[float]]:
    step = max(1, len(archive) // CURVE_POINTS)
    sizes = sorted({*range(step, len(archive) + 1, step), len(archive)} - {0})
    archs = [r.arch for r in archive]
    return sizes, [truth.full.igd(archs[:n]) for n in sizes], [truth.full.hv_b(archs[:n]) for n in sizes]


def write_comparison(entries: Sequence[Compared], *, out: Path, tables: Tables | None = None) -> Path:
    """Write an HTML page with the entries' fronts side by side and their indicators; return its path."""
    if len(entries) < 2:
        raise UsageError("--compare needs at least two runs")
    out = _prepare(out)
    page = _Page(out, "hwnas runs compared")
    truths = [Truth.find(tables, e.settings.get("dataset"), e.settings.get("device")) for e in entries]
    pairs = Counter((e.settings.get("dataset"), e.settings.get("device")) for e in entries)
    if len(pairs) > 1:
        page.add('<p class="note">The runs differ in dataset or device; each is drawn against its own truth.</p>')
    columns = min(len(entries), 3)
    rows = -(-len(entries) // columns)
    figure = Figure(figsize=(5.2 * columns, 4.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False, sharex=len(pairs) == 1, sharey=len(pairs) == 1)
    for ax, entry, truth in zip(axes.flat, entries, truths, strict=False):
        _draw_front(ax, entry.archive, truth, entry.label)
    for ax in list(axes.flat)[len(entries) :]:
        ax.set_visible(False)
    page.add("<h2>Fronts</h2>")
    page.image("fronts", _png(figure), "fronts side by side")

    table = []
    if any(truths):
        figure = Figure(figsize=(10, 3.8), layout="constrained")
        igd_ax, hv_ax = figure.subplots(1, 2)
        for entry, truth in zip(entries, truths, strict=True):
            if truth is None or not entry.archive:
                continue
            sizes, igds, hvs = _curve(entry.archive, truth)
            igd_ax.plot(sizes, igds, label=entry.label)
            hv_ax.plot(sizes, hvs, label=entry.label)
        for ax, name in ((igd_ax, "IGD (lower is better)"), (hv_ax, "HV_B (higher is better)")):
            ax.set_title(name)
            ax.set_xlabel("architectures evaluated")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
        page.add("<h2>Quality against evaluations</h2>")
        page.image("indicators", _png(figure), "IGD and HV_B against evaluations")
    for entry, truth in zip(entries, truths, strict=True):
        archs = [r.arch for r in entry.archive]
        quality = [None] * 2 if truth is None or not archs else [truth.full.igd(archs), truth.full.hv_b(archs)]
        table.append(
            [
                entry.label,
                entry.settings.get("dataset"),
                entry.settings.get("device"),
                entry.settings.get("estimator"),
                len(archs),
                *quality,
                entry.llm_calls,
                entry.cost_usd,
            ]
        )
    page.add("<h2>Figures</h2>")
    page.add(
        _table(
            ["run", "dataset", "device", "estimator", "evaluated", "true IGD", "true HV_B", "LLM calls", "cost (USD)"],
            table,
        )
    )
    return page.write()
