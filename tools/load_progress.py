"""How far a model load has got, in bytes of its checkpoint: for "loading inpainting 1.2 of 4.3 GB · 38%".

The total is what a model folder's safetensors files hold in tensors (read from their headers, no
weights touched). The count is what the loader has taken in: each tensor once, as transformers
materializes it from its lazy slice or as diffusers walks the state dict into the model (its dtype
cast and placement are done by then). Both libraries read through safetensors, so :func:`metered`
wraps the two entry points they call (``safetensors.torch.load_file`` and the ``safe_open`` that
``transformers.modeling_utils`` imported) for the loads started on its own thread; other threads'
loads go straight through. A library that reads some other way is not counted until the load
returns, when the count jumps to the total.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LoadProgress = Callable[[int, int], None]
"""Told (bytes done, bytes total) as a load goes: first (0, total), then rising, last (total, total)."""

_NO_WEIGHTS = {"scheduler", "tokenizer", "tokenizer_2", "feature_extractor", "image_processor", "safety_checker"}
_FP16 = ".fp16.safetensors"
_MAX_HEADER = 100_000_000
"""safetensors refuses longer headers (its own limit): a larger length means it is not one."""


def weight_files(folder: str | Path) -> list[Path]:
    """The safetensors files a ``from_pretrained`` of ``folder`` reads.

    A diffusers pipeline: those of each component folder with a config (not the tokenizer, scheduler
    or safety checker); a sharded checkpoint: the shards its index lists; else the folder's own
    ``*.safetensors``. A folder's ``fp16`` variant files are taken where the pipeline loads that variant
    (:func:`tools.loading.diffusers_variant`) or a folder has nothing else, its full-precision ones otherwise.
    """
    from tools.loading import diffusers_variant

    folder = Path(folder)
    if (folder / "model_index.json").is_file():
        fp16 = diffusers_variant(folder) == "fp16"
        parts = sorted(d for d in folder.iterdir()
                       if d.is_dir() and d.name not in _NO_WEIGHTS and (d / "config.json").is_file())
        return [f for d in parts for f in _own_files(d, fp16)]
    return _own_files(folder, False)


def _own_files(folder: Path, fp16: bool) -> list[Path]:
    def pick(found: list[Path], suffix: str) -> list[Path]:
        variant = [f for f in found if f.name.endswith(suffix)]
        full = [f for f in found if not f.name.endswith(suffix)]
        return (variant or full) if fp16 else (full or variant)

    indexes = pick(sorted(folder.glob("*.safetensors.index.json")), ".fp16.safetensors.index.json")
    if indexes:
        try:
            index = json.loads(indexes[0].read_text(encoding="utf-8"))
            shards = sorted(set(index["weight_map"].values()))
            return [folder / s for s in shards if (folder / s).is_file()]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass                                # unreadable: the loader will say so; count the files present
    return pick(sorted(f for f in folder.glob("*.safetensors") if f.is_file()), _FP16)


def tensor_bytes(file: str | Path) -> int:
    """The bytes of tensor data in one safetensors file, from its header (0 for a file that is not one)."""
    try:
        with open(file, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > _MAX_HEADER:
                return 0
            header = json.loads(f.read(size))
        return sum(int(t["data_offsets"][1]) - int(t["data_offsets"][0])
                   for name, t in header.items() if name != "__metadata__")
    except (OSError, ValueError, KeyError, TypeError, IndexError, struct.error):
        return 0


def local_folder(spec: Any) -> Path | None:
    """The folder a :class:`tools.profiles.ModelSpec` loads from when it is here already (a tiny build, a
    local folder, the HF cache), found without the network; None when it must be downloaded first."""
    from tools.loading import has_weights, model_path

    model_id = str(spec.model_id)
    if spec.is_tiny:
        return model_path(spec)                 # built once, on first use
    if Path(model_id).expanduser().is_dir():
        return Path(model_id).expanduser()
    from huggingface_hub import try_to_load_from_cache

    for name in ("config.json", "model_index.json"):
        try:
            found = try_to_load_from_cache(model_id, name)
        except (ValueError, OSError):           # not a hub id: the load itself says what is wrong
            return None
        if isinstance(found, str) and has_weights(Path(found).parent):
            return Path(found).parent
    return None


def checkpoint_bytes(folder: str | Path) -> int:
    """The tensor bytes a ``from_pretrained`` of ``folder`` takes in (see :func:`weight_files`)."""
    return sum(tensor_bytes(f) for f in weight_files(folder))


class Meter:
    """Counts the bytes of tensors taken in (each (file, name) once, from any thread) and tells ``report``
    when the count has risen by ``step`` bytes or more, in order, never past ``total``.

    ``files``: the only files whose tensors count (None: any); others (an adapter a load adds, say)
    go uncounted and unwrapped.
    """

    def __init__(self, total: int, report: LoadProgress, *, step: int | None = None,
                 files: list[Path] | None = None) -> None:
        self.total, self.report = total, report
        self.files = None if files is None else {_real(f) for f in files}
        self.step = step if step is not None else max(1, total // 200)
        self.done = self._told = 0
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def counts(self, file: Any) -> bool:
        """Whether tensors of ``file`` count here."""
        return self.files is None or _real(file) in self.files

    def add(self, key: tuple[str, str], nbytes: int) -> None:
        with self._lock:                        # reports in order: the receiver never sees the count go back
            if key in self._seen:
                return
            self._seen.add(key)
            self.done = min(self.total, self.done + int(nbytes))
            if self.done - self._told >= self.step or (self.done == self.total and self._told < self.total):
                self._told = self.done
                self.report(self.done, self.total)

    def finish(self) -> None:
        """The load returned: whatever was not counted (keys the model skips) is in; say the total once."""
        with self._lock:
            self.done = self.total
            if self._told < self.total:
                self._told = self.total
                self.report(self.total, self.total)


# ---------------------------------------------------------------- the hooks

_local = threading.local()
_hooks_lock = threading.Lock()
_users = 0
_saved: list[tuple[Any, str, Any]] = []


def _meter(file: Any) -> Meter | None:
    """The meter of this thread's load, if ``file`` counts there."""
    meter = getattr(_local, "meter", None)
    return meter if meter is not None and meter.counts(file) else None


def _real(file: Any) -> str:
    try:
        return str(Path(file).resolve())       # the HF cache links snapshot files to blobs
    except (OSError, TypeError, ValueError):
        return str(file)


class _CountingSlice:
    """A safetensors slice that counts its tensor when it is read (``slice[...]``)."""

    def __init__(self, inner: Any, meter: Meter, key: tuple[str, str]) -> None:
        self._inner, self._meter, self._key = inner, meter, key

    def __getitem__(self, index: Any) -> Any:
        tensor = self._inner[index]
        self._meter.add(self._key, tensor.nbytes)
        return tensor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _CountingHandle:
    """A ``safe_open`` handle whose tensors and slices count themselves when read."""

    def __init__(self, inner: Any, meter: Meter, name: str) -> None:
        self._inner, self._meter, self._name = inner, meter, name

    def get_tensor(self, key: str) -> Any:
        tensor = self._inner.get_tensor(key)
        self._meter.add((self._name, key), tensor.nbytes)
        return tensor

    def get_slice(self, key: str) -> _CountingSlice:
        return _CountingSlice(self._inner.get_slice(key), self._meter, (self._name, key))

    def __enter__(self) -> _CountingHandle:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._inner.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _CountingDict(dict):
    """A loaded state dict that counts each tensor once the loader has walked past it in ``items()``."""

    def __init__(self, tensors: dict, meter: Meter, name: str) -> None:
        super().__init__(tensors)
        self._meter, self._name = meter, name

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override] - a walk, as load loops use it
        for key, value in super().items():
            yield key, value
            self._meter.add((self._name, key), getattr(value, "nbytes", 0))


def _counting_open(original: Callable[..., Any]) -> Callable[..., Any]:
    def safe_open(filename: Any, *args: Any, **kwargs: Any) -> Any:
        handle, meter = original(filename, *args, **kwargs), _meter(filename)
        return handle if meter is None else _CountingHandle(handle, meter, str(filename))
    return safe_open


def _counting_load_file(original: Callable[..., Any]) -> Callable[..., Any]:
    def load_file(filename: Any, *args: Any, **kwargs: Any) -> Any:
        tensors, meter = original(filename, *args, **kwargs), _meter(filename)
        return tensors if meter is None else _CountingDict(tensors, meter, str(filename))
    return load_file


def _install() -> None:
    global _users
    with _hooks_lock:
        _users += 1
        if _users > 1:
            return
        import safetensors.torch

        targets: list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
            (safetensors.torch, "load_file", _counting_load_file)]
        try:
            import transformers.modeling_utils as modeling_utils

            if hasattr(modeling_utils, "safe_open"):
                targets.append((modeling_utils, "safe_open", _counting_open))
        except ImportError:                     # no transformers: nothing of it to count
            pass
        for module, name, wrap in targets:
            original = getattr(module, name)
            _saved.append((module, name, original))
            setattr(module, name, wrap(original))


def _uninstall() -> None:
    global _users
    with _hooks_lock:
        _users -= 1
        if _users == 0:
            while _saved:
                module, name, original = _saved.pop()
                setattr(module, name, original)


@contextmanager
def metered(folder: str | Path | None, report: LoadProgress | None) -> Iterator[Meter | None]:
    """Count the bytes of ``folder``'s checkpoint that loads on this thread take in, telling ``report``.

    ``report`` hears (0, total) first, rising counts as tensors are taken in, and (total, total) when
    the block ends without an error. No ``folder``, a total of 0 (no safetensors found) or no ``report``:
    nothing is counted or told.
    """
    total = checkpoint_bytes(folder) if report is not None and folder is not None else 0
    if report is None or total <= 0 or getattr(_local, "meter", None) is not None:   # nested: the outer counts
        yield None
        return
    meter = Meter(total, report, files=weight_files(folder))
    report(0, total)
    _install()
    _local.meter = meter
    try:
        yield meter
    finally:
        _local.meter = None
        _uninstall()
    meter.finish()
