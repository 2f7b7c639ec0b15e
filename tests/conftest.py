"""Test set-up: no network, tiny models cached once per checkout, real sample photos."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("CHATEDIT_CACHE", str(ROOT / ".chatedit-cache" / "tests"))

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address):  # noqa: ANN001 - socket's own signature
    """Allow local sockets only, so an accidental download fails loudly instead of hanging."""
    if self.family == getattr(socket, "AF_UNIX", None):
        return _real_connect(self, address)
    host = address[0] if isinstance(address, tuple) else str(address)
    if host in ("127.0.0.1", "::1", "localhost"):
        return _real_connect(self, address)
    raise RuntimeError(f"tests must not use the network (tried to connect to {address!r})")


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def tiny_profile():
    from tools.profiles import get_profile

    return get_profile("tiny")


def _sample(name: str):
    from tools.samples import sample_image

    return sample_image(name)


@pytest.fixture
def coffee():
    return _sample("coffee")


@pytest.fixture
def chelsea():
    return _sample("chelsea")


@pytest.fixture
def astronaut():
    return _sample("astronaut")


@pytest.fixture
def rocket():
    return _sample("rocket")
