"""What a served planner's request costs on the client: bytes sent and milliseconds per call, on localhost.

A plain ``ChatOpenAI`` call that sends the whole photo (a PNG data URL, as one would by hand) beside
chatedit's :class:`agent.served.ServedPlanner`, which sends the photo at the planner's working size
(384 px for one view, 1152 px for OneVision's anyres grid) with the plan's JSON schema. Both talk to
the tests' small OpenAI-compatible server (FastAPI + uvicorn on 127.0.0.1), which answers at once,
so the times are the client's own work plus one local HTTP round trip. Ratios are from one run.

    python benchmarks/bench_served.py [--size 4000x3000] [--runs 5]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _png_block(image) -> dict:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return {"type": "image", "base64": base64.b64encode(buffer.getvalue()).decode("ascii"), "mime_type": "image/png"}


def _timed(call, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    from langchain_core.messages import HumanMessage
    from langchain_openai import ChatOpenAI

    from agent.graph.planning import decoding_schema, image_block
    from agent.served import served_planner
    from tests.openai_server import Served
    from tools.samples import sample_image

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="4000x3000", help="photo size WxH (default 4000x3000, a 12 MP photo)")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    photo = sample_image("coffee").resize((width, height))
    reply = json.dumps({"reasoning": "r", "steps": [{"action": "answer", "content": "ok"}]})
    rows = []
    with Served() as server:
        fake = server.fake

        def run(label: str, model, block: dict, **kwargs) -> None:
            message = [HumanMessage(content=[block, {"type": "text", "text": "remove the cup"}])]

            def call() -> None:
                fake.push(reply)
                model.invoke(message, **kwargs)

            call()                                                     # warm: connection, model lookup
            fake.requests.clear()
            ms = _timed(call, args.runs)
            sent = len(json.dumps(fake.requests[-1]).encode())
            rows.append((label, ms, sent))

        whole = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + _png_block(photo)["base64"]}}
        plain = ChatOpenAI(base_url=server.url, api_key="x", model="served-llava", max_retries=0, timeout=60)
        run("plain ChatOpenAI, whole photo as PNG", plain, whole)
        # the agent hands the planner image_block(photo): a JPEG at 1536 px for a photo this large
        block = image_block(photo) if max(photo.size) > 1536 else _png_block(photo)
        for side, mode in ((1152, "anyres"), (384, "frame")):
            planner = served_planner(server.url, model="served-llava", image_side=side)
            run(f"ServedPlanner, {mode} ({side} px) + schema", planner, block, json_schema=decoding_schema())
    base_ms, base_bytes = rows[0][1], rows[0][2]
    print(f"served planner request on localhost, photo {width}x{height}, median of {args.runs}")
    print(f"{'':44s} {'ms/call':>9s} {'bytes sent':>12s} {'time ratio':>11s} {'bytes ratio':>12s}")
    for label, ms, sent in rows:
        print(f"{label:44s} {ms:9.1f} {sent:12,d} {ms / base_ms:11.2f} {sent / base_bytes:12.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
