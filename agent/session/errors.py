"""The errors a session raises: locked by another process, damaged files, a folder that cannot be written."""

from __future__ import annotations

from tools.errors import ChatEditError, ImageSaveError, InvalidInputError


class SessionLockedError(ChatEditError):
    """Another process (or another Editor in this one) has the session open for writing.

    The message names the holder (pid, host, since when) and says how to open it read-only.
    """


class SessionDamagedError(InvalidInputError):
    """A session file cannot be trusted: history.json, checkpoints.sqlite or a version image.

    The message names the file, what is wrong with it, and what to do.
    """


class SessionReadOnlyError(ChatEditError):
    """The session cannot be changed: it was opened read-only, or its folder cannot be written."""


class SessionStorageError(ImageSaveError):
    """Something could not be written to the session folder (disk full, permissions); nothing was lost."""
