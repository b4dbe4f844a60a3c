"""Blind prompts: the LLM never reads the benchmark's name nor the real names of the space's operations.

A model may have memorised NAS-Bench-201 (its ops, its best cells, its papers). With `--blind-prompts`
every message and schema an agent sends goes through `Blinding.hide` and every reply through
`Blinding.reveal`, in `LLMClient.structured`, so no agent changes and no prompt escapes:

- first the space's `blind_words` are replaced (NB201: the benchmark's name, and the word "convolution",
  which would say what two of the ops are, becomes the two ops' names);
- then every op name and short name becomes a neutral token (`opA`, `opB`, ...), one per op, assigned in
  a fixed shuffled order so that the tokens' order is not the space's op order; the same token stands
  for an op's long and short name. Everything else (what an op does for validity, costs, the numbers)
  reads as before, so a blind run differs from a plain one in names only;
- a reply's strings (schema enums and free text alike) get the real long names back, so the agents,
  the Coordinator and the trace's `parsed` field see real architectures. The trace's `request` and
  `reply` keep what the model actually read and wrote.

Op names that are also plain English (`none`, `skip`) are left alone inside `ENGLISH_PHRASES`, the
phrases of our own templates that use them as words; short names of one character or of digits only
(the test space's `s`, `0`) are not renamed, since they would rename letters and numbers of any text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from hwnas.core.space import SearchSpace

ENGLISH_PHRASES: Final = ("(none yet)", "0 to skip it")
"""Template phrases whose op-like word is English, not an op (the Generator's and Navigator's prompts)."""
TOKEN_SEED: Final = 201
"""Seeds the op -> token assignment; fixed, so every run and every seed reads the same renaming."""


def _word(names: list[str]) -> re.Pattern[str]:
    """Any of `names` as a whole word (not inside a longer identifier), longest first."""
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9_])({alternatives})(?![A-Za-z0-9_])")


class Blinding:
    """A consistent renaming of one space's words in prompts (`hide`) and back in replies (`reveal`)."""

    def __init__(self, space: SearchSpace) -> None:
        order = np.random.default_rng(TOKEN_SEED).permutation(len(space.ops))
        self.tokens = {op: f"op{chr(ord('A') + int(rank))}" for op, rank in zip(space.ops, order, strict=True)}
        """Real op -> neutral token."""
        self._words = dict(space.blind_words)
        self._word_pattern = _word(list(self._words)) if self._words else None
        shorts = {space.short_ops[op]: token for op, token in self.tokens.items() if _renameable(space.short_ops[op])}
        self._hidden = {**self.tokens, **shorts}
        self._hide = _word(list(self._hidden))
        self._english = re.compile(f"({'|'.join(re.escape(p) for p in ENGLISH_PHRASES)})")
        self._real = {token: op for op, token in self.tokens.items()}
        self._reveal = _word(list(self._real))

    def hide(self, text: str) -> str:
        """`text` as the model may read it."""
        if self._word_pattern is not None:
            text = self._word_pattern.sub(lambda m: self._words[m.group(1)], text)
        return "".join(
            part if part in ENGLISH_PHRASES else self._hide.sub(lambda m: self._hidden[m.group(1)], part)
            for part in self._english.split(text)
        )

    def reveal(self, text: str) -> str:
        """The model's `text` with the real op names back."""
        return self._reveal.sub(lambda m: self._real[m.group(1)], text)

    def hide_json(self, value: Any) -> Any:
        """Every string of a JSON value (a schema's enums and consts) hidden; keys are left as they are."""
        return _map_strings(value, self.hide)

    def reveal_json(self, value: Any) -> Any:
        """Every string of a parsed reply revealed."""
        return _map_strings(value, self.reveal)


def _renameable(short: str) -> bool:
    """A short name made of one character or of digits only would also rename ordinary letters and numbers."""
    return len(short) > 1 and not short.isdigit()


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, Mapping):
        return {key: _map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    return value
