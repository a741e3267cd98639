"""SmolLM2-135M behind the OpenAI-compatible test server (tests/llm/model_server.py): the wire
protocol the responder relies on, checked with a real model's output, then the responder's
reply and stream against it.

Short answers (16 tokens) keep each generation to a few seconds on a two-core CPU. What a
135M model says is not asserted, only what the protocol guarantees: at temperature 0 the same
prompt gives the same text, streamed or not; `max_tokens` ends it with "length", a stop
string with "stop"; `usage` counts the tokens.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from deskpilot.llm import OpenAIConfig, OpenAIResponder, ProviderError
from tests.llm.conftest import ADMIN, corpus, request_for

pytestmark = pytest.mark.slow

QUESTION = "How do I add a search box?"
# The protocol checks need a real answer, not the responder's long prompt: a short one keeps
# each generation to a second or two.
CHAT = [
    {"role": "system", "content": "You answer questions about the Django admin, briefly."},
    {"role": "user", "content": "How do I add a search box to the admin's change list?"},
]
GREEDY = {"messages": CHAT, "max_tokens": 16, "temperature": 0}


async def complete(base: str, **body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=120) as client:
        response = await client.post(f"{base}/chat/completions", json={"model": "m", **body})
    assert response.status_code == 200, response.text
    return response.json()


async def stream_events(base: str, **body: Any) -> list[Any]:
    """The stream's events, parsed: JSON chunks, and the closing "[DONE]" as a string."""
    events: list[Any] = []
    async with (
        httpx.AsyncClient(timeout=120) as client,
        client.stream(
            "POST", f"{base}/chat/completions", json={"model": "m", "stream": True, **body}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                continue
            assert line.startswith("data: "), line
            payload = line.removeprefix("data: ")
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


@pytest.fixture(scope="module")
async def greedy(real_model_server: str) -> dict[str, Any]:
    """The JSON answer to GREEDY, generated once for the tests that compare with it."""
    return await complete(real_model_server, **GREEDY)


class TestProtocol:
    async def test_answer_with_usage_and_length_finish(self, greedy: dict[str, Any]) -> None:
        assert greedy["object"] == "chat.completion"
        [choice] = greedy["choices"]
        assert choice["message"]["role"] == "assistant"
        assert choice["message"]["content"].strip()
        assert choice["finish_reason"] == "length"
        usage = greedy["usage"]
        assert usage["completion_tokens"] == 16
        assert usage["prompt_tokens"] > 20
        assert usage["total_tokens"] == usage["prompt_tokens"] + 16

    async def test_stream_adds_up_to_the_same_answer(
        self, real_model_server: str, greedy: dict[str, Any]
    ) -> None:
        events = await stream_events(
            real_model_server, **GREEDY, stream_options={"include_usage": True}
        )
        assert events[-1] == "[DONE]"
        chunks, usage = events[:-2], events[-2]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        deltas = [c["choices"][0]["delta"].get("content") or "" for c in chunks]
        assert len([d for d in deltas if d]) >= 3
        # Temperature 0: the same prompt gives the same text, streamed or not.
        assert "".join(deltas) == greedy["choices"][0]["message"]["content"]
        assert [c["choices"][0]["finish_reason"] for c in chunks][-2:] == [None, "length"]
        assert usage["choices"] == []
        assert usage["usage"] == greedy["usage"]

    async def test_stop_string_ends_the_answer(
        self, real_model_server: str, greedy: dict[str, Any]
    ) -> None:
        text = greedy["choices"][0]["message"]["content"]
        words = text.split()
        assert len(words) >= 3, text
        stop = f" {words[2]}"
        cut = await complete(real_model_server, **GREEDY, stop=[stop, "never appears"])
        assert cut["choices"][0]["message"]["content"] == text[: text.index(stop)]
        assert cut["choices"][0]["finish_reason"] == "stop"
        assert cut["usage"]["completion_tokens"] < 16

    async def test_messages_go_through_the_chat_template(self, real_model_server: str) -> None:
        # SmolLM2's template adds its own system prompt when the messages have none.
        user = {"role": "user", "content": "Hello"}
        bare = await complete(real_model_server, messages=[user], max_tokens=1)
        system = {"role": "system", "content": "Hi."}
        briefed = await complete(real_model_server, messages=[system, user], max_tokens=1)
        assert bare["usage"]["prompt_tokens"] > briefed["usage"]["prompt_tokens"] + 5

    async def test_invalid_requests_get_openai_errors(self, real_model_server: str) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            url = f"{real_model_server}/chat/completions"
            empty = await client.post(url, json={"model": "m", "messages": []})
            too_long = await client.post(
                url, json={"model": "m", "messages": CHAT, "max_tokens": 100_000}
            )
        assert empty.status_code == 400
        assert empty.json()["error"]["type"] == "invalid_request_error"
        assert too_long.status_code == 400
        assert too_long.json()["error"]["code"] == "context_length_exceeded"


class TestResponder:
    @staticmethod
    def config(base_url: str, **overrides: Any) -> OpenAIConfig:
        values: dict[str, Any] = {
            "base_url": base_url,
            "model": "smollm2",
            "max_tokens": 16,
            "temperature": 0,
            "read_timeout": 120,
            **overrides,
        }
        return OpenAIConfig(**values)

    async def test_greedy_reply_repeats_and_matches_the_stream(
        self, real_model_server: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The prompt's fences carry a random token; fixed here so every call sends one prompt.
        monkeypatch.setattr("deskpilot.llm._prompt.secrets.token_hex", lambda _: "5eed5eed")
        request = request_for(QUESTION, corpus()[1:2])
        async with OpenAIResponder(self.config(real_model_server)) as llm:
            first = await llm.reply(request)
            stream = llm.stream(request)
            deltas = [delta async for delta in stream]
        assert first.text.strip()
        assert len(deltas) >= 3
        assert stream.reply is not None
        # Temperature 0: the same prompt twice, once streamed, gives the same text.
        assert "".join(deltas) == stream.reply.text == first.text
        assert stream.reply.citations == first.citations
        assert {c.url for c in first.citations} <= {ADMIN}
        assert first.responder == "openai:smollm2"

    async def test_a_prompt_past_the_context_is_a_provider_error(
        self, real_model_server: str
    ) -> None:
        config = self.config(real_model_server, max_tokens=100_000, backoff_initial=0.01)
        async with OpenAIResponder(config) as llm:
            with pytest.raises(ProviderError) as info:
                await llm.reply(request_for(QUESTION, corpus()[1:2]))
        assert info.value.status == 400
        assert "context" in str(info.value)
