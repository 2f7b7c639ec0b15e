"""Ask the planner for a plan (validated, re-asked once) and for a yes/no verdict on an edit's result.

A plan is data. Nothing in it is ever run, opened or used as a file path: a ``content`` of
``"../../etc/passwd"`` is only words for the diffusion model, and a ``phrase`` is only words for
the detector. Prompt injection in the user's text or the image can at worst produce a plan
that validates against :class:`agent.graph.plan.Plan`, never anything outside it.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import typing
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from PIL import Image
from pydantic import ValidationError

import prompts
from agent.graph.plan import MAX_REASONING_CHARS, MAX_STEPS, Plan, Relation, Selector, Step, clean_text
from agent.graph.reply_json import MAX_REPLY_CHARS, find_json
from agent.graph.reply_json import one_line as _one_line
from tools.errors import Cancelled, ChatEditError

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4000
"""Longer user messages are refused before the planner runs."""
MAX_DIGEST_CHARS = 4000
"""The history digest is cut to its last this many characters (the recent edits matter most)."""
MAX_IMAGE_SIDE = 1536
"""Images are shrunk to this longest side before they go to the planner (it resizes further anyway)."""
MAX_KEPT_REPLY_CHARS = 20_000
"""A raw reply is kept (in the turn's state, its checkpoint and :attr:`agent.editor.Reply.planner_replies`) cut to
this; a plan is a few hundred characters, and a planner answering megabytes must not grow the session by as much."""


@dataclass(frozen=True)
class PlanOutcome:
    """What :func:`make_plan` got.

    Attributes:
        plan: the validated plan, or None when the planner gave no valid plan.
        replies: the planner's raw replies, in order (one, or two after a re-ask).
        error: a one-line reason when ``plan`` is None, else None.
        unreachable: the planner could not be reached or answered with an HTTP error (a server that is
            down, a timeout), as opposed to a reply that held no valid plan.
    """

    plan: Plan | None
    replies: tuple[str, ...]
    error: str | None
    unreachable: bool = False
    said: bool = False
    """``error`` is the model's own one-line message (a ChatEditError's: what is wrong and what to do)."""
    failed: bool = False
    """The model raised (a fault in it), as opposed to answering with no valid plan."""


_UNREACHABLE_NAMES = frozenset({
    "APIConnectionError", "APITimeoutError", "APIStatusError", "InternalServerError", "ServiceUnavailableError",
    "ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException",
    "NetworkError", "RemoteProtocolError", "HTTPStatusError", "HTTPError", "MaxRetryError", "NewConnectionError",
    "ProtocolError", "ClientConnectorError", "ServerDisconnectedError"})
"""Exception class names (openai, httpx, requests, urllib3, aiohttp) that mean the planner's server is out of
reach or failed; matched by name so that none of those optional packages is imported here."""


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or one it was raised from) says the planner's server is down, timed out or failed."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionError, TimeoutError)) or \
                any(k.__name__ in _UNREACHABLE_NAMES for k in type(current).__mro__):
            return True
        current = current.__cause__ or current.__context__
    return False


def make_plan(chat_model: BaseChatModel, *, image: Image.Image | None, digest: str, text: str,
              png: bytes | None = None) -> PlanOutcome:
    """Plan one user turn: prompt the chat model, parse and validate its JSON, re-ask once if invalid.

    Models that constrain their decoding (``supports_json_schema``, like
    :class:`agent.planner.LlavaChatModel`) are called with ``json_schema=``; any other
    LangChain chat model just gets the prompt. Never raises on bad model output: an invalid
    reply, twice, gives ``PlanOutcome(plan=None, error=...)``; so does a model that raises
    (logged with its traceback), except :class:`tools.errors.Cancelled`, which propagates.

    Args:
        chat_model: any LangChain chat model.
        image: the current image (None: a text-only turn).
        png: ``image`` already encoded as PNG (the session's file), sent as it is when small enough.
        digest: a short summary of the edit history ("" when there is none).
        text: the user's words.
    """
    if not isinstance(text, str) or not text.strip():
        return PlanOutcome(None, (), "there is nothing to plan: the message is empty")
    if len(text) > MAX_TEXT_CHARS:
        return PlanOutcome(None, (), f"the message is too long ({len(text)} characters; at most {MAX_TEXT_CHARS})")
    digest = (digest or "").strip() or "no edits yet."
    if len(digest) > MAX_DIGEST_CHARS:
        digest = "..." + digest[-MAX_DIGEST_CHARS:]
    size = f"{image.width}x{image.height} pixels" if image is not None else "none"
    user = prompts.render("planner_user", digest=digest, text=text.strip(), image_size=size)
    content: list[str | dict] = [image_block(image, png=png)] if image is not None else []
    content.append({"type": "text", "text": user})
    messages: list[BaseMessage] = [SystemMessage(system_prompt()), HumanMessage(content=content)]
    kwargs = {"json_schema": decoding_schema()} if getattr(chat_model, "supports_json_schema", False) else {}

    replies: list[str] = []
    error = ""
    for attempt in range(2):
        if attempt:
            messages += [AIMessage(replies[-1][:4000]), HumanMessage(prompts.render("planner_repair", error=error))]
            logger.info("planner reply was invalid (%s); asking once more", error)
        try:
            reply = _reply_text(chat_model.invoke(messages, **kwargs))
        except Cancelled:
            raise
        except ChatEditError as e:  # a failure the model says in one line (a served planner's server is down...)
            said = _said(e) or type(e).__name__
            logger.warning("the planner model failed: %s", said)
            return PlanOutcome(None, tuple(replies), _one_line(said), unreachable=is_unreachable(e), said=True,
                               failed=True)
        except Exception as e:  # a failing model must not take the conversation down with it
            logger.exception("the planner model failed")
            said = _said(e)
            return PlanOutcome(None, tuple(replies), _one_line(f"the planner failed: {type(e).__name__}"
                                                               + (f": {said}" if said else "")),
                               unreachable=is_unreachable(e), failed=True)
        replies.append(_kept(reply))
        plan, error = parse_plan(reply)
        if plan is not None:
            return PlanOutcome(plan, tuple(replies), None)
    return PlanOutcome(None, tuple(replies), _one_line(f"the planner gave no valid plan after a retry: {error}"))


def parse_plan(reply: str) -> tuple[Plan | None, str]:
    """Find the plan's JSON object in a reply and validate it as a :class:`Plan`.

    Returns:
        ``(plan, "")`` on success, ``(None, one-line reason)`` otherwise.
    """
    if isinstance(reply, str) and len(reply) > MAX_REPLY_CHARS:
        return None, f"the reply is too long ({len(reply)} characters); answer with one short JSON object"
    found, problem = find_json(reply)
    if found is None:
        return None, problem
    try:
        return Plan.model_validate_json(found), ""
    except ValidationError as e:
        return None, describe_errors(e)
    except (ValueError, RecursionError) as e:  # the decoder took it, the validator's parser choked: still a bad reply
        return None, _one_line(f"the reply's JSON cannot be read as a plan ({e})")


def extract_json(reply: str) -> str | None:
    """The plan's JSON object in ``reply``, tolerating code fences and prose around it; None if there is none.

    The first object with a ``reasoning`` or ``steps`` key wins, else the first object at all. None too when
    an object names a key twice (a decoder would keep one silently) or two different plans are given.
    """
    return find_json(reply)[0]


def describe_errors(error: ValidationError, limit: int = 3) -> str:
    """A one-line summary of a plan's validation errors: where, and what is wrong."""
    items = []
    for item in error.errors(include_url=False, include_input=False)[:limit]:
        where = ".".join(str(p) for p in item.get("loc", ())) or "plan"
        items.append(f"{where}: {item.get('msg', 'invalid')}")
    more = error.error_count() - len(items)
    return _one_line("; ".join(items) + (f" (and {more} more)" if more > 0 else ""))


def verify_result(chat_model: BaseChatModel, *, before: Image.Image, after: Image.Image,
                  step: Step | Mapping[str, Any] | str) -> bool | None:
    """Ask the chat model whether ``after`` does what ``step`` asked, compared with ``before``.

    Returns:
        True for a clear yes, False for a clear no (the reply's first word), None when there is no
        clear verdict: any other reply ("maybe?", empty) or a failing model (both logged as warnings).
        The caller decides what an unclear verdict means; it is never counted as a yes.

    Raises:
        Cancelled: the user cancelled while the verifier ran.
    """
    described = describe_step(step)
    # a yes/no judgement needs no lossless pixels: two JPEGs cost ~5 ms where two PNGs cost 70 (600×400)
    content = [image_block(before, lossless=False), image_block(after, lossless=False),
               {"type": "text", "text": prompts.render("verifier", step=described)}]
    kwargs = {"json_schema": VERDICT_SCHEMA} if getattr(chat_model, "supports_json_schema", False) else {}
    try:
        reply = _reply_text(chat_model.invoke([HumanMessage(content=content)], **kwargs))
    except Cancelled:
        raise
    except Exception:
        logger.warning("the verifier failed on %r; no verdict", described, exc_info=True)
        return None
    # full-width letters read as plain ones; a BOM or zero-width space before the word is dropped
    words = clean_text(unicodedata.normalize("NFKC", reply)).strip().strip("\"'`.!*").lower().split()
    verdict = words[0].strip("\"'`.,!:;*") if words else ""
    if verdict in ("yes", "no"):
        return verdict == "yes"
    logger.warning("the verifier's reply %r is neither yes nor no; no verdict", reply[:200])
    return None


VERDICT_SCHEMA: dict[str, Any] = {"type": "string", "enum": ["yes", "no"]}


def describe_step(step: Step | Mapping[str, Any] | str) -> str:
    """A short text for a plan step ("recolor table: white")."""
    if isinstance(step, str):
        return _one_line(step)
    data = step.model_dump(exclude_defaults=True) if isinstance(step, Step) else dict(step)
    referent = data.get("referent") or {}
    target = " ".join(filter(None, [*referent.get("attributes", []), referent.get("phrase", "")]))
    if referent.get("selector"):
        target += f" ({referent['selector']})"
    parts = [str(data.get("action", "edit")), target.strip()]
    text = " ".join(p for p in parts if p)
    return _one_line(f"{text}: {data['content']}" if data.get("content") else text)


def image_block(image: Image.Image, *, png: bytes | None = None, lossless: bool = True) -> dict[str, str]:
    """A LangChain image content block (base64) of ``image`` for the planner.

    An image within :data:`MAX_IMAGE_SIDE` goes as a lossless PNG: ``png``, its own bytes when the
    caller has them (the session's file: no encoding, 35 ms saved per turn at 600×400), or a fresh
    encoding. A larger one, or any with ``lossless=False``, is sent as a JPEG at quality 95 (shrunk
    to that side first): encoding 1536×1152 takes 10 ms instead of the PNG's 180 ms.
    """
    if max(image.size) <= MAX_IMAGE_SIDE and (lossless or png is not None):
        if png is None:
            buffer = io.BytesIO()
            (image if image.mode == "RGB" else image.convert("RGB")).save(buffer, format="PNG", compress_level=1)
            png = buffer.getvalue()
        return {"type": "image", "base64": base64.b64encode(png).decode("ascii"), "mime_type": "image/png"}
    small = image if image.mode == "RGB" else image.convert("RGB")
    if max(image.size) > MAX_IMAGE_SIDE:
        scale = MAX_IMAGE_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        # reducing_gap=1.0: an integer box reduction first, then Lanczos; 90 ms instead of 200 ms from 12 MP
        small = small.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=95, subsampling=0)     # 4:4:4: colours as they are
    return {"type": "image", "base64": base64.b64encode(buffer.getvalue()).decode("ascii"), "mime_type": "image/jpeg"}


@lru_cache(maxsize=1)
def system_prompt() -> str:
    """The planner's system prompt, with the plan's JSON schema rendered in."""
    schema = json.dumps(_prompt_schema(), separators=(", ", ": "))
    return prompts.render("planner_system", schema=schema, max_steps=MAX_STEPS)


def _prompt_schema() -> dict[str, Any]:
    """The plan's schema as the prompt shows it: its shape only. Titles, defaults and descriptions go (the
    prompt's rules say what each field means, and decoding follows the full schema anyway), and an optional
    field reads as its own type, not "X or null": the rules say never to write null. 982 tokens instead of
    1,881: a fifth of the system turn every reply attends to."""
    from agent.graph.plan import plan_json_schema

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            options = node.get("anyOf")
            if isinstance(options, list):
                kept = [o for o in options if o != {"type": "null"}]
                if len(kept) == 1:
                    node = {**{k: v for k, v in node.items() if k != "anyOf"}, **kept[0]}
            return {k: strip(v) for k, v in node.items() if k not in ("title", "description", "default")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(plan_json_schema())


def _text(max_chars: int) -> dict[str, Any]:
    """A non-empty one-line string without quotes or backslashes (xgrammar bounds this form well)."""
    return {"type": "string", "pattern": f'^[^\\s"\\\\\\x00-\\x1f][^"\\\\\\x00-\\x1f]{{0,{max_chars - 1}}}$'}


@lru_cache(maxsize=1)
def decoding_schema() -> dict[str, Any]:
    """The JSON schema constrained decoding follows: a stricter form of :class:`Plan`'s schema.

    Every reply that matches it is meant to validate as a :class:`Plan` (one variant per kind of
    action, so an action always carries the fields it needs; bounded strings and numbers, so a
    small model cannot ramble past ``max_new_tokens``). Only ``box`` ordering (x1 > x0) and ``selector`` all
    with ``count`` 1 are left to validation. No null values: optional fields are left out.
    """
    selectors = list(typing.get_args(Selector))
    plain = [s for s in selectors if not s.startswith("nth_")]
    nth = [s for s in selectors if s.startswith("nth_")]
    number = {"type": "integer", "minimum": 1, "maximum": 50}
    box = {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 100000},
           "minItems": 4, "maxItems": 4}
    attributes = {"type": "array", "items": _text(40), "maxItems": 4}
    common = {"phrase": _text(80), "attributes": attributes}

    def obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}

    # Who is left out ("all except the left one"): a place (with how many), an nth place, or attributes.
    exclusion = {"anyOf": [
        obj({"selector": {"enum": [s for s in plain if s != "all"]}, "attributes": attributes, "count": number},
            ["selector"]),
        obj({"selector": {"enum": nth}, "n": number, "attributes": attributes, "count": number}, ["selector", "n"]),
        obj({"attributes": {**attributes, "minItems": 1}, "count": number}, ["attributes"]),
    ]}
    anchor = {"anyOf": [obj({**common, "selector": {"enum": plain}}, ["phrase"]),
                        obj({**common, "selector": {"enum": nth}, "n": number}, ["phrase", "selector", "n"])]}
    tail = {"box": box, "last_edited": {"type": "boolean"}, "pointed": {"type": "boolean"}, "count": number,
            "exclude": {"type": "array", "items": exclusion, "minItems": 1, "maxItems": 3}}
    relation = {"relation": {"enum": list(typing.get_args(Relation))}, "anchor": anchor}
    referent = {"anyOf": [
        obj({**common, "selector": {"enum": plain}, **tail}, ["phrase"]),
        obj({**common, "selector": {"enum": nth}, "n": number, **tail}, ["phrase", "selector", "n"]),
        # "the cup left of the plate": relation and anchor come together
        obj({**common, "selector": {"enum": plain}, **tail, **relation}, ["phrase", "relation", "anchor"]),
    ]}

    def step(actions: list[str], properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {"type": "object", "properties": {"action": {"enum": actions}, **properties},
                "required": ["action", *required], "additionalProperties": False}

    steps = [
        step(["replace"], {"referent": referent, "content": _text(120), "two_stage": {"type": "boolean"}},
             ["referent", "content"]),
        step(["add"], {"referent": referent, "content": _text(120), "place": {"enum": list(typing.get_args(Relation))}},
             ["referent", "content"]),
        step(["recolor", "background"], {"referent": referent, "content": _text(120)}, ["referent", "content"]),
        step(["remove"], {"referent": referent}, ["referent"]),
        step(["global"], {"content": _text(120)}, ["content"]),
        # DiffEdit: captions of the picture before ("phrase") and after ("content").
        step(["global"], {"referent": {"type": "object", "properties": {"phrase": _text(80)}, "required": ["phrase"],
                                       "additionalProperties": False},
                          "content": _text(120)}, ["referent", "content"]),
        step(["answer", "ask"], {"content": {"type": "string", "minLength": 1, "maxLength": 400}}, ["content"]),
        step(["undo", "redo"], {"count": {"type": "integer", "minimum": 1, "maximum": 100}}, []),
        step(["revert"], {"version": {"type": "integer", "minimum": 0, "maximum": 100000}}, ["version"]),
    ]
    return {"type": "object",
            "properties": {"reasoning": {"type": "string", "maxLength": MAX_REASONING_CHARS},
                           "steps": {"type": "array", "items": {"anyOf": steps}, "minItems": 1, "maxItems": MAX_STEPS}},
            "required": ["reasoning", "steps"], "additionalProperties": False}


def _kept(reply: str) -> str:
    """``reply`` as it is kept: cut to :data:`MAX_KEPT_REPLY_CHARS`, saying how long it was."""
    if len(reply) <= MAX_KEPT_REPLY_CHARS:
        return reply
    return f"{reply[:MAX_KEPT_REPLY_CHARS]}... (cut; the reply was {len(reply)} characters)"


def _said(error: BaseException) -> str:
    """``str(error)``, or "" when even that fails (a model's exception may be anything)."""
    try:
        return str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the failure it reports
        return ""


def _reply_text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content
                       if isinstance(b, str) or (isinstance(b, Mapping) and b.get("type") == "text"))
    return str(content)
