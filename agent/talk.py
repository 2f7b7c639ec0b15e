"""What a person's message becomes: an answer to the open question, a move read from words, a new
instruction, or a turn for the planner; its pointing and reference image are checked first, and one
that cannot be used is a reply with nothing changed."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from agent import inputs
from agent.helping import asks_for_help, help_text
from agent.replies import Reply
from agent.session.store import SessionStore
from agent.reading import planner_reads_answers
from agent.turns import Turns, quoted
from agent.workbench import Workbench
from tools.errors import ChatEditError

logger = logging.getLogger(__name__)

SAY_SOMETHING = "Say what to change, e.g. \"remove the cup\" or \"make the sky blue\"."


class Talk:
    """Routes one session's messages to its :class:`agent.turns.Turns` (the caller serializes calls)."""

    def __init__(self, store: SessionStore, turns: Turns, bench: Workbench) -> None:
        self.store = store
        self.turns = turns
        self.bench = bench

    def send(self, text: str, *, point: Any = None, box: Any = None, points: Any = None,
             reference: Any = None) -> Reply:
        """A user's message (see ``Editor.send``): while a question is open it is the answer."""
        from agent.graph.commands import read_move
        from agent.graph.moves import negated_move
        from agent.graph.queries import answer_query, read_query

        text = str(text).strip()
        asked = self.turns.question_payload() is not None
        if not text and asked and inputs.pointed(point, box, points):
            return self.answer("", point=point, box=box, points=points)     # pointing alone answers the question
        if not text:
            return Reply(SAY_SOMETHING)
        refused = inputs.refused(self.store)
        if refused is not None:
            return refused
        if asked:
            return self.answer(text, point=point, box=box, points=points, reference=reference)
        try:
            pointing = inputs.read_pointing(self.store, point, box, points)
        except ChatEditError as e:
            return inputs.unusable("pointing", e, self.turns.question())
        if asks_for_help(text) and self._grammar_plans():       # "help", "?", "hi" with a random planner
            return self.turns.inform(text, help_text(text))
        query = read_query(text)
        if query is not None:                                   # "show history": the tree answers, no model
            return self.turns.inform(text, answer_query(query, self.store.history))
        negated = negated_move(text)
        if negated is not None:                                 # "don't undo": never a move, no model asked
            return self.turns.not_moved(text, f"Nothing was done: that says not to \"{negated}\".")
        move = read_move(text)
        if move is not None:
            self.bench.cancel.clear()
            reply = self.move(move.kind, move.amount, words=text)
            unused = f" (The reference image was not used: a {move.kind} needs none.)"
            return reply if reference is None else dataclasses.replace(reply, text=reply.text + unused)
        try:
            ref = inputs.attach_reference(self.store, reference)
        except ChatEditError as e:
            return inputs.unusable("reference image", e, self.turns.question())
        try:
            planner = self.bench.load_planner()
        except ChatEditError as e:
            return Reply(f"The planner model could not be loaded: {e}", error=str(e))
        self.bench.cancel.clear()
        return self.turns.say(text, self.bench.context(self.store, planner), pointing=pointing, reference=ref)

    def answer(self, value: str | int, *, point: Any = None, box: Any = None, points: Any = None,
               reference: Any = None) -> Reply:
        """A reply to the open question (see ``Editor.answer``): an answer, a move or a new instruction."""
        refused = inputs.refused(self.store) or self.turns.refuse_answer(value)
        if refused is not None:
            return refused
        try:
            pointing = inputs.read_pointing(self.store, point, box, points)
        except ChatEditError as e:
            return inputs.unusable("pointing", e, self.turns.question())
        from agent.graph.queries import answer_query, read_query

        query = read_query(str(value))
        if query is not None:                                   # asked "which version is this?" meanwhile
            return self.turns.inform(str(value), answer_query(query, self.store.history))
        self.bench.cancel.clear()
        reading = self.turns.read(value)
        if reading.kind == "move" and reading.move is not None:
            return self.move(reading.move.kind, reading.move.amount, words=str(value))
        try:
            ref = inputs.attach_reference(self.store, reference)
        except ChatEditError as e:
            return inputs.unusable("reference image", e, self.turns.question())
        if reading.kind == "instruction":
            try:
                planner = self.bench.load_planner()
            except ChatEditError as e:
                return Reply(f"The planner model could not be loaded, so \"{quoted(str(value), 60)[1:-1]}\" was not "
                             f"done: {e}. The question is still open.", question=self.turns.question(), error=str(e))
            return self.turns.instead(str(value), self.bench.context(self.store, planner), pointing=pointing,
                                      reference=ref)
        planner = self._answer_planner(unclear=reading.kind == "unclear")
        ask = reading.kind == "unclear" and planner_reads_answers(planner)
        return self.turns.answer(value, self.bench.context(self.store, planner), ask_planner=ask, pointing=pointing,
                                 reference=ref)

    def _grammar_plans(self) -> bool:
        """Whether the offline grammar plans this session's turns (its planner has random weights)."""
        planner = self.bench.planner
        if planner is None:
            return self.bench.planner_is_random
        return getattr(planner, "random_weights", False) is True

    def _answer_planner(self, *, unclear: bool) -> Any:
        """The planner for an answer's turn: loaded when it will judge the edit the answer lets run, or read
        words the command layer could not (a random-weights planner cannot); None when not needed or not loadable."""
        bench = self.bench
        if bench.planner is not None or not (bench.profile.verify or (unclear and not bench.planner_is_random)):
            return bench.planner
        try:
            return bench.load_planner()
        except ChatEditError as e:
            logger.warning("no planner to verify with or to read the answer: %s", e)
            return None

    def move(self, kind: str, amount: object, *, words: str | None = None) -> Reply:
        """An undo/redo/revert run by the graph without the planner (``words``: said in words, logged so)."""
        return self.turns.move(kind, amount, self.bench.context(self.store, None), words=words)
