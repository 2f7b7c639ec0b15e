"""Driving the chat TUI in tests with Textual's Pilot: one way to run an app headless, and scripted planners.

:func:`play` runs any app headless and plays a script on it; :func:`drive` does so for the chat app over the
real Editor (tiny profile), once the session is open. The rest read what the app shows.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Label

import tui
from tools.samples import sample_path

AppT = TypeVar("AppT", bound=App[Any])

CUP_BOX = [180.0, 20.0, 450.0, 300.0]
"""Roughly the cup in the coffee photo (600×400)."""


def plan(*steps: dict) -> str:
    return json.dumps({"reasoning": "the user wants this", "steps": list(steps)})


def recolor_box(color: str = "red") -> str:
    return plan({"action": "recolor", "referent": {"box": CUP_BOX}, "content": color})


def planner(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


def held_planner(*replies: str, after: int = 0) -> tuple[threading.Event, GenericFakeChatModel]:
    """A planner that gives its first ``after`` replies at once, then "thinks" until the returned gate is set
    (so a test can act while an edit runs), then gives the rest."""
    gate = threading.Event()

    def messages():
        for i, reply in enumerate(replies):
            if i == after:
                gate.wait(timeout=120)
            yield AIMessage(content=reply)

    return gate, GenericFakeChatModel(messages=messages())


async def settle(app: tui.ChatEditApp, pilot: Pilot, timeout: float = 300.0) -> None:
    """Wait until the editor's worker is done and the UI has taken its result."""
    waited = 0.0
    await pilot.pause()
    while app.busy:
        if waited > timeout:
            raise TimeoutError("the editor's worker did not finish")
        await pilot.pause(0.05)
        waited += 0.05
    await app.workers.wait_for_complete()
    await pilot.pause()


async def type_line(pilot: Pilot, text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")


async def palette(pilot: Pilot, query: str) -> None:
    """Run the command palette's (ctrl+p) first hit for ``query``."""
    await pilot.press("ctrl+p")
    await pilot.pause(0.3)
    await pilot.press(*query)
    await pilot.pause(0.5)
    await pilot.press("enter")


def play(app: AppT, script: Callable[[AppT, Pilot], Awaitable[None]], size: tuple[int, int] = (120, 40)) -> AppT:
    """Run ``app`` headless in a ``size`` terminal, play ``script(app, pilot)`` on it, and return the app."""
    async def go() -> None:
        async with app.run_test(size=size) as pilot:
            await script(app, pilot)

    asyncio.run(go())
    return app


def drive(script: Callable[[tui.ChatEditApp, Pilot], Awaitable[None]], session_dir: Path | None, *,
          source: str | Path | None = None, fake: Any = None, toolkit: Any = None, image_mode: str = "halfcell",
          size: tuple[int, int] = (120, 40)) -> tui.ChatEditApp:
    """Play ``script`` on the chat app over the real Editor (tiny profile), once its session is open.

    Args:
        session_dir: where the new session is kept (None: the app's default, or the reopened ``source``).
        source: the image or session folder to open (default: the coffee photo).
        fake: the planner (default: the tiny profile's own, which plans by the offline grammar).
        toolkit, image_mode: passed to the app; size: the terminal's (columns, rows).
    """
    app = tui.ChatEditApp(sample_path("coffee") if source is None else source, profile="tiny",
                          session_dir=session_dir, planner=fake, toolkit=toolkit, image_mode=image_mode)

    async def opened(app: tui.ChatEditApp, pilot: Pilot) -> None:
        await settle(app, pilot)
        assert app.editor is not None, [n.message for n in app._notifications]
        await script(app, pilot)

    return play(app, opened, size)


def history_rows(app: tui.ChatEditApp) -> list[str]:
    return [str(item.query_one(Label).content) for item in app.query(tui.VersionItem)]


def chat_texts(app: tui.ChatEditApp, role: str | None = None) -> list[str]:
    """The chat's messages in order (``role``: only those), as they were given to the chat."""
    return [m.source_text for m in app.query(".message") if role is None or m.role == role]


def errors(app: App[Any]) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


def pending(app: tui.ChatEditApp) -> list[str]:
    return [m.source_text for m in app.query(".pending")]
