"""The agent's graph: plan → per step: locate → (clarify) → segment → edit → (verify) → commit → respond."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph

from agent.graph.context import Context
from agent.graph.nodes.clarify import clarify
from agent.graph.nodes.commit import commit
from agent.graph.nodes.edit import edit
from agent.graph.nodes.history import history
from agent.graph.nodes.locate import locate
from agent.graph.nodes.next_step import next_step
from agent.graph.nodes.plan import plan
from agent.graph.nodes.respond import respond
from agent.graph.nodes.segment import segment
from agent.graph.nodes.talk import talk
from agent.graph.nodes.verify import verify
from agent.graph.plan import REGION_ACTIONS
from agent.graph.state import InputState, State

NextStep = Literal["locate", "edit", "history", "talk", "commit", "respond"]


def route_step(state: State) -> NextStep:
    """Where the next plan step goes; after the last one, commit (if anything was edited) and reply."""
    if state.halt or state.plan is None:
        return "respond"
    steps = state.plan.steps
    if state.step_index >= len(steps):
        return "commit" if state.records else "respond"
    action = steps[state.step_index].action
    if action in REGION_ACTIONS:
        return "locate"
    if action == "global":
        return "edit"
    if action in ("undo", "redo", "revert"):
        return "history"
    if action in ("answer", "ask"):
        return "talk"
    raise ValueError(f"plan step {state.step_index} has an unknown action {action!r}")


def route_locate(state: State) -> Literal["clarify", "segment", "respond"]:
    """Ambiguous → ask; located → segment; stopped → reply."""
    if state.halt:
        return "respond"
    if state.question is not None:
        return "clarify"
    if state.chosen:
        return "segment"
    raise ValueError("locate left neither a box, a question, nor a stop")


def route_clarify(state: State) -> Literal["segment", "clarify", "respond"]:
    """An answer picked candidates → segment; unclear → ask the follow-up; cancelled → reply."""
    if state.halt:
        return "respond"
    if state.chosen:
        return "segment"
    if state.question is not None:
        return "clarify"
    raise ValueError("clarify left neither a choice, a follow-up question, nor a stop")


def route_segment(state: State) -> Literal["edit", "respond"]:
    return "respond" if state.halt else "edit"


def route_plan(state: State) -> Literal["next_step", "respond"]:
    """A usable plan → its steps; no plan → reply."""
    return "respond" if state.halt or state.plan is None else "next_step"


def route_edit(state: State) -> Literal["verify", "next_step", "respond"]:
    """A result awaiting judgement → verify; otherwise on to the next step."""
    if state.halt:
        return "respond"
    return "verify" if state.result is not None else "next_step"


def route_verify(state: State) -> Literal["edit", "next_step", "respond"]:
    """Rejected (a retry is due) → edit again; accepted → the next step."""
    if state.halt:
        return "respond"
    return "edit" if state.attempt > 0 else "next_step"


def build_graph() -> StateGraph:
    """The uncompiled graph (compile it with a checkpointer; pass a :class:`Context` to each call)."""
    g = StateGraph(State, context_schema=Context, input_schema=InputState)
    for name, node in (("plan", plan), ("next_step", next_step), ("locate", locate), ("clarify", clarify),
                       ("segment", segment), ("edit", edit), ("verify", verify), ("history", history),
                       ("talk", talk), ("commit", commit), ("respond", respond)):
        g.add_node(name, node)
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", route_plan)
    g.add_conditional_edges("next_step", route_step)
    g.add_conditional_edges("locate", route_locate)
    g.add_conditional_edges("clarify", route_clarify)
    g.add_conditional_edges("segment", route_segment)
    g.add_conditional_edges("edit", route_edit)
    g.add_conditional_edges("verify", route_verify)
    g.add_edge("history", "next_step")
    g.add_edge("talk", "next_step")
    g.add_edge("commit", "respond")
    g.add_edge("respond", END)
    return g


def compile_graph(checkpointer: Any = None) -> Any:
    """The compiled graph; ``checkpointer`` None keeps no state between calls (diagrams, quick checks)."""
    return build_graph().compile(checkpointer=checkpointer)
