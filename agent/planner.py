"""The local planner: a LangChain chat model over a transformers LLaVA checkpoint, optionally 4-bit and schema-constrained."""

from __future__ import annotations

import base64
import binascii
import io
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ChatMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from PIL import Image
from pydantic import ConfigDict, Field, PrivateAttr

from tools.device import Placement, resolve_placement
from tools.errors import InvalidInputError, ModelUnavailableError
from tools.profiles import ModelSpec, Profile

logger = logging.getLogger(__name__)

SKIP_4BIT_MODULES = ["model.vision_tower", "model.multi_modal_projector", "lm_head"]
"""Kept in full precision under 4-bit: the vision side and the output head (full dotted prefixes)."""


def quantization_config(compute_dtype: torch.dtype) -> Any:
    """The bitsandbytes 4-bit (NF4) config the planner loads with on CUDA."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
                              bnb_4bit_use_double_quant=True, llm_int8_skip_modules=list(SKIP_4BIT_MODULES))


class LlavaChatModel(BaseChatModel):
    """A LangChain chat model over a transformers LLaVA-family checkpoint (llava, llava-next, llava-onevision).

    Replies are greedy (deterministic). With a JSON schema (``json_schema`` attribute, or
    ``json_schema=`` bound with ``.bind()`` / passed to ``invoke``) decoding is constrained by
    xgrammar so the reply is JSON that follows the schema (unless ``max_new_tokens`` cuts it off).

    Messages are system / human / ai; content is a string or a list of blocks:
    ``{"type": "text", "text": ...}`` and ``{"type": "image", "base64": ..., "mime_type": ...}``
    (also ``image_url`` blocks with a ``data:`` URL). Images are never fetched from the network.

    Build it with :meth:`from_pretrained`, or directly from loaded parts:
    ``LlavaChatModel(model=model, processor=processor)``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Any = Field(exclude=True)
    """A loaded ``AutoModelForImageTextToText``."""
    processor: Any = Field(exclude=True)
    """Its ``AutoProcessor`` (tokenizer, image processor, chat template)."""
    model_name: str = "llava"
    json_schema: dict | None = None
    """Constrain every reply to this JSON schema (None: free text unless a call passes one)."""
    max_new_tokens: int = Field(default=768, ge=1)
    supports_json_schema: bool = Field(default=True, exclude=True)
    """Tells callers (agent.graph.planning) that ``json_schema=`` constrains decoding here."""

    _constraint: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.RLock)
    _reload: Any = PrivateAttr(default=None)
    _residency: Any = PrivateAttr(default=None)
    _cost: float = PrivateAttr(default=0.0)

    @classmethod
    def from_pretrained(cls, path: str | Path | ModelSpec, *, placement: Placement | None = None,
                        quantize_4bit: bool = False, max_new_tokens: int = 768) -> LlavaChatModel:
        """Load a checkpoint folder (or a :class:`ModelSpec`) with safetensors weights only.

        Args:
            path: a folder written by ``save_pretrained``, or a spec resolved by ``tools.loading.model_path``.
            placement: device and dtype (None: the best available).
            quantize_4bit: load the language model in 4-bit NF4 through bitsandbytes. CUDA only:
                elsewhere it is skipped with a log message and the model loads at ``placement.dtype``.
            max_new_tokens: the longest reply, in tokens.

        Raises:
            ModelUnavailableError: the folder is missing or not a loadable LLaVA checkpoint.
        """
        from safetensors import SafetensorError
        from transformers import AutoModelForImageTextToText, AutoProcessor
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

        from tools.loading import expect_model_type, model_path

        if isinstance(path, ModelSpec):
            quantize_4bit = quantize_4bit or path.quantize_4bit
            name, path = path.model_id, model_path(path)
        else:
            name = str(path)
        expect_model_type(path, "planner model", MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)
        placement = placement or resolve_placement()
        kwargs: dict[str, Any] = {"use_safetensors": True, "dtype": placement.dtype}
        if quantize_4bit and placement.is_cuda:
            compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            kwargs.update(dtype=compute, quantization_config=quantization_config(compute), device_map=placement.device)
        elif quantize_4bit:
            logger.info("4-bit quantization needs CUDA; loading planner %s at %s on %s instead",
                        name, placement.dtype, placement.device)
        def load_model() -> Any:
            model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
            if "quantization_config" not in kwargs:
                model = model.to(placement.device)
            logger.info("planner %s loaded on %s (%s)", name, placement.device,
                        "4-bit" if "quantization_config" in kwargs else placement.dtype)
            return model.eval()

        try:
            processor = AutoProcessor.from_pretrained(path)
            model = load_model()
        except (OSError, ValueError, KeyError, SafetensorError) as e:  # SafetensorError: a corrupt weights file
            raise ModelUnavailableError(f"cannot load planner model from {path}: {str(e).splitlines()[0]}; "
                                        f"point at a LLaVA-family folder written by save_pretrained") from e
        chat = cls(model=model, processor=processor, model_name=name, max_new_tokens=max_new_tokens)
        chat._reload = load_model
        return chat

    def manage(self, residency: Any, cost_gb: float) -> None:
        """Let a :class:`tools.memory.Residency` unload this model when another needs the GPU;
        the next reply then loads it again (from disk) first."""
        self._residency = residency
        self._cost = cost_gb
        residency.add("planner", cost_gb, self.release)

    def release(self) -> None:
        """Drop the model's weights (the processor stays); the next call reloads them."""
        with self._lock:
            if self._reload is None:
                raise InvalidInputError("this planner was built from loaded parts and cannot reload; keep it loaded")
            self.model = None
        from tools.memory import free_accelerator_memory

        free_accelerator_memory()

    def loaded_model(self) -> Any:
        """The model, loaded again first if it was released."""
        with self._lock:
            if self.model is None:
                if self._residency is not None:
                    self._residency.admit("planner", self._cost)
                self.model = self._reload()
                if self._residency is not None:
                    self._residency.add("planner", self._cost, self.release)
            elif self._residency is not None:
                self._residency.touch("planner")
            return self.model

    @property
    def _llm_type(self) -> str:
        return "chatedit-llava"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "max_new_tokens": self.max_new_tokens}

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    def stop_token_ids(self) -> list[int]:
        """Token ids that end a reply: the generation config's and the tokenizer's end-of-sequence tokens."""
        ids: set[int] = set()
        for source in (getattr(self.loaded_model().generation_config, "eos_token_id", None),
                       self.tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, Sequence):
                ids.update(int(i) for i in source)
        return sorted(ids)

    def constraint(self) -> Any:
        """The (cached) :class:`tools.constrained.SchemaConstraint` for this model's tokenizer."""
        with self._lock:
            if self._constraint is None:
                from tools.constrained import SchemaConstraint

                vocab = self.loaded_model().get_output_embeddings().weight.shape[0]
                self._constraint = SchemaConstraint(self.tokenizer, vocab_size=vocab,
                                                    stop_token_ids=self.stop_token_ids())
            return self._constraint

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        schema = kwargs.pop("json_schema", None) or self.json_schema
        max_new_tokens = int(kwargs.pop("max_new_tokens", self.max_new_tokens))
        min_new_tokens = int(kwargs.pop("min_new_tokens", 0))  # benchmarks time a fixed reply length
        if kwargs:
            logger.debug("LlavaChatModel ignores %s", ", ".join(sorted(kwargs)))
        conversation, images = to_conversation(messages)
        prompt = self._render(conversation)
        processor = self.constraint().processor(schema) if schema else None
        with self._lock, torch.inference_mode():
            model = self.loaded_model()
            inputs = self.processor(text=prompt, images=images or None, return_tensors="pt")
            inputs = {k: (v.to(model.device, model.dtype) if v.is_floating_point() else v.to(model.device))
                      for k, v in inputs.items()}
            prompt_len = inputs["input_ids"].shape[1]
            stops = self.stop_token_ids()
            output = model.generate(
                **inputs, do_sample=False, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens or None,
                num_beams=1,
                temperature=None, top_p=None, top_k=None,
                eos_token_id=stops or None, pad_token_id=self._pad_token_id(stops),
                logits_processor=[processor] if processor is not None else None)
        new_tokens = output[0, prompt_len:]
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        for word in stop or ():
            if word and word in text:
                text = text[: text.index(word)]
        finished = bool(len(new_tokens)) and int(new_tokens[-1]) in stops
        meta = {"model_name": self.model_name, "new_tokens": int(len(new_tokens)),
                "finish_reason": "stop" if finished else "length", "constrained": processor is not None}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text, response_metadata=meta))])

    def _pad_token_id(self, stops: list[int]) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else (stops[0] if stops else 0)

    def _render(self, conversation: list[dict[str, Any]]) -> str:
        from jinja2 import TemplateError

        try:
            return self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        except TemplateError:
            if not conversation or conversation[0]["role"] != "system":
                raise
            # Some chat templates reject a system role: fold it into the first user turn.
            system, rest = conversation[0], conversation[1:]
            if rest and rest[0]["role"] == "user":
                rest = [{"role": "user", "content": system["content"] + rest[0]["content"]}, *rest[1:]]
            else:
                rest = [{"role": "user", "content": system["content"]}, *rest]
            return self.processor.apply_chat_template(rest, add_generation_prompt=True, tokenize=False)


_ROLES = {SystemMessage: "system", HumanMessage: "user", AIMessage: "assistant"}


def to_conversation(messages: Sequence[BaseMessage]) -> tuple[list[dict[str, Any]], list[Image.Image]]:
    """Turn LangChain messages into a chat-template conversation plus its images, in order.

    Raises:
        InvalidInputError: an unsupported message type or content block, or an image that is not
            inline base64 / cannot be decoded.
    """
    conversation: list[dict[str, Any]] = []
    images: list[Image.Image] = []
    for message in messages:
        role = next((r for cls, r in _ROLES.items() if isinstance(message, cls)), None)
        if role is None and isinstance(message, ChatMessage):
            role = message.role
        if role is None:
            raise InvalidInputError(f"the LLaVA planner takes system, human and ai messages, got {message.type}")
        blocks: list[dict[str, Any]] = []
        content = message.content
        for block in [content] if isinstance(content, str) else content:
            if isinstance(block, str):
                blocks.append({"type": "text", "text": block})
            elif isinstance(block, Mapping) and block.get("type") == "text":
                blocks.append({"type": "text", "text": str(block.get("text", ""))})
            elif isinstance(block, Mapping) and block.get("type") in ("image", "image_url"):
                images.append(_decode_image(block))
                blocks.append({"type": "image"})
            else:
                kind = block.get("type") if isinstance(block, Mapping) else type(block).__name__
                raise InvalidInputError(f"unsupported message content block {kind!r}; use text or base64 image blocks")
        conversation.append({"role": role, "content": blocks})
    return conversation, images


def _decode_image(block: Mapping[str, Any]) -> Image.Image:
    data = block.get("base64") or (block.get("data") if block.get("source_type") == "base64" else None)
    if data is None:
        url = block.get("url") or block.get("image_url")
        url = url.get("url") if isinstance(url, Mapping) else url
        if isinstance(url, str) and url.startswith("data:") and "," in url:
            data = url.split(",", 1)[1]
        else:
            raise InvalidInputError(f"image blocks must carry inline base64 data (no URLs are fetched), got "
                                    f"{str(url)[:60]!r}")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(data, validate=False)))
        return image.convert("RGB")
    except (binascii.Error, OSError, ValueError, Image.DecompressionBombError) as e:
        raise InvalidInputError(f"cannot decode the image in a message: {e}") from e


def load_planner(profile: Profile, placement: Placement | None = None, *, memory: Any = None) -> BaseChatModel:
    """Load the profile's planner (built first for ``tiny``; 4-bit where the profile says so and CUDA is there).

    Args:
        memory: the toolkit's :class:`tools.memory.Residency`: room is made before loading, and the
            planner may be unloaded for another model under an offload plan (it reloads when next asked).
    """
    from tools.memory import allocated, measured_gb

    spec = profile.planner
    if memory is not None:
        memory.admit("planner", spec.vram_gb)
    before = allocated()
    chat = LlavaChatModel.from_pretrained(spec, placement=placement, quantize_4bit=spec.quantize_4bit)
    if memory is not None:
        cost = measured_gb(before)
        chat.manage(memory, spec.vram_gb if cost is None else cost)
    return chat
