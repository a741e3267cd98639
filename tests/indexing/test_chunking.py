from __future__ import annotations

from deskpilot.documents import ExtractedPage, Section
from deskpilot.indexing import (
    Chunker,
    OnnxEmbedder,
    code_share,
    context_prefix,
    page_quality,
    prose_score,
)

PROSE = (
    "Webhooks let your server hear about events as they happen. Each delivery is signed "
    "with your secret, so you can check that it came from us. Failed deliveries are retried "
    "with exponential backoff for up to three days before they are given up."
)


def make_page(*sections: Section, url: str = "https://docs.test/guide") -> ExtractedPage:
    return ExtractedPage(url=url, title="Guide | Acme Docs", language="en", sections=sections)


def long_section() -> Section:
    paragraphs = [f"Paragraph {i}. {PROSE}" for i in range(12)]
    code = "\n".join(f"    client.send(event_{i}, retries={i})" for i in range(80))
    one_line = " ".join(["token"] * 900)
    return Section(("Guide", "Webhooks", "Retries"), "\n\n".join([*paragraphs, code, one_line]))


class TestChunker:
    def test_chunks_carry_page_and_heading_path(self, embedder: OnnxEmbedder) -> None:
        page = make_page(
            Section(("Guide",), "Intro text for the guide. " * 3),
            Section(("Guide", "Webhooks", "Signing"), PROSE),
        )
        chunks = Chunker(count_tokens=embedder.count_tokens).chunk(page)
        assert [c.heading_path for c in chunks] == [("Guide",), ("Guide", "Webhooks", "Signing")]
        assert all(c.url == page.url and c.title == "Guide | Acme Docs" for c in chunks)
        assert chunks[1].embedding_text.startswith("Guide > Webhooks > Signing\n")
        assert chunks[1].text == PROSE

    def test_every_chunk_fits_the_model_window(self, embedder: OnnxEmbedder) -> None:
        chunker = Chunker(count_tokens=embedder.count_tokens, max_tokens=256, target_tokens=200)
        chunks = chunker.chunk(make_page(long_section()))
        assert len(chunks) > 5
        sizes = embedder.count_tokens([c.embedding_text for c in chunks])
        assert max(sizes) <= 254  # the window less [CLS] and [SEP]

    def test_text_is_not_lost_when_splitting(self, embedder: OnnxEmbedder) -> None:
        section = long_section()
        chunks = Chunker(count_tokens=embedder.count_tokens, overlap_tokens=0).chunk(
            make_page(section)
        )
        assert " ".join(" ".join(c.text.split()) for c in chunks) == " ".join(section.text.split())

    def test_sections_without_text_make_no_chunks(self) -> None:
        page = make_page(Section(("Empty",), "  \n "), Section(("Full",), PROSE))
        assert [c.heading_path for c in Chunker().chunk(page)] == [("Full",)]


class TestChunkIds:
    def test_unchanged_page_gives_identical_chunks(self, embedder: OnnxEmbedder) -> None:
        chunker = Chunker(count_tokens=embedder.count_tokens)
        first = chunker.chunk(make_page(long_section()), page_key="page-1")
        again = Chunker(count_tokens=embedder.count_tokens).chunk(
            make_page(long_section()), page_key="page-1"
        )
        assert first == again
        assert len({c.chunk_id for c in first}) == len(first)

    def test_ids_differ_between_pages_with_the_same_text(self) -> None:
        page = make_page(Section(("A",), PROSE))
        one = Chunker().chunk(page, page_key="page-1")[0]
        other = Chunker().chunk(page, page_key="page-2")[0]
        assert one.chunk_id != other.chunk_id
        assert one.content_hash == other.content_hash

    def test_an_edit_changes_only_the_edited_chunk(self) -> None:
        before = Chunker().chunk(make_page(Section(("A",), PROSE), Section(("B",), PROSE)))
        after = Chunker().chunk(
            make_page(Section(("A",), PROSE), Section(("B",), PROSE + " Edited."))
        )
        assert before[0] == after[0]
        assert before[1].chunk_id != after[1].chunk_id


class TestContextPrefix:
    def test_title_dropped_when_first_heading_names_the_page(self) -> None:
        assert context_prefix("Guide | Acme Docs", ("Guide", "Retries")) == "Guide > Retries\n"

    def test_title_kept_when_headings_do_not_name_the_page(self) -> None:
        assert context_prefix("Acme  Docs", ("Retries",)) == "Acme Docs > Retries\n"

    def test_rebuilds_embedding_text_from_stored_fields(self) -> None:
        page = make_page(Section(("Guide", " Webhooks "), PROSE), Section((), "No headings."))
        for chunk in Chunker().chunk(page):
            rebuilt = context_prefix(chunk.title, chunk.heading_path) + chunk.text
            assert rebuilt == chunk.embedding_text

    def test_untitled_page_is_known_by_its_url(self) -> None:
        page = ExtractedPage(
            url="https://docs.test/x", title=" ", language=None, sections=(Section((), PROSE),)
        )
        chunk = Chunker().chunk(page)[0]
        assert chunk.title == "https://docs.test/x"
        assert chunk.embedding_text == "https://docs.test/x\n" + PROSE


class TestPageQuality:
    def test_prose_page_scores_high(self) -> None:
        assert page_quality([PROSE, PROSE]) == 1.0
        assert prose_score(PROSE) > 0.9

    def test_source_listing_scores_low(self) -> None:
        source = "\n".join(
            ["def handler(request):", "    if request.user:", "        return view(request)"] * 20
        )
        assert code_share(source) > 0.9
        assert page_quality([source]) < 0.3

    def test_index_page_scores_low(self) -> None:
        index = "\n".join(f"send_event() (Client method) | retry_{i}" for i in range(50))
        assert page_quality([index]) < 0.3
