"""What every turn of a session runs with besides the session itself: the profile, the toolkit, the
planner (loaded on first use), the seed, progress and the cancel flag; each turn's graph Context is made here."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from agent.graph.context import Context
from agent.progress import Progress
from agent.session.store import SessionStore
from tools.profiles import Profile


@dataclass(kw_only=True)
class Workbench:
    """One session's models and run-time settings (the Editor serializes the calls that change them)."""

    profile: Profile
    """The resolved profile; replaced whole (e.g. ``verify`` turned on), never changed in place."""
    toolkit: Any
    """The :class:`tools.toolkit.Toolkit` (its models load on first use, told to :attr:`progress`)."""
    planner: Any = None
    """The planner chat model (None: the profile's, loaded by :meth:`load_planner` when first needed)."""
    seed: int = 0
    """Base seed of every edit."""
    progress: Progress = field(default_factory=Progress)
    """Who hears the turns' stages and the model loads."""
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set to stop the running edit (its turn ends with nothing changed)."""

    def __post_init__(self) -> None:
        self.progress.hear_loads(self.toolkit)        # model loads show up as stages ("load inpainting")

    def load_planner(self) -> Any:
        """The planner, the profile's loaded now if none is yet, its load told as stage "load planner".

        Raises:
            ChatEditError: the model cannot be found or loaded.
        """
        if self.planner is None:
            from agent.planner import load_planner
            from tools.load_progress import local_folder, metered

            progress = self.progress
            progress("load planner", 0, 1)
            folder = local_folder(self.profile.planner)     # None: downloaded first, then loaded uncounted
            told = None if progress.listener is None else (lambda done, total: progress.load_bytes("planner", done,
                                                                                                   total))
            with metered(folder, told):
                self.planner = load_planner(self.profile, getattr(self.toolkit, "placement", None),
                                            memory=getattr(self.toolkit, "memory", None))
        return self.planner

    @property
    def planner_is_random(self) -> bool:
        """Whether the profile's planner has random weights (the tiny profile's): it cannot read answers."""
        return getattr(self.profile.planner, "random_weights", False) is True

    def context(self, store: SessionStore, planner: Any) -> Context:
        """The graph's run-time Context for one turn on ``store`` (``planner`` None: no planning, no verifying)."""
        return Context(store=store, tools=self.toolkit, planner=planner, seed=self.seed,
                       verify=self.profile.verify and planner is not None, progress=self.progress, cancel=self.cancel)
