"""Progress plumbing: one listener hears a turn's stages and every model load as ``(stage, step, total)``."""

from __future__ import annotations

import logging
from typing import Any

from agent.graph.context import ProgressCallback

logger = logging.getLogger(__name__)


class Progress:
    """Relays every report to :attr:`listener`, read at each call (so it can be set or cleared any time)."""

    def __init__(self) -> None:
        self.listener: ProgressCallback | None = None
        """Who hears the reports (None: nobody; a report is then dropped)."""

    def __call__(self, stage: str, step: int, total: int) -> None:
        listener = self.listener
        if listener is not None:
            listener(stage, step, total)

    def loading(self, role: str, model_id: str) -> None:
        """A model starts loading (finding or fetching its files): ``("load <role>", 0, 1)``."""
        logger.info("loading %s model %s", role, model_id)
        self(f"load {role}", 0, 1)

    def load_bytes(self, role: str, done: int, total: int) -> None:
        """Bytes of a model's weights taken in: ``("load <role>", done, total)``."""
        self(f"load {role}", done, total)

    def hear_loads(self, toolkit: Any) -> None:
        """Report the toolkit's model loads here, unless it already reports them to someone else."""
        if getattr(toolkit, "on_load", False) is None:
            toolkit.on_load = self.loading
        if getattr(toolkit, "on_load_progress", False) is None:
            toolkit.on_load_progress = self.load_bytes
