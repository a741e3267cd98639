"""The geometry of the reports page's charts, computed here so the template only draws: SVG
coordinates for columns, bars, shares and axis ticks. No script, no chart library."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def nice_ceiling(value: int, ticks: int = 4) -> tuple[int, int]:
    """The axis maximum for `value`: the fewest steps of 1, 2 or 5 times 10^n (at most
    `ticks` + 1) that reach it, as (maximum, step)."""
    if value <= 0:
        return 1, 1
    magnitude = 10 ** max(0, math.floor(math.log10(value / ticks)))
    for factor in (1, 2, 5, 10):
        step = factor * magnitude
        steps = math.ceil(value / step)
        if steps <= ticks + 1:
            return steps * step, step
    return value, value  # pragma: no cover - factor 10 always fits


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Segment:
    """One series' part of a column, stacked on the ones before it."""

    x: float
    y: float
    width: float
    height: float
    value: int
    series: str  # a CSS class
    title: str  # what a screen reader and a hover read


@dataclass(frozen=True, slots=True)
class Column:
    label: str  # the category (a day, a score)
    total: int
    x: float  # the column's centre, where its total is written
    top: float
    title: str
    segments: list[Segment]


@dataclass(frozen=True, slots=True)
class AxisLabel:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class ColumnChart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    baseline: float
    columns: list[Column]
    ticks: list[Tick]
    axis_labels: list[AxisLabel]
    show_values: bool  # the columns are wide enough to carry their total


@dataclass(frozen=True, slots=True)
class Series:
    key: str
    label: str
    values: Sequence[int]


def column_chart(
    categories: Sequence[tuple[str, str]],
    series: Sequence[Series],
    *,
    unit: str,
    width: int = 860,
    height: int = 240,
    max_axis_labels: int = 10,
) -> ColumnChart:
    """One column per category (axis label, full label), its series stacked bottom-up in
    order, on a y axis with round ticks; `unit` names what a column counts (plural)."""
    left, right, top, bottom = 44.0, 8.0, 22.0, 28.0
    plot_width = width - left - right
    baseline = height - bottom
    totals = [sum(one.values[i] for one in series) for i in range(len(categories))]
    axis_max, step = nice_ceiling(max(totals, default=0))
    scale = (baseline - top) / axis_max
    slot = plot_width / max(len(categories), 1)
    gap = min(slot * 0.25, 12.0)
    columns = []
    for i, (short, full) in enumerate(categories):
        x, y = left + i * slot + gap / 2, baseline
        segments = []
        for one in series:
            value = one.values[i]
            y -= value * scale
            segments.append(
                Segment(
                    x, y, slot - gap, value * scale, value, one.key, f"{full}: {one.label} {value}"
                )
            )
        total = totals[i]
        noun = unit if total != 1 else unit.removesuffix("s")
        columns.append(
            Column(short, total, x + (slot - gap) / 2, y, f"{full}: {total} {noun}", segments)
        )
    every = max(1, math.ceil(len(categories) / max_axis_labels))
    axis_labels = [
        AxisLabel(left + i * slot + slot / 2, short)
        for i, (short, _) in enumerate(categories)
        if i % every == 0
    ]
    ticks = [Tick(baseline - n * step * scale, str(n * step)) for n in range(axis_max // step + 1)]
    return ColumnChart(
        width=width,
        height=height,
        plot_left=left,
        plot_right=width - right,
        plot_top=top,
        baseline=baseline,
        columns=columns,
        ticks=ticks,
        axis_labels=axis_labels,
        show_values=slot >= 16,
    )


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    note: str  # shown after the number, e.g. "(40.0%)"
    text_y: float
    bar_y: float
    bar_width: float
    value_x: float


@dataclass(frozen=True, slots=True)
class BarList:
    width: int
    height: int
    bar_height: float
    bars: list[Bar]


def bar_list(
    items: Sequence[tuple[str, int, str]], *, width: int = 410, row: float = 44.0
) -> BarList:
    """Horizontal bars, longest first as given: each label on its own line above its bar
    (names of any length stay whole), the number at the bar's end."""
    highest = max((value for _, value, _ in items), default=0) or 1
    room = width - 90.0  # the number and its note sit after the longest bar
    bars = []
    for i, (label, value, note) in enumerate(items):
        length = max(room * value / highest, 2.0 if value else 0.0)
        top = i * row
        bars.append(
            Bar(
                label=label,
                value=value,
                note=note,
                text_y=top + 15,
                bar_y=top + 21,
                bar_width=length,
                value_x=length + 6,
            )
        )
    return BarList(width=width, height=int(len(items) * row) or 1, bar_height=16.0, bars=bars)


@dataclass(frozen=True, slots=True)
class Part:
    key: str
    label: str
    value: int
    percentage: float
    x: float
    width: float


@dataclass(frozen=True, slots=True)
class Share:
    width: int
    height: int
    total: int
    parts: list[Part]  # every part, even an empty one (the legend lists it)


def share_bar(
    items: Sequence[tuple[str, str, int, float]], *, width: int = 410, height: int = 36
) -> Share:
    """One bar split into (key, label, count, percentage) parts in proportion."""
    total = sum(value for _, _, value, _ in items)
    x = 0.0
    parts = []
    for key, label, value, share in items:
        length = width * value / total if total else 0.0
        parts.append(Part(key, label, value, share, x, length))
        x += length
    return Share(width=width, height=height, total=total, parts=parts)
