"""Run settings (`RunSettings`, plain and serialisable) and the run `Context` handed to every node.

LangGraph passes the context to nodes through `Runtime[Context]`; it is never checkpointed, so it may
hold live services (the LLM client, the Coordinator's tools, the trace writer). Everything that decides
*what* a run does lives in `RunSettings`, which is saved beside the run so that resuming a run name with
different settings can be refused with the list of differences.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Final

from hwnas.core.objectives import Objective, is_accuracy_only, parse_fleet, parse_objectives, search_objectives
from hwnas.errors import UsageError
from hwnas.spaces import get_space
from hwnas.tools.ranking import MAX_FLEET

if TYPE_CHECKING:  # the services import the graph's types themselves
    from hwnas.core.space import SearchSpace
    from hwnas.llm import LLMClient
    from hwnas.partition import Partitioning
    from hwnas.tools.coordinator import Coordinator
    from hwnas.trace import TraceWriter


GENERATOR_POLICIES = ("llm", "top", "random")

FLAGS: Final = {
    "budget": "--budget",
    "round_size": "--round-size",
    "init_per_partition": "--init-per-partition",
    "max_rounds": "--max-rounds",
    "stable_window": "--window",
    "stable_eps": "--eps",
    "partition_bins": "--bins",
    "seed": "--seed",
}
"""The `hwnas run` flag that sets a setting, so that an error names what the user typed."""


BEFORE_IT_EXISTED: Final[dict[str, Any]] = {"option_labels": "ranked", "representatives": "first", "score_warp": "none"}
"""Settings whose default is not how runs behaved before the setting existed: the value they had."""


def _flag(name: str) -> str:
    return FLAGS.get(name, name.replace("_", "-"))


@dataclass(frozen=True)
class RunSettings:
    """Everything that determines a search; two runs with equal settings and replies are identical."""

    space: str = "nb201"
    """The search space, by name (`hwnas.spaces`)."""
    dataset: str = "cifar10"
    device: str = "fpga"
    estimator: str = "zc"
    budget: int = 120
    partition_axis: str = "conv3"
    partition_bins: int = 6
    seed: int = 0
    llm: str = "embedded"
    round_size: int = 24
    """Candidate slots the Navigator distributes per round (the guardrail may add a few)."""
    init_per_partition: int = 2
    """Random architectures evaluated per partition before the first round, as parents to start from."""
    parents_per_prompt: int = 4
    max_retries: int = 2
    """How many times a Generator is sent back with the Coordinator's rejection reasons in one round."""
    max_rounds: int = 30
    stable_eps: float = 0.01
    """A partition is stable when its front's hypervolume grows by less than this (relative) ..."""
    stable_window: int | None = None
    """... for this many consecutive rounds (with accuracy alone: rounds without a rise of the best score).
    Unset: 2, or 3 with accuracy alone, where 2 rounds stopped budget-100 runs as early as 60 evaluations,
    with a worse pick than 3 on CIFAR-10/100 (BENCHMARKS.md, "CoLLM-NAS's protocol"). Set on construction, so a run's
    settings.json holds the number it ran with."""
    use_knowledge: bool = True
    use_navigator: bool = True
    surrogate: str = "gp"
    """The Coordinator's surrogate (`hwnas.tools.surrogate.SURROGATES`)."""
    candidates: str = "partition"
    """Where options come from (`hwnas.tools.coordinator.CANDIDATE_SOURCES`)."""
    generator_policy: str = "llm"
    """How a Generator picks among its options: `llm`, or the ablations `top` (first ranked) and `random`."""
    option_labels: str = "shuffled"
    """How options are labelled (`hwnas.tools.coordinator.OPTION_LABELS`); `ranked` is how runs before
    this setting behaved."""
    option_lists: str = "dealt"
    """Which options share a Generator child's list (`hwnas.tools.coordinator.OPTION_LISTS`): ranks i, i+k,
    i+2k of one greedy batch, or one greedy step's pick and its runners-up (near-ties)."""
    representatives: str = "fastest"
    """Which member of each function the Coordinator offers (`hwnas.core.evaluation.REPRESENTATIVES`): the
    fastest on the run's device(s), or the first in enumeration order (runs before this setting)."""
    score_warp: str = "copula"
    """What the Coordinator's surrogate fits and ranks (`hwnas.tools.surrogate.SCORE_WARPS`): the normal
    quantiles of the scores' ranks, or the raw scores (runs before this setting)."""
    blind_prompts: bool = False
    """Prompts name neither the benchmark nor the real ops (`hwnas.llm.blind`); replies are mapped back."""
    objectives: str = "accuracy,latency"
    """What the search optimises (`hwnas.core.objectives.parse_objectives`): the front of accuracy and
    latency, or `accuracy` alone (the Coordinator ranks by expected improvement, the stop test watches the
    best score, prompts say nothing of latency and the heuristic memory, whose statements are about both,
    is off)."""

    def __post_init__(self) -> None:
        if self.stable_window is None:  # frozen: the dataclass way to fill a default that depends on others
            object.__setattr__(self, "stable_window", 3 if self.accuracy_only else 2)
        for name, low in (
            ("budget", 1),
            ("round_size", 1),
            ("max_rounds", 1),
            ("stable_window", 1),
            ("partition_bins", 1),
            ("init_per_partition", 1),
            ("parents_per_prompt", 1),
            ("seed", 0),
        ):
            if getattr(self, name) < low:
                raise UsageError(f"{_flag(name)} must be at least {low}, got {getattr(self, name)}")
        if self.generator_policy not in GENERATOR_POLICIES:
            raise UsageError(
                f"unknown --generator-policy {self.generator_policy!r}; accepted: {', '.join(GENERATOR_POLICIES)}"
            )
        size = get_space(self.space).size
        if self.budget > size:
            raise UsageError(f"--budget must be at most {size} (the space's size), got {self.budget}")
        if not math.isfinite(self.stable_eps) or self.stable_eps < 0:
            raise UsageError(f"--eps must be a non-negative number, got {self.stable_eps}")
        parse_objectives(self.objectives)
        if len(self.devices) > MAX_FLEET:
            raise UsageError(
                f"--device {self.device}: the agent graph ranks fleets of at most {MAX_FLEET} devices "
                "(`hwnas bench` takes larger ones)"
            )

    @property
    def window(self) -> int:
        """`stable_window` as a number (it is filled on construction)."""
        assert self.stable_window is not None
        return self.stable_window

    @property
    def devices(self) -> tuple[str, ...]:
        """The device, or each device of a fleet (`--device fpga,raspi4`)."""
        return parse_fleet(self.device)

    @property
    def device_text(self) -> str:
        """The device(s) as prompts name them: `fpga`, or `fpga and raspi4`."""
        return " and ".join(self.devices)

    @property
    def latency_unit(self) -> str:
        """How prompts head a latency column: `latency ms`, or on a fleet `latency ms on fpga/raspi4`."""
        return "latency ms" + (f" on {'/'.join(self.devices)}" if len(self.devices) > 1 else "")

    @property
    def objective_list(self) -> tuple[Objective, ...]:
        """The objectives the search optimises (on a fleet: accuracy and each device's latency)."""
        return search_objectives(self.objectives, self.device)

    @property
    def accuracy_only(self) -> bool:
        """Whether the search optimises the estimator's score alone."""
        return is_accuracy_only(self.objective_list)

    @property
    def knowledge_on(self) -> bool:
        """Whether the heuristic memory runs: asked for, and the search is on accuracy and latency."""
        return self.use_knowledge and not self.accuracy_only

    def as_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return asdict(self)

    def differences(self, saved: dict[str, Any]) -> list[str]:
        """`name: saved -> now` for every setting that differs from a saved run's settings.

        A setting the saved file lacks was added after that run was made; the run behaved as that setting's
        value before it existed (`BEFORE_IT_EXISTED`, else its default), so it differs only if now set otherwise.
        """
        changed = []
        for f in fields(self):
            was = saved.get(f.name, BEFORE_IT_EXISTED.get(f.name, f.default if f.default is not MISSING else None))
            if was != getattr(self, f.name):
                changed.append(f"{f.name}: {was!r} -> {getattr(self, f.name)!r}")
        return changed


@dataclass
class Context:
    """What every node may use: the settings and the live services of this process."""

    settings: RunSettings
    space: SearchSpace
    llm: LLMClient
    coordinator: Coordinator
    partitioning: Partitioning
    trace: TraceWriter
