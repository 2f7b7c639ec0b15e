"""A tiny random-weight FLUX.2 [klein] pipeline (Flux2 transformer, Flux2 VAE, Qwen3 text encoder) from configs.

The folder is what the released ``black-forest-labs/FLUX.2-klein-4B`` holds, in miniature: a
``Flux2KleinPipeline`` (step-distilled, ``is_distilled`` true) with the same component classes,
saved with ``save_pretrained`` (safetensors) and read back by the engine's ``from_pretrained``.
The VAE downsamples by 2 and its ``sample_size`` (the engine's native resolution) is 64 px; the
text encoder has 3 layers (the engine reads the prompt from all three, as the released model's
36-layer encoder is read at layers 9, 18 and 27).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SEED = 0
NATIVE = 64
"""Native resolution (the VAE's ``sample_size``) of the tiny model, in pixels."""
TEXT_DIM = 32
TEXT_LAYERS = 3
LATENT_CHANNELS = 4

# Qwen3's chat template, reduced to what the pipeline renders: one user turn, the generation
# prompt, and the empty thinking block Qwen3 writes when ``enable_thinking`` is false.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\n\n</think>\n\n' }}{% endif %}"
    "{% endif %}"
)


def build_tokenizer() -> Any:
    """A Qwen2 byte-level BPE (the tiny planner's, any text tokenizes) with a Qwen3-style chat template."""
    from tools.tiny.llava import build_tokenizer as qwen2_bpe

    tokenizer = qwen2_bpe()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<think>", "</think>"]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _text_encoder(vocab_size: int, pad_id: int) -> Any:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(vocab_size=vocab_size, hidden_size=TEXT_DIM, intermediate_size=64,
                         num_hidden_layers=TEXT_LAYERS, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=1024, tie_word_embeddings=True, pad_token_id=pad_id)
    return Qwen3ForCausalLM(config).eval()


def _vae() -> Any:
    from diffusers import AutoencoderKLFlux2

    return AutoencoderKLFlux2(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
                              up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1,
                              latent_channels=LATENT_CHANNELS, norm_num_groups=32, sample_size=NATIVE).eval()


def _transformer() -> Any:
    from diffusers import Flux2Transformer2DModel

    # the released 4B: 5 double + 20 single blocks, 24 heads of 128, joint_attention_dim 3 × 2560
    return Flux2Transformer2DModel(patch_size=1, in_channels=LATENT_CHANNELS * 4, num_layers=1, num_single_layers=1,
                                   attention_head_dim=16, num_attention_heads=2, joint_attention_dim=3 * TEXT_DIM,
                                   timestep_guidance_channels=32, mlp_ratio=3.0, axes_dims_rope=(4, 4, 4, 4),
                                   guidance_embeds=False).eval()


def _scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    # FLUX.2 klein's scheduler config: resolution-dependent shift (mu computed by the pipeline)
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True,
                                           base_shift=0.5, max_shift=1.15, base_image_seq_len=256,
                                           max_image_seq_len=4096, time_shift_type="exponential")


def build(folder: Path) -> None:
    """Write a tiny step-distilled ``Flux2KleinPipeline`` into ``folder``."""
    import torch
    from diffusers import Flux2KleinPipeline

    torch.manual_seed(SEED)
    tokenizer = build_tokenizer()
    pad_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    pipe = Flux2KleinPipeline(scheduler=_scheduler(), vae=_vae(), text_encoder=_text_encoder(len(tokenizer), pad_id),
                              tokenizer=tokenizer, transformer=_transformer(), is_distilled=True)
    pipe.save_pretrained(Path(folder), safe_serialization=True)
    logger.info("wrote tiny Flux2KleinPipeline to %s", folder)
