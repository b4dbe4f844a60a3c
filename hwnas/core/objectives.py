"""The objectives contract: which record attributes a search optimises, and in which direction.

Archives and fronts (`hwnas.pareto`) read objectives through this, so a search over other metrics is
other `Objective`s, not other code. Two sets are searched today, named on the command line by
`--objectives` (`parse_objectives`):

- `accuracy,latency` (the default, `ACCURACY_LATENCY`): the estimator's score (maximised) and the latency
  on the run's device (minimised); the indicators normalise them against the true front as EVAL.md says
  (`hwnas.pareto.true_front`).
- `accuracy` (`ACCURACY_ONLY`): the estimator's score alone, CoLLM-NAS's single-objective protocol. The
  archive keeps the best-scoring record; the figure reported is the true test accuracy of the architecture
  the search would pick, the best by its estimator (`hwnas.harness.picked`). Latency is still looked up
  (a free table read) and written beside each record, but no search decision and no prompt uses it.

A fleet of devices (`--device fpga,raspi4`, `fleet_objectives`) is accuracy plus one latency per device:
each latency objective reads one element of the record's `latencies` (in device order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from hwnas.errors import UsageError


@dataclass(frozen=True, slots=True)
class Objective:
    """One objective of an archive: the record attribute (or mapping key) it reads and its direction."""

    name: str
    maximise: bool
    index: int | None = None
    """For an attribute holding one value per device (`latencies`), the element this objective reads."""

    def value(self, record: object) -> float:
        """The objective's value on `record`: an object with the attribute, or a mapping with the key."""
        raw = record[self.name] if isinstance(record, Mapping) else getattr(record, self.name)
        return float(raw if self.index is None else raw[self.index])


ACCURACY: Final = Objective("score", maximise=True)
"""The estimator's score, maximised."""
LATENCY: Final = Objective("latency_ms", maximise=False)
"""The latency on the run's device in ms, minimised."""

ACCURACY_LATENCY: Final = (ACCURACY, LATENCY)
"""The estimator's score, maximised, and the latency on the run's device in ms, minimised."""
ACCURACY_ONLY: Final = (ACCURACY,)
"""The estimator's score alone (single-objective search)."""

METRICS: Final = {"accuracy": ACCURACY, "latency": LATENCY}
"""The metrics `--objectives` may name, and the objective each one is."""


def fleet_objectives(devices: Sequence[str]) -> tuple[Objective, ...]:
    """Accuracy and the latency on each of `devices` (one device: `ACCURACY_LATENCY`)."""
    return objectives_on(len(devices))


def objectives_on(devices: int) -> tuple[Objective, ...]:
    """Accuracy and the latency on each of that many devices (one: `ACCURACY_LATENCY`)."""
    if devices <= 1:
        return ACCURACY_LATENCY
    return (ACCURACY, *(Objective("latencies", maximise=False, index=i) for i in range(devices)))


def parse_objectives(text: str) -> tuple[Objective, ...]:
    """The objectives named by a comma-separated `--objectives` value, accuracy first.

    Accuracy must be among them (every search ranks by its estimator); a name may appear once.
    Raises a UsageError naming the problem otherwise.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in METRICS:
            raise UsageError(f"unknown objective {name!r} in --objectives; accepted: {', '.join(METRICS)}")
    if len(set(names)) != len(names):
        raise UsageError(f"--objectives names a metric twice: {text!r}")
    if "accuracy" not in names:
        raise UsageError(f"--objectives must include accuracy, got {text!r}")
    return tuple(METRICS[name] for name in METRICS if name in names)


def objectives_name(objectives: Sequence[Objective]) -> str:
    """The `--objectives` value that names `objectives` (`accuracy,latency` or `accuracy`)."""
    return ",".join(name for name, objective in METRICS.items() if objective in objectives)


def is_accuracy_only(objectives: Sequence[Objective]) -> bool:
    """Whether the search optimises the estimator's score alone."""
    return tuple(objectives) == ACCURACY_ONLY


def parse_fleet(device: str) -> tuple[str, ...]:
    """The devices of a comma-separated `--device` value; a UsageError if one is empty or repeated."""
    devices = tuple(d.strip() for d in device.split(","))
    if any(not d for d in devices):
        raise UsageError(f"--device {device!r} names an empty device")
    repeated = sorted({d for d in devices if devices.count(d) > 1})
    if repeated:
        raise UsageError(f"--device {device!r} names {repeated[0]!r} twice")
    return devices


def search_objectives(objectives: str, device: str) -> tuple[Objective, ...]:
    """What a search on `device` (one, or a comma-separated fleet) optimises under `--objectives`.

    Accuracy alone ignores the device; otherwise accuracy and each device's latency (`fleet_objectives`).
    """
    chosen = parse_objectives(objectives)
    return chosen if is_accuracy_only(chosen) else fleet_objectives(parse_fleet(device))
