"""A responder over any OpenAI-compatible `/chat/completions` endpoint (OpenAI, vLLM, Ollama,
llama.cpp server…): retries with backoff, SSE streaming, citations and the leak guard."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self

import httpx
import structlog

from deskpilot.llm._citations import Cited, apply_citations, attribute, open_marker_at
from deskpilot.llm._citations import says_dont_know as _says_dont_know
from deskpilot.llm._guard import LeakGuard
from deskpilot.llm._phrases import phrase
from deskpilot.llm._prompt import Prompt, build_prompt
from deskpilot.llm._types import Passage, ProviderError, Reply, ReplyRequest, ReplyStream

log = structlog.get_logger(__name__)

_RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass(frozen=True, slots=True)
class OpenAIConfig:
    """Where and how to call the provider. `base_url` includes the API version path, as in
    the OpenAI SDK: `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`.

    `read_timeout` bounds each wait for bytes (a streamed chunk included); `total_timeout`
    bounds the whole call, retries and backoff included.
    """

    base_url: str
    model: str
    api_key: str | None = None
    temperature: float = 0.2
    max_tokens: int = 500
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    total_timeout: float = 120.0
    max_retries: int = 2
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Extra body fields some servers take (`top_p`, `seed`, `stop`…).
    extra_body: dict[str, Any] = field(default_factory=dict)


class OpenAIResponder:
    """`Responder` over an OpenAI-compatible chat endpoint.

    Pass the app's shared `httpx.AsyncClient` to reuse its connection pool; otherwise the
    responder owns one and `aclose()` (or `async with`) releases it. Every failure that
    outlives the retries is a `ProviderError`.
    """

    def __init__(
        self,
        config: OpenAIConfig,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.name = f"openai:{config.model}"
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._own_client = client is None
        self._client = client or httpx.AsyncClient()
        self._sleep = sleep

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def reply(self, request: ReplyRequest) -> Reply:
        prompt = build_prompt(request)
        try:
            async with asyncio.timeout(self.config.total_timeout):
                text = await self._complete(prompt.messages)
        except TimeoutError as exc:
            raise ProviderError(
                f"no answer within {self.config.total_timeout:g} s (total timeout)"
            ) from exc
        shaper = _Shaper(request, prompt, self.name)
        shaper.feed(text)
        return shaper.finish()[1]

    def stream(self, request: ReplyRequest) -> ReplyStream:
        """Text deltas as the model writes them (citations renumbered, leaks cut off).

        A failure before the first delta is retried like `reply`; after it, it ends the
        stream with a `ProviderError`. If the guard trips mid-stream, the stream ends with
        the refusal and `ReplyStream.reply` carries the refusal alone (`withheld="leak"`).
        """
        return ReplyStream(lambda finish: self._stream(request, finish))

    async def _stream(
        self, request: ReplyRequest, finish: Callable[[Reply], None]
    ) -> AsyncGenerator[str]:
        prompt = build_prompt(request)
        shaper = _Shaper(request, prompt, self.name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.total_timeout
        response = await self._open_stream(prompt.messages, deadline)
        try:
            async for delta in _sse_deltas(response):
                if loop.time() > deadline:
                    raise ProviderError(
                        f"stream exceeded {self.config.total_timeout:g} s (total timeout)"
                    )
                out = shaper.feed(delta)
                if out:
                    yield out
                if shaper.leaked:
                    break
        except httpx.TimeoutException as exc:
            raise ProviderError("the stream stalled (read timeout)") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"the stream broke: {exc.__class__.__name__}") from exc
        finally:
            await response.aclose()
        tail, reply = shaper.finish()
        if tail:
            yield tail
        finish(reply)

    # --- transport ----------------------------------------------------------------------

    def _payload(self, messages: list[dict[str, str]], *, stream: bool) -> dict[str, Any]:
        return {
            **self.config.extra_body,
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "stream": stream,
        }

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", **self.config.extra_headers}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    def _timeout(self, remaining: float | None = None) -> httpx.Timeout:
        read = self.config.read_timeout
        if remaining is not None:
            read = max(0.001, min(read, remaining))
        return httpx.Timeout(connect=self.config.connect_timeout, read=read, write=read, pool=read)

    async def _complete(self, messages: list[dict[str, str]]) -> str:
        body = self._payload(messages, stream=False)
        for attempt in range(self.config.max_retries + 1):
            last = attempt == self.config.max_retries
            try:
                response = await self._client.post(
                    self._url, json=body, headers=self._headers(), timeout=self._timeout()
                )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if last:
                    raise _transport_error(exc) from exc
                await self._backoff(attempt, None, reason=exc.__class__.__name__)
                continue
            if response.status_code == 200:
                return _message_text(response)
            if response.status_code in _RETRY_STATUSES and not last:
                await self._backoff(
                    attempt, response.headers.get("retry-after"), reason=response.status_code
                )
                continue
            raise _status_error(response.status_code, response.text)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _open_stream(self, messages: list[dict[str, str]], deadline: float) -> httpx.Response:
        body = self._payload(messages, stream=True)
        body["stream_options"] = {"include_usage": False}
        loop = asyncio.get_running_loop()
        for attempt in range(self.config.max_retries + 1):
            last = attempt == self.config.max_retries
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ProviderError(f"no answer within {self.config.total_timeout:g} s")
            headers = {**self._headers(), "Accept": "text/event-stream"}
            request = self._client.build_request(
                "POST", self._url, json=body, headers=headers, timeout=self._timeout(remaining)
            )
            try:
                async with asyncio.timeout(remaining):
                    response = await self._client.send(request, stream=True)
            except TimeoutError as exc:
                raise ProviderError(f"no answer within {self.config.total_timeout:g} s") from exc
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if last:
                    raise _transport_error(exc) from exc
                await self._backoff(attempt, None, reason=exc.__class__.__name__)
                continue
            if response.status_code == 200:
                return response
            detail = (await response.aread()).decode("utf-8", "replace")
            await response.aclose()
            if response.status_code in _RETRY_STATUSES and not last:
                await self._backoff(
                    attempt, response.headers.get("retry-after"), reason=response.status_code
                )
                continue
            raise _status_error(response.status_code, detail)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _backoff(self, attempt: int, retry_after: str | None, *, reason: object) -> None:
        delay = min(self.config.backoff_max, self.config.backoff_initial * 2**attempt)
        # Jitter spreads retries from many conversations hitting one rate limit.
        delay *= 0.5 + random.random() / 2  # noqa: S311 - not a secret
        hinted = _retry_after_seconds(retry_after)
        if hinted is not None:
            delay = min(self.config.backoff_max, max(delay, hinted))
        log.info("llm.retry", attempt=attempt + 1, reason=str(reason), delay=round(delay, 3))
        await self._sleep(delay)


class _Shaper:
    """Turns raw model text into what the visitor may see, as it arrives: citation numbers
    rewritten, and nothing sent that could still turn out to be part of a leak."""

    def __init__(self, request: ReplyRequest, prompt: Prompt, responder: str) -> None:
        self._request = request
        self._sources = prompt.sources
        self._responder = responder
        self._guard = LeakGuard(
            request.ai_profile,
            request.behavioral,
            allowed=[p.text for p in prompt.sources],
        )
        self._raw = ""
        self._sent = ""
        self.leaked = False

    def feed(self, delta: str) -> str:
        if self.leaked:
            return ""
        self._raw += delta
        if self._guard.leaks(self._raw):
            self.leaked = True
            refusal = phrase("refusal", self._request.language)
            return f"\n\n{refusal}" if self._sent else refusal
        stable = min(
            len(self._raw.rstrip()),
            open_marker_at(self._raw),
            self._guard.pending_from(self._raw),
        )
        shaped = apply_citations(self._raw[:stable], self._sources).text
        if not shaped.startswith(self._sent):
            return ""
        out, self._sent = shaped[len(self._sent) :], shaped
        return out

    def finish(self) -> tuple[str, Reply]:
        """What is left to send, and the finished reply."""
        if self.leaked:
            log.warning("llm.leak_withheld", responder=self._responder)
            return "", _refusal(self._request, self._responder)
        cited = apply_citations(self._raw.strip(), self._sources)
        tail = cited.text[len(self._sent) :] if cited.text.startswith(self._sent) else ""
        return tail, _reply(cited, self._sources, self._responder)


def _reply(cited: Cited, sources: list[Passage], responder: str) -> Reply:
    by_id = {p.id: p for p in sources}
    used = [by_id[i] for i in cited.passage_ids if i in by_id]
    citations = cited.citations
    if used:
        confidence = max(p.score for p in used)
    else:
        # No markers: credit the sources the text visibly comes from, at a discount.
        used = attribute(cited.text, sources)
        citations = apply_citations(
            " ".join(f"[{sources.index(p) + 1}]" for p in used), sources
        ).citations
        best = max((p.score for p in used), default=0.0)
        confidence = 0.8 * best if used else 0.3 * max((p.score for p in sources), default=0.0)
    if _says_dont_know(cited.text):
        confidence = min(confidence, 0.05)
    return Reply(
        text=cited.text,
        citations=citations,
        passage_ids_used=[p.id for p in used],
        confidence=round(max(0.0, min(1.0, confidence)), 3),
        responder=responder,
    )


def _refusal(request: ReplyRequest, responder: str) -> Reply:
    return Reply(
        text=phrase("refusal", request.language),
        citations=[],
        passage_ids_used=[],
        confidence=0.0,
        responder=responder,
        withheld="leak",
    )


async def _sse_deltas(response: httpx.Response) -> AsyncGenerator[str]:
    """Content deltas of an OpenAI-style SSE stream, until `[DONE]` or the end."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
            # Most servers send one data line per event; handle it without waiting for the
            # blank line so a delta is never held back.
            if len(data) == 1 and _complete_json(data[0]):
                payload, data = data[0], []
            else:
                continue
        elif line.strip() == "" and data:
            payload, data = "\n".join(data), []
        else:
            continue  # comments (": keep-alive"), event names, ids
        if payload.strip() == "[DONE]":
            return
        chunk = _json(payload)
        if "error" in chunk:
            raise ProviderError(f"the provider reported an error mid-stream: {_error_text(chunk)}")
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str) and content:
                yield content


def _complete_json(text: str) -> bool:
    if text.strip() == "[DONE]":
        return True
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _json(payload: str) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError as exc:
        raise ProviderError("the provider sent a malformed event") from exc
    if not isinstance(value, dict):
        raise ProviderError("the provider sent an unexpected event")
    return value


def _message_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ProviderError("the provider's answer has no message content") from exc
    if not isinstance(content, str):
        raise ProviderError("the provider's answer has no message content")
    return content


def _error_text(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "unknown error")[:300]
    return str(error)[:300]


def _status_error(status: int, body: str) -> ProviderError:
    detail = body.strip()[:300]
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict) and "error" in parsed:
            detail = _error_text(parsed)
    except ValueError:
        pass
    return ProviderError(f"the provider answered HTTP {status}: {detail}", status=status)


def _transport_error(exc: httpx.HTTPError) -> ProviderError:
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(f"the provider timed out ({exc.__class__.__name__})")
    return ProviderError(f"could not reach the provider ({exc.__class__.__name__})")


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
