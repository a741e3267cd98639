"""The offline responder: grounded extractive replies, citations, confidence, languages."""

from __future__ import annotations

import re
from collections.abc import Sequence

from deskpilot.llm import OfflineResponder, Passage, Reply
from tests.llm.conftest import ADMIN, AUTH, BILLING, CACHE, QUERIES, corpus, page, request_for

INTROS = {
    "en": "Here's what I found:",
    "es": "Esto es lo que he encontrado:",
    "fr": "Voici ce que j'ai trouvé :",
    "de": "Folgendes habe ich gefunden:",
}


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("`", "")).strip().lower()


def _content_lines(reply: Reply, passages: Sequence[Passage], language: str = "en") -> list[str]:
    """The reply's lines minus the connective, headings, code fences and markers."""
    headings = {
        _normal(p.heading.split(" > ")[-1]) + ":" for p in passages if p.heading is not None
    }
    out = []
    for line in reply.text.split("\n"):
        line = re.sub(r"\s*\[\d+\]", "", line).strip()
        line = line.removeprefix("- ")
        if not line or line == INTROS[language] or line == "```" or _normal(line) in headings:
            continue
        out.append(line)
    return out


async def _reply(question: str, **kwargs: object) -> Reply:
    return await OfflineResponder().reply(request_for(question, **kwargs))  # type: ignore[arg-type]


class TestSentenceChoice:
    async def test_picks_the_sentence_that_answers(self) -> None:
        reply = await _reply(
            "admin list page only shows the object name, how do I get more columns"
        )
        assert "list_display" in reply.text
        assert reply.citations[0].url == ADMIN

    async def test_identifier_in_the_question_finds_its_passage(self) -> None:
        reply = await _reply("how do I use login_required on a view?")
        assert "login_required" in reply.text
        assert reply.citations[0].url == AUTH

    async def test_keeps_the_code_example_a_sentence_introduces(self) -> None:
        reply = await _reply("how do I force users to log in before they see my view?")
        assert "@login_required" in reply.text
        assert "```" in reply.text

    async def test_inline_code_marks_are_dropped_from_prose(self) -> None:
        reply = await _reply("my filter() ANDs everything, how do I do an OR query?")
        assert "Q objects" in reply.text

    async def test_value_question_gets_the_sentence_with_the_value(self) -> None:
        reply = await _reply("can I cache the output of a slow view for 15 minutes?")
        assert "cache_page" in reply.text
        assert reply.citations[0].url == CACHE

    async def test_reply_stays_short(self) -> None:
        reply = await _reply("how do I add a search box to the admin?")
        prose = [line for line in _content_lines(reply, corpus()) if not line.startswith(" ")]
        assert "search_fields" in reply.text
        assert len(prose) <= 8
        assert len(reply.text) < 1500


class TestGrounding:
    async def test_every_content_line_comes_from_a_passage(self) -> None:
        passages = corpus()
        for question in [
            "how do I add a search box to the admin?",
            "how do I show more columns in the admin change list?",
            "how long does cache_page cache a view?",
            "how do I restrict a view to logged-in users?",
        ]:
            reply = await OfflineResponder().reply(request_for(question, passages))
            sources = " ".join(_normal(p.text) for p in passages)
            for line in _content_lines(reply, passages):
                for sentence in re.split(r"(?<=[.!?])\s+", line):
                    assert _normal(sentence) in sources, (question, sentence)

    async def test_citations_point_to_used_passages_only(self) -> None:
        passages = corpus()
        reply = await OfflineResponder().reply(
            request_for("how do I add a search box to the admin?", passages)
        )
        by_id = {p.id: p for p in passages}
        used_urls = {by_id[i].url for i in reply.passage_ids_used}
        assert {c.url for c in reply.citations} == used_urls
        assert BILLING not in used_urls and QUERIES not in used_urls
        for number in re.findall(r"\[(\d+)\]", reply.text):
            assert 1 <= int(number) <= len(reply.citations)

    async def test_training_content_that_matches_is_the_reply(self) -> None:
        scenario = Passage(
            id="t-refunds",
            text="Refunds are processed within 5 business days. Reply here with your order "
            "number and we will start one for you.",
            url=None,
            title="Refund policy",
            heading=None,
            score=0.8,
            source="training",
        )
        reply = await _reply("can I get a refund?", scenarios=[scenario])
        assert reply.text == scenario.text
        assert reply.passage_ids_used == ["t-refunds"]
        assert reply.citations == []
        assert reply.confidence >= 0.8

    async def test_weak_training_match_is_not_used(self) -> None:
        scenario = Passage(
            "t-x", "Our office is closed on Sundays.", None, "Hours", None, 0.2, "training"
        )
        reply = await _reply("how do I add a search box to the admin?", scenarios=[scenario])
        assert "Sundays" not in reply.text
        assert "search_fields" in reply.text


class TestConfidence:
    async def test_no_passages_means_no_answer(self) -> None:
        reply = await _reply("how do I add a search box to the admin?", passages=[])
        assert reply.confidence == 0.0
        assert reply.withheld == "no_evidence"
        assert reply.citations == []
        assert "couldn't find" in reply.text

    async def test_unrelated_passages_give_low_confidence(self) -> None:
        reply = await _reply("what's a good recipe for banana bread?")
        assert reply.confidence < 0.2
        assert reply.withheld == "no_evidence"

    async def test_weak_evidence_scores_below_strong_evidence(self) -> None:
        weak = [
            page("b1", BILLING, "Billing", "Invoices", "Invoices are sent monthly by email.", 0.2)
        ]
        strong = await _reply("how do I add a search box to the admin?")
        faint = await _reply("how do I add a search box to the admin?", passages=weak)
        assert strong.confidence >= 0.5
        assert faint.confidence < strong.confidence / 2

    async def test_confidence_is_a_fraction(self) -> None:
        reply = await _reply("how do I add a search box to the admin?")
        assert 0.0 <= reply.confidence <= 1.0
        assert reply.responder == "offline"


class TestLanguages:
    async def test_connective_follows_the_contact_language(self) -> None:
        for language, intro in INTROS.items():
            reply = await _reply("search_fields admin search box", language=language)
            assert reply.text.startswith(intro), language
            assert "search_fields" in reply.text

    async def test_unknown_language_falls_back_to_english(self) -> None:
        reply = await _reply("search_fields admin search box", language="pt-BR")
        assert reply.text.startswith(INTROS["en"])

    async def test_no_answer_is_localised(self) -> None:
        reply = await _reply("¿Cómo cambio el admin?", passages=[], language="es")
        assert reply.text.startswith("Lo siento")


class TestStream:
    async def test_stream_adds_up_to_the_reply(self) -> None:
        responder = OfflineResponder()
        request = request_for("how do I add a search box to the admin?")
        stream = responder.stream(request)
        pieces = [piece async for piece in stream]
        assert len(pieces) >= 2
        assert stream.reply is not None
        assert "".join(pieces) == stream.reply.text == (await responder.reply(request)).text


class TestEmbeddings:
    async def test_sentence_embeddings_can_outvote_word_overlap(self) -> None:
        calls: list[int] = []

        async def embed(texts: Sequence[str]) -> list[list[float]]:
            calls.append(len(texts))
            # The question and the sentence about the per-view timeout point the same way.
            return [
                [1.0, 0.0] if i == 0 or "timeout" in t else [0.0, 1.0] for i, t in enumerate(texts)
            ]

        passages = [corpus()[3]]
        request = request_for("how long is the cache kept?", passages)
        plain = await OfflineResponder().reply(request)
        guided = await OfflineResponder(embed=embed, semantic_weight=0.9).reply(request)
        assert calls and calls[0] > 1
        assert "timeout, in seconds" in guided.text
        assert guided.text != plain.text or "timeout, in seconds" in plain.text
