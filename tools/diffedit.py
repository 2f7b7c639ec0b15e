"""DiffEdit (Couairon et al., 2022) on a Stable Diffusion base model: noise-contrast masks, masked inversion edits."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tools.device import Placement, resolve_placement
from tools.diffusion_utils import NativeSize, StepCounter, check_int, check_prompt, check_range, encode_text, \
    model_native, native_size, to_image, to_pixels, vae_scale_factor
from tools.edits import EditResult
from tools.errors import InvalidInputError
from tools.masks import bbox, composite, dilate, feather

logger = logging.getLogger(__name__)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (1, 1, H, W) float map, with replicated borders."""
    radius = max(1, math.ceil(2 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))


class DiffEdit:
    """DiffEdit on a text-to-image Stable Diffusion model's UNet, VAE and text encoder.

    The mask is inferred by contrasting the UNet's noise predictions under a source and a target
    prompt; the edit inverts the image with DDIM under the source prompt and denoises under the
    target prompt, holding everything outside the mask to the inverted latents. Diffusion always
    runs at the model's native resolution (longer side 512 for SD 1.5); masks and results come back
    at the caller's image size, and pixels outside the edit region are bit-identical to the input.

    Args:
        unet: a 4-channel ``UNet2DConditionModel``.
        vae: the model's ``AutoencoderKL``.
        text_encoder: its CLIP text model.
        tokenizer: its CLIP tokenizer.
        scheduler: a ``DDIMScheduler`` (denoising).
        inverse_scheduler: a ``DDIMInverseScheduler`` with the same schedule (inversion).
        placement: where the modules already are (None: resolved once here).
    """

    def __init__(self, unet: torch.nn.Module, vae: torch.nn.Module, text_encoder: torch.nn.Module, tokenizer: Any,
                 scheduler: Any, inverse_scheduler: Any, *, placement: Placement | None = None) -> None:
        self.unet, self.vae, self.text_encoder, self.tokenizer = unet, vae, text_encoder, tokenizer
        self.scheduler, self.inverse_scheduler = scheduler, inverse_scheduler
        self.placement = placement or resolve_placement()
        self.factor = vae_scale_factor(vae)
        self.resolution = model_native(unet, vae)
        """Native resolution in pixels: the longer side diffusion runs at."""
        self._lock = threading.Lock()  # the schedulers hold per-call state

    @classmethod
    def from_pretrained(cls, path: str | Path, *, placement: Placement | None = None) -> DiffEdit:
        """Load a Stable Diffusion (text-to-image) pipeline folder's components.

        Args:
            path: a local folder written by ``save_pretrained`` (see :func:`tools.loading.model_path`).
            placement: device and dtype (None: fp16 on CUDA, fp32 on the CPU).

        Raises:
            ModelUnavailableError: the folder is not a loadable Stable Diffusion pipeline.
        """
        from diffusers import DDIMInverseScheduler, DDIMScheduler, StableDiffusionPipeline

        from tools.loading import diffusers_variant, expect_unet_channels, load_errors

        # an inpainting folder would load, then fail at the first step (9 UNet channels, 4 latent ones)
        expect_unet_channels(path, "Stable Diffusion text-to-image", (4,))
        placement = placement or resolve_placement()
        with load_errors("a Stable Diffusion model", path, errors=(OSError, ValueError)):
            pipe = StableDiffusionPipeline.from_pretrained(
                str(path), use_safetensors=True, safety_checker=None, requires_safety_checker=False,
                dtype=placement.dtype, variant=diffusers_variant(path))
        config = dict(pipe.scheduler.config)
        # Inversion and denoising must visit the same timesteps; the inverse scheduler knows two spacings.
        if config.get("timestep_spacing") not in ("leading", "trailing"):
            config["timestep_spacing"] = "leading"
        scheduler = DDIMScheduler.from_config(config)
        inverse = DDIMInverseScheduler.from_config(config)
        for module in (pipe.unet, pipe.vae, pipe.text_encoder):
            module.to(placement.device).eval()
        return cls(pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer, scheduler, inverse, placement=placement)

    # -- pieces -------------------------------------------------------------------------------

    @property
    def _device(self) -> torch.device:
        return self.unet.device

    @property
    def _dtype(self) -> torch.dtype:
        return self.unet.dtype

    def _size(self, image: Image.Image) -> NativeSize:
        if not isinstance(image, Image.Image):
            raise InvalidInputError(f"image must be a PIL image, got {type(image).__name__}")
        if image.width < 1 or image.height < 1:
            raise InvalidInputError(f"image must have a positive size, got {image.size}")
        return native_size(image.size, self.resolution, max(8, self.factor))

    def _embed(self, prompts: list[str]) -> torch.Tensor:
        return encode_text(self.tokenizer, self.text_encoder, prompts, self._device).to(self._dtype)

    def _encode(self, image: Image.Image, size: NativeSize) -> torch.Tensor:
        pixels = to_pixels(image, size, self._device, self.vae.dtype)
        return self.vae.encode(pixels).latent_dist.mode() * self.vae.config.scaling_factor

    def _decode(self, latents: torch.Tensor, size: NativeSize) -> Image.Image:
        pixels = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample
        return to_image(pixels, size)

    def _eps(self, latents: torch.Tensor, t: int, embeds: torch.Tensor) -> torch.Tensor:
        return self.unet(latents, t, encoder_hidden_states=embeds).sample

    def _mask_map(self, latents: torch.Tensor, embeds: torch.Tensor, n_noise: int, noise_strength: float,
                  seed: int, steps: StepCounter) -> np.ndarray:
        """Blurred mean |eps_target - eps_source| at latent resolution, scaled so its maximum is 1.

        ``embeds`` holds the source and the target prompt's embeddings, in that order.
        """
        t = int(round(noise_strength * (self.scheduler.config.num_train_timesteps - 1)))
        generator = torch.Generator("cpu").manual_seed(int(seed))
        total = torch.zeros(latents.shape[-2:], dtype=torch.float32, device=latents.device)
        for _ in range(n_noise):
            steps.check()
            noise = torch.randn(latents.shape, generator=generator).to(latents.device, latents.dtype)
            noisy = self.scheduler.add_noise(latents, noise, torch.tensor([t]))
            eps = self._eps(torch.cat([noisy, noisy]), t, embeds).float()
            total += (eps[1] - eps[0]).abs().mean(dim=0)
            steps.tick()
        diff = _gaussian_blur((total / n_noise)[None, None], sigma=1.0)[0, 0]
        peak = float(diff.max())
        return (diff / peak if peak > 0 else diff).cpu().numpy()

    @staticmethod
    def _upsample(latent_map: np.ndarray, size: NativeSize) -> np.ndarray:
        """A latent-resolution float map bilinearly resized to the original image size."""
        small = Image.fromarray(latent_map.astype(np.float32), "F")
        return np.asarray(small.resize(size.original, Image.Resampling.BILINEAR))

    def _latent_mask(self, region: np.ndarray, latents: torch.Tensor) -> torch.Tensor:
        """(1, 1, h, w) 0/1 latent mask: every latent cell that touches ``region``."""
        h, w = latents.shape[-2:]
        cover = Image.fromarray(region.astype(np.uint8) * 255, "L").resize((w, h), Image.Resampling.BOX)
        cells = torch.from_numpy(np.asarray(cover) > 0).to(latents.device, latents.dtype)
        return cells[None, None]

    # -- public -------------------------------------------------------------------------------

    @torch.inference_mode()
    def auto_mask(self, image: Image.Image, source: str, target: str, *, n_noise: int = 10,
                  noise_strength: float = 0.5, threshold: float = 0.5, seed: int = 0) -> np.ndarray:
        """Where ``image`` would change going from ``source`` to ``target`` (the DiffEdit mask).

        Adds ``n_noise`` seeded noise samples at the timestep ``noise_strength`` × T, averages the
        absolute difference of the noise predicted under the two prompts over samples and latent
        channels, blurs it slightly (σ = 1 latent cell), scales it so its maximum is 1, upsamples it
        to the image size and thresholds it.

        Args:
            image: PIL RGB, any size.
            source: what the image shows now ("a bowl of fruit").
            target: what it should show ("a bowl of pears").
            n_noise: noise samples to average, ≥ 1.
            noise_strength: in (0, 1], the noise level of the samples.
            threshold: in [0, 1]; pixels whose scaled difference is ≥ it are in the mask
                (0 keeps everything, 1 only the strongest cell).
            seed: seeds the noise: equal arguments give an equal mask.

        Returns:
            bool H×W at the image's original size.
        """
        source, target = check_prompt("source", source), check_prompt("target", target)
        check_int("n_noise", n_noise, 1, 1000)
        check_range("noise_strength", noise_strength, 0.0, 1.0, open_low=True)
        check_range("threshold", threshold, 0.0, 1.0)
        size = self._size(image)
        with self._lock:
            latents, embeds = self._encode(image, size), self._embed([source, target])
            latent_map = self._mask_map(latents, embeds, n_noise, noise_strength, seed,
                                        StepCounter(n_noise, None, None))
        return self._upsample(latent_map, size) >= threshold

    @torch.inference_mode()
    def edit(self, image: Image.Image, source: str, target: str, *, mask: np.ndarray | None = None,
             strength: float = 0.7, steps: int = 30, guidance_scale: float = 7.5, seed: int = 0,
             progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None) -> EditResult:
        """Edit ``image`` from ``source`` to ``target`` inside a mask (inferred when None).

        DDIM-inverts the image latents under ``source`` for ``strength`` × ``steps`` steps, keeping
        every intermediate latent, then denoises under ``target`` with classifier-free guidance,
        replacing the latents outside the latent-resolution mask with the inverted ones at each
        step. The decoded result is pasted back with :func:`tools.masks.composite` inside ``region``
        (the mask dilated by half a latent cell in original pixels, feathered over that width), so
        every pixel outside ``region`` is bit-identical to ``image``.

        Args:
            image: PIL RGB, any size (diffusion runs at the native resolution, the paste at full size).
            source: what the image shows now.
            target: what it should show.
            mask: bool H×W of the image's size, or None for :meth:`auto_mask` with its defaults.
            strength: in (0, 1], how far to invert (1 = to pure noise).
            steps: DDIM steps for the full schedule, in [1, 1000]; int(strength × steps) ≥ 1 are run
                each way.
            guidance_scale: ≥ 0; > 1 turns on classifier-free guidance for the target prompt.
            seed: seeds the inferred mask (inversion and DDIM denoising are deterministic).
            progress: called with (step, total) after each UNet pass (mask samples, inversion, denoising).
            cancel: when set, the call raises :class:`tools.errors.Cancelled` before the next pass.

        Returns:
            EditResult with operation ``"diffedit"``, ``prompt`` = target and ``region`` = where pixels
            may differ.

        Raises:
            InvalidInputError: an empty prompt, an out-of-range value, or a mask of another size or empty.
            Cancelled: ``cancel`` was set.
        """
        source, target = check_prompt("source", source), check_prompt("target", target)
        check_range("strength", strength, 0.0, 1.0, open_low=True)
        check_int("steps", steps, 1, 1000)
        check_range("guidance_scale", guidance_scale, 0.0, 100.0)
        size = self._size(image)
        image = image.convert("RGB") if image.mode != "RGB" else image
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (image.height, image.width):
                raise InvalidInputError(f"mask shape {mask.shape} does not match the image's (h, w) "
                                        f"{(image.height, image.width)}")
            mask = mask.astype(bool)
            if not mask.any():
                raise InvalidInputError("mask is empty; select a region to edit or pass mask=None to infer one")
        k = min(int(steps * strength), steps)
        if k < 1:
            raise InvalidInputError(f"strength x steps must give at least one step, got {strength} x {steps}")
        inferred, n_noise = mask is None, 10
        counter = StepCounter(2 * k + (n_noise if inferred else 0), progress, cancel, "the DiffEdit edit")
        counter.start()
        with self._lock:
            x0 = self._encode(image, size)
            embeds = self._embed(["", source, target])
            if mask is None:
                latent_map = self._mask_map(x0, embeds[1:], n_noise, 0.5, seed, counter)
                mask = self._upsample(latent_map, size) >= 0.5
                if not mask.any():
                    raise InvalidInputError(f"the inferred mask is empty: {source!r} and {target!r} predict the "
                                            f"same noise; describe the change in the target prompt")
            px = max(2, math.ceil(self.factor * size.scale / 2))
            region = dilate(mask, px)
            latents = self._edit_latents(x0, embeds, region, k, steps, guidance_scale, counter)
            counter.check()
            generated = self._decode(latents, size)
        result = composite(image, generated, region, alpha=feather(region, px))
        return EditResult(image=result, region=region, operation="diffedit", prompt=target, seed=int(seed),
                          box=bbox(region),
                          details={"source": source, "strength": strength, "steps": steps, "inverted_steps": k,
                                   "guidance_scale": guidance_scale, "auto_mask": inferred,
                                   "working_size": size.size, "dilate_px": px})

    def _edit_latents(self, x0: torch.Tensor, embeds: torch.Tensor, region: np.ndarray, k: int, steps: int,
                      guidance_scale: float, counter: StepCounter) -> torch.Tensor:
        """Masked DDIM inversion + denoising of the image latents ``x0``; returns the final latents.

        ``embeds`` holds the empty, the source and the target prompt's embeddings, in that order.
        """
        source_embeds = embeds[1:2]
        guided = guidance_scale > 1.0
        target_embeds = embeds[0::2] if guided else embeds[2:]
        keep = self._latent_mask(region, x0)

        # inverted[j] is the image's latent after j inversion steps; inverted[0] is the clean latent.
        self.inverse_scheduler.set_timesteps(steps)
        inverted = [x0]
        for t in self.inverse_scheduler.timesteps[:k].tolist():
            counter.check()
            eps = self._eps(inverted[-1], t, source_embeds)
            inverted.append(self.inverse_scheduler.step(eps, t, inverted[-1]).prev_sample)
            counter.tick()

        self.scheduler.set_timesteps(steps)
        latents = inverted[k]
        for i, t in enumerate(self.scheduler.timesteps[steps - k:].tolist()):
            counter.check()
            model_input = torch.cat([latents, latents]) if guided else latents
            eps = self._eps(self.scheduler.scale_model_input(model_input, t), t, target_embeds)
            if guided:
                uncond, cond = eps.chunk(2)
                eps = uncond + guidance_scale * (cond - uncond)
            latents = self.scheduler.step(eps, t, latents).prev_sample
            # After this step the latents sit where inversion step k-1-i started: hold the outside there.
            latents = keep * latents + (1 - keep) * inverted[k - 1 - i]
            counter.tick()
        return latents
