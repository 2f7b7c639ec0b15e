"""Turns: the one place that runs the graph on a session, keeps the conversation log, and recovers after a crash.

A turn is one instruction (or one direct undo/redo/revert) with the questions, answers and reply
that follow it. What the person says is appended to the session's conversation log (fsynced)
before anything is done with it; the graph runs and checkpoints once, when it stops (a reply or a
question); the reply or question is logged, then handed back. A crash at any moment therefore
leaves a log whose last turn has no reply, and :meth:`Turns.recover` finishes that turn's story on
reopening: it was saved (the history has its version), moved, or lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agent.graph.commands import Reading, read_reply
from agent.graph.grammar import read_plan
from agent.graph.plan import Plan
from agent.graph.pointing import Pointing
from agent.graph.state import STATE_TYPES, turn_reset
from agent.reading import planner_reading
from agent.reopening import Reopening
from agent.replies import Candidate, Question, Reply
from agent.session.conversation import Message
from agent.session.errors import SessionDamagedError
from agent.session.history import MAX_VERSIONS
from agent.session.records import Reference
from agent.session.store import SessionStore
from tools.errors import ChatEditError

logger = logging.getLogger(__name__)

THREAD_ID = "session"
"""Every session folder holds one conversation thread."""


def quoted(value: object, limit: int = 40) -> str:
    """``value`` as a short one-line repr for a message (huge ints are not spelled out)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a very large number"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Turns(Reopening):
    """Runs turns of one session's graph (the caller serializes calls)."""

    def __init__(self, store: SessionStore) -> None:
        from agent.graph import compile_graph

        self.store = store
        self.config: dict[str, Any] = {"configurable": {"thread_id": THREAD_ID}}
        self.graph = compile_graph(store.checkpointer(STATE_TYPES))
        self._snapshot()                            # a damaged or foreign checkpoint is refused now

    def _snapshot(self) -> Any:
        import sqlite3

        try:
            snapshot = self.graph.get_state(self.config)
        except (sqlite3.Error, ValueError, TypeError, KeyError) as e:
            raise SessionDamagedError(f"{self.store.checkpoints_path} is damaged ({type(e).__name__}: {e}); move "
                                      "it aside to reopen the session (versions, history and conversation are "
                                      "kept; only a pending question is lost)") from e
        values = snapshot.values
        question = values.get("question")
        if not isinstance(values.get("turn", 0), int) or not isinstance(values.get("records", []), list) \
                or not (values.get("plan") is None or isinstance(values.get("plan"), Plan)) \
                or not (question is None or isinstance(question, dict)):
            raise SessionDamagedError(f"{self.store.checkpoints_path} does not hold a chatedit conversation; move "
                                      "it aside to reopen the session (only a pending question is lost)")
        return snapshot

    # -- what is pending ----------------------------------------------------------------------------

    def in_flight(self) -> set[str]:
        """The content ids the turn in flight still needs (a pending question's drafts, masks, image)."""
        values = self.graph.get_state(self.config).values
        ids = {values.get("draft"), values.get("mask"), (values.get("question") or {}).get("image")}
        for record in values.get("records") or ():
            ids |= {getattr(record, "mask", None), getattr(record, "region", None)}
        reference = values.get("reference")
        if isinstance(reference, Reference) and values.get("question") is not None:   # kept while a question waits
            ids.add(reference.id)
        pending = values.get("result")
        if pending is not None:
            ids |= {getattr(pending, "draft", None), getattr(pending.record, "region", None)}
        return {i for i in ids if isinstance(i, str)}

    def question_payload(self) -> dict[str, Any] | None:
        interrupts = self.graph.get_state(self.config).interrupts
        return interrupts[-1].value if interrupts else None

    def question(self) -> Question | None:
        """The question the graph waits on, if any."""
        payload = self.question_payload()
        return self._question(payload) if payload is not None else None

    def _question(self, payload: dict[str, Any]) -> Question:
        return Question(text=payload["text"],
                        candidates=tuple(Candidate(number=int(c["number"]), box=tuple(float(v) for v in c["box"]),
                                                   label=str(c["label"]), score=float(c["score"]))
                                         for c in payload["candidates"]),
                        image_path=self.store.question_path(payload["image"]))

    # -- running --------------------------------------------------------------------------------

    def say(self, text: str, context: Any, *, direct: Plan | None = None,
            planned_by: dict[str, str] | None = None, pointing: Pointing | None = None,
            reference: Reference | None = None, replies: Sequence[str] = ()) -> Reply:
        """Start a turn with the user's words (``direct``: a given plan, for /undo, /redo, /revert, a
        move the command layer read from words, or a plan made before the turn; ``planned_by`` says
        which, ``replies`` are the planner's behind it; ``pointing``: where the person pointed, logged
        with the words; ``reference``: a reference image already stored)."""
        turn = self.store.conversation.last_turn + 1
        kind = "move" if direct is not None else "say"
        try:
            self._log("user", text, turn, kind, **_pointed(pointing), **_referred(reference))
        except ChatEditError as e:
            return Reply(f"Your message could not be saved, so nothing was done: {e}", error=str(e))
        return self._invoke({"text": text, "turn": turn, "direct": direct, "planned_by": dict(planned_by or {}),
                             "direct_replies": list(replies), "pointing": pointing, "reference": reference},
                            context, turn)

    def read(self, value: str | int) -> Reading:
        """What the command layer makes of ``value`` as a reply to the open question (a move, a new
        instruction, an answer, or unclear); call only while a question is open."""
        from agent.graph.nodes.clarify import asked_about

        plan = self.graph.get_state(self.config).values.get("plan")
        phrase, action, content = asked_about(self.question_payload(), plan if isinstance(plan, Plan) else None)
        return read_reply(value, phrase=phrase, action=action, content=content)

    def _question_image(self, payload: dict[str, Any]) -> Any:
        """The question's annotated image (numbered boxes), or None when it cannot be read."""
        from PIL import Image

        try:
            with Image.open(self.store.question_path(str(payload.get("image")))) as image:
                return image.convert("RGB")
        except (OSError, ValueError, ChatEditError) as e:
            logger.warning("the question's image could not be read: %s", e)
            return None

    def instead(self, text: str, context: Any, *, pointing: Pointing | None = None,
                reference: Reference | None = None) -> Reply:
        """A new instruction while a question is open: drop the question (one line says so), then run it.

        The words are planned first (by the planner model; by the offline grammar when the planner has
        random weights or cannot be reached): a planner that fails or does not answer, or words the grammar
        cannot read, would leave nothing done and the question gone: then the question stays open, the words
        are logged, and the reply says why.
        """
        planner = getattr(context, "planner", None)
        offline = getattr(context, "planner_has_random_weights", lambda: False)()
        readable = read_plan(text, pointed=pointing is not None, referenced=reference is not None) is not None
        if offline and not readable:
            return self._not_done(text, "The offline grammar plans here (the planner model has random weights) "
                                        "and knows no such instruction", "the offline grammar could not read that")
        probe = getattr(planner, "probe", None)
        problem = probe() if planner is not None and not offline and callable(probe) else None
        if problem and not readable:                    # unreachable: only the offline grammar could plan it
            return self._not_done(text, problem, problem)
        if planner is not None and not offline and not problem:
            # a planner (a server that lists its models, too) may still fail to plan: plan first, drop the
            # question after
            from agent.graph.nodes.plan import plan_words

            context.report("plan")
            planned = plan_words(context, text, self.store.conversation.last_turn + 1, pointing=pointing,
                                 reference=reference)
            if planned.get("halt") or planned.get("plan") is None:
                why = " ".join(planned.get("notes") or ["The planner could not plan that."])
                return self._not_done(text, why, planned.get("error") or "no plan")
            dropped = self.cancel_question(context)
            reply = self.say(text, context, direct=planned["plan"], planned_by=planned.get("planned_by"),
                             pointing=pointing, reference=reference, replies=planned.get("planner_replies") or ())
            return replace(reply, text=f"{dropped} {reply.text}")
        dropped = self.cancel_question(context)
        reply = self.say(text, context, pointing=pointing, reference=reference)
        return replace(reply, text=f"{dropped} {reply.text}")

    def _not_done(self, text: str, problem: str, error: str) -> Reply:
        """An instruction sent while asked that cannot run: it and the reply are logged, the question stays open."""
        said = f"{problem.rstrip('.')}. \"{quoted(text, 60)[1:-1]}\" was not done; the question is still open."
        turn = int(self.graph.get_state(self.config).values.get("turn", self.store.conversation.last_turn))
        payload = self.question_payload() or {}
        note = self._try_log("user", text, turn, "answer")
        note = note or self._try_log("assistant", said, turn, "question", image=payload.get("image"))
        return Reply(said + note, question=self.question(), error=error)

    def refuse_answer(self, value: object) -> Reply | None:
        """Why ``value`` cannot answer now (no question; not a string or a 64-bit int), or None.

        A refused value is not logged and leaves the question open as it was.
        """
        question = self.question()
        if question is None:
            return Reply("There is no open question to answer.", error="no open question")
        if isinstance(value, bool) or not isinstance(value, (str, int)) \
                or (isinstance(value, int) and not -(2 ** 63) <= value < 2 ** 63):
            text = (f"An answer is a number from 1 to {len(question.candidates)}, words like \"the left one\", "
                    f"\"all\" or \"cancel\", not {quoted(value)}; the question is still open.")
            return Reply(text, question=question, error="not an answer")
        return None

    def answer(self, value: str | int, context: Any, *, ask_planner: bool = False,
               pointing: Pointing | None = None, reference: Reference | None = None) -> Reply:
        """Resume the pending question with the user's answer.

        ``ask_planner``: when the command layer cannot read the words, ask ``context.planner`` (a real
        model) with the candidates listed; it may read a choice, or a new instruction (then that runs).
        ``pointing``: where the person pointed; when the words name no candidate ("this one"), the
        candidate it lands on is the answer (none: the question stays open, nothing is logged).
        ``reference``: a reference image given with the answer; it replaces the turn's own.
        """
        from langgraph.types import Command

        from agent.graph.commands import pick_pointed

        resume: Any = value
        if pointing is not None and self.read(value).kind == "unclear":
            payload = self.question_payload() or {}
            number = pick_pointed(payload.get("candidates") or [], pointing)
            if number is None:
                text = (f"The place you pointed at ({pointing.describe()}) is on none of the numbered boxes; point "
                        "inside one, or answer with its number. The question is still open.")
                return Reply(text, question=self.question(), error="pointed at no candidate")
            resume, ask_planner = {"pick": [number]}, False
        if ask_planner and isinstance(value, str) and self.read(value).kind == "unclear":
            payload = self.question_payload() or {}
            try:
                got = planner_reading(context.planner, value, payload, image=self._question_image(payload))
            except Exception as e:  # noqa: BLE001 - only a planner that cannot be reached raises here
                return self._unread_answer(value, e)
            if got == "instruction":
                return self.instead(value, context, reference=reference)
            if isinstance(got, list):
                resume = {"pick": got}
        turn = int(self.graph.get_state(self.config).values.get("turn", self.store.conversation.last_turn))
        try:
            self._log("user", str(value), turn, "answer", **_pointed(pointing), **_referred(reference))
        except ChatEditError as e:
            return Reply(f"Your answer could not be saved, so nothing was done: {e}", error=str(e))
        update = {"reference": reference} if reference is not None else None
        return self._invoke(Command(resume=resume, update=update), context, turn)

    def _unread_answer(self, value: str, error: Exception) -> Reply:
        """The reply when the planner asked to read an answer could not be reached: the words and the
        reply are logged, the question stays open."""
        problem = " ".join((str(error) or type(error).__name__).split())[:400].rstrip(".")
        text = f"{problem}. {quoted(value, 60)} could not be read; the question is still open."
        turn = int(self.graph.get_state(self.config).values.get("turn", self.store.conversation.last_turn))
        payload = self.question_payload() or {}
        note = self._try_log("user", value, turn, "answer")
        note = note or self._try_log("assistant", text, turn, "question", image=payload.get("image"))
        return Reply(text + note, question=self.question(), error=problem)

    def _invoke(self, graph_input: Any, context: Any, turn: int) -> Reply:
        hist_before = self.store.history
        head = hist_before.head
        said = 0 if isinstance(graph_input, dict) else len(self.graph.get_state(self.config).values.get("notes") or [])
        try:
            out = self.graph.invoke(graph_input, self.config, context=context, durability="exit")
        except Exception as e:  # the API's boundary: a failed turn is a reply, never a crash
            logger.exception("turn %d failed", turn)
            return self._failed(e, turn, head)
        plan = out.get("plan")
        replies = tuple(out.get("planner_replies") or ())
        by = dict(out.get("planned_by") or {})
        if out.get("__interrupt__"):
            payload = out["__interrupt__"][-1].value
            question = self._question(payload)
            text = " ".join([*_before_question(out, said), question.text])
            note = self._try_log("assistant", text, turn, "question", image=payload["image"])
            return Reply(text + note, question=question, plan=plan, planner_replies=replies, planned_by=by)
        reply = out.get("reply") or {}
        text, version = str(reply.get("text", "")), reply.get("version")
        text += self._try_log("assistant", text, turn, "reply", version=version)
        return Reply(text, version=version, plan=plan, planner_replies=replies, error=reply.get("error"),
                     planned_by=by)

    def _failed(self, e: Exception, turn: int, head: int) -> Reply:
        """A turn that raised: say what was saved (a version, a move) and close the turn everywhere."""
        message = str(e) if isinstance(e, ChatEditError) else f"{type(e).__name__}: {e}"
        hist = self.store.history
        made = [v.number for v in hist.versions if v.turn == turn]
        if made:
            text = (f"Made version {made[-1]}, but then something went wrong ({message}); the version is saved.")
        elif hist.head != head:
            text = f"Something went wrong ({message}). Nothing else changed; now at version {hist.head}."
        else:
            text = f"Something went wrong ({message}). Nothing changed."
        text += self._close(text, turn, version=made[-1] if made else None, error=message)
        return Reply(text, version=made[-1] if made else None, error=message)

    def _close(self, text: str, turn: int, *, version: int | None = None, error: str | None = None,
               kind: str = "reply") -> str:
        """End the open turn in the checkpoint (a pending question is dropped) and in the log.

        Returns what to add to the reply when either could not be written ("" when both were).
        """
        self.store.clear_drafts()
        extra = ""
        try:
            self.graph.update_state(self.config, {**turn_reset(), "turn": turn, "version": self.store.history.head,
                                                  "reply": {"text": text, "version": version, "image": None,
                                                            "error": error}}, as_node="respond")
        except Exception as e:  # noqa: BLE001 - the checkpoint is only the turn in flight; say it, go on
            logger.warning("could not close the turn in the checkpoint: %s", e)
            extra = f" (The conversation's checkpoint could not be written: {e}.)"
        return extra + self._try_log("assistant", text, turn, kind, version=version)

    def _log(self, role: str, text: str, turn: int, kind: str, **extra: Any) -> None:
        self.store.conversation.append(Message(role=role, text=text, turn=turn, kind=kind,  # type: ignore[arg-type]
                                               head=self.store.history.head, **extra))

    def _try_log(self, role: str, text: str, turn: int, kind: str, **extra: Any) -> str:
        """Log a message; "" when it was written, else a sentence to add to the reply."""
        try:
            self._log(role, text, turn, kind, **extra)
        except ChatEditError as e:
            logger.warning("%s", e)
            return f" (This reply could not be added to the conversation log: {e}.)"
        return ""

    def cancel_question(self, context: Any) -> str:
        """Drop the pending question the way a "cancel" answer would; returns what was said."""
        from langgraph.types import Command

        values = self.graph.get_state(self.config).values
        turn = int(values.get("turn", self.store.conversation.last_turn))
        payload, plan = self.question_payload() or {}, values.get("plan")
        phrase = payload.get("phrase")
        if not phrase and isinstance(plan, Plan) and 0 <= payload.get("step", -1) < len(plan.steps):
            referent = plan.steps[payload["step"]].referent
            phrase = referent.phrase if referent is not None else ""
        words = str(phrase or "").split()
        phrase = " ".join(words[1:] if words and words[0].lower() in ("the", "a", "an") else words)[:60]
        text = f"(Dropped the question about the {phrase}.)" if phrase else "(Dropped the open question.)"
        try:
            self.graph.invoke(Command(resume="cancel"), self.config, context=context, durability="exit")
        except Exception as e:  # noqa: BLE001 - closing the turn below drops it either way
            logger.warning("cancelling the question failed: %s", e)
        return text + self._close(text, turn)

    def move(self, kind: str, amount: object, context: Any, *, words: str | None = None) -> Reply:
        """A direct undo/redo/revert: checked here, then run through the graph as a given plan (no planner).

        ``words``: what the person said when the command layer read the move from words ("undo the last
        two"): they are logged as said, and the turn is marked as planned by the command layer.
        """
        from agent.graph.plan import Plan, Step

        hist = self.store.history
        least = 0 if kind == "revert" else 1
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < least:
            what = "a version number (0 or more)" if kind == "revert" else "a whole number of edits (1 or more)"
            text = f"{kind} needs {what}, got {quoted(amount)}."
            return self._refused_move(text, words)
        if kind == "revert" and amount > hist.latest:
            name = str(amount) if amount.bit_length() <= 64 else "that large"
            text = f"There is no version {name}; versions go from 0 (the original) to {hist.latest}."
            return self._refused_move(text, words)
        amount = min(amount, MAX_VERSIONS)              # no tree is deeper than it has versions
        if self.question_payload() is not None:         # a move that would not move keeps the question open
            where = "the original" if hist.head == 0 else f"version {hist.head}"
            idle = {"undo": "There is nothing to undo: this is the original." if not hist.can_undo() else "",
                    "redo": "There is nothing to redo." if not hist.can_redo() else "",
                    "revert": f"Already at {where}." if amount == hist.head else ""}[kind]
            if idle:
                return self._refused_move(idle, words, error=False)
        dropped = self.cancel_question(context) + " " if self.question_payload() is not None else ""
        # validated above (a direct undo may go further back than a planner's 100 steps)
        step = Step.model_construct(action=kind, count=amount) if kind != "revert" \
            else Step(action="revert", version=amount)
        reasoning = f"direct {kind}" if words is None else f"the command layer read {kind} {amount}"
        reply = self.say(words if words is not None else f"/{kind} {amount}", context,
                         direct=Plan(reasoning=reasoning, steps=[step]),
                         planned_by={"kind": "direct" if words is None else "commands"})
        return replace(reply, text=dropped + reply.text) if dropped else reply

    def not_moved(self, words: str, text: str) -> Reply:
        """The reply to words that say not to make a move ("don't undo"): both are logged; nothing changes."""
        return self._refused_move(text, words, error=False)

    def inform(self, words: str, text: str) -> Reply:
        """The reply to a question about the versions, answered without a model ("show history"): both are
        logged; nothing changes, and an open question stays open."""
        return self._refused_move(text, words, error=False)

    def _refused_move(self, text: str, words: str | None, *, error: bool = True) -> Reply:
        """A move that cannot be made (``error``: False for one with nothing to do); said in words, they and
        the reply are logged (an open question stays)."""
        payload = self.question_payload()
        if words is None:
            if payload is None:
                return Reply(text, error=text if error else None)
            text += " The question is still open."
            return Reply(text, question=self._question(payload), error=text if error else None)
        if payload is None:
            turn = self.store.conversation.last_turn + 1
            note = self._try_log("user", words, turn, "move")
            return Reply(text + (note or self._try_log("assistant", text, turn, "reply")),
                         error=text if error else None)
        turn = int(self.graph.get_state(self.config).values.get("turn", self.store.conversation.last_turn))
        text += " The question is still open."
        note = self._try_log("user", words, turn, "answer")
        note = note or self._try_log("assistant", text, turn, "question", image=payload["image"])
        return Reply(text + note, question=self._question(payload), error=text if error else None)


def _before_question(out: dict[str, Any], said: int) -> list[str]:
    """The sentences a turn that stops to ask says first: who planned it, and what it already did and saved (an
    undo or revert is saved at once: the picture shown changed). Those said at an earlier question (before
    ``said``) are not said again, nor the edits drafted before the question: they are kept only once it is
    answered, and the reply then says them."""
    notes, drafted = list(out.get("notes") or []), set(out.get("drafted") or [])
    return [n for i, n in enumerate(notes) if i >= said and i not in drafted and n]


def _pointed(pointing: Pointing | None) -> dict[str, Any]:
    """The log message's ``pointing`` field for a pointing ({} for none)."""
    return {"pointing": pointing.to_json()} if pointing is not None else {}


def _referred(reference: Reference | None) -> dict[str, Any]:
    """The log message's ``reference`` field: the stored reference's content id ({} for none)."""
    return {"reference": reference.id} if reference is not None else {}
