"""The planner's system-turn keys and values on disk: computed once per machine, not once per start.

The planner's system prompt is the same every turn (thousands of tokens); :meth:`tools.llava.Llava.prefix_cache`
computes its keys and values once per loaded model. On a CPU that one prefill is most of the first plan (about a
minute on two cores), so it is also kept here, one safetensors file per (model files, dtype, device, attention,
transformers version, prompt tokens), and read back in well under a second by the next process.

A file that is damaged, written for other tokens or shaped wrong is ignored and removed (logged); the prefix is
then computed as if there were none. Writes are atomic, so a process killed mid-write leaves no half file under
the final name. Only the newest :data:`KEEP` files stay.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

KEEP = 4
"""Files kept per folder (one per prompt version and model, newest first); older ones are removed on save."""
SUFFIX = ".prefix.safetensors"


def model_fingerprint(folder: str | Path) -> str:
    """Names, sizes and modification times of a checkpoint folder's configs and weights: changes when they do."""
    root = Path(folder)
    parts = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".json", ".safetensors"):
            stat = path.stat()
            parts.append(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def prefix_key(*, model: str, dtype: str, device: str, attention: str, ids: Sequence[int]) -> str:
    """The file key of one prefix: every input that changes its keys and values (``model``: a fingerprint)."""
    import transformers

    fields = {"model": model, "dtype": dtype, "device": device, "attention": attention,
              "transformers": transformers.__version__, "ids": list(ids)}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


class PrefixStore:
    """A folder of computed prefixes (see the module)."""

    def __init__(self, folder: str | Path, *, keep: int = KEEP) -> None:
        self.folder = Path(folder)
        self.keep = keep

    def path(self, key: str) -> Path:
        return self.folder / f"{key}{SUFFIX}"

    def load(self, key: str, *, config: Any, device: Any) -> Any | None:
        """The ``DynamicCache`` saved under ``key`` on ``device`` (built for the model ``config``), or None:
        no such file, or one that cannot be used (it is removed)."""
        import torch
        from safetensors import SafetensorError, safe_open
        from transformers import DynamicCache

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt", device=str(device)) as f:     # one read: metadata and tensors
                meta = f.metadata() or {}
                tensors = {name: f.get_tensor(name) for name in f.keys()}
            layers = int(meta.get("layers", "-1"))
            if meta.get("key") != key or layers < 1 or len(tensors) != 2 * layers:
                raise ValueError("written for another prompt or model")
            pairs = [(tensors[f"k.{i}"], tensors[f"v.{i}"]) for i in range(layers)]
            length = int(meta.get("tokens", "-1"))
            if any(k.shape != v.shape or k.ndim != 4 or k.shape[2] != length for k, v in pairs):
                raise ValueError("its tensors are shaped wrong")
            cache = DynamicCache(ddp_cache_data=pairs, config=config)
            if len(cache.layers) != layers:
                raise ValueError(f"it has {layers} layers, the model {len(cache.layers)}")
        except (OSError, ValueError, KeyError, SafetensorError, RuntimeError, torch.OutOfMemoryError) as e:
            logger.warning("ignoring the saved planner prefix %s (%s); computing it again", path.name, e)
            path.unlink(missing_ok=True)
            return None
        try:
            path.touch()                    # recently used: kept by the pruning in save()
        except OSError:
            pass
        return cache

    def save(self, key: str, cache: Any) -> bool:
        """Write ``cache`` (a ``DynamicCache`` of plain full-attention layers) under ``key``; best effort:
        False (logged) when it cannot be written or has layers that are not plain."""
        from safetensors.torch import save
        from transformers.cache_utils import DynamicLayer

        from tools.atomic import atomic_write

        layers = list(cache.layers)
        if not layers or any(type(layer) is not DynamicLayer or layer.keys is None for layer in layers):
            return False                    # sliding-window or empty layers: kept in memory only
        tensors = {}
        for i, layer in enumerate(layers):
            tensors[f"k.{i}"] = layer.keys.detach().contiguous().cpu()
            tensors[f"v.{i}"] = layer.values.detach().contiguous().cpu()
        meta = {"key": key, "layers": str(len(layers)), "tokens": str(layers[0].keys.shape[2])}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path(key), save(tensors, metadata=meta), durable=False)
            self._prune(keep_key=key)
        except OSError as e:
            logger.warning("could not save the planner prefix in %s: %s", self.folder, e)
            return False
        return True

    def _prune(self, *, keep_key: str) -> None:
        files = sorted(self.folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in [p for p in files if p.name != f"{keep_key}{SUFFIX}"][max(0, self.keep - 1):]:
            old.unlink(missing_ok=True)
