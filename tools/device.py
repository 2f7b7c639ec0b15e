"""Resolve the compute device and dtype once, for the whole process."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """Where models run.

    Attributes:
        device: ``"cuda"``, ``"mps"`` or ``"cpu"``.
        dtype: fp16 on CUDA; on the CPU bf16 where it has AVX512-BF16 or AMX and the profile
            allows it, else fp32 (see :func:`resolve_placement`).
        dtype_reason: why this dtype, in a few words (``"AVX512-BF16"``, ``"CHATEDIT_DTYPE"``).
    """

    device: str
    dtype: torch.dtype
    dtype_reason: str = ""

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def label(self) -> str:
        """What the status line shows: ``"CPU bf16 (AVX512-BF16)"``, ``"CUDA fp16"``."""
        text = f"{self.device.upper()} {SHORT_DTYPE.get(self.dtype, str(self.dtype).removeprefix('torch.'))}"
        return f"{text} ({self.dtype_reason})" if self.dtype_reason else text


SHORT_DTYPE = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}
DTYPE_ENV = "CHATEDIT_DTYPE"
"""Environment variable that overrides every default dtype (``float32``, ``bfloat16``, ``float16``)."""
CPU_DTYPES = ("auto", "bfloat16", "float32")
"""What a profile may ask for on the CPU; ``auto``: bf16 where :func:`cpu_bf16_feature` finds support."""
_BF16_FLAGS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"))


def cpu_bf16_feature(cpuinfo: str | None = None) -> str | None:
    """The CPU feature that runs bf16 matrix products natively (``"AMX"``, ``"AVX512-BF16"``), or None.

    Without it (older x86, most ARM laptops) bf16 is emulated and slower than fp32.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo`` (None: read it; where it does not exist, None).
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return next((name for flag, name in _BF16_FLAGS if flag in flags), None)


def resolve_placement(device: str | None = None, dtype: str | torch.dtype | None = None, *,
                      cpu_dtype: str = "float32") -> Placement:
    """Pick the device and dtype, and say why that dtype.

    Args:
        device: ``"cuda"``, ``"cuda:1"``, ``"cpu"``, ``"mps"``, or None for the best available.
        dtype: ``"float16"``, ``"bfloat16"``, ``"float32"``, a torch dtype, or None for
            ``$CHATEDIT_DTYPE`` if set, else the device's default: fp16 on CUDA, ``cpu_dtype``
            on the CPU, fp32 on MPS.
        cpu_dtype: the profile's CPU choice (:data:`CPU_DTYPES`); ``auto`` is bf16 where the CPU
            has AVX512-BF16 or AMX (2-3.5x faster than fp32 there), fp32 elsewhere.

    Raises:
        InvalidInputError: an unknown device or dtype (from the argument or the environment).
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
    if dtype is not None:
        return Placement(device=device, dtype=parse_dtype(dtype), dtype_reason="asked for")
    if os.environ.get(DTYPE_ENV, "").strip():
        return Placement(device=device, dtype=parse_dtype(os.environ[DTYPE_ENV].strip(), DTYPE_ENV),
                         dtype_reason=DTYPE_ENV)
    if device.startswith("cuda"):
        return Placement(device=device, dtype=torch.float16)
    if device != "cpu":
        return Placement(device=device, dtype=torch.float32)
    if cpu_dtype not in CPU_DTYPES:
        from tools.errors import InvalidInputError

        raise InvalidInputError(f"cpu_dtype must be one of {', '.join(CPU_DTYPES)}, got {cpu_dtype!r}")
    if cpu_dtype == "auto":
        feature = cpu_bf16_feature()
        if feature is None:
            return Placement(device=device, dtype=torch.float32, dtype_reason="no AVX512-BF16 or AMX")
        return Placement(device=device, dtype=torch.bfloat16, dtype_reason=feature)
    return Placement(device=device, dtype=parse_dtype(cpu_dtype), dtype_reason="profile")


def parse_dtype(dtype: str | torch.dtype, what: str = "dtype") -> torch.dtype:
    """``"bf16"``/``"bfloat16"``/``torch.bfloat16`` ... as a torch dtype, or InvalidInputError quoting it."""
    if isinstance(dtype, torch.dtype) and dtype in SHORT_DTYPE:
        return dtype
    names = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32}
    found = names.get(dtype.strip().lower()) if isinstance(dtype, str) else None
    if found is None:
        from tools.errors import InvalidInputError

        raise InvalidInputError(f"{what} must be float16, bfloat16 or float32, got {dtype!r}")
    return found


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
