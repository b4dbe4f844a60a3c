"""The search-space contract: what every part of hwnas may assume about a space and its architectures.

A space is a fixed number of *slots* (the edges of a cell, the layers of a chain...), each taking one op
from the space's vocabulary; an `Architecture` is one op per slot. That shape covers NAS-Bench-201 and the
layer-wise spaces (FBNet- or MobileNet-like). What differs between spaces is declared by each
implementation: its text form (`format`/`parse`), which architectures are legal (`is_valid`), which ones
compute the same function (`canonical_key`), how it reads to an LLM (`describe`), its complexity niches,
its datasets and, where it has them, analytic costs, benchmark tables and torch networks (for the
zero-cost proxies).

Everything else is derived here once for every space: enumeration in mixed-radix order of op codes,
positions, uniform sampling, one-slot neighbours, uniform crossover, slot edits, a one-hot encoding for
surrogates, and the pool of distinct valid functions. Agents, graph, Coordinator, partitions, baselines
and indicators receive a `SearchSpace` and import no implementation.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hwnas.errors import UsageError

if TYPE_CHECKING:
    from torch.nn import Module

    from hwnas.core.tables import Tables


@dataclass(frozen=True)
class Architecture:
    """One member of a space: the op on each slot, in the space's slot order. Immutable and hashable."""

    space: SearchSpace = field(repr=False)
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        self.space.check_ops(self.ops)

    def __str__(self) -> str:
        return self.space.format(self)

    def __repr__(self) -> str:
        return f"{self.space.name}.parse({str(self)!r})"

    @cached_property
    def is_valid(self) -> bool:
        """Whether the space accepts this architecture as a working network."""
        return self.space.is_valid(self)

    @cached_property
    def canonical_key(self) -> str:
        """A key shared by exactly the architectures that compute the same function."""
        return self.space.canonical_key(self)

    @cached_property
    def codes(self) -> tuple[int, ...]:
        """Op indices into the space's vocabulary, one per slot."""
        return tuple(self.space.ops.index(op) for op in self.ops)

    @cached_property
    def op_counts(self) -> dict[str, int]:
        """How many slots carry each op (every op of the vocabulary present as a key)."""
        return {op: self.ops.count(op) for op in self.space.ops}

    def with_op(self, slot: int, op: str) -> Architecture:
        """The architecture equal to this one except for `op` on `slot`."""
        return Architecture(self.space, (*self.ops[:slot], op, *self.ops[slot + 1 :]))

    def neighbours(self) -> list[Architecture]:
        """Every architecture that differs from this one on exactly one slot."""
        ops = self.space.ops
        return [self.with_op(slot, op) for slot in range(len(self.ops)) for op in ops if op != self.ops[slot]]

    def crossover(self, other: Architecture, rng: np.random.Generator) -> Architecture:
        """Uniform crossover: each slot's op comes from either parent with probability 1/2."""
        take_self = rng.random(len(self.ops)) < 0.5
        return Architecture(
            self.space, tuple(a if t else b for a, b, t in zip(self.ops, other.ops, take_self, strict=True))
        )

    def edits_from(self, parent: Architecture) -> list[tuple[int, str, str]]:
        """The slots where this architecture differs from `parent`, as (slot, parent op, own op)."""
        return [(i, a, b) for i, (a, b) in enumerate(zip(parent.ops, self.ops, strict=True)) if a != b]


@dataclass(frozen=True)
class Niches:
    """A space's complexity partition (PEL-NAS's niches): names, descriptions and each member's niche."""

    axis: str
    names: tuple[str, ...]
    descriptions: tuple[str, ...]
    niche_of: Callable[[Architecture], int]


class SearchSpace(ABC):
    """A finite space of fixed-length op sequences. Spaces are equal when their names are."""

    name: str
    """Short name used on the command line (`--space`) and in run settings."""
    slots: tuple[str, ...]
    """What each slot is, in order (e.g. `1<-0` for an NB201 edge)."""
    slot_noun: str = "slot"
    """The word prompts and move labels use for a slot (`edge`, `layer`)."""
    invalid_reason: str = "invalid: the space rejects this architecture"
    """What the Coordinator tells a Generator whose pick `is_valid` rejects."""
    ops: tuple[str, ...]
    """The vocabulary every slot chooses from, in code order."""
    short_ops: ClassVar[dict[str, str]]
    """A compact label per op for prompts (the embedded model reads few tokens)."""
    datasets: tuple[str, ...]
    """Datasets the space's networks, tables and analytic costs are defined on."""
    blind_words: ClassVar[dict[str, str]] = {}
    """Words blind prompts replace before renaming the ops (`hwnas.llm.blind`): the benchmark's name, and
    words that would say what an op computes; a replacement may name ops (they are renamed next)."""

    # ---- what each implementation declares ------------------------------------------------------------
    @abstractmethod
    def format(self, arch: Architecture) -> str:
        """The architecture's canonical text (the `arch_str` of archives and tables)."""

    @abstractmethod
    def parse(self, text: str) -> Architecture:
        """Read `format`'s text back; a UsageError saying what is wrong otherwise."""

    @abstractmethod
    def is_valid(self, arch: Architecture) -> bool:
        """Whether the architecture is a working network (searches skip the others)."""

    @abstractmethod
    def canonical_key(self, arch: Architecture) -> str:
        """A key equal for exactly the architectures that compute the same function."""

    @abstractmethod
    def describe(self, *, latency: bool = True) -> str:
        """The space as an LLM should read it: slots, ops, what costs and what breaks a network.

        With `latency` False (a search on accuracy alone) the text says nothing of latency or cost.
        """

    @abstractmethod
    def niches(self) -> Niches:
        """The complexity niches the partition engine splits the space into."""

    def input_shape(self, dataset: str) -> tuple[int, int]:
        """(image side, classes) of the networks built for `dataset`: what the proxies feed them."""
        raise UsageError(f"space {self.name} builds no networks, so the zero-cost proxies cannot score it")

    def build_network(self, arch: Architecture, dataset: str, *, seed: int = 0, batch_norm: bool = True) -> Module:
        """The untrained torch network of `arch` for `dataset`, initialised from `seed` (torch's RNG restored)."""
        raise UsageError(f"space {self.name} builds no networks, so the zero-cost proxies cannot score it")

    def analytic_costs(self, dataset: str) -> dict[str, Callable[[Architecture], float]] | None:
        """Named analytic costs per architecture on `dataset` (`flops`, `params`), None if the space has none."""
        return None

    def load_tables(self, data: str | None, *, required: bool = True) -> Tables | None:
        """The space's benchmark tables from the data folder `data` (or HWNAS_DATA).

        None when the space has no tables, or when none is given and `required` is false.
        """
        if required:
            raise UsageError(f"space {self.name} has no benchmark tables")
        return None

    def check_dataset(self, dataset: str) -> None:
        """A UsageError listing the space's datasets when `dataset` is not one of them."""
        if dataset not in self.datasets:
            raise UsageError(f"unknown dataset {dataset!r} for space {self.name}; accepted: {', '.join(self.datasets)}")

    # ---- derived for every space ----------------------------------------------------------------------
    def check_ops(self, ops: Sequence[str]) -> None:
        """A UsageError when `ops` is not one vocabulary op per slot."""
        if len(ops) != len(self.slots):
            raise UsageError(
                f"an architecture of {self.name} has {len(self.slots)} {self.slot_noun}s, got {len(ops)} ops"
            )
        bad = [op for op in ops if op not in self.ops]
        if bad:
            raise UsageError(f"unknown op {bad[0]!r}; accepted ops: {', '.join(self.ops)}")

    def make(self, ops: Sequence[str]) -> Architecture:
        """The architecture with these ops."""
        return Architecture(self, tuple(ops))

    def from_codes(self, codes: Sequence[int]) -> Architecture:
        """The architecture whose op indices are `codes`."""
        return Architecture(self, tuple(self.ops[int(c)] for c in codes))

    @cached_property
    def _place_values(self) -> np.ndarray:
        return len(self.ops) ** np.arange(len(self.slots) - 1, -1, -1)

    @property
    def size(self) -> int:
        """How many architectures the space holds."""
        return len(self.ops) ** len(self.slots)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Architecture]:
        """Every architecture once, in lexicographic order of op codes (its *positions*)."""
        for codes in itertools.product(range(len(self.ops)), repeat=len(self.slots)):
            yield self.from_codes(codes)

    def position(self, arch: Architecture) -> int:
        """The architecture's position in enumeration order (its op codes read in base `len(ops)`)."""
        return int(np.dot(arch.codes, self._place_values))

    def at(self, position: int) -> Architecture:
        """The architecture at `position` in enumeration order (inverse of `position`)."""
        return self.from_codes(((position // self._place_values) % len(self.ops)).tolist())

    def sample(self, rng: np.random.Generator) -> Architecture:
        """One architecture drawn uniformly from the whole space."""
        return self.from_codes(rng.integers(len(self.ops), size=len(self.slots)).tolist())

    def encode(self, archs: Sequence[Architecture]) -> np.ndarray:
        """One-hot op per slot, shape (n, slots * ops): the categorical encoding surrogates fit on."""
        codes = np.array([a.codes for a in archs], dtype=np.int64).reshape(-1, len(self.slots))
        one_hot = np.zeros((len(codes), len(self.slots) * len(self.ops)))
        one_hot[np.arange(len(codes))[:, None], np.arange(len(self.slots)) * len(self.ops) + codes] = 1.0
        return one_hot

    @cached_property
    def function_members(self) -> dict[str, tuple[int, ...]]:
        """For each function a valid member computes (its `canonical_key`), every position computing it.

        Positions in enumeration order; invalid members are left out: every search skips them. Built once
        per space object.
        """
        members: dict[str, list[int]] = {}
        for position, arch in enumerate(self):
            if arch.is_valid:
                members.setdefault(arch.canonical_key, []).append(position)
        return {key: tuple(positions) for key, positions in members.items()}

    @cached_property
    def distinct_positions(self) -> dict[str, int]:
        """For each function, the first position computing it (`function_members`)."""
        return {key: positions[0] for key, positions in self.function_members.items()}

    @cached_property
    def distinct_architectures(self) -> tuple[Architecture, ...]:
        """One architecture per distinct valid function (`distinct_positions`), in enumeration order."""
        return tuple(self.at(p) for p in self.distinct_positions.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<search space {self.name}>"

    def __reduce__(self) -> str | tuple[Any, ...]:
        # Spaces travel to worker processes by name: the receiving side uses its own registered instance.
        from hwnas.spaces import get_space

        return (get_space, (self.name,))
