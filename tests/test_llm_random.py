"""The `random` provider: schema-valid, seeded answers (the "no LLM" ablation's stand-in)."""

from __future__ import annotations

from hwnas.agents.generator import reply_schema
from hwnas.agents.navigator import plan_schema
from hwnas.llm import make_llm


def test_random_answers_are_valid_and_repeatable_per_seed() -> None:
    options = [[f"1: edge {e} -> none" for e in range(3)], ["2 x 3", "new 1"], ["new 2"]]
    schema = reply_schema(options)
    ask = {"agent": "generator", "messages": [("user", "propose")], "schema": schema}
    first = make_llm("random", seed=1).structured(**ask)
    assert [pick in choices for pick, choices in zip(first.picks(), options, strict=True)] == [True] * 3
    assert make_llm("random", seed=1).structured(**ask) == first
    others = [make_llm("random", seed=s).structured(**ask) for s in range(2, 6)]
    assert any(o != first for o in others)


def test_random_plan_names_every_active_partition() -> None:
    plan = make_llm("random").structured(agent="navigator", messages=[("user", "plan")], schema=plan_schema([0, 3, 5]))
    assert sorted(plan.orders()) == [0, 3, 5]
