"""Measure the Coordinator's surrogates on small data: rank correlation and calibration on unseen cells.

Fit each surrogate on n random distinct functions of the space (their estimator scores), predict 1,000
others, and print Kendall's tau and the share of true scores inside the 95 % interval, over 5 draws::

    python -m hwnas.evals.surrogate_eval oracle-val 12,20,60,120 gp,trees
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy.stats import kendalltau

from hwnas.registry import make_estimator
from hwnas.spaces.nb201 import NB201
from hwnas.spaces.nb201.tables import load_tables
from hwnas.tools.surrogate import make_surrogate

DRAWS = 5
UNSEEN = 1000


def main(estimator_name: str, sizes: list[int], surrogates: list[str]) -> None:
    """Print one line per (training size, surrogate)."""
    tables = load_tables()
    pool = list(NB201.distinct_architectures)
    estimator = make_estimator(estimator_name, dataset="cifar10", tables=tables)
    for n in sizes:
        for name in surrogates:
            taus, coverage, seconds = [], [], []
            for seed in range(DRAWS):
                order = np.random.default_rng(seed).permutation(len(pool))
                train = [pool[i] for i in order[:n]]
                test = [pool[i] for i in order[n : n + UNSEEN]]
                model = make_surrogate(name, space=NB201, dataset="cifar10", seed=seed)
                started = time.perf_counter()
                model.fit(train, estimator.predict(train))
                mean, std = model.predict(test)
                seconds.append(time.perf_counter() - started)
                truth = estimator.predict(test)
                taus.append(kendalltau(mean, truth)[0])
                coverage.append(np.mean(np.abs(truth - mean) <= 1.96 * std))
            print(
                f"{estimator_name} n={n} {name}: Kendall tau {np.mean(taus):.3f} ± {np.std(taus):.3f}, "
                f"95% interval coverage {np.mean(coverage):.2f}, fit+predict {np.mean(seconds):.2f} s",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1], [int(n) for n in sys.argv[2].split(",")], sys.argv[3].split(","))
