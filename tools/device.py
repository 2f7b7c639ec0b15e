"""Resolve the compute device and dtype once, for the whole process."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """Where models run.

    Attributes:
        device: ``"cuda"``, ``"mps"`` or ``"cpu"``.
        dtype: fp16 on CUDA (bf16 where the planner prefers it), fp32 on the CPU.
    """

    device: str
    dtype: torch.dtype

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")


def resolve_placement(device: str | None = None, dtype: str | torch.dtype | None = None) -> Placement:
    """Pick the device and dtype.

    Args:
        device: ``"cuda"``, ``"cuda:1"``, ``"cpu"``, ``"mps"``, or None for the best available.
        dtype: ``"float16"``, ``"bfloat16"``, ``"float32"``, a torch dtype, or None for the
            device's default (fp16 on CUDA, fp32 elsewhere).
    """
    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    device = _check_device(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        from tools.errors import InvalidInputError

        raise InvalidInputError(f"device {device!r} was asked for but CUDA is not available; use --device cpu")
    if isinstance(dtype, str):
        try:
            dtype = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16,
                     "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32}[dtype]
        except KeyError:
            from tools.errors import InvalidInputError

            raise InvalidInputError(f"dtype must be float16, bfloat16 or float32, got {dtype!r}") from None
    if dtype is None:
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
    return Placement(device=device, dtype=dtype)


_DEVICE = re.compile(r"cpu|mps|cuda(:\d+)?")


def _check_device(device: object) -> str:
    """``device`` normalised (``" CUDA:1 "`` -> ``"cuda:1"``), or InvalidInputError quoting it."""
    from tools.errors import InvalidInputError

    name = device.strip().lower() if isinstance(device, str) else None
    if name is None or not _DEVICE.fullmatch(name):
        raise InvalidInputError(f"device must be cpu, cuda, cuda:N or mps, got {device!r}")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise InvalidInputError("device 'mps' was asked for but MPS (Apple GPU) is not available; use --device cpu")
    if name.startswith("cuda:") and torch.cuda.is_available() and int(name[5:]) >= torch.cuda.device_count():
        raise InvalidInputError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} "
                                f"CUDA device(s), numbered from 0")
    return name
