"""Blind prompts (`hwnas.llm.blind`): a consistent renaming on every space, and replies mapped back."""

from __future__ import annotations

import numpy as np
import pytest
from chain_space import CHAIN

from hwnas.core.space import SearchSpace
from hwnas.llm import make_llm
from hwnas.llm.blind import Blinding
from hwnas.spaces.nb201.space import NB201
from hwnas.tools.knowledge import update_schema


@pytest.mark.parametrize("space", [NB201, CHAIN], ids=["nb201", "chain"])
def test_every_op_gets_its_own_token_and_comes_back(space: SearchSpace) -> None:
    blind = Blinding(space)
    assert sorted(blind.tokens.values()) == [f"op{chr(ord('A') + i)}" for i in range(len(space.ops))]
    for op in space.ops:
        assert blind.reveal(blind.hide(op)) == op
        short = space.short_ops[op]
        assert blind.hide(short) == (blind.tokens[op] if len(short) > 1 else short)
    assert blind.hide("0.712 in partition 0 (s)") == "0.712 in partition 0 (s)"
    described = blind.hide(space.describe())
    assert not [op for op in space.ops if op in described.split()]
    assert blind.reveal_json(blind.hide_json({"enum": list(space.ops), "n": 3})) == {"enum": list(space.ops), "n": 3}


def test_nb201_description_names_neither_the_benchmark_nor_what_ops_are() -> None:
    text = Blinding(NB201).hide(NB201.describe() + "\n(none yet)\nno convolution at all: every edge is none")
    assert "NAS-Bench" not in text and "conv" not in text and "pool" not in text
    assert "(none yet)" in text and " none" not in text.replace("(none yet)", "")


def test_a_client_with_blinding_hides_the_schema_and_returns_real_ops() -> None:
    client = make_llm("random", seed=3, blinding=Blinding(NB201))
    schema = update_schema([], [("nor_conv_3x3", "none")], np.random.default_rng(0))
    messages = [("system", "You distil design rules."), ("user", "Evidence: nor_conv_3x3 -> none: 4 | -0.1 | -2")]
    reply = client.structured(agent="memory", messages=messages, schema=schema)
    statement = reply.actions[0].heuristic
    assert (statement.from_op, statement.to_op) == ("nor_conv_3x3", "none")
