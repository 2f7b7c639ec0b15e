"""The app's worker side: opening the Editor and running its calls on a worker thread (no widget access here).

:class:`EditorWorker` is a base class of :class:`tui.ChatEditApp`, which gives it the editor and the
arguments of ``Editor.open``; what the worker finds goes back to the UI as messages (``tui_snapshot``) or
through ``call_from_thread``. Every failure becomes a message or a notification: the app never dies on one.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work

from tui_pointing import Pointing
from tui_snapshot import Opened, Progress, TurnDone, VersionRow, profile_banner, take_snapshot, thumbnail

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage
    from textual.app import App

    from tui_image import ImagePane

    _App = App[None]
else:
    _App = object

logger = logging.getLogger(__name__)


def error_text(error: BaseException) -> str:
    """What to say about ``error``: a ChatEditError's own message, else its type and message on one line (and it
    is logged, with its traceback, to the log, never the screen)."""
    from tools.errors import ChatEditError

    if isinstance(error, ChatEditError):
        return str(error)
    logger.error("unexpected error in the editor", exc_info=error)
    return " ".join(f"{type(error).__name__}: {error}".split())      # one line, whatever the message held


class EditorWorker(_App):
    """The Editor's calls on the app's worker thread, for :class:`tui.ChatEditApp`."""

    if TYPE_CHECKING:                          # given by ChatEditApp
        source: str | Path
        open_kwargs: dict[str, Any]
        editor: Any
        idle: threading.Event
        last_turn: tuple[Any, str | None, bool]

        @property
        def image_pane(self) -> ImagePane: ...

        def _show_preview(self, number: int, image: PILImage) -> None: ...

    @work(thread=True, exclusive=True, group="editor", exit_on_error=False)
    def open_editor(self) -> None:
        """Open the Editor (imports torch and the agent) and post :class:`Opened`; never raises."""
        try:
            from agent.editor import Editor

            editor = Editor.open(self.source, **self.open_kwargs)
            editor.on_progress = self._progress
            snapshot = take_snapshot(editor)
            banner = profile_banner(editor.profile, self.open_kwargs["planner"])
            probe = getattr(self.open_kwargs["planner"], "probe", None)     # a served planner: is it up?
            problem = probe() if callable(probe) else None
            if problem:
                banner = dataclasses.replace(banner, text=f"{banner.text} {problem}")
            conversation = list(editor.conversation)
            given = self.open_kwargs["planner"] is not None
            models = len({spec.model_id for role, spec in editor.profile.specs().items()
                          if not (given and role == "planner")})
        except Exception as error:  # noqa: BLE001 - the worker boundary: every failure becomes a notification
            self.post_message(TurnDone(None, None, error=error_text(error)))
            return
        self.post_message(Opened(editor, snapshot, banner, conversation, models))

    @work(thread=True, exclusive=True, group="editor", exit_on_error=False)
    def run_editor(self, call: Callable[[Any], Any]) -> None:
        """Run ``call(editor)`` (a Reply, a note string or None) and post :class:`TurnDone`; never raises."""
        from tools.errors import Cancelled

        reply, error, cancelled = None, None, False
        try:
            try:
                reply = call(self.editor)
            except Cancelled:
                cancelled = True
            except Exception as exc:  # noqa: BLE001 - the worker boundary
                error = error_text(exc)
            try:
                snapshot = take_snapshot(self.editor)
            except Exception as exc:  # noqa: BLE001
                snapshot, error = None, error or error_text(exc)
        finally:
            self.last_turn = (reply, error, cancelled)
            self.idle.set()
        note = reply if isinstance(reply, str) else ""
        self.post_message(TurnDone(None if note else reply, snapshot, error, cancelled, note))

    def _pointed_mask(self, editor: Any, pointing: Pointing) -> None:
        """The preview mask of ``pointing`` (run as an editor call); the image pane draws it."""
        mask = editor.pointed_mask(**pointing.kwargs())
        self.call_from_thread(self.image_pane.show_mask, pointing, mask)

    def _progress(self, stage: str, step: int, total: int) -> None:
        self.post_message(Progress(stage, step, total))

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def load_preview(self, row: VersionRow) -> None:
        try:
            image = thumbnail(self.editor.version_image(row.number))
        except Exception as exc:  # noqa: BLE001
            self.call_from_thread(self.notify, error_text(exc), severity="error", markup=False)
            return
        self.call_from_thread(self._show_preview, row.number, image)
