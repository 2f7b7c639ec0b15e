"""Find a model's files (a local folder, the HF cache/hub, safetensors only, or a tiny build); pick a profile."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from tools.errors import ModelUnavailableError
from tools.profiles import FULL, LITE, TINY, TINY_PREFIX, ModelSpec, Profile, get_profile

logger = logging.getLogger(__name__)

# Weights are taken from safetensors only: pickled formats can run code when loaded.
_IGNORE = ["*.bin", "*.ckpt", "*.pt", "*.pth", "*.pkl", "*.msgpack", "*.h5", "*.onnx", "*.onnx_data",
           "*.tflite", "*.ot", "*.mlmodel", "*.mlpackage/*", "*.gguf", "*non_ema*", "*.md", "*.png", "*.jpg",
           "safety_checker/*"]  # loaded with safety_checker=None: 1.2 GB never used
# Diffusers repos also carry single-file checkpoints at the top level (several GB); the pipeline
# only needs its component folders.
_DIFFUSERS_CONFIGS = ["model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.jinja"]
_FP16 = "*.fp16.safetensors"
DIFFUSERS_FAMILIES = frozenset({"sd-inpaint", "sdxl-inpaint", "instruct-pix2pix", "sd", "flux2-klein"})
NO_FP16_VARIANT = frozenset({"flux2-klein"})
"""Diffusers families published in bf16 only (no ``fp16`` variant files): fetched as they are."""


def cache_dir() -> Path:
    """chatedit's own cache (tiny models): ``$CHATEDIT_CACHE`` or ``~/.cache/chatedit``."""
    root = os.environ.get("CHATEDIT_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "chatedit"


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _looks_local(model_id: str) -> bool:
    return model_id.startswith((".", "/", "~")) or os.path.isdir(os.path.expanduser(model_id))


def is_cached(model_id: str) -> bool:
    """Whether a model can be loaded without the network (a local folder, a tiny id, or in the HF cache)."""
    if model_id.startswith(TINY_PREFIX):
        return True
    if _looks_local(model_id):
        return os.path.isdir(os.path.expanduser(model_id))
    from huggingface_hub import try_to_load_from_cache

    for name in ("config.json", "model_index.json"):
        found = try_to_load_from_cache(model_id, name)
        if isinstance(found, str):  # a config alone is a partial download: the weights must be there too
            return has_weights(Path(found).parent)
    return False


_NO_WEIGHTS = ("scheduler", "tokenizer", "tokenizer_2", "feature_extractor", "image_processor", "safety_checker")


def has_weights(folder: Path) -> bool:
    """Whether ``folder`` holds safetensors weights for the whole model.

    A diffusers pipeline needs them in every component folder that has a config (UNet, VAE, text
    encoders); a sharded checkpoint needs every shard its index lists.
    """
    if (folder / "model_index.json").is_file():
        parts = [d for d in folder.iterdir()
                 if d.is_dir() and d.name not in _NO_WEIGHTS and (d / "config.json").is_file()]
        return bool(parts) and all(any(f.is_file() for f in d.glob("*.safetensors")) for d in parts)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        except (OSError, ValueError, AttributeError):
            return False
        return bool(shards) and all((folder / shard).is_file() for shard in shards)
    return any(f.is_file() for f in folder.glob("*.safetensors"))


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the hub's host answers a TCP connection within ``timeout`` seconds."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    try:
        host, port = url.hostname, url.port or (80 if url.scheme == "http" else 443)
    except ValueError:  # a malformed port: the hub cannot be reached there
        return False
    if not host:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_profile(name: str = "auto", *, cuda: bool | None = None) -> Profile:
    """Resolve a profile name, choosing for ``auto``.

    ``auto`` means ``full`` on CUDA, ``lite`` on the CPU, and ``tiny`` when the chosen models
    are neither cached nor downloadable. The returned profile's ``note`` is a one-line banner
    saying which profile and why.

    Args:
        name: ``auto``, ``full``, ``lite`` or ``tiny``.
        cuda: whether CUDA is available (None: ask torch).
    """
    if name != "auto":
        profile = get_profile(name)
        return replace(profile, note=f"{profile.banner}: asked for")
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    wanted = FULL if cuda else LITE
    missing = [s.model_id for s in wanted.specs().values() if not is_cached(s.model_id)]
    if not missing:
        return replace(wanted, note=f"profile {wanted.name}: {'CUDA' if cuda else 'no CUDA'}, all models cached")
    if is_offline():
        why = f"HF_HUB_OFFLINE is set and {len(missing)} of its models are not cached (e.g. {missing[0]})"
    elif not hub_reachable():
        why = f"the Hugging Face hub cannot be reached and {len(missing)} of its models are not cached (e.g. {missing[0]})"
    else:
        return replace(wanted, note=f"profile {wanted.name}: {'CUDA' if cuda else 'no CUDA'}; "
                                    f"{len(missing)} model(s) will be downloaded once")
    return replace(TINY, note=f"{TINY.banner}: {wanted.name} wanted, but {why}")


def _missing_message(model_id: str, reason: str) -> str:
    return (f"model {model_id} is not available ({reason}); download it once with "
            f"`hf download {model_id}` on a machine with network, or run with --profile tiny")


def download_patterns(family: str, *, fp16: bool = False) -> dict[str, list[str]]:
    """``snapshot_download`` patterns: safetensors only; for diffusers repos only the component
    folders, in fp16 (the ``fp16`` variant files, half the download) or full precision; for a LoRA
    (``lcm-lora``) its top-level safetensors file only."""
    if family == "lcm-lora":
        return {"allow_patterns": ["*.safetensors"], "ignore_patterns": _IGNORE}
    if family not in DIFFUSERS_FAMILIES:
        return {"ignore_patterns": _IGNORE}
    if fp16 and family not in NO_FP16_VARIANT:
        return {"allow_patterns": [*_DIFFUSERS_CONFIGS, f"*/{_FP16}"], "ignore_patterns": _IGNORE}
    return {"allow_patterns": [*_DIFFUSERS_CONFIGS, "*/*.safetensors"], "ignore_patterns": [*_IGNORE, _FP16]}


def diffusers_variant(path: str | Path) -> str | None:
    """``"fp16"`` when a diffusers folder's UNet has only fp16-variant weights, else None (full precision)."""
    unet = Path(path) / "unet"
    has_fp16 = any(unet.glob(_FP16))
    has_full = any(p for p in unet.glob("*.safetensors") if not p.name.endswith(".fp16.safetensors"))
    return "fp16" if has_fp16 and not has_full else None


def model_path(spec: ModelSpec, *, fp16: bool = False) -> Path:
    """Return a local folder holding ``spec``'s config and safetensors weights.

    Tiny ids are built on first use into :func:`cache_dir`; hub ids come from the Hugging Face
    cache, downloaded with progress bars unless ``HF_HUB_OFFLINE`` is set. With ``fp16`` (CUDA),
    diffusers repos are fetched as their fp16 variant where they have one; a component without
    fp16 files is fetched in full precision.

    Raises:
        ModelUnavailableError: offline and not cached, unknown id, bad local path, or no
            safetensors weights in the folder.
    """
    model_id = spec.model_id
    if spec.is_tiny:
        from tools.tiny import ensure

        return ensure(model_id[len(TINY_PREFIX):], cache_dir() / "tiny")
    if _looks_local(model_id):
        path = Path(model_id).expanduser()
        if not path.is_dir():
            raise ModelUnavailableError(f"model folder {model_id} does not exist; check the path or use a hub id")
        adapter = spec.family == "lcm-lora"   # a LoRA repo ships its weights file and no config
        if not adapter and not ((path / "config.json").exists() or (path / "model_index.json").exists()):
            raise ModelUnavailableError(
                f"model folder {model_id} has no config.json or model_index.json; point at a folder "
                f"written by save_pretrained")
        _require_safetensors(path, model_id)
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    fp16 = fp16 and spec.family in DIFFUSERS_FAMILIES and spec.family not in NO_FP16_VARIANT
    try:
        folder = snapshot_download(model_id, local_files_only=is_offline(), **download_patterns(spec.family, fp16=fp16))
        if fp16:  # components published without an fp16 variant: take their full-precision weights
            for part in Path(folder).iterdir():
                if part.is_dir() and not any(part.glob("*.safetensors")) and any(part.glob("*.json")) \
                        and part.name not in ("scheduler", "tokenizer", "tokenizer_2", "feature_extractor"):
                    snapshot_download(model_id, local_files_only=is_offline(), ignore_patterns=_IGNORE,
                                      allow_patterns=[f"{part.name}/*.safetensors"])
    except LocalEntryNotFoundError as e:
        why = "HF_HUB_OFFLINE is set and it is not cached" if is_offline() else "not cached and the hub cannot be reached"
        raise ModelUnavailableError(_missing_message(model_id, why)) from e
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        raise ModelUnavailableError(_missing_message(model_id, f"the hub answered {status or 'an error'}")) from e
    except (OSError, ValueError) as e:
        raise ModelUnavailableError(_missing_message(model_id, type(e).__name__)) from e
    path = Path(folder)
    if not has_weights(path):  # e.g. an interrupted download that left only the configs
        raise ModelUnavailableError(_missing_message(model_id, "its safetensors weights are not in the cache"))
    return path


def _require_safetensors(path: Path, model_id: str) -> None:
    if not any(path.rglob("*.safetensors")):
        raise ModelUnavailableError(
            f"model {model_id} has no .safetensors weights; chatedit loads safetensors only "
            f"(convert it with save_pretrained(safe_serialization=True))")


def _config(path: str | Path, name: str, kind: str) -> dict:
    """``path/name`` parsed, or a ModelUnavailableError saying the folder is not a ``kind`` checkpoint."""
    file = Path(path).expanduser() / name
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelUnavailableError(f"cannot load {kind} from {path}: it has no {name}; point at a {kind} "
                                    f"folder written by save_pretrained") from None
    except (OSError, ValueError) as e:
        raise ModelUnavailableError(f"cannot load {kind} from {path}: {name} is unreadable ({type(e).__name__}); "
                                    f"re-download or re-save the model") from e
    if not isinstance(config, dict):
        raise ModelUnavailableError(f"cannot load {kind} from {path}: {name} is not a JSON object; "
                                    f"re-download or re-save the model")
    return config


@contextmanager
def load_errors(what: str, path: str | Path, *, hint: str = "",
                errors: tuple[type[Exception], ...] = (OSError, ValueError, KeyError)) -> Iterator[None]:
    """Turn what loading a bad folder raises into a one-line :class:`ModelUnavailableError` naming it.

    Args:
        what: the model as the message names it (``"SAM 2"``, ``"a Stable Diffusion model"``).
        path: the folder being loaded.
        hint: what to do about it, appended after ``"; "`` (empty: nothing).
        errors: the exception types that mean a bad folder; a corrupt safetensors file always does.
    """
    from safetensors import SafetensorError

    try:
        yield
    except (*errors, SafetensorError) as e:
        first = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        advice = f"; {hint}" if hint else ""
        raise ModelUnavailableError(f"cannot load {what} from {path}: {first}{advice}") from e


def expect_model_type(path: str | Path, kind: str, model_types: Collection[str]) -> None:
    """Check, before loading any weights, that a transformers folder holds a ``kind`` model.

    Args:
        path: the model folder.
        kind: what the caller loads, for the message (``"SAM 2"``).
        model_types: the ``model_type`` values of ``config.json`` that fit.

    Raises:
        ModelUnavailableError: no readable ``config.json``, or it names another architecture.
    """
    found = _config(path, "config.json", kind).get("model_type")
    if found not in model_types:
        raise ModelUnavailableError(f"cannot load {kind} from {path}: it is a {found or 'unknown'!r} model, "
                                    f"expected {kind}; point at a {kind} checkpoint folder")


def expect_pipeline(path: str | Path, kind: str, class_names: Collection[str]) -> None:
    """Check, before loading any weights, that a diffusers folder's ``model_index.json`` names one of
    ``class_names`` (``"Flux2KleinPipeline"``).

    Raises:
        ModelUnavailableError: not a diffusers pipeline folder, or a pipeline of another kind.
    """
    found = _config(path, "model_index.json", kind).get("_class_name")
    if found not in class_names:
        raise ModelUnavailableError(f"cannot load {kind} from {path}: it is a {found or 'unknown'!r} pipeline, "
                                    f"expected {' or '.join(class_names)}; point at a {kind} pipeline folder")


def expect_unet_channels(path: str | Path, kind: str, channels: Collection[int]) -> None:
    """Check, before loading any weights, that a diffusers folder's UNet takes ``channels`` input channels
    (4: text-to-image, 8: InstructPix2Pix, 9: inpainting).

    Raises:
        ModelUnavailableError: not a diffusers pipeline folder, or its UNet is for another task.
    """
    _config(path, "model_index.json", kind)
    found = _config(Path(path) / "unet", "config.json", kind).get("in_channels")
    if found not in channels:
        what = {4: "a text-to-image", 8: "an InstructPix2Pix", 9: "an inpainting"}.get(found, "an unknown")
        raise ModelUnavailableError(f"cannot load {kind} from {path}: it is {what} model (its UNet takes {found} "
                                    f"input channels, expected {' or '.join(map(str, channels))}); point at a "
                                    f"{kind} pipeline folder")
