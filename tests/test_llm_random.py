"""The `random` provider: schema-valid, seeded answers (the "no LLM" ablation's stand-in)."""

from __future__ import annotations

import numpy as np

from hwnas.agents.generator import reply_schema
from hwnas.agents.navigator import plan_schema
from hwnas.llm import make_llm


def test_random_answers_are_valid_and_repeatable_per_seed() -> None:
    schema = reply_schema(3, 4, np.random.default_rng(0))
    ask = {"agent": "generator", "messages": [("user", "propose")], "schema": schema}
    first = make_llm("random", seed=1).structured(**ask)
    assert len(first.children) == 4 and all(1 <= c.parent <= 3 for c in first.children)
    assert make_llm("random", seed=1).structured(**ask) == first
    others = [make_llm("random", seed=s).structured(**ask) for s in range(2, 6)]
    assert any(o != first for o in others)


def test_random_plan_names_every_active_partition() -> None:
    plan = make_llm("random").structured(agent="navigator", messages=[("user", "plan")], schema=plan_schema([0, 3, 5]))
    assert sorted(plan.orders()) == [0, 3, 5]
