from __future__ import annotations

import numpy as np
import pytest

from deskpilot.documents import ExtractedPage, Section
from deskpilot.indexing import Chunk, Chunker, HashingEmbedder, OnnxEmbedder
from deskpilot.retrieval import Analyzer, KnowledgeIndex, LexicalIndex, OrgIndex, Retriever

PAGES = {
    "billing": ExtractedPage(
        url="https://help.test/billing",
        title="Billing | Acme Help",
        language="en",
        sections=(
            Section(
                ("Billing", "Refunds"),
                "Refunds are issued to the original payment method within 5 business days. "
                "To request a refund, open the order and choose Request refund.",
            ),
            Section(
                ("Billing", "Invoices"),
                "Invoices are emailed on the first day of each month and can be downloaded "
                "as PDF from the Billing page.",
            ),
        ),
    ),
    "account": ExtractedPage(
        url="https://help.test/account",
        title="Account | Acme Help",
        language="en",
        sections=(
            Section(
                ("Account", "Password reset"),
                "If you forgot your password, click Forgot password on the sign-in page and "
                "follow the link we email you. The link expires after one hour.",
            ),
            Section(
                ("Account", "Two-factor authentication"),
                "Enable two-factor authentication under Security settings with any "
                "authenticator app.",
            ),
        ),
    ),
    "shipping": ExtractedPage(
        url="https://help.test/shipping",
        title="Shipping | Acme Help",
        language="en",
        sections=(
            Section(
                ("Shipping", "Delivery times"),
                "Standard shipping takes 3 to 5 business days; express shipping arrives the "
                "next business day when ordered before 2 pm.",
            ),
        ),
    ),
    "api": ExtractedPage(
        url="https://help.test/api",
        title="API | Acme Help",
        language="en",
        sections=(
            Section(
                ("API", "Rate limits"),
                "The REST API allows 100 requests per minute per key; a 429 response carries "
                "a Retry-After header.",
            ),
        ),
    ),
}


async def build(
    embedder: OnnxEmbedder, org: str = "org-a", pages: dict[str, ExtractedPage] = PAGES
) -> tuple[KnowledgeIndex, dict[str, list[Chunk]]]:
    index = KnowledgeIndex(dimension=embedder.dimension)
    chunker = Chunker(count_tokens=embedder.count_tokens)
    chunks = {}
    for page_id, page in pages.items():
        chunks[page_id] = chunker.chunk(page, page_key=page_id)
        vectors = await embedder.embed([c.embedding_text for c in chunks[page_id]])
        index.add_page(org, page_id, chunks[page_id], vectors, datasource_id=f"ds-{page_id}")
    return index, chunks


class TestHybridSearch:
    @pytest.mark.parametrize(
        ("question", "heading"),
        [
            ("i forgot my password, how do i get back in?", "Password reset"),
            ("how long until i get my money back", "Refunds"),
            ("when will my parcel arrive", "Delivery times"),
            ("too many requests error from your api", "Rate limits"),
        ],
    )
    async def test_obviously_relevant_chunk_ranks_first(
        self, embedder: OnnxEmbedder, question: str, heading: str
    ) -> None:
        index, _ = await build(embedder)
        hits = await Retriever(index, embedder).search("org-a", question, limit=3)
        assert hits[0].chunk.heading_path[-1] == heading

    async def test_scores_are_calibrated_and_sorted(self, embedder: OnnxEmbedder) -> None:
        index, _ = await build(embedder)
        retriever = Retriever(index, embedder)
        hits = await retriever.search("org-a", "how do I get a refund for my order", limit=10)
        scores = [hit.score for hit in hits]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)
        off_topic = await retriever.search("org-a", "a good recipe for banana bread", limit=1)
        assert off_topic[0].score < 0.5 < hits[0].score

    async def test_filters_by_datasource_and_source(self, embedder: OnnxEmbedder) -> None:
        index, _ = await build(embedder)
        retriever = Retriever(index, embedder)
        hits = await retriever.search(
            "org-a", "forgot password", datasource_ids=["ds-shipping", "ds-api"]
        )
        assert {hit.page_id for hit in hits} <= {"shipping", "api"}
        assert await retriever.search("org-a", "forgot password", sources=["training"]) == []

    async def test_max_per_page_diversifies(self, embedder: OnnxEmbedder) -> None:
        index, _ = await build(embedder)
        hits = await Retriever(index, embedder).search(
            "org-a", "billing refunds invoices", limit=3, max_per_page=1
        )
        assert len({hit.page_id for hit in hits}) == len(hits) == 3

    async def test_lexical_only_without_an_embedder(self, embedder: OnnxEmbedder) -> None:
        index, _ = await build(embedder)
        hits = await Retriever(index, None).search("org-a", "two-factor authenticator app")
        assert hits[0].chunk.heading_path[-1] == "Two-factor authentication"
        assert hits[0].dense == 0.0


class TestPageChanges:
    async def test_removed_page_vanishes_from_results(self, embedder: OnnxEmbedder) -> None:
        index, _ = await build(embedder)
        retriever = Retriever(index, embedder)
        assert index.remove_page("org-a", "account") is True
        hits = await retriever.search("org-a", "forgot my password", limit=10)
        assert hits and all(hit.page_id != "account" for hit in hits)
        assert index.remove_page("org-a", "account") is False

    async def test_re_adding_a_page_replaces_its_chunks(self, embedder: OnnxEmbedder) -> None:
        index, chunks = await build(embedder)
        vectors = await embedder.embed([c.embedding_text for c in chunks["api"]])
        index.add_page("org-a", "api", chunks["api"], vectors)
        index.add_page("org-a", "api", chunks["api"], vectors)
        hits = await Retriever(index, embedder).search("org-a", "rate limits", limit=10)
        ids = [hit.chunk.chunk_id for hit in hits]
        assert len(ids) == len(set(ids))
        assert index.org("org-a").chunk_count == sum(len(c) for c in chunks.values())

    async def test_a_page_re_added_without_chunks_is_removed(self, embedder: OnnxEmbedder) -> None:
        index, _ = await build(embedder)
        index.add_page("org-a", "account", [], np.zeros((0, embedder.dimension)))
        hits = await Retriever(index, embedder).search("org-a", "forgot my password", limit=10)
        assert all(hit.page_id != "account" for hit in hits)
        assert "account" not in index.org("org-a").page_ids()

    def test_search_stays_right_after_compaction(self) -> None:
        org = OrgIndex(dimension=8, initial_capacity=16)
        model = HashingEmbedder(dimension=8)
        for i in range(1500):
            page = ExtractedPage(
                url=f"https://t.test/{i}",
                title=f"Page {i}",
                language="en",
                sections=(Section((f"Page {i}",), f"topic{i} filler words here"),),
            )
            chunks = Chunker().chunk(page)
            org.add_page(str(i), chunks, model.embed_sync([c.embedding_text for c in chunks]))
        for i in range(1400):
            org.remove_page(str(i))
        assert org.chunk_count == 100
        assert org.slot_count < 1500  # removed slots were compacted away
        hits = org.search("topic1450", None, limit=3)
        assert hits[0].page_id == "1450"
        assert all(hit.page_id != "10" for hit in org.search("topic10", None, limit=100))


class TestOrgIsolation:
    async def test_orgs_never_see_each_others_chunks(self, embedder: OnnxEmbedder) -> None:
        index, _ = await build(embedder, org="org-a")
        retriever = Retriever(index, embedder)
        shipping = {"shipping": PAGES["shipping"]}
        chunker = Chunker(count_tokens=embedder.count_tokens)
        chunks = chunker.chunk(shipping["shipping"], page_key="b-shipping")
        vectors = await embedder.embed([c.embedding_text for c in chunks])
        index.add_page("org-b", "b-shipping", chunks, vectors)
        b_hits = await retriever.search("org-b", "forgot my password", limit=10)
        assert {hit.page_id for hit in b_hits} == {"b-shipping"}
        assert await retriever.search("org-c", "forgot my password") == []
        index.remove_page("org-b", "account")  # another org's page id: no effect on org-a
        a_hits = await retriever.search("org-a", "forgot my password", limit=1)
        assert a_hits[0].page_id == "account"


class TestAnalyzer:
    def test_drops_stop_words_and_stems(self) -> None:
        assert Analyzer().terms("Hi, I want to know how I can reset my passwords") == [
            "reset",
            "password",
        ]

    def test_splits_identifiers(self) -> None:
        assert Analyzer().terms("list_display ModelAdmin") == [
            "list_display",
            "list",
            "display",
            "modeladmin",
            "model",
            "admin",
        ]


class TestLexicalIndex:
    def test_scores_are_fractions_of_the_query(self) -> None:
        lexical = LexicalIndex()
        lexical.add(0, ["refund", "order"], [])
        lexical.add(1, ["ship", "order"], [])
        lexical.add(2, ["invoic"], [])
        scores = lexical.score(["refund", "order"], 3)
        assert 0.0 < scores[1] < scores[0] < 1.0 and scores[2] == 0.0
        # A term the corpus lacks lowers every score instead of being ignored.
        assert lexical.score(["refund", "order", "kubernet"], 3)[0] < scores[0]

    def test_removed_slot_scores_zero(self) -> None:
        lexical = LexicalIndex()
        lexical.add(0, ["refund"], [])
        lexical.add(1, ["refund"], [])
        lexical.remove(0)
        scores = lexical.score(["refund"], 2)
        assert scores[0] == 0.0 and scores[1] > 0.0
        assert np.isfinite(scores).all()
