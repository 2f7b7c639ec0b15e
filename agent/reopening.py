"""What reopening a session finds and says once: a turn a crash cut short, missing version images,
damaged reference images, stray files. A part of :class:`agent.turns.Turns`, which holds the graph."""

from __future__ import annotations

import logging
from typing import Any

from agent.session.errors import SessionDamagedError
from agent.session.store import SessionStore
from tools.errors import ChatEditError

logger = logging.getLogger("agent.turns")


class Reopening:
    """The reopening side of :class:`agent.turns.Turns` (it provides the graph, the log and the store)."""

    store: SessionStore
    graph: Any
    config: dict[str, Any]
    # and from Turns: in_flight(), _try_log(), _close()

    def reopen(self) -> str | None:
        """What reopening found, said once: a turn a crash cut short, missing images, stray files."""
        store = self.store
        recovered = self.recover()
        notes = [*store.repairs, *filter(None, [store.conversation.note, self._damaged_head(), recovered])]
        if store.missing:
            shown = ", ".join(f"v{n}" for n in store.missing[:8]) + (" ..." if len(store.missing) > 8 else "")
            notes.append(f"The image files of {shown} are missing from {store.root / 'versions'}; "
                         "those versions cannot be shown until they are put back.")
        if unreadable := self._unreadable_references():
            shown = ", ".join(f"{store.root.name}/references/{r[:12]}...png" for r in unreadable[:3]) + \
                (f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else "")
            notes.append(f"{len(unreadable)} reference image(s) of this session are missing or damaged ({shown}); "
                         "the versions made with them are intact, but a replay or an answer that needs one asks "
                         "for the reference again.")
        if not store.read_only and store.find_strays(self.in_flight()):
            notes.append(f"{len(store.strays)} file(s) in this session belong to no version; "
                         f"`chatedit sessions --gc {store.root}` removes them.")
        return " ".join(notes) or None

    def _damaged_head(self) -> str | None:
        """When the current version's image is damaged, open at the nearest earlier version whose image reads
        (saved unless read-only) and say so; None when the head's image reads (or no earlier one does)."""
        hist = self.store.history
        try:
            self.store.load_image(hist.current.image)
            return None
        except SessionDamagedError:
            damaged, name = hist.head, self.store.image_path(hist.current.image).name
        for number in reversed(hist.path()[:-1]):
            try:
                self.store.load_image(hist[number].image)
            except SessionDamagedError:
                continue
            hist.revert(number)
            saved = ""
            if not self.store.read_only:
                try:
                    self.store.save_history()
                except ChatEditError as error:
                    saved = f" (this could not be saved: {error})"
            text = (f"The image of version {damaged}, the current one, is damaged (versions/{name[:12]}... does not "
                    f"read back as its pixels); the session opened at version {number}, made before it{saved}; put a "
                    f"good copy back and revert to {damaged} to see it.")
            logger.warning("%s", text)
            return text
        return None

    def _unreadable_references(self, checked: int = 8) -> list[str]:
        """Ids of the session's reference images (those of versions and of the turn in flight) whose files are
        missing, or, for the ``checked`` newest and the open turn's, do not hold the pixels they are named by."""
        ids: list[str] = []
        for version in reversed(self.store.history.versions):
            ids += [r.reference.id for r in version.steps if r.reference is not None]
        pending = self.graph.get_state(self.config).values.get("reference")
        first = [pending.id] if getattr(pending, "id", None) else []
        ordered = list(dict.fromkeys([*first, *ids]))
        return [i for n, i in enumerate(ordered)
                if not (self.store.reference_intact(i) if n < checked else self.store.reference_path(i).is_file())]

    def recover(self) -> str | None:
        """Finish the story of a turn a crash cut short; returns what was said about it (None: nothing to say)."""
        if self.store.read_only:
            return None
        snapshot = self.graph.get_state(self.config)
        values, interrupted = snapshot.values, bool(snapshot.interrupts)
        if (lost := self._log_lost_its_end(values.get("turn"), interrupted)) is not None:
            return lost
        opened = self.store.conversation.open_turn()
        if opened is None:
            if not interrupted:
                self.store.clear_drafts()
            return None
        turn = opened.turn
        last = self.store.conversation.recent(1)[0]
        if interrupted and values.get("turn") == turn:
            if last.kind == "question":
                return None                             # a question waits for its answer: nothing was lost
            payload = snapshot.interrupts[-1].value
            if last.kind != "answer":                   # stopped after asking, before the question was logged
                self._try_log("assistant", payload["text"], turn, "question", image=payload["image"])
                return None
        reply = values.get("reply") or {}
        if not snapshot.next and values.get("turn") == turn and reply:
            text = "The session stopped just before this reply was shown: " + str(reply.get("text", ""))
            self._try_log("assistant", text, turn, "recovered", version=reply.get("version"))
            return text
        hist = self.store.history
        made = [v.number for v in hist.versions if v.turn == turn]
        if made:
            text = (f"The last edit was saved as version {made[-1]}, but its reply is missing from the conversation "
                    "(the session stopped before it was written, or the end of the log is damaged).")
        elif opened.head is not None and hist.head != opened.head:
            said = opened.text if len(opened.text) <= 60 else opened.text[:57] + "..."
            text = (f"The session stopped before its reply to \"{said}\", after moving from version {opened.head}; "
                    f"now at version {hist.head}.")
        elif interrupted:
            payload = snapshot.interrupts[-1].value
            text = (f"The edit in flight when the session stopped was lost; nothing changed. "
                    f"The question is still open: {payload['text']}")
            self._try_log("assistant", text, turn, "question", image=payload["image"])
            return text
        else:
            said = opened.text if len(opened.text) <= 60 else opened.text[:57] + "..."
            text = f"The session stopped before \"{said}\" was done; nothing changed."
        logger.warning("%s", text)
        self._close(text, turn, version=made[-1] if made else None, kind="recovered")
        return text

    def _log_lost_its_end(self, checkpoint_turn: Any, interrupted: bool) -> str | None:
        """When the history or the checkpoint knows of a later turn than the conversation log holds (its end was
        cut or damaged), say so and close that turn, so no later turn reuses its number; else None."""
        hist, conversation = self.store.history, self.store.conversation
        turns = [v.turn for v in hist.versions if isinstance(v.turn, int)]
        if isinstance(checkpoint_turn, int) and not isinstance(checkpoint_turn, bool):
            turns.append(checkpoint_turn)
        known = max(turns, default=0)
        if known <= conversation.last_turn:
            return None
        where = f"it stops at turn {conversation.last_turn}" if conversation.last_turn else "it is empty"
        text = (f"The conversation log lost its end (it was cut short or damaged): {where}, but the session went "
                f"on to turn {known}; every saved version is kept, now at version {hist.head}.")
        if interrupted:
            text += " The question that was open is dropped; say the instruction again."
        logger.warning("%s", text)
        self._close(text, known, kind="recovered")
        return text
