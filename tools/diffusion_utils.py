"""Plumbing shared by our diffusion tools: input checks, step counting, native sizing, image↔tensor, prompts."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from tools.errors import Cancelled, InvalidInputError

if TYPE_CHECKING:
    from tools.device import Placement

logger = logging.getLogger(__name__)


def check_range(name: str, value: float, low: float, high: float, *, open_low: bool = False) -> None:
    """Raise InvalidInputError quoting ``value`` unless it is a finite number in [low, high] ((low, high])."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or (value <= low if open_low else value < low):
        bracket = "(" if open_low else "["
        raise InvalidInputError(f"{name} must be in {bracket}{low}, {high}], got {value!r}")


def check_int(name: str, value: int, low: int, high: int) -> None:
    """Raise InvalidInputError quoting ``value`` unless it is an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def check_prompt(name: str, text: str) -> str:
    """Return ``text`` stripped; raise InvalidInputError if it is not a non-empty string."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{name} prompt must be a non-empty description, got {text!r}")
    return text.strip()


class StepCounter:
    """Counts model passes for a ``progress(step, total)`` callback and honours a ``cancel`` flag.

    Args:
        total: passes the call will make.
        progress: told (0, total) at :meth:`start`, then (done, total) after each pass.
        cancel: when set, :meth:`check` raises :class:`tools.errors.Cancelled`.
        what: names the call in the cancellation message.
    """

    def __init__(self, total: int, progress: Callable[[int, int], None] | None, cancel: threading.Event | None,
                 what: str = "the edit") -> None:
        self.total, self.done, self.progress, self.cancel, self.what = total, 0, progress, cancel, what

    def start(self) -> None:
        """Report (0, total) before the first pass (text encoding and VAE encoding belong to the edit's
        time, not to the stage before it), then :meth:`check`."""
        if self.progress is not None:
            self.progress(0, self.total)
        self.check()

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"{self.what} was cancelled; the image is unchanged")

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


class PipelineSteps:
    """``progress`` and ``cancel`` wired to one diffusers pipeline call's ``callback_on_step_end``.

    Use: :meth:`start` before the call, ``callback_on_step_end=steps.on_step_end`` in it,
    :meth:`finish` after it.

    Args:
        steps: ``num_inference_steps``; strength: the call's strength (only ``int(steps * strength)`` run).
        progress: told (0, planned) at :meth:`start`, then (step, total) after each denoising step
            (total: the pipeline's own count once it has one).
        cancel: when set, the pipeline skips its remaining steps and :meth:`finish` raises Cancelled.
        what: names the call in the cancellation message.
    """

    def __init__(self, steps: int, strength: float, progress: Callable[[int, int], None] | None,
                 cancel: threading.Event | None, what: str = "the edit") -> None:
        self.planned = max(1, min(int(steps * strength), steps))
        self.progress, self.cancel, self.what = progress, cancel, what

    def start(self) -> None:
        """Report (0, planned) (prompt and image encoding count as the edit), then raise if cancelled."""
        if self.progress is not None:
            self.progress(0, self.planned)
        self.finish()

    def on_step_end(self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        if self.progress is not None:
            self.progress(step + 1, getattr(pipe, "_num_timesteps", None) or self.planned)
        if self.cancel is not None and self.cancel.is_set():
            pipe._interrupt = True  # diffusers skips the remaining steps
        return tensors

    def finish(self) -> None:
        """Raise Cancelled if ``cancel`` is set (after the call: nothing it made is returned)."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"{self.what} was cancelled; the image is unchanged")


@dataclass(frozen=True)
class NativeSize:
    """Where an image of any size is worked on by a diffusion model.

    The image is resized (not cropped) to ``width`` × ``height``: its longer side goes to the
    model's native resolution and both sides are rounded to a multiple of ``multiple``, which
    changes the aspect ratio by less than one ``multiple`` over the native side (< 1.6% at 512 px).
    Results are resized back to ``original``.

    Attributes:
        original: (width, height) of the caller's image.
        width: working width in pixels (multiple of ``multiple``).
        height: working height in pixels (multiple of ``multiple``).
    """

    original: tuple[int, int]
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def scale(self) -> float:
        """Original pixels per working pixel (along the longer side)."""
        return max(self.original) / max(self.width, self.height)


def native_size(original: tuple[int, int], native: int, multiple: int = 8) -> NativeSize:
    """Working size for an image of ``original`` (width, height) on a model of ``native`` px.

    Args:
        original: (width, height), each ≥ 1.
        native: the model's training resolution (512 for SD 1.5).
        multiple: both working sides are multiples of this (the VAE's downscale, at least 8).
    """
    w, h = original
    scale = native / max(w, h)
    width = max(multiple, int(round(w * scale / multiple)) * multiple)
    height = max(multiple, int(round(h * scale / multiple)) * multiple)
    return NativeSize(original=(w, h), width=width, height=height)


def following_size(original: tuple[int, int], native: int, multiple: int = 8, floor: int | None = None) -> NativeSize:
    """Working size that follows the image's own size: never above the model's native resolution,
    never below ``floor``, both sides multiples of ``multiple``.

    A 300x300 crop runs at 304x304 on a 512 px model (not upscaled to 512: 2.9x fewer pixels); a
    1000x800 crop comes down to 512x408; a 40x30 crop goes up to ``floor``.

    Args:
        original: (width, height), each ≥ 1.
        native: the model's training resolution: the longest working side.
        multiple: the VAE's grid (at least 8).
        floor: the shortest longer side the model is run at (None: half of ``native``; below
            that Stable Diffusion's pictures fall apart).
    """
    floor = native // 2 if floor is None else floor
    return native_size(original, min(native, max(floor, max(original))), multiple)


def vae_scale_factor(vae: torch.nn.Module) -> int:
    """Pixels per latent cell of a diffusers ``AutoencoderKL`` (8 for SD)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def model_native(unet: torch.nn.Module, vae: torch.nn.Module) -> int:
    """The model's native resolution in pixels: the UNet's sample size times the VAE's factor."""
    sample = unet.config.sample_size
    sample = max(sample) if isinstance(sample, (tuple, list)) else int(sample)
    return sample * vae_scale_factor(vae)


def to_pixels(image: Image.Image, size: NativeSize, device: str | torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A PIL RGB image resized to ``size`` as a (1, 3, H, W) tensor in [-1, 1]."""
    resized = image.convert("RGB").resize(size.size, Image.Resampling.LANCZOS)
    array = np.asarray(resized, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].to(device=device, dtype=dtype)


def to_image(pixels: torch.Tensor, size: NativeSize) -> Image.Image:
    """A (1, 3, H, W) tensor in [-1, 1] as a PIL RGB image resized back to the original size."""
    array = ((pixels[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    image = Image.fromarray(array.permute(1, 2, 0).cpu().numpy(), "RGB")
    if image.size != size.original:
        image = image.resize(size.original, Image.Resampling.LANCZOS)
    return image


def encode_text(tokenizer, text_encoder: torch.nn.Module, prompts: Sequence[str],  # noqa: ANN001 - any HF tokenizer
                device: str | torch.device) -> torch.Tensor:
    """CLIP text embeddings (N, tokens, dim) for ``prompts``, padded to the tokenizer's max length.

    Over-long prompts are truncated (and a warning logged), as Stable Diffusion pipelines do.
    """
    max_length = tokenizer.model_max_length
    tokens = tokenizer(list(prompts), padding="max_length", max_length=max_length, truncation=True,
                       return_tensors="pt")
    full = tokenizer(list(prompts), padding="longest", return_tensors="pt").input_ids
    if full.shape[-1] > max_length:
        logger.warning("a prompt is longer than %d tokens and was truncated", max_length)
    ids = tokens.input_ids.to(device)
    return text_encoder(ids).last_hidden_state


SCHEDULERS = ("default", "dpm++", "euler-a", "ddim", "unipc", "lcm")
"""Sampler names a profile may choose (``default``: keep the pipeline's own; ``lcm`` only with an
LCM-LoRA loaded, see :func:`tools.lora.load_lcm_lora`)."""


def use_scheduler(pipe: object, name: str) -> None:
    """Swap ``pipe``'s scheduler for the named one, built from the pipeline's own scheduler config.

    Raises:
        InvalidInputError: an unknown name.
    """
    if name not in SCHEDULERS:
        raise InvalidInputError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {name!r}")
    if name == "default":
        return
    from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                           LCMScheduler, UniPCMultistepScheduler)

    config = pipe.scheduler.config
    if name == "dpm++":
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++",
                                                                 solver_order=2)
    elif name == "euler-a":
        pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(config)
    elif name == "ddim":
        pipe.scheduler = DDIMScheduler.from_config(config)
    elif name == "lcm":
        pipe.scheduler = LCMScheduler.from_config(config)
    else:
        pipe.scheduler = UniPCMultistepScheduler.from_config(config)
    logger.info("scheduler: %s", type(pipe.scheduler).__name__)


def compile_unet(pipe: object) -> None:
    """``torch.compile`` the pipeline's UNet (the first call compiles; later calls run the compiled graph)."""
    pipe.unet = torch.compile(pipe.unet, mode="max-autotune-no-cudagraphs", fullgraph=False)


def channels_last(pipe: Any, placement: Placement) -> Any:
    """On the CPU, put the UNet's and VAE's weights in channels-last layout (NHWC), which oneDNN's
    convolutions run faster (bf16 UNet at 512²: 1.5–2x in one noisy run, VAE decode too; fp32 about
    even: see benchmarks/RESULTS.md, "Issue 13: edit"). On CUDA it is left as loaded."""
    if placement.is_cuda or str(placement.device).startswith("mps"):
        return pipe
    for name in ("unet", "vae"):
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module):
            module.to(memory_format=torch.channels_last)
    return pipe


def place_pipeline(pipe: Any, placement: Placement, *, offload: bool = False) -> Any:
    """Put a diffusers pipeline on ``placement``'s device, or, with ``offload`` on CUDA, keep it in RAM
    and move each component (text encoders, UNet, VAE) to the GPU only while it runs."""
    if offload and placement.is_cuda:
        pipe.enable_model_cpu_offload(device=placement.device)
        return pipe
    return pipe.to(placement.device)
