"""The planner on a server: any OpenAI-compatible chat endpoint (vLLM, Ollama's /v1, ...) through langchain-openai.

A :class:`ServedPlanner` is a ``ChatOpenAI`` that the agent uses as it uses the local LLaVA planner:
``json_schema=`` becomes structured output (``response_format`` json_schema, strict), images go as
data URLs at the planner's working resolution, and every failure of the server is a
:class:`PlannerServerError` whose one line says what is wrong and what to do.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
import openai
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langchain_openai import ChatOpenAI
from PIL import Image
from pydantic import Field

from tools.errors import ChatEditError, InvalidInputError

logger = logging.getLogger(__name__)

ENV_URL = "CHATEDIT_PLANNER_URL"
ENV_MODEL = "CHATEDIT_PLANNER_MODEL"
ENV_TIMEOUT = "CHATEDIT_PLANNER_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 2
IMAGE_SIDES = {"frame": 384, "anyres": 1152}
"""Longest side of the images sent, by the profile's ``planner_image``: one 384² view, or OneVision's
anyres grid (at most 3x3 views of 384², so the server would shrink anything larger)."""
WITHOUT = "run without a served planner (no --planner, no $CHATEDIT_PLANNER_URL)"
"""The other way out of a served planner's trouble (it may come from the flag or the environment)."""
START_IT = f"start it (see README 'Serving the planner') or {WITHOUT}"
MAX_ANSWER_BYTES = 32_000_000
"""A larger answer is refused while it arrives (a plan is a few kB; a server must not fill the memory)."""

T = TypeVar("T")


class PlannerServerError(ChatEditError, ConnectionError):
    """The planner's server could not give an answer; ``str()`` is one line: what happened and what to do."""

    def __init__(self, endpoint: str, problem: str, advice: str = START_IT) -> None:
        super().__init__(f"The planner at {endpoint} {problem}; {advice}.")
        self.endpoint, self.problem = endpoint, problem


class ServedPlanner(ChatOpenAI):
    """A planner (and verifier) on an OpenAI-compatible server. Build it with :func:`served_planner`.

    Calls take ``json_schema=`` (sent as strict structured output, as :mod:`agent.graph.planning`
    does for every model with ``supports_json_schema``). Connection failures and HTTP 408/429/5xx
    are tried ``retries`` more times, waiting ``backoff_s``, then twice that, ...; a timeout is not
    retried (a slow server is not faster the second time).
    """

    supports_json_schema: bool = Field(default=True, exclude=True)
    """Tells callers that ``json_schema=`` constrains the reply (the server applies it)."""
    random_weights: bool = Field(default=False, exclude=True)
    """A served model is a real planner: turns are planned by it, never by the offline grammar."""
    image_side: int | None = Field(default=None, ge=64, exclude=True)
    """Images are shrunk to this longest side before they are sent (None: the anyres grid's, 1152)."""
    retries: int = Field(default=DEFAULT_RETRIES, ge=0, le=10, exclude=True)
    backoff_s: float = Field(default=0.5, ge=0, exclude=True)

    @property
    def endpoint(self) -> str:
        return str(self.openai_api_base or "")

    @property
    def label(self) -> str:
        """``model @ host:port`` for the status line (the model once it is known)."""
        where = urlsplit(self.endpoint).netloc or self.endpoint
        return f"{self.model_name} @ {where}" if self.model_name else where

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        schema = kwargs.pop("json_schema", None)
        if "max_new_tokens" in kwargs:                  # the local planner's name for it
            kwargs["max_tokens"] = int(kwargs.pop("max_new_tokens"))
        kwargs.pop("min_new_tokens", None)
        if schema is not None:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "reply", "schema": schema, "strict": True}}
        if not self.model_name:
            self.model_name = self.discover_model()
        fitted = [fit_images(m, self.image_side or IMAGE_SIDES["anyres"]) for m in messages]
        parent = super()._generate
        result = self._call(lambda: parent(fitted, stop, run_manager, **kwargs))
        if not result.generations:      # "choices": [] (LangChain would fail on it with an IndexError)
            raise PlannerServerError(self.endpoint, "answered with no reply (an empty list of choices)",
                                     "see its log, or serve the planner with vLLM or Ollama's /v1")
        return result

    def discover_model(self) -> str:
        """The model the server lists first (GET /models), for a planner built without one.

        Raises:
            PlannerServerError: the server cannot be reached, fails, or lists no model.
        """
        listed = self._call(lambda: [m.id for m in self.root_client.models.list().data or ()
                                     if isinstance(getattr(m, "id", None), str) and m.id.strip()])
        if not listed:
            raise PlannerServerError(self.endpoint, "lists no models (GET /models is empty)",
                                     "load one in the server, or name it with --planner-model")
        if len(listed) > 1:
            logger.info("the planner at %s serves %s; using %s (--planner-model picks another)",
                        self.endpoint, ", ".join(listed), listed[0])
        return str(listed[0])

    def probe(self) -> str | None:
        """Ask the server for its models once (no retries): None when it answers, else the one-line problem."""
        try:
            self.root_client.with_options(max_retries=0, timeout=min(5.0, float(self.request_timeout or 5.0))) \
                .models.list()
            return None
        except Exception as e:  # noqa: BLE001 - whatever it is, it is said in one line
            return str(self._failure(e))

    def _call(self, send: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return send()
            except Exception as e:
                attempt += 1
                failure = self._failure(e, tries=attempt)
                if attempt > self.retries or not _worth_retrying(e):
                    raise failure from e
                logger.warning("the planner at %s %s; trying again", failure.endpoint, failure.problem)
            time.sleep(self.backoff_s * 2 ** (attempt - 1))

    def _failure(self, error: Exception, *, tries: int = 1) -> PlannerServerError:
        """``error`` (from openai / httpx) as the one line a person reads."""
        where = self.endpoint
        times = f", {tries} tries" if tries > 1 else ""
        if isinstance(error, PlannerServerError):
            return error
        if isinstance(error, openai.APITimeoutError):
            seconds = self.request_timeout
            return PlannerServerError(where, f"did not answer within {seconds:g} s" if isinstance(seconds, (int, float))
                                      else "did not answer in time",
                                      f"check its load and log, give it longer ({ENV_TIMEOUT}=SECONDS), "
                                      f"or {WITHOUT}")
        if isinstance(error, openai.APIConnectionError):
            return PlannerServerError(where, f"is not reachable ({_connection_problem(error)}{times})")
        if isinstance(error, openai.APIStatusError):
            code, detail = error.status_code, _detail(error)
            if code in (401, 403):
                return PlannerServerError(where, f"refused the key (HTTP {code}{detail})",
                                          "set OPENAI_API_KEY to the server's key")
            if code == 404:
                return PlannerServerError(where, f"answered HTTP 404{detail} (model {self.model_name or '?'})",
                                          "give --planner its OpenAI-compatible address (ending in /v1) and a "
                                          "model it serves (--planner-model; GET /v1/models lists them)")
            if code in (408, 429) or code >= 500:
                return PlannerServerError(where, f"failed (HTTP {code}{detail}{times})",
                                          f"see its log and restart it, or {WITHOUT}")
            return PlannerServerError(where, f"refused the request (HTTP {code}{detail})",
                                      "serve a vision model with structured outputs (see README 'Serving the "
                                      f"planner') or {WITHOUT}")
        if isinstance(error, AnswerTooLarge):
            return PlannerServerError(where, f"answered with more than {MAX_ANSWER_BYTES / 1e6:g} MB, not a chat reply",
                                      "see its log, or give --planner the server's OpenAI-compatible address")
        if isinstance(error, openai.LengthFinishReasonError):
            return PlannerServerError(where, "cut its reply off at the token limit before the plan was complete",
                                      "give it a larger max_tokens, or serve a model that answers in fewer tokens")
        if isinstance(error, (openai.APIResponseValidationError, ValueError, TypeError, KeyError, AttributeError,
                              IndexError)):
            return PlannerServerError(where, f"answered with something that is not a chat reply "
                                             f"({type(error).__name__}: {_short(str(error))})",
                                      "give --planner the server's OpenAI-compatible address, ending in /v1")
        return PlannerServerError(where, f"failed ({type(error).__name__}: {_short(str(error))})")


class DeadlineTransport(httpx2.BaseTransport):
    """HTTP that also bounds a whole answer's body by the request's read timeout, and its size.

    httpx's timeouts bound each read, so a server that trickles its answer a few bytes at a time
    would hold a turn for as long as it likes; here the body must be in within that many seconds
    of the headers (which get the read timeout per read, as before).
    """

    def __init__(self) -> None:
        self._inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        seconds = (request.extensions.get("timeout") or {}).get("read")
        response = self._inner.handle_request(request)
        timed = isinstance(seconds, (int, float))
        return httpx2.Response(response.status_code, headers=response.headers, extensions=response.extensions,
                               stream=_Until(response.stream, time.monotonic() + seconds if timed else None,
                                             seconds if timed else 0.0, request))

    def close(self) -> None:
        self._inner.close()


class AnswerTooLarge(openai.OpenAIError):
    """The server's answer passed :data:`MAX_ANSWER_BYTES` (an OpenAIError, so the client passes it on as it is)."""


class _Until(httpx2.SyncByteStream):
    """A response body that raises ``httpx2.ReadTimeout`` once it is still coming after its deadline, and
    :class:`AnswerTooLarge` past :data:`MAX_ANSWER_BYTES`."""

    def __init__(self, inner: Any, deadline: float | None, seconds: float, request: httpx2.Request) -> None:
        self._inner, self._deadline, self._seconds, self._request = inner, deadline, seconds, request

    def __iter__(self) -> Any:
        size = 0
        for chunk in self._inner:
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise httpx2.ReadTimeout(f"the answer was not in within {self._seconds:g} s", request=self._request)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise AnswerTooLarge(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _worth_retrying(error: Exception) -> bool:
    if isinstance(error, openai.APITimeoutError):
        return False
    if isinstance(error, openai.APIConnectionError):
        return True
    return isinstance(error, openai.APIStatusError) and (error.status_code in (408, 429) or error.status_code >= 500)


def _connection_problem(error: BaseException) -> str:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or "connection refused" in str(current).lower():
            return "connection refused"
        if "name or service not known" in str(current).lower() or "nodename nor servname" in str(current).lower():
            return "no such host"
        current = current.__cause__ or current.__context__
    return _short(str(error.__cause__ or error)) or "connection failed"


def _detail(error: openai.APIStatusError) -> str:
    body = error.body
    message = body.get("message") or body.get("detail") if isinstance(body, Mapping) else None
    if isinstance(message, Mapping):
        message = message.get("message")
    text = _short(str(message if message else error.message or ""))
    return f": {text}" if text and text != f"Error code: {error.status_code}" else ""


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return "".join(c if c.isprintable() else "?" for c in (text if len(text) <= limit else text[: limit - 3] + "..."))


def fit_images(message: BaseMessage, side: int) -> BaseMessage:
    """``message`` with every image block as an ``image_url`` data URL no larger than ``side`` (longest side)."""
    if isinstance(message.content, str):
        return message
    blocks = [_fit_block(b, side) if isinstance(b, Mapping) and b.get("type") in ("image", "image_url") else b
              for b in message.content]
    return message.model_copy(update={"content": blocks})


def _fit_block(block: Mapping[str, Any], side: int) -> dict[str, Any]:
    data, mime = block.get("base64") or block.get("data"), str(block.get("mime_type") or "image/png")
    if data is None:
        url = block.get("image_url") or block.get("url")
        url = url.get("url") if isinstance(url, Mapping) else url
        if not (isinstance(url, str) and url.startswith("data:") and "," in url):
            raise InvalidInputError("images for the served planner must be inline base64 (no URLs are sent)")
        head, data = url.split(",", 1)
        mime = head[5:].split(";")[0] or mime
    try:
        raw = base64.b64decode(data, validate=False)
        with Image.open(io.BytesIO(raw)) as opened:
            size = opened.size
            image = opened.convert("RGB") if max(size) > side else None
    except (binascii.Error, OSError, ValueError, Image.DecompressionBombError) as e:
        raise InvalidInputError(f"cannot decode an image for the served planner: {e}") from e
    if image is not None:
        scale = side / max(size)
        # bicubic, as OneVision's own image processor resizes (Lanczos costs a third more here for nothing)
        image = image.resize((max(1, round(size[0] * scale)), max(1, round(size[1] * scale))),
                             Image.Resampling.BICUBIC, reducing_gap=2.0)
        buffer = io.BytesIO()
        if mime == "image/jpeg":
            image.save(buffer, format="JPEG", quality=92)
        else:
            mime = "image/png"
            image.save(buffer, format="PNG", compress_level=1)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}


def check_url(url: str) -> str:
    """``url`` without a trailing slash, when it is an http(s) address with a host.

    Raises:
        InvalidInputError: anything else (names the value and the expected form).
    """
    text = str(url).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"the planner URL must look like http://host:8000/v1, got {text[:100]!r}")
    try:
        parts.port
    except ValueError:
        raise InvalidInputError(f"the planner URL has a bad port: {text[:100]!r}") from None
    return text.rstrip("/")


def served_planner(url: str, *, model: str | None = None, image_side: int | None = None,
                   timeout_s: float = DEFAULT_TIMEOUT_S, retries: int = DEFAULT_RETRIES, backoff_s: float = 0.5,
                   api_key: str | None = None, max_tokens: int = 768) -> ServedPlanner:
    """A :class:`ServedPlanner` for the OpenAI-compatible server at ``url`` (``http://host:8000/v1``).

    Nothing is sent until the first turn.

    Args:
        model: the served model's name (None: the first one the server lists, asked on first use).
        image_side: longest side of the images sent (None: as :func:`for_profile` sets it, else 1152).
        timeout_s: seconds one request may take.
        retries: further tries after a connection failure or an HTTP 408/429/5xx.
        api_key: the server's key (None: ``$OPENAI_API_KEY``, else a placeholder local servers ignore).

    Raises:
        InvalidInputError: a URL that is not http(s)://host..., or a timeout that is not positive.
    """
    if not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise InvalidInputError(f"the planner timeout must be a positive number of seconds, got {timeout_s!r}")
    key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
    return ServedPlanner(base_url=check_url(url), model=(model or "").strip(), api_key=key, timeout=float(timeout_s),
                         max_retries=0, retries=retries, backoff_s=backoff_s, image_side=image_side,
                         temperature=0.0, max_tokens=max_tokens, use_responses_api=False,
                         http_client=openai.DefaultHttpxClient(transport=DeadlineTransport()))


def for_profile(planner: str | ServedPlanner, profile: Any) -> ServedPlanner:
    """A URL as a served planner, or a served planner without an image size given the profile's
    (``profile.planner_image``: one 384² view, or the anyres grid), set in place."""
    side = IMAGE_SIDES.get(str(getattr(profile, "planner_image", "anyres")), IMAGE_SIDES["anyres"])
    if isinstance(planner, str):
        return served_planner(planner, image_side=side)
    if planner.image_side is None:
        planner.image_side = side       # in place: whoever built it sees the same model (and the model it finds)
    return planner


@dataclass(frozen=True)
class ServerSettings:
    """Where the planner is served and how long a request may take (what a command line asks for;
    plain data, so it travels to worker processes).

    Attributes:
        url: the server's OpenAI-compatible address (``http://host:8000/v1``), checked.
        model: the served model's name (None: the first one the server lists).
        timeout_s: seconds one request may take.
    """

    url: str
    model: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def build(self) -> ServedPlanner:
        return served_planner(self.url, model=self.model, timeout_s=self.timeout_s)


def settings_from(url: str | None, model: str | None = None) -> ServerSettings | None:
    """The served planner the command line asks for: ``url`` (else ``$CHATEDIT_PLANNER_URL``), ``model``
    (else ``$CHATEDIT_PLANNER_MODEL``), the timeout from ``$CHATEDIT_PLANNER_TIMEOUT``; None without a URL.

    Raises:
        InvalidInputError: a bad URL or timeout (the message names it).
    """
    url = url or os.environ.get(ENV_URL) or None
    if not url:
        if model:
            raise InvalidInputError("--planner-model names a served model: give --planner URL too")
        return None
    timeout = os.environ.get(ENV_TIMEOUT) or DEFAULT_TIMEOUT_S
    try:
        timeout = float(timeout)
    except ValueError:
        raise InvalidInputError(f"{ENV_TIMEOUT} must be a number of seconds, got {timeout!r}") from None
    if not timeout > 0:
        raise InvalidInputError(f"{ENV_TIMEOUT} must be a positive number of seconds, got {timeout:g}")
    return ServerSettings(check_url(url), model or os.environ.get(ENV_MODEL) or None, timeout)


def from_settings(url: str | None, model: str | None = None) -> ServedPlanner | None:
    """:func:`settings_from`, built (None without a URL). Raises InvalidInputError as it does."""
    settings = settings_from(url, model)
    return settings.build() if settings is not None else None
