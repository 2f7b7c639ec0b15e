"""Full-size random-weight copies of the full and lite profiles' models, built from configs kept in the repo.

``--random-weights`` benchmarking needs the real architectures (real parameter counts, real
preprocessing, real sequence lengths) where no weights can be downloaded. Each model's config
lives in ``benchmarks/configs/<model>/`` (``index.json`` maps profile and role to a folder);
:func:`build` writes a folder with random weights in the layout the production loaders read
(``save_pretrained``, safetensors, fp16 on disk), and :func:`random_profile` returns the
profile pointing at those folders, so ``Toolkit(profile)`` and ``load_planner(profile)`` load
them through the very same ``from_pretrained`` code as the released models.

Repaint engines (``configs/engines.json``: SD, SDXL, FLUX.2 [klein] 4B) build the same way
(:func:`build_engine`); ``random_profile(..., engine=)`` repaints with one of them.

Usage: python benchmarks/random_weights.py --profile lite [--root DIR] [--roles planner,grounding,...]
       python benchmarks/random_weights.py --engine flux2-klein [--root DIR]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.errors import InvalidInputError
from tools.profiles import ROLES, Profile, get_profile

logger = logging.getLogger(__name__)

CONFIGS = Path(__file__).resolve().parent / "configs"
"""``index.json`` plus one folder of config files per model."""
BUILD_VERSION = "1"
"""Bump when the builder's output changes: folders built by an older version are rebuilt."""
SEED = 0
STD = 0.02
"""Largest standard deviation of a random matrix (what most models' own init uses)."""
_BLOCK = 1_048_573
"""Length (prime) of the random block tiled into every weight: ~30x faster than normal_ per tensor."""
_DONE = ".complete"

QWEN2_SPECIALS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<image>": 151646,
                  "<video>": 151647}
"""The ids the released Qwen2 tokenizer gives its special tokens (the config's image/video token ids)."""
CLIP_VOCAB = 49408
"""CLIP's vocabulary: ``<|startoftext|>`` is 49406, ``<|endoftext|>`` 49407 (the pooled token is the argmax id)."""


def index() -> dict[str, dict[str, dict[str, str]]]:
    """``profile → role → {"folder", "model_id"}`` from ``configs/index.json``."""
    return json.loads((CONFIGS / "index.json").read_text())


def engines() -> dict[str, dict[str, str]]:
    """``engine → {"folder", "model_id"}`` from ``configs/engines.json``."""
    return json.loads((CONFIGS / "engines.json").read_text())


def config_dir(profile: str, role: str) -> Path:
    """The config folder of ``profile``'s ``role`` model."""
    table = index()
    if profile not in table:
        raise InvalidInputError(f"no random-weight configs for profile {profile!r}; choose one of {', '.join(table)}")
    if role not in table[profile]:
        raise InvalidInputError(f"unknown model role {role!r}; roles are {', '.join(ROLES)}")
    return CONFIGS / table[profile][role]["folder"]


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256(BUILD_VERSION.encode())
    for path in sorted(folder.rglob("*.json")):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def build(profile: str, role: str, root: Path) -> Path:
    """Return ``root/<model folder>`` holding ``profile``'s ``role`` model with random weights, building it first.

    The build goes to a temporary folder renamed into place; a folder whose completion marker
    names other configs (or an older builder) is rebuilt. Models shared by profiles (the SD 1.5
    pipelines) are built once.

    Raises:
        InvalidInputError: an unknown profile or role.
    """
    return _build(config_dir(profile, role), get_profile(profile).spec(role).family, root)


SHALLOW = {"transformer": {"num_layers": 1, "num_single_layers": 2}, "text_encoder": {"num_hidden_layers": 3}}
"""A shallow build keeps every layer's real shape but only this many blocks: FLUX.2 klein 4B's 5 double +
20 single transformer blocks and 36 Qwen3 layers become 1 + 2 and 3 (1.2 B parameters instead of 8 B),
so a CPU with 24 GB can run the real widths, sequence lengths, VAE and pipeline code."""


def build_engine(engine: str, root: Path, *, shallow: bool = False) -> Path:
    """Return ``root/<model folder>`` holding repaint ``engine``'s model (``sd``, ``sdxl``, ``flux2-klein``)
    with random weights, building it first (as :func:`build`).

    Args:
        shallow: fewer blocks of the real shapes (:data:`SHALLOW`; FLUX.2 klein only), in ``<folder>-shallow``.

    Raises:
        InvalidInputError: an unknown engine, or ``shallow`` for an engine without a shallow build.
    """
    from tools.engines import FAMILY, check_engine

    source = CONFIGS / engines()[check_engine(engine)]["folder"]
    if shallow:
        if engine != "flux2-klein":
            raise InvalidInputError(f"a shallow build is for flux2-klein only, not {engine}")
        source = _shallow_configs(source, Path(root).expanduser() / ".configs")
    return _build(source, FAMILY[engine], root)


def _shallow_configs(source: Path, where: Path) -> Path:
    """A copy of ``source``'s configs with :data:`SHALLOW`'s block counts, in ``where/<name>-shallow``."""
    target = where / f"{source.name}-shallow"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for part, changes in SHALLOW.items():
        path = target / part / "config.json"
        config = {**json.loads(path.read_text()), **changes}
        if "layer_types" in config:
            config["layer_types"] = config["layer_types"][:config["num_hidden_layers"]]
            config["max_window_layers"] = config["num_hidden_layers"]
        path.write_text(json.dumps(config, indent=2) + "\n")
    return target


def _build(source: Path, family: str, root: Path) -> Path:
    root = Path(root).expanduser()
    target = root / source.name
    stamp = f"{_fingerprint(source)} {family}{_tokenizer_stamp(family)}\n"
    marker = target / _DONE
    if marker.exists() and marker.read_text() == stamp:
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{source.name}-", dir=root))
    try:
        logger.info("building random-weight %s (%s) in %s", source.name, family, target)
        BUILDERS[family](source, tmp)
        (tmp / _DONE).write_text(stamp)
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache from other users
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        gc.collect()
    return target


def random_profile(name: str, root: Path, roles: Iterable[str] | None = None, *, engine: str | None = None,
                   shallow: bool = False) -> Profile:
    """``full`` or ``lite`` with each role in ``roles`` (None: all) served by a random-weight build.

    Each built spec keeps the original family, sizes and ``quantize_4bit``; only ``model_id``
    becomes the local folder. Roles left out keep their hub ids. The inpainting role repaints with
    ``engine`` (None: the profile's own inpainting model; the memory-plan choice among ``engines``
    is not made for random weights); ``shallow``: that engine's shallow build (:data:`SHALLOW`).
    """
    from tools.engines.select import with_engine

    base = get_profile(name)
    base = with_engine(base, engine) if engine is not None else replace(base, engines=())
    chosen = engine is not None
    specs = {role: replace(base.spec(role), model_id=str(
        build_engine(engine, root, shallow=shallow) if chosen and role == "inpainting" else build(name, role, root)))
        for role in (ROLES if roles is None else roles)}
    what = f"; engine {engine}{' (shallow)' if shallow else ''}" if chosen else ""
    if base.lcm_lora is not None and "inpainting" in specs and not chosen:   # lite's --quality fast
        specs["lcm_lora"] = replace(base.lcm_lora, model_id=str(build_lcm_lora(name, root)))
    return replace(base, **specs,
                   note=f"profile {name} with random weights ({', '.join(specs)}{what}); pictures are noise")


LCM_LORA_RANK = 64
LCM_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2")
"""Rank and layers of the random LCM-LoRA: the released one (67.5 M parameters) adapts the attention and
feed-forward layers at rank 64 (and some convolutions; fused, the layers adapted cost nothing per step)."""


def build_lcm_lora(profile: str, root: Path) -> Path:
    """Return ``root/lcm-lora-sdv1-5``: a random LoRA for ``profile``'s inpainting UNet in diffusers' LoRA
    format (``pytorch_lora_weights.safetensors``), the stand-in for ``latent-consistency/lcm-lora-sdv1-5``."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    source = config_dir(profile, "inpainting") / "unet"
    target = Path(root).expanduser() / "lcm-lora-sdv1-5"
    stamp = f"{_fingerprint(source)} lcm-lora {LCM_LORA_RANK} {','.join(LCM_LORA_TARGETS)}\n"
    if (target / _DONE).exists() and (target / _DONE).read_text() == stamp:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".lcm-lora-", dir=target.parent))
    try:
        with _fast_init(_dtype()):
            unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(source))
            unet.add_adapter(LoraConfig(r=LCM_LORA_RANK, lora_alpha=LCM_LORA_RANK, init_lora_weights=False,
                                        target_modules=list(LCM_LORA_TARGETS)))
        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
        generator = torch.Generator().manual_seed(SEED)
        with torch.no_grad():
            for tensor in layers.values():    # small random deltas: the fused UNet stays finite
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 1e-3)
        StableDiffusionPipeline.save_lora_weights(tmp, unet_lora_layers=layers, safe_serialization=True)
        (tmp / _DONE).write_text(stamp)
        tmp.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        gc.collect()
    return target


# -- random weights -------------------------------------------------------------------------------


@contextmanager
def _fast_init(dtype: Any):
    """Build modules without their (slow, CPU-bound) init, in ``dtype``; :func:`_fill` sets every weight after."""
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


def _fill(module: Any, seed: int = SEED) -> None:
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


def _dtype() -> Any:
    import torch

    return torch.float16  # half the disk and build time; every loader passes its dtype explicitly


# -- tokenizers (no real vocabulary can be downloaded: trained locally, laid out on the real ids) ----


def _bpe_state(tokenizer: Any) -> tuple[dict[str, int], list[tuple[str, str]]]:
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return dict(model["vocab"]), merges


def _padded(vocab: dict[str, int], specials: dict[str, int]) -> dict[str, int]:
    """``vocab`` without ``specials``, renumbered from 0, padded with unreachable fillers, specials at their ids."""
    regular = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if t not in specials]
    out = {token: i for i, token in enumerate(regular)}
    for i in range(len(out), min(specials.values())):
        out[f"<|filler_{i}|>"] = i
    out.update(specials)
    return out


def qwen2_tokenizer() -> Any:
    """A Qwen2 byte-level BPE (from ``tools.tiny.llava``) with the released special-token ids (151643-151647)."""
    from tools.tiny.llava import build_tokenizer
    from transformers import Qwen2Tokenizer

    vocab, merges = _bpe_state(build_tokenizer())
    tokenizer = Qwen2Tokenizer(vocab=_padded(vocab, QWEN2_SPECIALS), merges=merges, unk_token=None,
                               bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<image>", "<video>"]})
    return tokenizer


QWEN2_BPE = CONFIGS / "qwen2-english-bpe.json"
"""The random planner's vocabulary: a byte-level BPE with Qwen2's pre-tokenizer trained on this repository's English
(:func:`train_qwen2_english_bpe`), kept in the repo so builds do not change with the docs."""
QWEN2_PRETOKENIZE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                     r"|\s*[\r\n]+|\s+(?!\S)|\s+")
"""The released Qwen2 tokenizer's split pattern: BPE never merges across these pieces, so a prompt's piece count
is the least any Qwen2-style tokenizer gives it (the system prompt: 4,138 pieces, 15.5k characters)."""
QWEN2_BPE_VOCAB = 32_000


def train_qwen2_english_bpe(texts: Iterable[str], vocab_size: int = QWEN2_BPE_VOCAB) -> dict[str, Any]:
    """A byte-level BPE trained on ``texts`` with Qwen2's pre-tokenizer: ``{"vocab", "merges"}`` (merges as pairs).

    On English its counts come near the released tokenizer's, where most words are one token: the system prompt
    gives 4,377 tokens for 4,138 pieces (+6%); the small BPE of the tiny planner gave 7,051 (1.7x). The corpus
    bounds the vocabulary (this repository's ~340k characters give ~8k tokens)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(list(texts), trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    vocab, merges = _bpe_state_of(json.loads(bpe.to_str())["model"])
    return {"vocab": vocab, "merges": [list(m) for m in merges]}


def repo_english(root: Path = CONFIGS.parent.parent) -> list[str]:
    """English text of this repository: the README, the prompts and the Python docstrings."""
    import re

    texts = [(root / "README.md").read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in sorted((root / "prompts").glob("*.txt"))]
    for folder in ("agent", "tools", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            texts += re.findall(r'"""(.*?)"""', path.read_text(encoding="utf-8"), re.S)
    return texts


def _tokenizer_stamp(family: str) -> str:
    if family != "llava-onevision":
        return ""
    return " bpe " + hashlib.sha256(QWEN2_BPE.read_bytes()).hexdigest()[:16]


def qwen2_english_tokenizer() -> Any:
    """The planner's Qwen2 tokenizer: :data:`QWEN2_BPE` on the released special-token ids (151643-151647)."""
    from transformers import Qwen2Tokenizer

    state = json.loads(QWEN2_BPE.read_text(encoding="utf-8"))
    tokenizer = Qwen2Tokenizer(vocab=_padded(state["vocab"], QWEN2_SPECIALS),
                               merges=[tuple(m) for m in state["merges"]], unk_token=None, bos_token=None,
                               eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<image>", "<video>"]})
    return tokenizer


def _bpe_state_of(model: dict[str, Any]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return dict(model["vocab"]), merges


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> Any:
    """A CLIP BPE (from ``tools.tiny.diffusion``) with CLIP's 49408-token layout and a 77-token limit."""
    from tools.tiny.diffusion import build_tokenizer
    from transformers import CLIPTokenizer

    vocab, merges = _bpe_state(build_tokenizer())
    specials = {"<|startoftext|>": CLIP_VOCAB - 2, "<|endoftext|>": CLIP_VOCAB - 1}
    return CLIPTokenizer(vocab=_padded(vocab, specials), merges=merges, model_max_length=77, pad_token=pad_token)


def bert_tokenizer() -> Any:
    """A BERT WordPiece (from ``tools.tiny.vision``) on bert-base-uncased's special and punctuation ids."""
    from tools.tiny.vision import _bert_vocab
    from transformers import BertTokenizer

    return BertTokenizer(vocab=_bert_vocab(), do_lower_case=True, model_max_length=512)


# -- builders: one per family, each writes ``folder`` from the configs in ``source`` ---------------


def _save_model(model: Any, folder: Path) -> None:
    if hasattr(model, "tie_weights"):
        model.tie_weights()  # skipped with the init: untied copies would be saved (and loaded) twice
    _fill(model)
    from transformers import PreTrainedModel

    # transformers would write one 50 GB-limit file; the released checkpoints come in ~5 GB shards
    shards = {"max_shard_size": "5GB"} if isinstance(model, PreTrainedModel) else {}
    model.eval().save_pretrained(folder, safe_serialization=True, **shards)


def _build_llava_onevision(source: Path, folder: Path) -> None:
    from transformers import (AutoConfig, AutoModelForImageTextToText, GenerationConfig, LlavaOnevisionImageProcessor,
                              LlavaOnevisionProcessor, LlavaOnevisionVideoProcessor)

    config = AutoConfig.from_pretrained(source)
    tokenizer = qwen2_english_tokenizer()
    if tokenizer.convert_tokens_to_ids("<image>") != config.image_token_index:
        raise RuntimeError("the random planner's tokenizer does not put <image> at the config's image_token_index")
    with _fast_init(_dtype()):
        model = AutoModelForImageTextToText.from_config(config)
    model.generation_config = GenerationConfig.from_pretrained(source)
    _save_model(model, folder)
    del model
    gc.collect()
    settings = json.loads((source / "processor_config.json").read_text())
    image_processor = LlavaOnevisionImageProcessor.from_pretrained(source)
    processor = LlavaOnevisionProcessor(
        image_processor=image_processor, tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessor(image_mean=image_processor.image_mean,
                                                     image_std=image_processor.image_std),
        num_image_tokens=settings["num_image_tokens"],
        vision_feature_select_strategy=settings["vision_feature_select_strategy"],
        chat_template=settings["chat_template"])
    processor.save_pretrained(folder)


def _build_grounding_dino(source: Path, folder: Path) -> None:
    from transformers import (AutoConfig, GroundingDinoForObjectDetection, GroundingDinoImageProcessor,
                              GroundingDinoProcessor)

    config = AutoConfig.from_pretrained(source)
    with _fast_init(_dtype()):
        model = GroundingDinoForObjectDetection(config)
    _save_model(model, folder)
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor.from_pretrained(source),
                           tokenizer=bert_tokenizer()).save_pretrained(folder)


def _build_sam2(source: Path, folder: Path) -> None:
    # The released SAM 2.1 checkpoints are video models (config ``sam2_video``, memory modules
    # included); ``Sam2Model`` loads their image part. Save the same so loading is as real.
    from transformers import AutoConfig, Sam2ImageProcessor, Sam2Processor, Sam2VideoModel

    config = AutoConfig.from_pretrained(source)
    with _fast_init(_dtype()):
        model = Sam2VideoModel(config)
    _save_model(model, folder)
    Sam2Processor(image_processor=Sam2ImageProcessor.from_pretrained(source)).save_pretrained(folder)


def _component(source: Path, name: str, library: str, class_name: str) -> Any:
    """Build one diffusers pipeline component from ``source/name``'s config (models without init)."""
    import diffusers
    import transformers

    if library == "diffusers":
        cls = getattr(diffusers, class_name)
        config = cls.load_config(source / name)
        if name == "scheduler":
            return cls.from_config(config)
        with _fast_init(_dtype()):
            return cls.from_config(config)
    cls = getattr(transformers, class_name)
    if name.startswith("tokenizer"):
        return clip_tokenizer(pad_token="!" if name == "tokenizer_2" else "<|endoftext|>")
    if name == "feature_extractor":
        return cls.from_pretrained(source / name)
    with _fast_init(_dtype()):
        return cls(transformers.AutoConfig.from_pretrained(source / name))


def qwen3_tokenizer() -> Any:
    """The Qwen2 BPE on the released special ids (:func:`qwen2_tokenizer`) with Qwen3's thinking tokens and the
    chat template FLUX.2 klein renders its prompt with."""
    from tools.tiny.flux2 import CHAT_TEMPLATE

    tokenizer = qwen2_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<think>", "</think>"]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _build_flux2_klein(source: Path, folder: Path) -> None:
    """FLUX.2 klein: a diffusers pipeline whose text encoder is Qwen3 and whose tokenizer is Qwen's."""
    _build_diffusers(source, folder, tokenizer=qwen3_tokenizer)


def _build_diffusers(source: Path, folder: Path, tokenizer: Callable[[], Any] | None = None) -> None:
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
            _save_model(part, folder / name)
        else:
            part.save_pretrained(folder / name)
        del part
        gc.collect()
    model_index["_diffusers_version"] = diffusers.__version__
    (folder / "model_index.json").write_text(json.dumps(model_index, indent=2) + "\n")


BUILDERS: dict[str, Callable[[Path, Path], None]] = {
    "llava-onevision": _build_llava_onevision,
    "grounding-dino": _build_grounding_dino,
    "sam2": _build_sam2,
    "sd-inpaint": _build_diffusers,
    "sdxl-inpaint": _build_diffusers,
    "instruct-pix2pix": _build_diffusers,
    "sd": _build_diffusers,
    "flux2-klein": _build_flux2_klein,
}
"""Model family (``ModelSpec.family``) → builder."""


# -- CLI ------------------------------------------------------------------------------------------


def _size_gb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e9


def main(argv: list[str] | None = None) -> int:
    from tools.loading import cache_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(index()), default="lite")
    parser.add_argument("--root", type=Path, default=None, help="where to build (default: <chatedit cache>/random)")
    parser.add_argument("--roles", default=",".join(ROLES), help=f"comma-separated subset of {','.join(ROLES)}")
    parser.add_argument("--engine", choices=sorted(engines()), default=None,
                        help="build only this repaint engine's model")
    parser.add_argument("--shallow", action="store_true", help="with --engine flux2-klein: 1+2 blocks, 3 text layers")
    parser.add_argument("--train-tokenizer", action="store_true",
                        help=f"train the planner's BPE on this repo's English again into {QWEN2_BPE.name}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.train_tokenizer:
        state = train_qwen2_english_bpe(repo_english())
        QWEN2_BPE.write_text(json.dumps(state, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"{QWEN2_BPE}: {len(state['vocab'])} tokens, {len(state['merges'])} merges")
        return 0
    root = args.root or cache_dir() / "random"
    if args.engine:
        start = time.perf_counter()
        folder = build_engine(args.engine, root, shallow=args.shallow)
        seconds = time.perf_counter() - start
        print(f"{args.engine:13s} {folder}  {_size_gb(folder):6.2f} GB  {seconds:7.1f} s", flush=True)
        return 0
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    for role in roles:
        start = time.perf_counter()
        folder = build(args.profile, role, root)
        print(f"{role:13s} {folder}  {_size_gb(folder):6.2f} GB  {time.perf_counter() - start:7.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
