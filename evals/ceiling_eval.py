"""What a search that evaluates one member per function can reach at most: the indicators' ceilings.

The agent graph and `ehvi` offer one architecture per distinct function (members differ only in ops whose
output never reaches the cell's output) and never a degenerate cell. The true front (`../shared/EVAL.md`)
is taken over every string, so both rules put a ceiling below 1 on HV_B and a floor above 0 on IGD.
Per device this prints IGD / HV_B of:

- every representative, first in enumeration order (`--representatives first`) and fastest on the
  device (`fastest`): what evaluating the whole pool would give ("members moved": functions whose
  fastest member is not their first);
- every string, degenerate cells included (1 and 0 by definition), for the last column's sake;
- the best 120 representatives by validation accuracy (`oracle-val`'s own Pareto layers, the last layer
  thinned evenly along latency): what a search that knew the estimator everywhere would give at budget 120.

Tables only, seconds::

    HWNAS_DATA=../shared/data .venv/bin/python -m hwnas.evals.ceiling_eval fpga,eyeriss,raspi4,pixel3 120
"""

from __future__ import annotations

import sys

import numpy as np
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from hwnas.core.evaluation import REPRESENTATIVES, representatives
from hwnas.core.space import Architecture
from hwnas.core.tables import Tables
from hwnas.pareto import true_front
from hwnas.registry import make_latency_model
from hwnas.spaces import get_space

DATASET = "cifar10"


def best_by_validation(pool: tuple[Architecture, ...], tables: Tables, device: str, count: int) -> list[str]:
    """The first `count` of `pool` in Pareto layers of (validation accuracy, latency)."""
    rows = tables.rows(pool)
    latency = tables.latency_ms(DATASET, device)[rows]
    layers = NonDominatedSorting().do(np.column_stack([-tables.accuracy(DATASET, "val")[rows], latency]))
    chosen: list[int] = []
    for layer in layers:
        if len(chosen) + len(layer) > count:
            layer = layer[np.argsort(latency[layer], kind="stable")]
            chosen += layer[np.linspace(0, len(layer) - 1, count - len(chosen)).round().astype(int)].tolist()
            break
        chosen += layer.tolist()
    return [str(pool[i]) for i in chosen]


def main(devices: list[str], budget: int) -> None:
    """Print a Markdown table: one row per device and pool."""
    space = get_space("nb201")
    tables = space.load_tables(None)
    assert tables is not None  # required: a missing data folder has already raised
    print(f"| device | pool | the whole pool: IGD / HV_B | best {budget} by validation: IGD / HV_B | members moved |")
    print("|---|---|---|---|---|")
    for device in devices:
        front = true_front(tables, DATASET, device)
        model = make_latency_model(device, space=space, dataset=DATASET, tables=tables)
        pools = {f"{rule} members": representatives(space, model, rule) for rule in REPRESENTATIVES}
        pools["every string"] = tuple(space)
        first = pools["first members"]
        for rule, pool in pools.items():
            best = best_by_validation(pool, tables, device, budget)
            moved = sum(a != b for a, b in zip(pool, first, strict=True)) if len(pool) == len(first) else ""
            print(
                f"| {device} | {rule} | {front.igd(pool):.4f} / {front.hv_b(pool):.4f} | "
                f"{front.igd(best):.4f} / {front.hv_b(best):.4f} | {moved} |"
            )


if __name__ == "__main__":
    main(sys.argv[1].split(","), int(sys.argv[2]))
