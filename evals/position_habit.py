"""Does the Generator read its options, or pick by position? Recorded Generator calls asked again.

Each Generator call offers every child a list of option labels, best ranked first (`deal_options`), as
a JSON-schema enum, and the prompt lists every option with its figures, best first. This script takes
Generator calls recorded in agent-run traces and asks the same model each one three ways: as recorded;
with each child's enum reversed; with the prompt's option lines listed in reverse (worst first); with the
option labels permuted (`o1` no longer names the best-ranked option). A model that chooses by content
picks the same options every way; one that follows the enum's order, the listing's order or the
labels' numbers picks other ranks when those change. Run::

    python -m hwnas.evals.position_habit bench/search/runs/cifar10-fpga-b120-zc-agent 30

It prints, for each way, how often the pick was its list's best-ranked, middle or worst-ranked option,
and how often each way picked the same option as the recorded order.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from hwnas.agents.generator import reply_schema
from hwnas.llm import make_llm
from hwnas.trace import read_trace

OPTION_LINE = re.compile(r"^o\d+: \[")
"""An option line of the Generator's prompt: `o12: [c3x3 none ...] | ...`."""
WAYS = ("as recorded", "enum reversed", "listing reversed", "labels permuted")
INSTRUCTION = "\n\nAnswer with one JSON object only"
"""Where the client's schema instruction starts in a recorded system message (it adds it again)."""


def recorded_calls(folder: Path) -> list[tuple[list[tuple[str, str]], list[list[str]]]]:
    """(messages without the schema instruction, each child's option list) of every recorded Generator call."""
    calls = []
    for trace in sorted(folder.glob("*/trace.jsonl")):
        for record in read_trace(trace):
            if record.get("kind") != "llm_call" or record.get("agent") != "generator" or record.get("error"):
                continue
            request = record["request"]
            messages = [(role, text.split(INSTRUCTION)[0]) for role, text in request["messages"]]
            schema = request["schema"]
            lists = [schema["properties"][f"child_{i}"]["enum"] for i in range(1, len(schema["properties"]) + 1)]
            calls.append((messages, lists))
    return calls


def position(pick: str, choices: list[str]) -> str:
    """`best`, `middle` or `worst`: where the pick stands in its child's list as the Coordinator ranked it."""
    index = choices.index(pick)
    return "best" if index == 0 else "worst" if index == len(choices) - 1 else "middle"


def listed_in_reverse(messages: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The messages with the consecutive option lines (`o<n>: [...`) of the prompt in reverse order."""
    reordered = []
    for role, text in messages:
        lines = text.split("\n")
        options = [i for i, line in enumerate(lines) if OPTION_LINE.match(line)]
        if options:
            first, last = options[0], options[-1] + 1
            lines[first:last] = reversed(lines[first:last])
        reordered.append((role, "\n".join(lines)))
    return reordered


def relabelled(
    messages: list[tuple[str, str]], lists: list[list[str]], rng: np.random.Generator
) -> tuple[list[tuple[str, str]], list[list[str]], dict[str, str]]:
    """Messages and lists with the labels permuted; returns the map from new label back to the recorded one."""
    labels = [label for choices in lists for label in choices]
    permuted = [labels[i] for i in rng.permutation(len(labels))]
    new_of = dict(zip(labels, permuted, strict=True))
    renamed = []
    for role, text in messages:
        lines = [
            OPTION_LINE.sub(lambda m: new_of.get(m.group(0)[:-3], m.group(0)[:-3]) + ": [", line)
            for line in text.split("\n")
        ]
        renamed.append((role, "\n".join(lines)))
    return renamed, [[new_of[label] for label in choices] for choices in lists], {v: k for k, v in new_of.items()}


def main(folder: str, count: int, ways: tuple[str, ...] = WAYS) -> None:
    """Ask `count` recorded calls (drawn with seed 0) the given ways and print the tallies."""
    calls = [c for c in recorded_calls(Path(folder)) if all(len(choices) > 1 for choices in c[1])]
    chosen = np.random.default_rng(0).choice(len(calls), size=min(count, len(calls)), replace=False)
    llm = make_llm("embedded")
    tallies: dict[str, Counter[str]] = {way: Counter() for way in ways}
    same: Counter[str] = Counter()
    total = 0
    for i in sorted(chosen):
        messages, lists = calls[int(i)]
        asked = {
            "as recorded": (messages, lists),
            "enum reversed": (messages, [list(reversed(c)) for c in lists]),
            "listing reversed": (listed_in_reverse(messages), lists),
        }
        renamed, renamed_lists, back = relabelled(messages, lists, np.random.default_rng(int(i)))
        asked["labels permuted"] = (renamed, renamed_lists)
        picks = {}
        for way in ways:
            prompt, enums = asked[way]
            reply = llm.structured(agent="generator", messages=prompt, schema=reply_schema(enums)).picks()
            picks[way] = [back[p] for p in reply] if way == "labels permuted" else reply
            tallies[way].update(position(p, c) for p, c in zip(picks[way], lists, strict=True))
            same[way] += sum(a == b for a, b in zip(picks["as recorded"], picks[way], strict=True))
        total += len(lists)
    print(json.dumps({"calls": len(chosen), "picks": total, "same_as_recorded": same, **tallies}, indent=1))


if __name__ == "__main__":
    main(
        sys.argv[1],
        int(sys.argv[2]) if len(sys.argv) > 2 else 30,
        tuple(sys.argv[3].split(",")) if len(sys.argv) > 3 else WAYS,
    )
