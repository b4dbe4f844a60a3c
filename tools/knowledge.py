"""The knowledge base of design heuristics, and the Coordinator's check of proposed updates.

A heuristic is a checkable statement: an edit (from op, to op, on one edge or any), its direction of
effect on accuracy and on latency, and a sentence. The heuristic-memory agent proposes updates as
`KnowledgeUpdate`; `apply_update` keeps only what the archive's edit evidence supports, re-checks the
heuristics already kept, and versions the knowledge base per round.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

import numpy as np
from pydantic import BaseModel, Field, create_model

from hwnas.core.space import SearchSpace
from hwnas.llm.schemas import one_of
from hwnas.tools.evidence import ANY_EDGE, EditEffect, edit_effects, matching, support

MIN_EVIDENCE = 3
MIN_AGREEMENT = 0.6


class HeuristicStatement(BaseModel):
    """An edit and its claimed effect: `from_op` (or any) -> `to_op` on `edge` (-1 = any edge)."""

    from_op: str
    """An op of the space, or `any`."""
    to_op: str
    edge: int = Field(ge=ANY_EDGE)
    """The slot (an NB201 edge), or -1 for any slot."""
    accuracy: Literal["up", "down"]
    latency: Literal["up", "down"]
    text: str = Field(max_length=120)


class KnowledgeAction(BaseModel):
    """Add a heuristic, revise the heuristic `target_id`, or retire it."""

    action: Literal["add", "revise", "retire"]
    target_id: int = Field(default=0, ge=0)
    heuristic: HeuristicStatement


class KnowledgeUpdate(BaseModel):
    """The memory agent's structured answer."""

    actions: list[KnowledgeAction] = Field(default_factory=list, max_length=4)


def supported_edits(effects: Sequence[EditEffect]) -> list[tuple[str, str]]:
    """The (from op, to op) edits observed on any edge at least `MIN_EVIDENCE` times, most observed first."""
    counts = Counter((e.from_op, e.to_op) for e in effects)
    return sorted((edit for edit, n in counts.items() if n >= MIN_EVIDENCE), key=lambda edit: (-counts[edit], edit))


def update_schema(
    heuristic_ids: list[int], edits: list[tuple[str, str]], rng: np.random.Generator, max_actions: int = 2
) -> type[KnowledgeUpdate]:
    """`KnowledgeUpdate` narrowed for constrained decoding to what the Coordinator could accept.

    Every field is required; `target_id` names a heuristic that exists (0 = new); the statement's edit is
    one of `edits` (the observed ones, on any edge: one schema per edit, joined by `anyOf`), so the model
    can only state edits the archive has evidence for; whether the directions it claims hold is checked
    afterwards. Without kept heuristics the only action is `add`. The up/down choices are listed in an
    order drawn from `rng`: the embedded model otherwise answers the first one listed (measured: "up"
    for accuracy in every statement of a run).
    """
    directions = [one_of(rng.permutation(["up", "down"]).tolist()) for _ in range(2 * len(edits))]
    statements = [
        create_model(
            f"Statement_{index}",
            __base__=HeuristicStatement,
            from_op=(one_of([from_op]), ...),
            to_op=(one_of([to_op]), ...),
            edge=(one_of([ANY_EDGE]), ...),
            accuracy=(directions[2 * index], ...),
            latency=(directions[2 * index + 1], ...),
        )
        for index, (from_op, to_op) in enumerate(edits)
    ]
    statement: Any = Union[tuple(statements)]  # noqa: UP007 (built from a run-time tuple of models)
    action = create_model(
        "KnowledgeAction",
        __base__=KnowledgeAction,
        action=(one_of(["add", "revise", "retire"] if heuristic_ids else ["add"]), ...),
        target_id=(one_of([0, *heuristic_ids]), ...),
        heuristic=(statement, ...),
    )
    return create_model(
        "KnowledgeUpdate",
        __base__=KnowledgeUpdate,
        actions=(list[action], Field(min_length=1, max_length=max_actions)),  # type: ignore[valid-type]
    )


def apply_update(
    knowledge: dict[str, Any],
    update: KnowledgeUpdate,
    archive: Sequence[Mapping[str, Any]],
    round_number: int,
    space: SearchSpace,
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The Coordinator's check: apply the actions the evidence supports and re-check kept heuristics.

    Returns the new knowledge base (version = round) and the round's changes, rejected actions included
    with their reasons.
    """
    effects = edit_effects(space, archive)
    heuristics = {h["id"]: dict(h) for h in knowledge.get("heuristics", [])}
    next_id = max(heuristics, default=0) + 1
    changes: dict[str, list[Any]] = {"added": [], "revised": [], "retired": [], "rejected": []}

    def checked(statement: HeuristicStatement) -> tuple[dict[str, Any] | None, str, int]:
        """The heuristic with its evidence if the archive supports it, else None and why; and the case count."""
        cases = matching(effects, statement.from_op, statement.to_op, statement.edge)
        backing = support(cases, statement.accuracy, statement.latency)
        if not backing.holds(MIN_EVIDENCE, MIN_AGREEMENT):
            return (
                None,
                (
                    f"evidence {backing.count} case(s), accuracy {statement.accuracy} in "
                    f"{backing.accuracy_agreement:.0%}, latency {statement.latency} in {backing.latency_agreement:.0%}"
                ),
                backing.count,
            )
        return {**statement.model_dump(), "evidence": backing.count}, "", backing.count

    for action in update.actions:
        if action.action == "retire":
            if heuristics.pop(action.target_id, None) is None:
                changes["rejected"].append({"action": "retire", "id": action.target_id, "reason": "no such heuristic"})
            else:
                changes["retired"].append({"id": action.target_id, "reason": "memory agent"})
            continue
        if action.action == "revise" and action.target_id not in heuristics:
            changes["rejected"].append({"action": "revise", "id": action.target_id, "reason": "no such heuristic"})
            continue
        heuristic, reason, evidence = checked(action.heuristic)
        if heuristic is None:
            changes["rejected"].append(
                {"action": action.action, **action.heuristic.model_dump(), "evidence": evidence, "reason": reason}
            )
            continue
        hid = action.target_id if action.action == "revise" else next_id
        next_id += action.action == "add"
        heuristics[hid] = {"id": hid, **heuristic, "round": round_number}
        changes["revised" if action.action == "revise" else "added"].append(heuristics[hid])

    for hid, h in list(heuristics.items()):
        statement = HeuristicStatement.model_validate({k: h[k] for k in HeuristicStatement.model_fields})
        recheck, reason, evidence = checked(statement)
        if recheck is None:
            del heuristics[hid]
            changes["retired"].append(
                {"id": hid, "evidence": evidence, "reason": f"evidence no longer supports it: {reason}"}
            )
        else:
            h["evidence"] = recheck["evidence"]

    history = [*knowledge.get("history", []), {"round": round_number, **changes}]
    ordered = sorted(heuristics.values(), key=lambda h: h["id"])
    return {"version": round_number, "heuristics": ordered, "history": history}, changes


def heuristic_lines(knowledge: dict[str, Any], noun: str) -> list[str]:
    """The knowledge base as prompt lines, one heuristic each (`noun`: the space's word for a slot)."""
    return [
        f"[{h['id']}] {statement(h, noun)} (evidence {h['evidence']}). {h['text']}"
        for h in knowledge.get("heuristics", [])
    ]


def statement(heuristic: Mapping[str, Any], noun: str) -> str:
    """The checkable part of a heuristic: `a -> b on any edge: accuracy up, latency up` (prompts and report)."""
    where = f"any {noun}" if heuristic.get("edge", ANY_EDGE) == ANY_EDGE else f"{noun} {heuristic['edge']}"
    return (
        f"{heuristic['from_op']} -> {heuristic['to_op']} on {where}: "
        f"accuracy {heuristic.get('accuracy')}, latency {heuristic.get('latency')}"
    )
