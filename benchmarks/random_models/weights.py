"""Random weights: modules built without their init, then every parameter filled from one seeded block."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

SEED = 0
STD = 0.02
"""Largest standard deviation of a random matrix (what most models' own init uses)."""
_BLOCK = 1_048_573
"""Length (prime) of the random block tiled into every weight: ~30x faster than normal_ per tensor."""


@contextmanager
def fast_init(dtype: Any):
    """Build modules without their (slow, CPU-bound) init, in ``dtype``; :func:`fill` sets every weight after."""
    import torch
    from transformers.initialization import no_init_weights

    torch.manual_seed(SEED)  # the few tensors modules draw in __init__ (e.g. SAM's Fourier features)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with no_init_weights():
            yield
    finally:
        torch.set_default_dtype(previous)


def fill(module: Any, seed: int = SEED) -> None:
    """Randomize every parameter: biases 0, 1-D weights (norm scales) 1, the rest normal.

    Matrices and kernels get std ``min(STD, 1/sqrt(3·fan_in))``: HF's 0.02 where layers are
    narrow, PyTorch's default scale for wide convolutions. A flat 0.02 makes a VAE decoder's
    activations overflow into SiLU/softmax tails whose fp32 denormals slow a CPU ~2x, which
    trained weights do not. A block of normal samples is tiled from a random offset into each
    tensor (a prime length, so matrix rows do not repeat); buffers stay as the modules made them.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    block = torch.randn(_BLOCK, generator=generator)
    blocks: dict[Any, torch.Tensor] = {}
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith("bias"):
                param.zero_()
                continue
            if param.dim() == 1 and name.endswith("weight"):
                param.fill_(1.0)
                continue
            fan_in = param[0].numel() if param.dim() > 1 else param.numel()
            std = min(STD, (3 * fan_in) ** -0.5)
            flat = param.view(-1)
            source = blocks.setdefault(param.dtype, block.to(param.dtype))
            pos, start = 0, int(torch.randint(_BLOCK, (1,), generator=generator))
            while pos < flat.numel():
                size = min(flat.numel() - pos, _BLOCK - start)
                flat[pos:pos + size].copy_(source[start:start + size])
                pos, start = pos + size, 0
            flat.mul_(std)


def dtype() -> Any:
    """The dtype on disk: fp16, half the disk and build time (every loader passes its dtype explicitly)."""
    import torch

    return torch.float16


def save_model(model: Any, folder: Path) -> None:
    """Tie, :func:`fill` and save ``model`` to ``folder`` (safetensors; ~5 GB shards as the released checkpoints)."""
    if hasattr(model, "tie_weights"):
        model.tie_weights()  # skipped with the init: untied copies would be saved (and loaded) twice
    fill(model)
    from transformers import PreTrainedModel

    # transformers would write one 50 GB-limit file; the released checkpoints come in ~5 GB shards
    shards = {"max_shard_size": "5GB"} if isinstance(model, PreTrainedModel) else {}
    model.eval().save_pretrained(folder, safe_serialization=True, **shards)
