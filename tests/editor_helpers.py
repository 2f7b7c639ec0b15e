"""What the Editor's test files share: a small coffee photo, its fixed detections, and an opener of editors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from agent.editor import Editor
from tests.agent_fakes import FixedDetections, QueuePlanner, det, plan
from tools.profiles import Profile

SIZE = (150, 100)
LEFT, RIGHT = (10, 20, 50, 60), (95, 15, 140, 65)
DETS = {"cup": [det(LEFT, 0.8), det(RIGHT, 0.78)], "table": [det((0, 70, 150, 100), 0.9)],
        "saucer": [det((20, 30, 120, 80), 0.9)]}


def recolor(phrase: str, colour: str, **ref) -> dict:
    return plan({"action": "recolor", "referent": {"phrase": phrase, **ref}, "content": colour})


def pixels(editor: Editor) -> np.ndarray:
    return np.asarray(editor.current_image)


class Opener:
    """Opens (or reopens) editors on the coffee photo at :data:`SIZE` with :data:`DETS` and a queue planner."""

    def __init__(self, tmp_path: Path, coffee: Image.Image, profile: Profile) -> None:
        self.tmp_path, self.coffee, self.profile = tmp_path, coffee, profile
        self.opened: list[Editor] = []

    def __call__(self, *replies: str | dict | BaseException, session: Path | None = None,
                 image: Image.Image | None = None) -> Editor:
        """A new session (on ``image``; None: the photo) whose planner replies ``replies``, or ``session``
        reopened with them."""
        planner = QueuePlanner().push(*replies)
        toolkit = FixedDetections(self.profile, DETS)
        if session is None:
            editor = Editor.open(image if image is not None else self.coffee.resize(SIZE), profile=self.profile,
                                 session_dir=self.tmp_path / "session", planner=planner, toolkit=toolkit)
        else:
            editor = Editor.open(session, profile=self.profile, planner=planner, toolkit=toolkit)
        self.opened.append(editor)
        return editor

    def close_all(self) -> None:
        for editor in self.opened:
            editor.close()
