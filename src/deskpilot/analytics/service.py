"""What an org's conversations add up to over a period: handoff analytics (API.md 3.11) and
the dashboard's report (conversations per day, how they ended, tags, CSAT).

Every figure comes from aggregate queries (GROUP BY) over the org's rows in the period:
their number and the rows they return follow the number of groups (days, reasons, scores),
never the number of conversations. A handoff is a conversation with a `handoff` event in
the period (hand-back clears the session's `handoff_at`, the event stays); its reasons,
summary and sentiment are the ones the session keeps (the latest handoff's). References
come from the debug records the agent keeps of its turns.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.analytics.schemas import (
    DailyCount,
    HandoffAnalyticsRead,
    HandoffEventRead,
    ReasonCombination,
    ReasonCount,
    Reference,
    SentimentCount,
    reason_label,
)
from deskpilot.errors import InvalidInput
from deskpilot.models import ChatEvent, ChatSession, Tag, WidgetCsat, chat_session_tags
from deskpilot.pagination import decode_cursor, encode_cursor, time_range
from deskpilot.tenancy import org_scoped

DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)
# Each reference list keeps the items consulted in the most handed-off conversations.
REFERENCE_LIMIT = 50
TOP_TAGS = 10
SENTIMENTS = ("angry", "neutral", "happy", "unknown")
CSAT_SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True, slots=True)
class Period:
    """From `start` to `end`, both included (at the millisecond timestamps are shown with)."""

    start: datetime
    end: datetime

    def days(self) -> list[date]:
        """Every UTC day the period touches, in order."""
        first, last = self.start.astimezone(UTC).date(), self.end.astimezone(UTC).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def resolve_period(*, start: datetime | None, end: datetime | None, now: datetime) -> Period:
    """The API's defaults: the 30 days up to `end`, which defaults to now; ≤ 366 days."""
    if end is None:
        end = now
    if start is None:
        try:
            start = end - DEFAULT_PERIOD
        except OverflowError:  # an end_date in the first 30 days of year 1
            raise InvalidInput("end_date is out of range") from None
    if start >= end:
        raise InvalidInput("start_date must be earlier than end_date")
    if end - start > MAX_PERIOD:
        raise InvalidInput("start_date and end_date must not be more than 366 days apart")
    return Period(start, end)


def last_days(days: int, *, now: datetime) -> Period:
    """Today (UTC) and the `days - 1` whole days before it: one bar per day on a chart."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return resolve_period(start=midnight - timedelta(days=days - 1), end=now, now=now)


def percentage(count: int, total: int) -> float:
    """0-100 with one decimal, halves rounded up (no float artefacts such as 12.25 → 12.2)."""
    if total <= 0:
        return 0.0
    share = Decimal(count * 100) / Decimal(total)
    return float(share.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _day(db: AsyncSession, column: Any) -> Any:
    """The UTC calendar day of a timestamp column."""
    if db.get_bind().dialect.name == "sqlite":
        return sa.func.date(column)  # stored as naive UTC text
    return sa.func.date(sa.func.timezone(sa.literal_column("'UTC'"), column))


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# --- the population -----------------------------------------------------------------------


def _sessions_started(org_id: uuid.UUID, period: Period) -> sa.Select[Any]:
    return org_scoped(ChatSession, org_id).where(
        *time_range(ChatSession.created_at, period.start, period.end)
    )


def _handoffs(org_id: uuid.UUID, period: Period) -> sa.Subquery:
    """One row per conversation handed off in the period, with its latest handoff in it."""
    return (
        org_scoped(ChatEvent, org_id)
        .where(
            ChatEvent.type == "handoff",
            *time_range(ChatEvent.created_at, period.start, period.end),
        )
        .with_only_columns(
            ChatEvent.session_id.label("session_id"),
            sa.func.max(ChatEvent.created_at).label("handed_off_at"),
        )
        .group_by(ChatEvent.session_id)
        .subquery("handoffs")
    )


def _handed_off(org_id: uuid.UUID, handoffs: sa.Subquery) -> sa.Select[Any]:
    return org_scoped(ChatSession, org_id).join(handoffs, handoffs.c.session_id == ChatSession.id)


async def count_sessions(db: AsyncSession, *, org_id: uuid.UUID, period: Period) -> int:
    stmt = _sessions_started(org_id, period).with_only_columns(sa.func.count())
    return int(await db.scalar(stmt) or 0)


def _reasons_of(raw: object) -> tuple[str, ...]:
    """A stored reasons list, as a combination: distinct, in a fixed order."""
    if raw is None:
        return ()
    values = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(values, list):
        return ()
    return tuple(sorted({str(value) for value in values}))


@dataclass(frozen=True, slots=True)
class _Handoffs:
    """The period's handoffs, grouped three ways from one query."""

    combinations: Counter[tuple[str, ...]]
    sentiments: Counter[str]
    per_day: dict[date, int]


async def _grouped_handoffs(
    db: AsyncSession, org_id: uuid.UUID, handoffs: sa.Subquery
) -> _Handoffs:
    # Reasons are grouped on their stored text (lists differing in order merge below); the
    # sentiment is the one recorded at the handoff, else the session's latest.
    reasons = sa.cast(ChatSession.handoff_reasons, sa.Text).label("reasons")
    sentiment = sa.func.coalesce(ChatSession.handoff_sentiment, ChatSession.sentiment).label("s")
    day = _day(db, handoffs.c.handed_off_at).label("day")
    rows = await db.execute(
        _handed_off(org_id, handoffs)
        .with_only_columns(reasons, sentiment, day, sa.func.count().label("n"))
        .group_by(reasons, sentiment, day)
    )
    grouped = _Handoffs(Counter(), Counter(), {})
    for raw, mood, when, n in rows.tuples():
        grouped.combinations[_reasons_of(raw)] += int(n)
        grouped.sentiments[str(mood) if mood else "unknown"] += int(n)
        key = _as_date(when)
        grouped.per_day[key] = grouped.per_day.get(key, 0) + int(n)
    return grouped


# --- references from the turns' debug records -----------------------------------------------

# What each list of a turn's record is, and where the reference's id sits in its items.
_REFERENCE_LISTS = (
    ("knowledge", "page", "knowledge", "url"),
    ("knowledge", "training", "scenarios", "id"),
    ("instruction", "training", "instructions", "id"),
)


def _elements(db: AsyncSession, debug: Any, key: str) -> Any:
    """The items of the list under `key` in a debug record, as rows."""
    if db.get_bind().dialect.name == "sqlite":
        return sa.func.json_each(debug, f"$.{key}").table_valued(sa.column("value", sa.JSON))
    return sa.func.json_array_elements(debug[key]).table_valued(sa.column("value", sa.JSON))


def _text(value: str) -> Any:
    """A constant rendered in the SQL (a bound one has no type inside a UNION on PostgreSQL)."""
    return sa.literal_column(f"'{value}'", sa.String)


async def _references(
    db: AsyncSession, org_id: uuid.UUID, handoffs: sa.Subquery
) -> dict[tuple[str, str], list[Reference]]:
    """Per (list, type): the items the AI's turns consulted in the handed-off
    conversations, each with the number of those conversations, most consulted first. One
    query: the turn records are read once and every list is unnested from them."""
    turns = (
        org_scoped(ChatEvent, org_id)
        .join(handoffs, handoffs.c.session_id == ChatEvent.session_id)
        .where(ChatEvent.debug.is_not(None))
        .with_only_columns(ChatEvent.session_id.label("session_id"), ChatEvent.debug.label("debug"))
        .cte("turns")
    )
    branches = []
    for kind, ref_type, key, field in _REFERENCE_LISTS:
        items = _elements(db, turns.c.debug, key)
        branches.append(
            sa.select(
                _text(kind).label("kind"),
                _text(ref_type).label("type"),
                items.c.value[field].as_string().label("ref"),
                turns.c.session_id,
            )
            .select_from(turns)
            .join(items, sa.true())
        )
    branches.append(
        sa.select(
            _text("topic").label("kind"),
            _text("topic").label("type"),
            turns.c.debug["topic"].as_string().label("ref"),
            turns.c.session_id,
        )
    )
    found = sa.union_all(*branches).subquery("found")
    sessions = sa.func.count(sa.distinct(found.c.session_id))
    ranked = (
        sa.select(
            found.c.kind,
            found.c.type,
            found.c.ref,
            sessions.label("n"),
            sa.func.row_number()
            .over(
                partition_by=(found.c.kind, found.c.type),
                order_by=(sessions.desc(), found.c.ref),
            )
            .label("rank"),
        )
        .where(found.c.ref.is_not(None), found.c.ref != "")
        .group_by(found.c.kind, found.c.type, found.c.ref)
        .subquery("ranked")
    )
    rows = await db.execute(
        sa.select(ranked.c.kind, ranked.c.type, ranked.c.ref, ranked.c.n)
        .where(ranked.c.rank <= REFERENCE_LIMIT)
        .order_by(ranked.c.n.desc(), ranked.c.type, ranked.c.ref)
    )
    references: dict[tuple[str, str], list[Reference]] = {}
    for kind, ref_type, ref, n in rows.tuples():
        references.setdefault((kind, ref_type), []).append(
            Reference(type=ref_type, id=str(ref), count=int(n))
        )
    return references


def _merged(*lists: list[Reference]) -> list[Reference]:
    merged = [ref for refs in lists for ref in refs]
    merged.sort(key=lambda ref: (-ref.count, ref.type, ref.id))
    return merged[:REFERENCE_LIMIT]


# --- the written overview -----------------------------------------------------------------


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _summary(
    *,
    period: Period,
    total_sessions: int,
    total_handoffs: int,
    reasons: list[ReasonCount],
    combinations: list[ReasonCombination],
    sentiments: list[SentimentCount],
    trends: list[DailyCount],
) -> str:
    """Deterministic prose from the numbers: the same numbers give the same text."""
    span = f"between {period.start:%Y-%m-%d} and {period.end:%Y-%m-%d}"
    started = _plural(total_sessions, "conversation")
    if total_handoffs == 0:
        return f"No conversation was handed off to the team {span} ({started} started)."
    handed = _plural(total_handoffs, "conversation")
    verb = "was" if total_handoffs == 1 else "were"
    sentences = [f"{handed} {verb} handed off to the team {span}"]
    if total_sessions:
        share = percentage(total_handoffs, total_sessions)
        sentences[0] += f"; {started} started in that period (handoff rate {share}%)"
    sentences[0] += "."
    if reasons:
        parts = [f"{reason_label(r.reason)} ({r.count}, {r.percentage}%)" for r in reasons[:3]]
        lead = "The most common reason was " if len(reasons) > 1 else "The reason was "
        text = lead + parts[0]
        if len(parts) > 1:
            text += ", followed by " + " and ".join(parts[1:])
        sentences.append(text + ".")
    multiple = [c for c in combinations if len(c.reasons) > 1]
    if multiple:
        count = sum(c.session_count for c in multiple)
        top = multiple[0]
        names = " with ".join(reason_label(r) for r in top.reasons)
        sentences.append(
            f"{_plural(count, 'handoff')} had more than one reason; the most frequent "
            f"combination was {names} ({top.session_count})."
        )
    known = {s.sentiment: s for s in sentiments}
    if "angry" in known:
        angry = known["angry"]
        sentences.append(f"The contact was angry in {angry.count} of them ({angry.percentage}%).")
    elif sentiments and "unknown" not in known:
        sentences.append("No contact was angry at the handoff.")
    most = max((day.count for day in trends), default=0)
    busiest = [day.date for day in trends if day.count == most]
    if total_handoffs > 1 and len(trends) > 1:
        if len(busiest) == 1:
            sentences.append(f"The busiest day was {busiest[0]} with {most} handoffs.")
        else:
            sentences.append(f"No day had more than {_plural(most, 'handoff')}.")
    return " ".join(sentences)


# --- the overview -------------------------------------------------------------------------


async def handoff_analytics(
    db: AsyncSession, *, org_id: uuid.UUID, period: Period, with_references: bool = True
) -> HandoffAnalyticsRead:
    """The overview of API.md 3.11. `with_references=False` leaves the four reference lists
    empty and skips their query, the costliest (it unnests the turns' debug records): for
    the dashboard, which does not show them."""
    handoffs = _handoffs(org_id, period)
    total_sessions = await count_sessions(db, org_id=org_id, period=period)
    grouped = await _grouped_handoffs(db, org_id, handoffs)
    total = sum(grouped.combinations.values())

    per_reason: Counter[str] = Counter()
    for combination, count in grouped.combinations.items():
        for reason in combination:
            per_reason[reason] += count
    reasons = [
        ReasonCount(reason=reason, count=count, percentage=percentage(count, total))
        for reason, count in sorted(per_reason.items(), key=lambda item: (-item[1], item[0]))
    ]
    combinations = [
        ReasonCombination(
            reasons=list(combination), session_count=count, percentage=percentage(count, total)
        )
        for combination, count in sorted(
            grouped.combinations.items(), key=lambda item: (-item[1], len(item[0]), item[0])
        )
    ]
    sentiments = [
        SentimentCount(sentiment=name, count=count, percentage=percentage(count, total))
        for name in (*SENTIMENTS, *sorted(set(grouped.sentiments) - set(SENTIMENTS)))
        if (count := grouped.sentiments.get(name, 0))
    ]
    trends = [
        DailyCount(date=day.isoformat(), count=grouped.per_day.get(day, 0)) for day in period.days()
    ]
    references = await _references(db, org_id, handoffs) if total and with_references else {}
    knowledge = _merged(
        references.get(("knowledge", "page"), []), references.get(("knowledge", "training"), [])
    )
    return HandoffAnalyticsRead(
        summary=_summary(
            period=period,
            total_sessions=total_sessions,
            total_handoffs=total,
            reasons=reasons,
            combinations=combinations,
            sentiments=sentiments,
            trends=trends,
        ),
        total_handoffs=total,
        total_sessions=total_sessions,
        start_date=period.start,
        end_date=period.end,
        reasons=reasons,
        reason_combinations=combinations,
        sentiments=sentiments,
        trends=trends,
        knowledge_references=knowledge,
        # The agent has no tools yet (actions, API.md 6): no turn records one.
        tool_references=[],
        instruction_references=references.get(("instruction", "training"), []),
        prohibited_topic_references=references.get(("topic", "topic"), []),
    )


def _contains_reason(reason: str) -> sa.ColumnElement[bool]:
    """The stored JSON list holds `reason` (a quoted enum value; LIKE's wildcards escaped)."""
    escaped = reason.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.cast(ChatSession.handoff_reasons, sa.Text).like(f'%"{escaped}"%', escape="\\")


async def list_handoffs(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    period: Period,
    reason: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[HandoffEventRead], str | None, int]:
    """The period's handoffs, latest first: a page, the next page's cursor, and the total."""
    handoffs = _handoffs(org_id, period)
    stmt = _handed_off(org_id, handoffs)
    if reason is not None:
        stmt = stmt.where(_contains_reason(reason))
    total = int(await db.scalar(stmt.with_only_columns(sa.func.count())) or 0)
    at = handoffs.c.handed_off_at
    if cursor:
        after, raw_id = decode_cursor(cursor)
        try:
            after_id = uuid.UUID(raw_id)
        except ValueError as exc:
            raise InvalidInput("cursor is not valid") from exc
        stmt = stmt.where(sa.or_(at < after, sa.and_(at == after, ChatSession.id < after_id)))
    rows = (
        await db.execute(
            stmt.with_only_columns(
                ChatSession.id,
                ChatSession.handoff_summary,
                ChatSession.handoff_explanation,
                ChatSession.handoff_reasons,
                at,
            )
            .order_by(at.desc(), ChatSession.id.desc())
            .limit(limit + 1)
        )
    ).all()
    items = [
        HandoffEventRead(
            session_id=row[0],
            summary=row[1],
            explanation=row[2],
            reasons=list(row[3] or []),
            created_at=row[4],
        )
        for row in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit and items:
        next_cursor = encode_cursor(items[-1].created_at, items[-1].session_id)
    return items, next_cursor, total


# --- the dashboard's conversation report --------------------------------------------------


OUTCOMES = ("ai_resolved", "handed_off", "taken_over", "open_or_unresolved")


@dataclass(frozen=True, slots=True)
class Outcomes:
    """How conversations stand now. Each is counted once: handed off (the AI handed it to
    the team, even if it came back), else taken over (a person took it from the AI), else
    resolved by the AI (closed as resolved without a person), else open or unresolved."""

    ai_resolved: int = 0
    handed_off: int = 0
    taken_over: int = 0
    open_or_unresolved: int = 0

    @property
    def total(self) -> int:
        return self.handed_off + self.taken_over + self.ai_resolved + self.open_or_unresolved

    def __add__(self, other: Outcomes) -> Outcomes:
        return Outcomes(*(getattr(self, name) + getattr(other, name) for name in OUTCOMES))


@dataclass(frozen=True, slots=True)
class DayOutcomes:
    date: str  # YYYY-MM-DD (UTC)
    outcomes: Outcomes


@dataclass(frozen=True, slots=True)
class TagCount:
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class Csat:
    count: int
    average: float | None  # one decimal
    distribution: dict[int, int]  # score → answers, every score 1-5


@dataclass(frozen=True, slots=True)
class ConversationReport:
    period: Period
    days: list[DayOutcomes]  # the conversations started each day, by how they stand
    top_tags: list[TagCount]
    csat: Csat

    @property
    def outcomes(self) -> Outcomes:
        return sum((day.outcomes for day in self.days), Outcomes())

    @property
    def total_conversations(self) -> int:
        return self.outcomes.total


async def _outcomes_per_day(
    db: AsyncSession, org_id: uuid.UUID, period: Period
) -> list[DayOutcomes]:
    # Whether each conversation was handed off or taken over: from the org's events since
    # the period began (none of a conversation started in it is older), one row a session.
    flags = (
        org_scoped(ChatEvent, org_id)
        .where(
            ChatEvent.type.in_(("handoff", "human_agent_takeover")),
            *time_range(ChatEvent.created_at, period.start, None),
        )
        .with_only_columns(
            ChatEvent.session_id.label("session_id"),
            sa.func.max(sa.case((ChatEvent.type == "handoff", 1), else_=0)).label("handoff"),
            sa.func.max(sa.case((ChatEvent.type == "human_agent_takeover", 1), else_=0)).label(
                "takeover"
            ),
        )
        .group_by(ChatEvent.session_id)
        .subquery("flags")
    )
    day = _day(db, ChatSession.created_at).label("day")
    outcome = sa.case(
        (flags.c.handoff == 1, "handed_off"),
        (flags.c.takeover == 1, "taken_over"),
        (ChatSession.status == "closed_resolved", "ai_resolved"),
        else_="open_or_unresolved",
    ).label("outcome")
    rows = await db.execute(
        _sessions_started(org_id, period)
        .outerjoin(flags, flags.c.session_id == ChatSession.id)
        .with_only_columns(day, outcome, sa.func.count().label("n"))
        .group_by(day, outcome)
    )
    counts: dict[date, dict[str, int]] = {}
    for value, name, n in rows.tuples():
        counts.setdefault(_as_date(value), {})[str(name)] = int(n)
    return [DayOutcomes(day.isoformat(), Outcomes(**counts.get(day, {}))) for day in period.days()]


async def _top_tags(db: AsyncSession, org_id: uuid.UUID, period: Period) -> list[TagCount]:
    count = sa.func.count().label("n")
    rows = await db.execute(
        org_scoped(Tag, org_id)
        .join(chat_session_tags, chat_session_tags.c.tag_id == Tag.id)
        .join(ChatSession, ChatSession.id == chat_session_tags.c.session_id)
        .where(
            ChatSession.org_id == org_id,
            *time_range(ChatSession.created_at, period.start, period.end),
        )
        .with_only_columns(Tag.tag_name, count)
        .group_by(Tag.id, Tag.tag_name)
        .order_by(count.desc(), Tag.tag_name)
        .limit(TOP_TAGS)
    )
    return [TagCount(name, int(n)) for name, n in rows.tuples()]


async def _csat(db: AsyncSession, org_id: uuid.UUID, period: Period) -> Csat:
    rows = await db.execute(
        org_scoped(WidgetCsat, org_id)
        .where(*time_range(WidgetCsat.created_at, period.start, period.end))
        .with_only_columns(WidgetCsat.score, sa.func.count().label("n"))
        .group_by(WidgetCsat.score)
    )
    distribution = dict.fromkeys(CSAT_SCORES, 0)
    for score, n in rows.tuples():
        distribution[int(score)] = distribution.get(int(score), 0) + int(n)
    count = sum(distribution.values())
    average = None
    if count:
        mean = Decimal(sum(score * n for score, n in distribution.items())) / Decimal(count)
        average = float(mean.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return Csat(count=count, average=average, distribution=distribution)


async def conversation_report(
    db: AsyncSession, *, org_id: uuid.UUID, period: Period
) -> ConversationReport:
    return ConversationReport(
        period=period,
        days=await _outcomes_per_day(db, org_id, period),
        top_tags=await _top_tags(db, org_id, period),
        csat=await _csat(db, org_id, period),
    )
