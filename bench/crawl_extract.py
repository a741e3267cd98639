"""Extraction speed and a quality spot-check of `deskpilot.crawler` over local HTML docs.

    .venv/bin/python bench/crawl_extract.py [FOLDER ...] [--workers 2] [--trafilatura]
    .venv/bin/python bench/crawl_extract.py --show PATH ...

Defaults to the Debian docs `python-django-doc` and `postgresql-doc-15`
(`apt-get install -y python-django-doc postgresql-doc-15`). Prints per-page extraction time
(p50/p95/max, single process), the wall time of the whole folder over a process pool, and
how many pages still carry typical chrome (Prev/Next bars, copyright lines, "Table of
contents" sidebars) or lost every heading. `--trafilatura` also times trafilatura 2
(`fast=True`, XML output) on the same pages in the same run, as the baseline to compare with.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from deskpilot.crawler import content_hash, extract_document

DEFAULT_FOLDERS = (
    Path("/usr/share/doc/python-django-doc/html"),
    Path("/usr/share/doc/postgresql-doc-15/html"),
)
BASE_URL = "https://docs.example.test/"
JUNK = {
    "prev/next bar": re.compile(r"^(?:«\s*)?(?:previous|prev)\b.*\bnext\b", re.I | re.M),
    "copyright line": re.compile(r"^(?:©|copyright\b)", re.I | re.M),
    "table of contents": re.compile(r"^table of contents$", re.I | re.M),
}


def _extract(path: Path, root: Path) -> tuple[float, str, int, int, list[str]]:
    body = path.read_bytes()
    started = time.perf_counter()
    extraction = extract_document(body, BASE_URL + str(path.relative_to(root)), "text/html")
    elapsed = (time.perf_counter() - started) * 1000
    assert extraction is not None
    page = extraction.page
    text = page.text
    junk = [name for name, pattern in JUNK.items() if pattern.search(text)]
    # Distinct headings that made it into a heading path (ancestors included).
    headings = len(
        {s.heading_path[: i + 1] for s in page.sections for i in range(len(s.heading_path))}
    )
    content_hash(page)
    return elapsed, page.title, len(text), headings, junk


def _trafilatura(path: Path) -> tuple[float, int]:
    import trafilatura

    html = path.read_bytes()
    started = time.perf_counter()
    xml = trafilatura.extract(
        html, output_format="xml", fast=True, include_formatting=True, include_tables=True
    )
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, (xml or "").count("<head")


def _percentiles(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _bench_folder(root: Path, workers: int, compare: bool) -> None:
    files = sorted(p for p in root.rglob("*.html") if p.is_file())
    if not files:
        print(f"{root}: no HTML files (install the Debian docs package)")
        return
    for path in files[:20]:  # warm caches and lazy imports before timing
        _extract(path, root)
    timings: list[float] = []
    headings_total = 0
    empty: list[str] = []
    no_heading: list[str] = []
    junk_pages: dict[str, list[str]] = {}
    started = time.perf_counter()
    for path in files:
        elapsed, _, length, headings, junk = _extract(path, root)
        timings.append(elapsed)
        headings_total += headings
        rel = str(path.relative_to(root))
        if length == 0:
            empty.append(rel)
        elif headings == 0:
            no_heading.append(rel)
        for name in junk:
            junk_pages.setdefault(name, []).append(rel)
    serial = time.perf_counter() - started
    p50, p95 = _percentiles(timings)
    print(f"{root}: {len(files)} pages")
    print(
        f"  per page: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(timings):.1f} ms, "
        f"mean {statistics.fmean(timings):.1f} ms; serial total {serial:.1f} s; "
        f"{headings_total} headings kept"
    )
    if compare:
        runs = [_trafilatura(path) for path in files]
        t50, t95 = _percentiles([ms for ms, _ in runs])
        print(
            f"  trafilatura: p50 {t50:.1f} ms, p95 {t95:.1f} ms, total "
            f"{sum(ms for ms, _ in runs) / 1000:.1f} s; {sum(h for _, h in runs)} headings kept"
            f" (ours {t50 / p50:.1f}x faster at p50, {t95 / p95:.1f}x at p95)"
        )
    if workers > 1:
        context = get_context("spawn")
        started = time.perf_counter()
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            list(pool.map(_extract, files, [root] * len(files), chunksize=8))
        print(f"  {workers} processes: {time.perf_counter() - started:.1f} s wall (incl. start-up)")
    print(f"  empty pages: {len(empty)} {empty[:5]}")
    print(f"  pages without any heading: {len(no_heading)} {no_heading[:5]}")
    for name, pages in junk_pages.items():
        print(f"  pages with {name}: {len(pages)} {pages[:5]}")


def _show(path: Path) -> None:
    extraction = extract_document(path.read_bytes(), BASE_URL + path.name, "text/html")
    assert extraction is not None
    page = extraction.page
    print(f"# {page.title}  (lang={page.language}, links={len(page.links)})")
    for section in page.sections:
        print(f"\n## {' > '.join(section.heading_path)}\n{section.text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, default=list(DEFAULT_FOLDERS))
    parser.add_argument("--workers", type=int, default=2, help="process pool size (1 = none)")
    parser.add_argument("--show", nargs="*", type=Path, default=[], help="print extractions")
    parser.add_argument("--trafilatura", action="store_true", help="time trafilatura too")
    args = parser.parse_args()
    for path in args.show:
        _show(path)
    if args.show:
        return
    for folder in args.folders:
        _bench_folder(folder, args.workers, args.trafilatura)


if __name__ == "__main__":
    main()
