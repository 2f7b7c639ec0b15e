"""Builders of the diffusers pipelines (Stable Diffusion family, FLUX.2 klein) and of the random LCM-LoRA."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .vocabularies import clip_tokenizer, qwen3_tokenizer
from .weights import SEED, dtype, fast_init, save_model

LCM_LORA_RANK = 64
LCM_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2")
"""Rank and layers of the random LCM-LoRA: the released one (67.5 M parameters) adapts the attention and
feed-forward layers at rank 64 (and some convolutions; fused, the layers adapted cost nothing per step)."""


def _component(source: Path, name: str, library: str, class_name: str) -> Any:
    """Build one diffusers pipeline component from ``source/name``'s config (models without init)."""
    import diffusers
    import transformers

    if library == "diffusers":
        cls = getattr(diffusers, class_name)
        config = cls.load_config(source / name)
        if name == "scheduler":
            return cls.from_config(config)
        with fast_init(dtype()):
            return cls.from_config(config)
    cls = getattr(transformers, class_name)
    if name.startswith("tokenizer"):
        return clip_tokenizer(pad_token="!" if name == "tokenizer_2" else "<|endoftext|>")
    if name == "feature_extractor":
        return cls.from_pretrained(source / name)
    with fast_init(dtype()):
        return cls(transformers.AutoConfig.from_pretrained(source / name))


def build_diffusers(source: Path, folder: Path, tokenizer: Callable[[], Any] | None = None) -> None:
    """Write a pipeline folder component by component (one model in memory at a time) plus ``model_index.json``.

    Args:
        tokenizer: builds the tokenizer (None: CLIP's, as Stable Diffusion's).
    """
    import diffusers

    model_index = json.loads((source / "model_index.json").read_text())
    names = [k for k, v in model_index.items() if isinstance(v, list)]
    for name in names:
        library, class_name = model_index[name]
        if library is None:
            continue
        if tokenizer is not None and name.startswith("tokenizer"):
            tokenizer().save_pretrained(folder / name)
            continue
        part = _component(source, name, library, class_name)
        if hasattr(part, "named_parameters"):
            save_model(part, folder / name)
        else:
            part.save_pretrained(folder / name)
        del part
        gc.collect()
    model_index["_diffusers_version"] = diffusers.__version__
    (folder / "model_index.json").write_text(json.dumps(model_index, indent=2) + "\n")


def build_flux2_klein(source: Path, folder: Path) -> None:
    """FLUX.2 klein: a diffusers pipeline whose text encoder is Qwen3 and whose tokenizer is Qwen's."""
    build_diffusers(source, folder, tokenizer=qwen3_tokenizer)


def write_lcm_lora(unet_source: Path, folder: Path) -> None:
    """Write a random LoRA (:data:`LCM_LORA_RANK`, :data:`LCM_LORA_TARGETS`) for the UNet configured in
    ``unet_source`` to ``folder``, in diffusers' LoRA format (``pytorch_lora_weights.safetensors``)."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    with fast_init(dtype()):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(unet_source))
        unet.add_adapter(LoraConfig(r=LCM_LORA_RANK, lora_alpha=LCM_LORA_RANK, init_lora_weights=False,
                                    target_modules=list(LCM_LORA_TARGETS)))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for tensor in layers.values():    # small random deltas: the fused UNet stays finite
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 1e-3)
    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=layers, safe_serialization=True)
