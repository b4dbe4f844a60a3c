"""Campaign units as Ray tasks: `run_campaign(..., execution=Execution("ray"))` lands here.

Each (cell, seed) unit runs as one Ray task in a scratch folder on whichever node Ray places it, and
returns its result and the files of its run; the driver writes them under OUT (run files first, the
unit's result file last, each atomically), so OUT needs no shared filesystem and the driver is its only
writer. A task whose worker dies (killed, out of memory, node lost) or that raises is retried
(`TASK_RETRIES`); until a try returns, nothing of the unit is written, so a unit is never half-written,
lost or written twice. The result files are the ones the local executor writes for the same seeds.

An agent unit resumed from an earlier, interrupted run takes that run's folder along to the worker, so
it continues from its checkpoint as it would locally. At most as many units are in flight as the
cluster has slots for (one per free `--ray-resources` request), so "running" means running.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwnas.scale.cluster import TASK_RETRIES, check_feasible, connect, task_resources

if TYPE_CHECKING:
    from hwnas.campaign import Cell


Finished = Callable[["Cell", int, "dict[str, Any] | None", "BaseException | None"], None]
Counts = Callable[[int, int, int], None]


def _read_files(root: Path) -> dict[str, bytes]:
    """Every file under `root`, by path relative to it."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _write_files(root: Path, files: Mapping[str, bytes]) -> None:
    """Write each file under `root` through a temporary sibling and a rename (never a torn file)."""
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_bytes(content)
        os.replace(temporary, target)


def run_unit_in_scratch(
    cell: Cell, seed: int, data: str | None, carried: Mapping[str, bytes]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Run one unit in a scratch folder (with `carried` run files put back first); return result and run files.

    This is the body of the Ray task. Paths in the result are relative to OUT, for the driver to root.
    """
    from hwnas.campaign import UnitPaths, run_unit

    scratch = Path(tempfile.mkdtemp(prefix="hwnas-unit-"))
    try:
        _write_files(scratch, carried)
        result = run_unit(cell, seed, scratch, data)
        result["archive"] = str(Path(result["archive"]).relative_to(scratch))
        runs = UnitPaths(scratch, cell, seed).runs
        return result, {str(Path(runs.name) / name): content for name, content in _read_files(runs).items()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _carried(out: Path, cell: Cell, seed: int) -> dict[str, bytes]:
    """An interrupted agent run's folder (`runs/<cell>/seed<k>/`), keyed relative to OUT; nothing otherwise."""
    from hwnas.campaign import UnitPaths

    runs = UnitPaths(out, cell, seed).runs
    folder = runs / f"seed{seed}"
    if not folder.is_dir():
        return {}
    prefix = Path("runs") / runs.name / folder.name
    return {str(prefix / name): content for name, content in _read_files(folder).items()}


def run_units_on_ray(
    units: Sequence[tuple[Cell, int]],
    *,
    out: Path,
    data: str | None,
    address: str | None,
    resources: Mapping[str, float],
    finished: Finished,
    on_counts: Counts | None = None,
) -> None:
    """Run `units` as Ray tasks, writing each one's files under `out` when it returns; report through `finished`.

    `on_counts(done, running, failed)` hears of every change. An exception raised by `finished` stops the
    campaign: the units in flight are cancelled and nothing more is written.
    """
    from hwnas.campaign import UnitPaths, write_json_atomically

    ray = connect(address)
    request = task_resources(resources)
    check_feasible(ray, request)
    task = ray.remote(run_unit_in_scratch).options(
        num_cpus=request.get("CPU", 0.0),
        num_gpus=request.get("GPU", 0.0),
        resources={k: v for k, v in request.items() if k not in ("CPU", "GPU")},
        max_retries=TASK_RETRIES,
        retry_exceptions=True,  # a unit is retried after an exception too, as after a killed worker
    )
    # Workers read the data where the driver does: nodes of a cluster share its layout (README).
    source = os.path.abspath(data) if data else os.environ.get("HWNAS_DATA")
    queue = list(units)
    running: dict[Any, tuple[Cell, int]] = {}
    done = failed = 0

    def report() -> None:
        if on_counts is not None:
            on_counts(done, len(running), failed)

    try:
        while queue or running:
            slots = check_feasible(ray, request)  # nodes may have joined or left
            while queue and len(running) < slots:
                cell, seed = queue.pop(0)
                running[task.remote(cell, seed, source, _carried(out, cell, seed))] = (cell, seed)
            report()
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                cell, seed = running.pop(ref)
                try:
                    result, files = ray.get(ref)
                except ray.exceptions.RayError as error:
                    cause = getattr(error, "cause", None) or error
                    failed += 1
                    report()
                    finished(cell, seed, None, cause)
                    continue
                paths = UnitPaths(out, cell, seed)
                _write_files(out / "runs", files)
                result["archive"] = str(out / result["archive"])
                write_json_atomically(paths.result, result)
                done += 1
                report()
                finished(cell, seed, result, None)
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
