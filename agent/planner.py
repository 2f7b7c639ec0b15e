"""The planner as a LangChain chat model: a thin adapter over :class:`tools.llava.Llava`."""

from __future__ import annotations

import base64
import binascii
import io
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from PIL import Image
from pydantic import ConfigDict, Field

from tools.device import Placement
from tools.errors import InvalidInputError
from tools.llava import Conversation, Llava
from tools.profiles import Profile

if TYPE_CHECKING:
    from tools.memory import Residency

logger = logging.getLogger(__name__)


class LlavaChatModel(BaseChatModel):
    """A LangChain chat model over a :class:`tools.llava.Llava` (a transformers LLaVA-family checkpoint).

    Replies are greedy (deterministic). With a JSON schema (``json_schema`` attribute, or
    ``json_schema=`` bound with ``.bind()`` / passed to ``invoke``) decoding is constrained by
    xgrammar so the reply is JSON that follows the schema (unless ``max_new_tokens`` cuts it off).

    Messages are system / human / ai; content is a string or a list of blocks:
    ``{"type": "text", "text": ...}`` and ``{"type": "image", "base64": ..., "mime_type": ...}``
    (also ``image_url`` blocks with a ``data:`` URL). Images are never fetched from the network.

    Build it with :func:`load_planner`, or around a loaded model:
    ``LlavaChatModel(llava=Llava(model, processor))``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llava: Llava = Field(exclude=True)
    """The model that generates; shared by copies (``model_copy``, ``bind``)."""
    model_name: str = "llava"
    json_schema: dict | None = None
    """Constrain every reply to this JSON schema (None: free text unless a call passes one)."""
    max_new_tokens: int = Field(default=768, ge=1)
    supports_json_schema: bool = Field(default=True, exclude=True)
    """Tells callers (agent.graph.planning) that ``json_schema=`` constrains decoding here."""
    random_weights: bool = Field(default=False, exclude=True)
    """The checkpoint has random weights (the tiny profile's): its plans mean nothing, so the agent plans
    turns with its offline grammar instead (:mod:`agent.graph.grammar`)."""

    @property
    def _llm_type(self) -> str:
        return "chatedit-llava"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "max_new_tokens": self.max_new_tokens}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        schema = kwargs.pop("json_schema", None) or self.json_schema
        max_new_tokens = int(kwargs.pop("max_new_tokens", self.max_new_tokens))
        min_new_tokens = int(kwargs.pop("min_new_tokens", 0))  # benchmarks time a fixed reply length
        if kwargs:
            logger.debug("LlavaChatModel ignores %s", ", ".join(sorted(kwargs)))
        conversation, images = to_conversation(messages)
        reply = self.llava.generate(conversation, images, json_schema=schema, max_new_tokens=max_new_tokens,
                                    min_new_tokens=min_new_tokens)
        text = reply.text
        for word in stop or ():
            if word and word in text:
                text = text[: text.index(word)]
        meta = {"model_name": self.model_name, "new_tokens": reply.new_tokens,
                "finish_reason": "stop" if reply.finished else "length", "constrained": reply.constrained}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text, response_metadata=meta))])


_ROLES = {SystemMessage: "system", HumanMessage: "user", AIMessage: "assistant"}


def to_conversation(messages: Sequence[BaseMessage]) -> tuple[Conversation, list[Image.Image]]:
    """Turn LangChain messages into a chat-template conversation plus its images, in order.

    Raises:
        InvalidInputError: an unsupported message type or content block, or an image that is not
            inline base64 / cannot be decoded.
    """
    conversation: Conversation = []
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


def load_planner(profile: Profile, placement: Placement | None = None, *,
                 memory: Residency | None = None,
                 grammars: Sequence[Mapping[str, Any]] | None = None, warm_prefix: bool = True) -> LlavaChatModel:
    """Load the profile's planner (built first for ``tiny``; 4-bit where the profile says so and CUDA is there).

    Args:
        memory: the toolkit's :class:`tools.memory.Residency`: room is made before loading, and the
            planner may be unloaded for another model under an offload plan (it reloads when next asked).
        grammars: JSON schemas whose grammars are compiled in the background from now on
            (:meth:`tools.llava.Llava.precompile`), followed by the system prompt's keys and values
            (read from disk when a former run saved them); None: the plan's and the verdict's. Neither
            is done ahead for a planner with random weights (the offline grammar plans for it).
        warm_prefix: prepare the system prompt's keys and values ahead (False: the first reply does).
    """
    from tools.memory import allocated, measured_gb

    spec = profile.planner
    if memory is not None:
        memory.admit("planner", spec.vram_gb)
    before = allocated()
    llava = Llava.from_pretrained(spec, placement=placement, quantize_4bit=spec.quantize_4bit,
                                  image_mode=profile.planner_image)
    if memory is not None:
        cost = measured_gb(before)
        llava.manage(memory, spec.vram_gb if cost is None else cost)
    if not spec.random_weights:       # random weights: the offline grammar plans, the model is never asked
        from agent.graph.planning import VERDICT_SCHEMA, decoding_schema, system_prompt

        grammars = [decoding_schema(), VERDICT_SCHEMA] if grammars is None else grammars
        system = [{"role": "system", "content": [{"type": "text", "text": system_prompt()}]}]
        llava.precompile(grammars, system=system if warm_prefix else ())
    elif grammars:
        llava.precompile(grammars)
    return LlavaChatModel(llava=llava, model_name=llava.name, random_weights=spec.random_weights)
