"""LCM-LoRA on a Stable Diffusion pipeline: diffusers' LoRA loader, fused into the UNet, with ``LCMScheduler``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tools.errors import ModelUnavailableError

logger = logging.getLogger(__name__)

LORA_FILE = "pytorch_lora_weights.safetensors"
"""The file name diffusers' ``save_lora_weights`` writes (and ``latent-consistency/lcm-lora-sdv1-5`` ships)."""
ADAPTER = "lcm"


def lora_file(folder: str | Path) -> str:
    """The safetensors file of a LoRA folder (``pytorch_lora_weights.safetensors`` where it is there).

    Raises:
        ModelUnavailableError: the folder has no safetensors file.
    """
    folder = Path(folder)
    if (folder / LORA_FILE).is_file():
        return LORA_FILE
    found = sorted(p.name for p in folder.glob("*.safetensors"))
    if not found:
        raise ModelUnavailableError(f"no LoRA weights in {folder}: it has no .safetensors file; point at a folder "
                                    f"written by save_lora_weights")
    return found[0]


def load_lcm_lora(pipe: Any, folder: str | Path, *, fuse: bool = True) -> None:
    """Load the LCM-LoRA in ``folder`` into ``pipe``'s UNet and switch it to ``LCMScheduler``.

    With ``fuse`` the LoRA is folded into the UNet's weights and its adapter layers removed: each
    step then costs what the plain UNet costs (unfused, every adapted layer runs two more small
    matmuls). The pipeline should then run 2–8 steps at ``guidance_scale`` 1 (no classifier-free
    guidance: half the UNet batch; negative prompts have no effect).

    Args:
        pipe: a loaded Stable Diffusion pipeline (its ``unet`` adapted; text encoders untouched).
        folder: a folder holding the LoRA in diffusers' format (safetensors).
        fuse: fold the LoRA into the weights (irreversible for this pipeline).

    Raises:
        ModelUnavailableError: no weights, weights that do not fit this UNet, or no UNet keys in them.
    """
    from diffusers.utils import logging as diffusers_logging

    from tools.diffusion_utils import use_scheduler
    from tools.loading import load_errors

    weight = lora_file(folder)
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()   # "no LoRA keys for CLIPTextModel": expected, the LoRA is UNet-only
    try:
        with load_errors("an LCM-LoRA", folder, hint="it does not fit this model's UNet (SD 1.5 family only)",
                         errors=(OSError, ValueError, KeyError, RuntimeError)):
            pipe.load_lora_weights(str(folder), weight_name=weight, adapter_name=ADAPTER, use_safetensors=True)
    finally:
        diffusers_logging.set_verbosity(verbosity)
    if ADAPTER not in pipe.get_list_adapters().get("unet", []):
        raise ModelUnavailableError(f"cannot load an LCM-LoRA from {folder}: none of its weights are for this "
                                    f"UNet; use an LCM-LoRA made for the model's family")
    if fuse:
        pipe.fuse_lora(components=["unet"], adapter_names=[ADAPTER])
        pipe.unload_lora_weights()   # the fused weights stay; the adapter layers go
    use_scheduler(pipe, "lcm")
    logger.info("LCM-LoRA from %s %s", folder, "fused into the UNet" if fuse else "loaded as an adapter")
