"""Find a model's files: a local folder, the Hugging Face cache/hub (safetensors only), or a tiny build."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from tools.errors import ModelUnavailableError
from tools.profiles import TINY_PREFIX, ModelSpec

logger = logging.getLogger(__name__)

# Weights are taken from safetensors only: pickled formats can run code when loaded.
_IGNORE = ["*.bin", "*.ckpt", "*.pt", "*.pth", "*.pkl", "*.msgpack", "*.h5", "*.onnx", "*.onnx_data",
           "*.tflite", "*.ot", "*.mlmodel", "*.mlpackage/*", "*.gguf", "*non_ema*", "*.md", "*.png", "*.jpg"]
# Diffusers repos also carry single-file checkpoints at the top level (several GB); the pipeline
# only needs its component folders.
_DIFFUSERS_CONFIGS = ["model_index.json", "*/*.json", "*/*.txt", "*/*.model"]
_FP16 = "*.fp16.safetensors"
DIFFUSERS_FAMILIES = frozenset({"sd-inpaint", "sdxl-inpaint", "instruct-pix2pix", "sd"})


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
        if isinstance(found, str):
            return True
    return False


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the hub's host answers a TCP connection within ``timeout`` seconds."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _missing_message(model_id: str, reason: str) -> str:
    return (f"model {model_id} is not available ({reason}); download it once with "
            f"`hf download {model_id}` on a machine with network, or run with --profile tiny")


def download_patterns(family: str, *, fp16: bool = False) -> dict[str, list[str]]:
    """``snapshot_download`` patterns: safetensors only; for diffusers repos only the component
    folders, in fp16 (the ``fp16`` variant files, half the download) or full precision."""
    if family not in DIFFUSERS_FAMILIES:
        return {"ignore_patterns": _IGNORE}
    if fp16:
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
        if not ((path / "config.json").exists() or (path / "model_index.json").exists()):
            raise ModelUnavailableError(
                f"model folder {model_id} has no config.json or model_index.json; point at a folder "
                f"written by save_pretrained")
        _require_safetensors(path, model_id)
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    fp16 = fp16 and spec.family in DIFFUSERS_FAMILIES
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
    _require_safetensors(path, model_id)
    return path


def _require_safetensors(path: Path, model_id: str) -> None:
    if not any(path.rglob("*.safetensors")):
        raise ModelUnavailableError(
            f"model {model_id} has no .safetensors weights; chatedit loads safetensors only "
            f"(convert it with save_pretrained(safe_serialization=True))")
