"""A small OpenAI-compatible chat server for tests: FastAPI served by uvicorn on a free localhost port.

It records every request and answers POST /v1/chat/completions with scripted replies (or a failure
mode: HTTP 500s, slow answers, a body that is not JSON); GET /v1/models lists :attr:`FakeOpenAI.models`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse


class FakeOpenAI:
    """The server's state: what it was asked, what it answers next, and how it misbehaves.

    Attributes:
        requests: every chat request body, in order.
        replies: the assistant contents to answer with, in order (running out is HTTP 500).
        models: what GET /v1/models lists.
        mode: ``ok``, ``fail`` (HTTP 500), ``slow`` (HTTP 503 after ``delay_s``), ``html`` (200, not JSON),
            ``trickle`` (the next reply, a byte every ``delay_s``), ``no-choices`` (200, ``"choices": []``)
            or ``length`` (the next reply, cut off at the token limit).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.model_lists = 0
        self.replies: deque[str] = deque()
        self.models = ["served-llava"]
        self.mode = "ok"
        self.delay_s = 2.0
        self.app = FastAPI()
        self.app.get("/v1/models")(self._models)
        self.app.post("/v1/chat/completions")(self._chat)

    def reset(self) -> None:
        self.requests.clear()
        self.replies.clear()
        self.models, self.mode, self.model_lists = ["served-llava"], "ok", 0

    def push(self, *replies: str | dict) -> FakeOpenAI:
        self.replies.extend(r if isinstance(r, str) else json.dumps(r) for r in replies)
        return self

    async def _models(self) -> dict[str, Any]:
        self.model_lists += 1
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "test"}
                                           for m in self.models]}

    async def _chat(self, request: Request) -> Any:
        body = await request.json()
        self.requests.append(body)
        if self.mode == "fail":
            return JSONResponse({"object": "error", "message": "the engine fell over", "code": 500}, status_code=500)
        if self.mode == "slow":     # answers long after the client gave up, taking no reply a later test pinned
            try:
                await asyncio.sleep(self.delay_s)
            except asyncio.CancelledError:      # the server stops first
                pass
            return PlainTextResponse("too late", status_code=503)
        if self.mode == "html":
            return PlainTextResponse("<html><body>It works!</body></html>", media_type="text/html")
        if self.mode == "no-choices":
            return {"id": "chatcmpl-0", "object": "chat.completion", "created": 0, "model": body.get("model"),
                    "choices": []}
        if not self.replies:
            return JSONResponse({"object": "error", "message": "the test pinned no reply", "code": 500},
                                status_code=500)
        content = self.replies.popleft()
        finish = "length" if self.mode == "length" else "stop"
        reply = {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": 0,
                 "model": body.get("model"), "choices": [{"index": 0, "finish_reason": finish,
                                                          "message": {"role": "assistant", "content": content}}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        if self.mode == "trickle":      # every byte well within a read timeout, the whole far beyond it
            data, pause = json.dumps(reply).encode(), self.delay_s

            async def bytes_slowly():
                for i in range(len(data)):
                    yield data[i:i + 1]
                    await asyncio.sleep(pause)

            return StreamingResponse(bytes_slowly(), media_type="application/json")
        return reply


class Served:
    """``FakeOpenAI`` running on uvicorn in a background thread; :attr:`url` ends in /v1."""

    def __init__(self) -> None:
        self.fake = FakeOpenAI()
        config = uvicorn.Config(self.fake.app, host="127.0.0.1", port=0, log_level="warning",
                                timeout_graceful_shutdown=1, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="fake-openai", daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test's OpenAI-compatible server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def closed_port() -> int:
    """A localhost port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
