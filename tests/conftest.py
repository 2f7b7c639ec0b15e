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


@pytest.fixture(scope="module")
def inpainter():
    """The tiny profile's inpainting pipeline, loaded through the production path (once per test module)."""
    from tools.inpainting import Inpainter
    from tools.loading import model_path
    from tools.profiles import get_profile

    spec = get_profile("tiny").inpainting
    return Inpainter.from_pretrained(model_path(spec), family=spec.family)


@pytest.fixture
def unet_inputs(inpainter):
    """Records the latent (h, w) of every call of the inpainter's UNet."""
    from tests.diffusion_helpers import latent_sizes

    with latent_sizes(inpainter.pipe.unet) as shapes:
        yield shapes


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
def hat(tmp_path, chelsea) -> Path:
    """A small picture file to give as a reference image (the cat photo at 64x48, ``hat.png``)."""
    path = tmp_path / "hat.png"
    chelsea.resize((64, 48)).save(path)
    return path


@pytest.fixture
def astronaut():
    return _sample("astronaut")


@pytest.fixture
def rocket():
    return _sample("rocket")


class SmallDisk:
    """A tmpfs of a few MB that a test can fill up: a real "No space left on device"."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ballast = root / ".ballast"

    def fill(self) -> None:
        """Take every free byte (a session on this disk can then write nothing)."""
        with open(self._ballast, "ab", buffering=0) as f:    # unbuffered: nothing is left to fail on close
            size = 1 << 20
            while size:
                try:
                    while True:
                        f.write(b"\0" * size)
                except OSError:
                    size //= 2

    def free(self) -> None:
        self._ballast.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path):
    """A real 16 MB filesystem (tmpfs; needs root to mount): sessions on it meet a real full disk."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode(errors='replace').strip()})")
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def read_only_view(tmp_path):
    """``view(folder)``: the folder seen through a read-only bind mount (a real read-only filesystem)."""
    import subprocess

    mounted = []

    def view(folder: Path) -> Path:
        target = tmp_path / f"read-only-{len(mounted)}"
        target.mkdir()
        for args in (["mount", "--bind", str(folder), str(target)], ["mount", "-o", "remount,bind,ro", str(target)]):
            done = subprocess.run(args, capture_output=True)
            if done.returncode != 0:
                subprocess.run(["umount", str(target)], capture_output=True)
                pytest.skip(f"cannot make a read-only mount here ({done.stderr.decode(errors='replace').strip()})")
        mounted.append(target)
        return target

    yield view
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
