"""The toolkit's error hierarchy: every failure a user can cause has a one-line message."""

from __future__ import annotations


class ChatEditError(Exception):
    """Base of every error chatedit raises on purpose.

    ``str(error)`` is one line that names the problem and what to do about it;
    interfaces print it as is, never a traceback.
    """


class ImageLoadError(ChatEditError):
    """An input image could not be opened (missing, not an image, truncated, too large...)."""


class ImageSaveError(ChatEditError):
    """An output image could not be written."""


class ModelUnavailableError(ChatEditError):
    """A model is neither cached nor downloadable, or a local model path is bad."""


class InvalidInputError(ChatEditError, ValueError):
    """An argument is out of range or inconsistent (empty mask, box outside the image...)."""


class Cancelled(ChatEditError):
    """A long call was cancelled by its cancel flag; nothing was applied."""
