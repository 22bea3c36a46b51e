"""Record streamed LLM answers (each token with its arrival time) for the phrase-aggregator bench.

Starts the local llama.cpp server (SmolLM2, ``runtime.llm_server.LocalLLMServer``), asks a set of
varied questions with the ``openai`` client (``stream=True``) and writes
``bench/data/token_streams.json``::

    {"model": ..., "recorded_at": ..., "streams": [
        {"prompt": ..., "tokens": [[offset_secs, text], ...]}, ...]}

``offset_secs`` is seconds since the request was sent. Run: ``python -m bench.record_token_streams``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

DATA_PATH = Path(__file__).parent / "data" / "token_streams.json"

SYSTEM_PROMPT = (
    "You are a friendly voice assistant. Answer in two to five spoken sentences. "
    "Be helpful and concrete."
)

PROMPTS = [
    "What is the capital of France, and what is it famous for?",
    "Give me three tips for sleeping better.",
    "How do I make a cup of tea?",
    "Explain what a black hole is.",
    "What's the difference between weather and climate?",
    "Tell me a short story about a cat.",
    "List the planets of the solar system.",
    "How many minutes are in 3.5 hours, and what time is it 90 minutes after 10:30?",
    "Who was Dr. Martin Luther King Jr.?",
    "What should I pack for a weekend hiking trip?",
    "Why is the sky blue?",
    "Write a short email to my boss asking for Friday off.",
]


def record(base_url: str, prompts: list[str], *, max_tokens: int, timeout: float) -> list[dict]:
    """Stream each prompt's answer and return ``[{prompt, tokens: [[offset_secs, text]]}]``."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="local", timeout=timeout)
    streams = []
    for prompt in prompts:
        t0 = time.perf_counter()
        tokens: list[list] = []
        stream = client.chat.completions.create(
            model="local",
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt},
            ],
            stream=True,
            max_tokens=max_tokens,
            temperature=0.7,
        )
        for chunk in stream:
            if not chunk.choices:
                continue
            text = chunk.choices[0].delta.content
            if text:
                tokens.append([round(time.perf_counter() - t0, 5), text])
        answer = "".join(t for _, t in tokens)
        print(f"{len(tokens):4d} tokens  {prompt[:50]!r} -> {answer[:70]!r}", file=sys.stderr)
        streams.append({"prompt": prompt, "tokens": tokens})
    return streams


def dumps(payload: dict) -> str:
    """JSON with one line per recorded answer (compact, still readable)."""
    head = {k: v for k, v in payload.items() if k != "streams"}
    lines = [json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "streams": [']
    streams = [" " + json.dumps(s, ensure_ascii=False) for s in payload["streams"]]
    return "\n".join(lines) + "\n" + ",\n".join(streams) + "\n ]\n}\n"


def main(argv: list[str] | None = None) -> int:
    """Record the token streams into ``bench/data/token_streams.json`` (or ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_PATH)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=120.0, help="per-request timeout, s")
    parser.add_argument("--base-url", help="use a running OpenAI-compatible server instead")
    args = parser.parse_args(argv)

    if args.base_url:
        streams = record(args.base_url, PROMPTS, max_tokens=args.max_tokens, timeout=args.timeout)
        model = "external"
    else:
        from runtime.llm_server import LocalLLMServer

        log_path = Path("runs") / "record_token_streams.llm.log"
        with LocalLLMServer(log_path=log_path) as server:
            streams = record(
                server.base_url, PROMPTS, max_tokens=args.max_tokens, timeout=args.timeout
            )
            model = server.model_path.name

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model,
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "system_prompt": SYSTEM_PROMPT,
        "streams": streams,
    }
    args.out.write_text(dumps(payload))
    print(f"wrote {len(streams)} streams to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
