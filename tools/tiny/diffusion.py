"""Tiny random-weight Stable Diffusion pipelines (inpaint, SDXL inpaint, InstructPix2Pix, base) built from configs.

Every builder writes a real diffusers pipeline folder (``model_index.json`` + one sub-folder per
component, safetensors only) that loads with the same ``from_pretrained`` call as the released
models. The VAE downsamples by 2 and the UNet's ``sample_size`` is 32, so the native resolution
(``unet.config.sample_size * vae_scale_factor``) is 64 px: fast enough for tests, and small
enough that a crop/resize path is exercised on any real photo.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SEED = 0
SAMPLE_SIZE = 32
"""UNet latent side; times the VAE's factor (2) gives the native resolution, 64 px."""
TEXT_DIM = 32
MAX_TOKENS = 77

_WORDS = ("a photo of the cup coffee table cat dog person guy woman rocket sky tree car flag hat helmet shirt "
          "black top saucer spoon background empty scene red white blue green yellow brown orange purple grey "
          "gray pink make it look like winter autumn summer night stormy watercolour painting remove replace "
          "with add recolor turn into high quality detailed blurry low bad deformed object clean surface")


def _corpus() -> list[str]:
    words = _WORDS.split()
    lines = [" ".join(words)]
    lines += [f"a {c} {o}" for c in words[30:45] for o in words[4:24]]
    lines += ["0 1 2 3 4 5 6 7 8 9 , . ! ? ' \" ( ) - : ;"]
    return lines


def build_tokenizer() -> Any:
    """A CLIP byte-level BPE (``</w>`` word ends) trained on a few prompts; any text tokenizes.

    Returns:
        ``transformers.CLIPTokenizer`` with ``model_max_length`` 77.
    """
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from transformers import CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    bpe = Tokenizer(BPE(continuing_subword_prefix="", end_of_word_suffix="</w>"))
    # the same normalisation and split as CLIPTokenizer, so the learned merges apply at use time
    bpe.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Lowercase()])
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                             behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    # Built, not trained: the BPE trainer breaks ties differently from run to run, and a tiny model
    # must come out the same on every machine. Each corpus word gets the merges that spell it.
    vocab: dict[str, int] = {token: i for i, token in enumerate(specials)}
    for ch in sorted(alphabet):           # every byte, alone and as a word end: no text is unknown
        for token in (ch, ch + "</w>"):
            vocab.setdefault(token, len(vocab))
    words = {w for line in _corpus()
             for w, _ in bpe.pre_tokenizer.pre_tokenize_str(bpe.normalizer.normalize_str(line))}
    merges: list[tuple[str, str]] = []   # CLIP merges must be tuples (transformers 5 takes vocab=/merges=)
    for word in sorted(words):
        symbols = [*word[:-1], word[-1] + "</w>"]
        done = symbols[0]
        for symbol in symbols[1:]:
            if done + symbol not in vocab:
                merges.append((done, symbol))
                vocab[done + symbol] = len(vocab)
            done += symbol
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_TOKENS)


def _text_encoder(vocab_size: int, *, projection: bool = False) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=vocab_size, hidden_size=TEXT_DIM, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=MAX_TOKENS, projection_dim=TEXT_DIM,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_act="quick_gelu")
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def _vae() -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64),
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         layers_per_block=1, norm_num_groups=32, sample_size=SAMPLE_SIZE * 2).eval()


def _unet(in_channels: int, *, sdxl: bool = False) -> Any:
    from diffusers import UNet2DConditionModel

    extra: dict[str, Any] = {}
    if sdxl:
        # SDXL conditions on both text encoders' hidden states (concatenated) plus pooled text + size ids
        extra = {"addition_embed_type": "text_time", "addition_time_embed_dim": 8,
                 "projection_class_embeddings_input_dim": TEXT_DIM + 6 * 8, "transformer_layers_per_block": 1}
    return UNet2DConditionModel(sample_size=SAMPLE_SIZE, in_channels=in_channels, out_channels=4,
                                block_out_channels=(32, 64), layers_per_block=1,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=TEXT_DIM * (2 if sdxl else 1), attention_head_dim=(2, 4),
                                norm_num_groups=32, **extra).eval()


def _scheduler() -> Any:
    from diffusers import DDIMScheduler

    # Stable Diffusion's noise schedule; DDIM also serves DiffEdit's inversion (DDIMInverseScheduler.from_config)
    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         clip_sample=False, set_alpha_to_one=False, steps_offset=1)


def _sd_components(in_channels: int) -> dict[str, Any]:
    import torch

    torch.manual_seed(SEED)
    tokenizer = build_tokenizer()
    return {"unet": _unet(in_channels), "vae": _vae(), "text_encoder": _text_encoder(len(tokenizer)),
            "tokenizer": tokenizer, "scheduler": _scheduler(), "safety_checker": None, "feature_extractor": None,
            "image_encoder": None, "requires_safety_checker": False}


def _save(pipe: Any, folder: Path) -> None:
    pipe.save_pretrained(Path(folder), safe_serialization=True)
    logger.info("wrote tiny %s to %s", type(pipe).__name__, folder)


def build_sd_inpaint(folder: Path) -> None:
    """Write a tiny ``StableDiffusionInpaintPipeline`` (UNet in_channels 9: latents, mask, masked image)."""
    from diffusers import StableDiffusionInpaintPipeline

    _save(StableDiffusionInpaintPipeline(**_sd_components(9)), folder)


def build_instruct_pix2pix(folder: Path) -> None:
    """Write a tiny ``StableDiffusionInstructPix2PixPipeline`` (UNet in_channels 8: latents, image latents)."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    _save(StableDiffusionInstructPix2PixPipeline(**_sd_components(8)), folder)


def build_sd(folder: Path) -> None:
    """Write a tiny text-to-image ``StableDiffusionPipeline`` (UNet in_channels 4), DiffEdit's base model."""
    from diffusers import StableDiffusionPipeline

    _save(StableDiffusionPipeline(**_sd_components(4)), folder)


def build_sdxl_inpaint(folder: Path) -> None:
    """Write a tiny ``StableDiffusionXLInpaintPipeline``: two text encoders (the second with projection)."""
    import torch
    from diffusers import StableDiffusionXLInpaintPipeline

    torch.manual_seed(SEED)
    tokenizer = build_tokenizer()
    pipe = StableDiffusionXLInpaintPipeline(
        vae=_vae(), text_encoder=_text_encoder(len(tokenizer)),
        text_encoder_2=_text_encoder(len(tokenizer), projection=True), tokenizer=tokenizer,
        tokenizer_2=build_tokenizer(), unet=_unet(9, sdxl=True), scheduler=_scheduler(), image_encoder=None,
        feature_extractor=None, requires_aesthetics_score=False, force_zeros_for_empty_prompt=True)
    _save(pipe, folder)


LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
"""The attention projections the tiny LCM-LoRA adapts (the released one adapts these and more)."""


def build_lcm_lora(folder: Path) -> None:
    """Write a tiny random LoRA for the tiny SD UNets in diffusers' LoRA format (``pytorch_lora_weights.safetensors``).

    It stands in for ``latent-consistency/lcm-lora-sdv1-5``: a peft ``LoraConfig`` on the tiny
    UNet's attention layers (every tiny SD UNet shares them, whatever its input channels), with
    random A and B (peft's default zero B would leave the model unchanged), saved through
    diffusers' ``save_lora_weights`` so it loads through the same ``load_lora_weights`` path.
    """
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(SEED)
    unet = _unet(4)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=list(LORA_TARGETS)))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(Path(folder), unet_lora_layers=layers, safe_serialization=True)
    logger.info("wrote a tiny LCM-LoRA to %s", folder)
