"""What extraction hands to indexing: a page's main text, split by its headings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Section:
    """A run of main-content text under one heading path (outermost heading first)."""

    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    url: str
    title: str
    language: str | None
    sections: tuple[Section, ...]
    # Links found anywhere on the page (navigation included), absolute, for discovery.
    links: tuple[str, ...] = field(default=())
    canonical_url: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections)
