"""Opening a session: the profile with the caller's overrides, the planner given (or served at a URL),
the session folder (new or reopened) and the toolkit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from agent.session.sessions import default_session_dir
from agent.session.store import SessionStore, is_session
from tools.profiles import Profile


def resolve(profile: str | Profile, *, engine: str | None = None, verify: bool | None = None,
            quality: str | None = None) -> Profile:
    """The profile to open with: a name resolved (``auto`` finds the machine's, and when it falls back to tiny
    its note says how big the wanted models are and how to get them), then ``verify`` and ``quality`` put over
    its own settings (None: keep them); ``engine`` is only checked here.

    Raises:
        InvalidInputError: an unknown profile, engine or quality name.
    """
    from tools.loading import resolve_profile

    resolved = profile if isinstance(profile, Profile) else resolve_profile(profile)
    if profile == "auto" and resolved.random_weights:        # fell back to tiny: say how to get the real models
        from tools.readiness import fallback_advice

        resolved = replace(resolved, note=resolved.note + fallback_advice(resolved.note))
    if engine is not None:
        from tools.engines import check_engine

        check_engine(engine)
    if verify is not None:
        resolved = replace(resolved, verify=bool(verify))
    if quality is not None:
        from tools.quality import check_quality

        resolved = replace(resolved, quality=check_quality(quality))
    return resolved


def given_planner(planner: Any, profile: Profile) -> Any:
    """The planner a caller gave: a URL becomes a served planner, and a served one without an image
    size takes the profile's (:func:`agent.served.for_profile`); anything else (None too) as given."""
    if isinstance(planner, str) or getattr(planner, "image_side", 0) is None:
        from agent.served import for_profile

        return for_profile(planner, profile)
    return planner


def open_store(image_or_session: str | Path | Image.Image, *, session_dir: str | Path | None = None,
               read_only: bool = False) -> tuple[SessionStore, str | None]:
    """A session folder reopened (``read_only``: without its lock), or a new session for an image
    under ``session_dir`` (None: a new folder under the default sessions folder); with what reading
    the image said (its conversion to 8-bit RGB, the one frame used; None: nothing).

    Raises:
        ImageLoadError: the image cannot be read (one line naming the problem and what to do).
    """
    if isinstance(image_or_session, (str, Path)) and str(image_or_session).strip():
        folder = Path(image_or_session).expanduser()
        if is_session(folder):
            return SessionStore.open(folder, read_only=read_only), None
    loaded = read_image(image_or_session)
    store = SessionStore.create(session_dir or default_session_dir(), loaded.image, alpha=loaded.alpha)
    return store, " ".join(f"Note: {w}." for w in loaded.warnings) or None


def read_image(source: Any) -> Any:
    """``source`` (a path, a bundled sample's name or a PIL image) read as a :class:`tools.imageio.LoadedImage`.

    Raises:
        ImageLoadError: it cannot be read; InvalidInputError: it is neither a path nor an image.
    """
    from tools.imageio import as_rgb, load_image
    from tools.samples import is_sample, sample_path

    if isinstance(source, Image.Image):
        return as_rgb(source)
    if isinstance(source, str) and is_sample(source) and not Path(source).exists():
        source = sample_path(source)
    return load_image(source)


def make_toolkit(profile: Profile, engine: str | None) -> Any:
    """The profile's :class:`tools.toolkit.Toolkit` (models load on first use), with ``engine`` to repaint."""
    from tools.toolkit import Toolkit

    return Toolkit(profile, engine=engine)

