"""The agent graph's wiring, and nothing else.

START -> initialise -> assess -> navigator -> generator (one branch per partition, `Send`)
-> coordinator -> generator again (retries with reasons) | memory -> assess -> ... -> END
"""

from __future__ import annotations

from typing import Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from hwnas.agents.generator import generator_node
from hwnas.agents.memory import memory_node
from hwnas.agents.navigator import navigator_node
from hwnas.graph.context import Context, RunSettings
from hwnas.graph.coordinator import coordinator_node, initialise_node, route_after_coordinator
from hwnas.graph.state import PartitionTask, SearchState
from hwnas.graph.stop import assess_node, route_after_assess


def fan_out(state: SearchState, runtime: Runtime[Context]) -> list[Send] | Literal["memory"]:
    """One Generator branch per partition that has slots this round (none: straight to memory)."""
    return [Send("generator", task) for task in state["plan"].values() if task["slots"] > 0] or "memory"


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
) -> CompiledStateGraph[SearchState, Context, SearchState, SearchState]:
    """The compiled search graph, checkpointed by `checkpointer` when given."""
    builder = StateGraph(SearchState, context_schema=Context)
    builder.add_node("initialise", initialise_node)
    builder.add_node("assess", assess_node)
    builder.add_node("navigator", navigator_node)
    # The Generator's input is the `PartitionTask` a `Send` carries, not the graph state; LangGraph's
    # overloads do not type a node whose input differs from the state, though the runtime supports it.
    builder.add_node("generator", generator_node, input_schema=PartitionTask)  # type: ignore[call-overload]
    builder.add_node("coordinator", coordinator_node)
    builder.add_node("memory", memory_node)
    builder.add_edge(START, "initialise")
    builder.add_edge("initialise", "assess")
    builder.add_conditional_edges("assess", route_after_assess, ["navigator", "__end__"])
    builder.add_conditional_edges("navigator", fan_out, ["generator", "memory"])
    builder.add_edge("generator", "coordinator")
    builder.add_conditional_edges("coordinator", route_after_coordinator, ["generator", "memory"])
    builder.add_edge("memory", "assess")
    return builder.compile(checkpointer=checkpointer)


def recursion_limit(settings: RunSettings) -> int:
    """An explicit bound on super-steps behind the round cap: every round's steps, plus slack."""
    steps_per_round = 3 + 2 * (settings.max_retries + 1)
    return (settings.max_rounds + 2) * steps_per_round + 10
