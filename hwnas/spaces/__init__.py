"""Search-space implementations by name: `get_space("nb201")`.

A space is registered when its module is imported; `nb201` always is. Tests register their own small
space the same way (`register_space`), so every space-generic code path runs against two spaces.
"""

from __future__ import annotations

from hwnas.core.space import SearchSpace
from hwnas.errors import UsageError
from hwnas.spaces.nb201 import NB201

_SPACES: dict[str, SearchSpace] = {NB201.name: NB201}


def register_space(space: SearchSpace) -> SearchSpace:
    """Make `space` known by its name (a second space of the same name replaces the first)."""
    _SPACES[space.name] = space
    return space


def space_names() -> tuple[str, ...]:
    """The names `get_space` accepts."""
    return tuple(_SPACES)


def get_space(name: str) -> SearchSpace:
    """The space called `name`; a UsageError listing the known ones otherwise."""
    try:
        return _SPACES[name]
    except KeyError:
        raise UsageError(f"unknown space {name!r}; accepted: {', '.join(_SPACES)}") from None
