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

The pieces live in ``benchmarks/random_models/`` (cache folders, random fill, tokenizers, one builder
per family); this module is their entry point and command line.

Usage: python benchmarks/random_weights.py --profile lite [--root DIR] [--roles planner,grounding,...]
       python benchmarks/random_weights.py --engine flux2-klein [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.random_models.diffusers_models import (LCM_LORA_RANK, LCM_LORA_TARGETS, build_diffusers,
                                                       build_flux2_klein, write_lcm_lora)
from benchmarks.random_models.store import BUILD_VERSION, CONFIGS, build_into, fingerprint
from benchmarks.random_models.transformers_models import build_grounding_dino, build_llava_onevision, build_sam2
from benchmarks.random_models.vocabularies import (CLIP_VOCAB, QWEN2_BPE, QWEN2_BPE_VOCAB, QWEN2_PRETOKENIZE,
                                                   QWEN2_SPECIALS, bert_tokenizer, clip_tokenizer,
                                                   qwen2_english_tokenizer, qwen2_tokenizer, qwen3_tokenizer,
                                                   repo_english, tokenizer_stamp, train_qwen2_english_bpe)
from tools.errors import InvalidInputError
from tools.profiles import ROLES, Profile, get_profile

__all__ = ["BUILD_VERSION", "CLIP_VOCAB", "CONFIGS", "LCM_LORA_RANK", "LCM_LORA_TARGETS", "QWEN2_BPE",
           "QWEN2_BPE_VOCAB", "QWEN2_PRETOKENIZE", "QWEN2_SPECIALS", "SHALLOW", "BUILDERS", "bert_tokenizer", "build",
           "build_engine", "build_lcm_lora", "clip_tokenizer", "config_dir", "engines", "index", "main",
           "qwen2_english_tokenizer", "qwen2_tokenizer", "qwen3_tokenizer", "random_profile", "repo_english",
           "train_qwen2_english_bpe"]

_build_llava_onevision = build_llava_onevision  # the name tests build a small planner with

BUILDERS: dict[str, Callable[[Path, Path], None]] = {
    "llava-onevision": build_llava_onevision,
    "grounding-dino": build_grounding_dino,
    "sam2": build_sam2,
    "sd-inpaint": build_diffusers,
    "sdxl-inpaint": build_diffusers,
    "instruct-pix2pix": build_diffusers,
    "sd": build_diffusers,
    "flux2-klein": build_flux2_klein,
}
"""Model family (``ModelSpec.family``) → builder."""

SHALLOW = {"transformer": {"num_layers": 1, "num_single_layers": 2}, "text_encoder": {"num_hidden_layers": 3}}
"""A shallow build keeps every layer's real shape but only this many blocks: FLUX.2 klein 4B's 5 double +
20 single transformer blocks and 36 Qwen3 layers become 1 + 2 and 3 (1.2 B parameters instead of 8 B),
so a CPU with 24 GB can run the real widths, sequence lengths, VAE and pipeline code."""


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


def build(profile: str, role: str, root: Path) -> Path:
    """Return ``root/<model folder>`` holding ``profile``'s ``role`` model with random weights, building it first.

    The build goes to a temporary folder renamed into place; a folder whose completion marker
    names other configs (or an older builder) is rebuilt. Models shared by profiles (the SD 1.5
    pipelines) are built once.

    Raises:
        InvalidInputError: an unknown profile or role.
    """
    return _build(config_dir(profile, role), get_profile(profile).spec(role).family, root)


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


def build_lcm_lora(profile: str, root: Path) -> Path:
    """Return ``root/lcm-lora-sdv1-5``: a random LoRA for ``profile``'s inpainting UNet in diffusers' LoRA
    format (``pytorch_lora_weights.safetensors``), the stand-in for ``latent-consistency/lcm-lora-sdv1-5``."""
    source = config_dir(profile, "inpainting") / "unet"
    stamp = f"{fingerprint(source)} lcm-lora {LCM_LORA_RANK} {','.join(LCM_LORA_TARGETS)}\n"
    return build_into(Path(root).expanduser() / "lcm-lora-sdv1-5", stamp,
                      lambda folder: write_lcm_lora(source, folder), "LCM-LoRA")


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
    stamp = f"{fingerprint(source)} {family}{tokenizer_stamp(family)}\n"
    return build_into(Path(root).expanduser() / source.name, stamp, lambda folder: BUILDERS[family](source, folder),
                      f"{source.name} ({family})")


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
