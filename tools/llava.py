"""The planner's model: a LLaVA checkpoint loaded once (optionally 4-bit), greedy replies, JSON-schema-constrained."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from tools.device import Placement, resolve_placement
from tools.errors import InvalidInputError
from tools.profiles import ModelSpec

if TYPE_CHECKING:
    from tools.constrained import SchemaConstraint
    from tools.memory import Residency
    from tools.prefix_store import PrefixStore

logger = logging.getLogger(__name__)

SKIP_4BIT_MODULES = ["model.vision_tower", "model.multi_modal_projector", "lm_head"]
"""Kept in full precision under 4-bit: the vision side and the output head (full dotted prefixes)."""

Conversation = list[dict[str, Any]]
"""Chat-template turns: ``{"role": "system" | "user" | "assistant", "content": [block, ...]}`` where a block is
``{"type": "text", "text": ...}`` or ``{"type": "image"}`` (the next image of the call's ``images``)."""


IMAGE_MODES = ("anyres", "frame")
"""How the planner is shown one image (see :class:`Llava`)."""

PREFILL_CHUNK = 512
"""Tokens per forward pass when the system turn's keys and values are computed (see ``Llava._prefill``)."""
PREFILL_ATTENTION = "sdpa"
"""The attention the system turn's keys and values are computed with, whatever the model decodes with."""

ATTENTIONS = ("eager", "sdpa")
"""The language model's attention implementations a planner can load with."""


def attention_for(placement: Placement) -> str:
    """The language model's attention for ``placement``: ``eager`` on the CPU, where it decodes 1.47x faster than
    SDPA at a 3.8k context (92 vs 135 ms a token, bf16, 2 cores; the same at 300 tokens:
    benchmarks/bench_attention.py), ``sdpa`` on accelerators. The long system prompt is prefilled with SDPA
    either way (see ``Llava._prefill``). Greedy replies are the same either way (tests/test_llava.py)."""
    return "eager" if placement.device == "cpu" else "sdpa"


def quantization_config(compute_dtype: torch.dtype) -> Any:
    """The bitsandbytes 4-bit (NF4) config the planner loads with on CUDA."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
                              bnb_4bit_use_double_quant=True, llm_int8_skip_modules=list(SKIP_4BIT_MODULES))


@dataclass(frozen=True)
class LlavaReply:
    """One generated reply.

    Attributes:
        text: the new tokens decoded (special tokens skipped), stripped.
        new_tokens: how many tokens were generated.
        finished: True when the reply ended with a stop token, False when ``max_new_tokens`` cut it off.
        constrained: whether decoding followed a JSON schema.
    """

    text: str
    new_tokens: int
    finished: bool
    constrained: bool


class Llava:
    """A LLaVA-family checkpoint (llava, llava-next, llava-onevision) on transformers: load once, call many.

    Replies are greedy (deterministic). With a JSON schema, decoding is constrained by xgrammar
    (:mod:`tools.constrained`) so the reply is JSON that follows the schema, unless ``max_new_tokens``
    cuts it off. Thread-safe: one generation at a time.

    Build it with :meth:`from_pretrained`, or from loaded parts: ``Llava(model, processor)``.

    Args:
        model: a loaded ``AutoModelForImageTextToText`` in eval mode.
        processor: its ``AutoProcessor`` (tokenizer, image processor, chat template).
        name: the model id, for logs and reply metadata.
        reload: loads the model again after :meth:`release` (None: it cannot be released).
        image_mode: how one image is shown (:data:`IMAGE_MODES`): ``anyres``, the model's own grid
            (up to 10 views of 729 tokens), or ``frame``: on OneVision one 384² view as a one-frame
            video (197 tokens, about 4x less prefill), elsewhere as ``anyres``.
    """

    def __init__(self, model: Any, processor: Any, *, name: str = "llava",
                 reload: Callable[[], Any] | None = None, image_mode: str = "anyres") -> None:
        if image_mode not in IMAGE_MODES:
            raise InvalidInputError(f"image_mode must be one of {', '.join(IMAGE_MODES)}, got {image_mode!r}")
        self.image_mode = image_mode
        self.model: Any = model
        """The loaded model; None while released."""
        self.processor = processor
        self.name = name
        self._reload = reload
        self._lock = threading.RLock()
        self._constraint: SchemaConstraint | None = None
        self.precompiling: threading.Thread | None = None
        """The thread :meth:`precompile` started (None: none was)."""
        self.cache_prefix = True
        """Compute the system turn's keys and values once and reuse them in every reply (see :meth:`prefix_cache`)."""
        self._prefix: tuple[tuple[int, ...], Any] | None = None
        self.prefix_source: str | None = None
        """Where the system turn's keys and values came from last: "disk", "computed", or None (not yet)."""
        self.prefix_store: PrefixStore | None = None
        """Where computed system-turn prefixes are kept across processes (None: in memory only);
        :meth:`from_pretrained` sets it to ``<cache>/prefix`` off CUDA."""
        self._weights: str | None = None      # the checkpoint's fingerprint, part of a saved prefix's key
        self._attention: str | None = None
        self._residency: Residency | None = None
        self._cost = 0.0

    @classmethod
    def from_pretrained(cls, path: str | Path | ModelSpec, *, placement: Placement | None = None,
                        quantize_4bit: bool = False, image_mode: str = "anyres",
                        attention: str | None = None) -> Llava:
        """Load a checkpoint folder (or a :class:`ModelSpec`) with safetensors weights only.

        Args:
            path: a folder written by ``save_pretrained``, or a spec resolved by ``tools.loading.model_path``.
            placement: device and dtype (None: the best available).
            quantize_4bit: load the language model in 4-bit NF4 through bitsandbytes. CUDA only:
                elsewhere it is skipped with a log message and the model loads at ``placement.dtype``.
            image_mode: how one image is shown (see the class).
            attention: the language model's attention (:data:`ATTENTIONS`; None: :func:`attention_for`
                the placement); the vision tower keeps SDPA.

        Raises:
            ModelUnavailableError: the folder is missing or not a loadable LLaVA checkpoint.
        """
        from transformers import AutoModelForImageTextToText, AutoProcessor
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

        from tools.loading import cache_dir, expect_model_type, load_errors, model_path
        from tools.prefix_store import PrefixStore, model_fingerprint

        if isinstance(path, ModelSpec):
            quantize_4bit = quantize_4bit or path.quantize_4bit
            name, path = path.model_id, model_path(path)
        else:
            name = str(path)
        expect_model_type(path, "planner model", MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)
        placement = placement or resolve_placement()
        attention = attention or attention_for(placement)
        if attention not in ATTENTIONS:
            raise InvalidInputError(f"attention must be one of {', '.join(ATTENTIONS)}, got {attention!r}")
        attn = {"": "sdpa", "vision_config": "sdpa", "text_config": attention}
        kwargs: dict[str, Any] = {"use_safetensors": True, "dtype": placement.dtype, "attn_implementation": attn}
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
            logger.info("planner %s loaded on %s (%s, %s attention)", name, placement.device,
                        "4-bit" if "quantization_config" in kwargs else placement.dtype, attention)
            return model.eval()

        with load_errors("planner model", path, hint="point at a LLaVA-family folder written by save_pretrained"):
            processor = AutoProcessor.from_pretrained(path)
            model = load_model()
        llava = cls(model, processor, name=name, reload=load_model, image_mode=image_mode)
        if not placement.is_cuda:     # a GPU computes the prefix in well under a second: no file to keep
            llava.prefix_store = PrefixStore(cache_dir() / "prefix")
        llava._weights = model_fingerprint(path) + (" nf4" if "quantization_config" in kwargs else "")
        llava._attention = attention
        return llava

    # -- memory -------------------------------------------------------------------------------

    def manage(self, residency: Residency, cost_gb: float) -> None:
        """Let a :class:`tools.memory.Residency` unload this model when another needs the GPU;
        the next reply then loads it again (from disk) first."""
        self._residency = residency
        self._cost = cost_gb
        residency.add("planner", cost_gb, self.release)

    def release(self) -> None:
        """Drop the model's weights (the processor stays); the next call reloads them.

        Raises:
            InvalidInputError: built from loaded parts without ``reload``, so it could not come back.
        """
        with self._lock:
            if self._reload is None:
                raise InvalidInputError("this planner was built from loaded parts and cannot reload; keep it loaded")
            self.model, self._prefix = None, None
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

    # -- decoding -------------------------------------------------------------------------------

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

    def constraint(self) -> SchemaConstraint:
        """The (cached) :class:`tools.constrained.SchemaConstraint` for this model's tokenizer."""
        with self._lock:
            if self._constraint is None:
                from tools.constrained import SchemaConstraint

                vocab = self.loaded_model().get_output_embeddings().weight.shape[0]
                self._constraint = SchemaConstraint(self.tokenizer, vocab_size=vocab,
                                                    stop_token_ids=self.stop_token_ids())
            return self._constraint

    def precompile(self, schemas: Sequence[Mapping[str, Any]], system: Conversation = ()) -> threading.Thread:
        """Get the first reply's work done in a background thread: the grammars of ``schemas`` (a plan
        schema takes 15-19 s on a 2-core CPU, plus 2 s of tokenizer tables), then the system turn's
        keys and values (``system``: a conversation starting with it; read from disk, or computed and
        saved: see :meth:`warm`). A reply that comes sooner compiles its own schema if it is not done
        yet and waits for a prefix under way. A schema xgrammar rejects is logged and left for the
        reply to report."""

        def work() -> None:
            for schema in schemas:
                try:
                    self.constraint().compile(schema)
                except ValueError as e:
                    logger.warning("the planner's grammar was not compiled ahead: %s", e)
            try:
                self.warm(list(system))
            except Exception as e:   # noqa: BLE001 -- a failed warm-up only costs the first reply its time
                logger.warning("the planner's system turn was not prepared ahead: %s", e)

        self.precompiling = threading.Thread(target=work, name="planner-warmup", daemon=True)
        self.precompiling.start()
        return self.precompiling

    def render(self, conversation: Conversation) -> str:
        """The prompt text for ``conversation``, ending where the assistant's reply starts.

        A chat template that rejects a system turn gets it folded into the first user turn.
        """
        from jinja2 import TemplateError

        try:
            return self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        except TemplateError:
            if not conversation or conversation[0]["role"] != "system":
                raise
            system, rest = conversation[0], conversation[1:]
            if rest and rest[0]["role"] == "user":
                rest = [{"role": "user", "content": system["content"] + rest[0]["content"]}, *rest[1:]]
            else:
                rest = [{"role": "user", "content": system["content"]}, *rest]
            return self.processor.apply_chat_template(rest, add_generation_prompt=True, tokenize=False)

    @torch.inference_mode()
    def generate(self, conversation: Conversation, images: Sequence[Image.Image] = (), *,
                 json_schema: Mapping[str, Any] | None = None, max_new_tokens: int = 768,
                 min_new_tokens: int = 0, logits_processors: Sequence[Any] = ()) -> LlavaReply:
        """Reply to ``conversation`` greedily.

        Args:
            conversation: the turns so far (see :data:`Conversation`); one ``{"type": "image"}`` block per image.
            images: RGB images, in the order their blocks appear.
            json_schema: constrain the reply to JSON following this schema (None: free text).
            max_new_tokens: the longest reply, in tokens (>= 1).
            min_new_tokens: the shortest reply, in tokens (>= 0; benchmarks time a fixed length).
            logits_processors: more transformers ``LogitsProcessor``s, run after the schema's mask.

        Raises:
            InvalidInputError: a token count out of range.
            ValueError: a schema xgrammar cannot compile.
        """
        if max_new_tokens < 1:
            raise InvalidInputError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if min_new_tokens < 0:
            raise InvalidInputError(f"min_new_tokens must be >= 0, got {min_new_tokens}")
        # lazy: a grammar still compiling in the background is waited for at the first decoding step,
        # after the prefill, not before it
        processor = self.constraint().processor(json_schema, lazy=True) if json_schema else None
        with self._lock:
            model = self.loaded_model()
            inputs = {k: (v.to(model.device, model.dtype) if v.is_floating_point() else v.to(model.device))
                      if isinstance(v, torch.Tensor) else v for k, v in self.encode(conversation, images).items()}
            prompt_len = inputs["input_ids"].shape[1]
            stops = self.stop_token_ids()
            cached = self.prefix_cache(conversation, inputs["input_ids"])
            if cached is not None:
                inputs["past_key_values"] = cached
            output = model.generate(
                **inputs, do_sample=False, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens or None,
                num_beams=1, temperature=None, top_p=None, top_k=None,
                eos_token_id=stops or None, pad_token_id=self._pad_token_id(stops),
                logits_processor=[*([processor] if processor is not None else []), *logits_processors] or None)
        new_tokens = output[0, prompt_len:]
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        finished = bool(len(new_tokens)) and int(new_tokens[-1]) in stops
        return LlavaReply(text=text, new_tokens=int(len(new_tokens)), finished=finished,
                          constrained=processor is not None)

    @torch.inference_mode()
    def prefix_cache(self, conversation: Conversation, input_ids: torch.Tensor) -> Any:
        """A copy of the keys and values of the conversation's system turn, for ``generate`` to start
        after it (the planner's system prompt is about 2.5k tokens, the same every turn), or None:
        no system turn, :attr:`cache_prefix` off, or its tokens are not where the prompt starts.

        Computed once per loaded model and system text; each reply gets its own copy.
        """
        if not self.cache_prefix or len(conversation) < 2 or conversation[0]["role"] != "system":
            return None
        ids = self._system_ids(conversation)
        if ids is None:
            return None
        n = len(ids)
        if not 0 < n < input_ids.shape[1] or not torch.equal(input_ids[0, :n].cpu(), ids):
            return None
        return copy.deepcopy(self._system_prefix(ids))

    def _system_ids(self, system: Conversation) -> torch.Tensor | None:
        from jinja2 import TemplateError

        try:
            text = self.processor.apply_chat_template(system[:1], add_generation_prompt=False, tokenize=False)
        except TemplateError:               # the system turn is folded into the first user turn
            return None
        return self.tokenizer(text, return_tensors="pt")["input_ids"][0]

    def _system_prefix(self, ids: torch.Tensor) -> Any:
        """The keys and values of ``ids`` (the system turn's tokens): kept in memory, read from
        :attr:`prefix_store` when a former process saved them, else computed (and saved)."""
        key = tuple(ids.tolist())
        with self._lock:
            if self._prefix is None or self._prefix[0] != key:
                model = self.loaded_model()
                file_key = self._store_key(key)
                cache = None
                if file_key is not None:
                    cache = self.prefix_store.load(file_key, config=model.config, device=model.device)
                    if cache is not None:
                        logger.info("read the system turn's %d tokens' keys and values from disk", len(key))
                self.prefix_source = "disk"
                if cache is None:
                    cache, self.prefix_source = self._prefill(model, ids), "computed"
                    logger.debug("cached the system turn's %d tokens", len(key))
                    if file_key is not None:
                        self.prefix_store.save(file_key, cache)
                self._prefix = (key, cache)
            return self._prefix[1]

    @staticmethod
    def _prefill(model: Any, ids: torch.Tensor) -> Any:
        """The keys and values of ``ids``, computed :data:`PREFILL_CHUNK` tokens at a time with SDPA attention
        (the language model's own attention is put back after): eager attention's prefill of a 3.8k-token
        prompt takes 5x SDPA's on a CPU (benchmarks/bench_attention.py), though it decodes faster there.
        Chunks keep the memory of any attention bounded by (heads x chunk x length)."""
        from transformers import DynamicCache

        text = model.config.get_text_config()
        own = getattr(text, "_attn_implementation", None)
        switch = own not in (None, PREFILL_ATTENTION)
        cache = DynamicCache(config=model.config)
        ids = ids[None].to(model.device)
        try:
            if switch:
                model.set_attn_implementation({"text_config": PREFILL_ATTENTION})
            for start in range(0, ids.shape[1], PREFILL_CHUNK):
                cache = model(input_ids=ids[:, start:start + PREFILL_CHUNK], past_key_values=cache,
                              use_cache=True).past_key_values
        finally:
            if switch:
                model.set_attn_implementation({"text_config": own})
        return cache

    def _store_key(self, ids: Sequence[int]) -> str | None:
        if self.prefix_store is None or self._weights is None:
            return None
        from tools.prefix_store import prefix_key

        model = self.loaded_model()
        return prefix_key(model=self._weights, dtype=str(model.dtype), device=model.device.type,
                          attention=f"{self._attention}, prefill {PREFILL_ATTENTION}", ids=ids)

    def warm(self, system: Conversation) -> None:
        """Make the system turn's keys and values ready before the first reply (from disk, or computed):
        what :meth:`precompile` does in the background when given the system turn."""
        if not self.cache_prefix or not system or system[0]["role"] != "system":
            return
        ids = self._system_ids(system)
        if ids is not None and len(ids):
            with torch.inference_mode():
                self._system_prefix(ids)

    def encode(self, conversation: Conversation, images: Sequence[Image.Image] = ()) -> Any:
        """The processor's tensors for ``conversation`` and its images (on the CPU, as the processor makes them)."""
        if len(images) == 1 and self.image_mode == "frame" and self.multi_image:
            as_video = [{**turn, "content": [{"type": "video"} if block.get("type") == "image" else block
                                             for block in turn["content"]]} for turn in conversation]
            return self.processor(text=self.render(as_video), videos=[[images[0]]], return_tensors="pt")
        return self.processor(text=self.render(conversation), images=self.image_input(images), return_tensors="pt")

    @property
    def multi_image(self) -> bool:
        """Whether the processor has OneVision's multi-image form (several images of one prompt, each
        at its base resolution: 729 tokens, no anyres crops)."""
        return type(self.processor).__name__ == "LlavaOnevisionProcessor"

    def image_input(self, images: Sequence[Image.Image]) -> list | None:
        """``images`` as the processor takes them: with two or more on OneVision, nested as one sample
        (``[[before, after]]``), which it reads as one multi-image prompt at one crop each (a
        before/after pair: 2 x 729 tokens instead of two anyres grids of up to 10 x 729)."""
        if not images:
            return None
        return [list(images)] if len(images) > 1 and self.multi_image else list(images)

    def _pad_token_id(self, stops: list[int]) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else (stops[0] if stops else 0)
