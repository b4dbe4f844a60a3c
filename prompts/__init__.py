"""Prompt templates, one text file per agent. Placeholders are `str.format` fields: `{name}`.

Each file starts with a `# variables:` line naming the fields it takes; `render` checks them, so a
template and its caller cannot drift apart silently.
"""

from __future__ import annotations

import string
from functools import cache
from importlib import resources


@cache
def load(name: str) -> tuple[frozenset[str], str]:
    """The declared variables and the body of `prompts/<name>.txt`."""
    text = resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    header, _, body = text.partition("\n")
    if not header.startswith("# variables:"):
        raise ValueError(f"prompt {name}.txt must start with a '# variables:' line")
    declared = frozenset(v.strip() for v in header.removeprefix("# variables:").split(",") if v.strip())
    used = {field for _, field, _, _ in string.Formatter().parse(body) if field}
    if used != declared:
        raise ValueError(f"prompt {name}.txt declares {sorted(declared)} but uses {sorted(used)}")
    return declared, body.strip()


def render(name: str, **variables: object) -> str:
    """Fill `prompts/<name>.txt` with exactly the variables it declares."""
    declared, body = load(name)
    if set(variables) != declared:
        raise ValueError(f"prompt {name}.txt takes {sorted(declared)}, got {sorted(variables)}")
    return body.format(**variables)
