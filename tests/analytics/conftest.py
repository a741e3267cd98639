"""Conversations seeded through the real services at chosen moments: the conversations
service's clock is set for each step (events, handoffs), and the rows whose time the
services take from the database default (the session's start, a CSAT answer) are moved to
the moment afterwards. No AI turn runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from deskpilot import tasks as registry
from deskpilot.conversations import service as conversations
from deskpilot.db import transaction
from deskpilot.models import ChatSession, WidgetCsat
from deskpilot.orgsettings import service as orgsettings
from deskpilot.orgsettings.schemas import TagUpsert
from deskpilot.widget import service as widget
from deskpilot.widget.schemas import CreateUnverified

# A fixed week, far from "now", so the tests never depend on the day they run.
T0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday, 00:00 UTC
WEEK = {"start_date": "2025-03-03T00:00:00Z", "end_date": "2025-03-09T23:59:59.999Z"}


def day(n: int, hour: int = 12) -> datetime:
    return T0 + timedelta(days=n, hours=hour)


@pytest.fixture(autouse=True)
def no_ai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(registry.TASKS, conversations.AGENT_TURN, raising=False)


@dataclass
class Handoff:
    at: datetime
    reasons: Sequence[str]
    sentiment: str | None = None
    summary: str | None = None
    explanation: str | None = None


@dataclass
class Seeder:
    sessionmaker: Any
    monkeypatch: pytest.MonkeyPatch

    def _clock(self, moment: datetime) -> None:
        self.monkeypatch.setattr(conversations, "utcnow", lambda: moment)

    async def tags(self, org_id: str, *names: str) -> None:
        async with transaction(self.sessionmaker) as db:
            for name in names:
                await orgsettings.upsert_tag(
                    db, org_id=uuid.UUID(org_id), data=TagUpsert(tag_name=name)
                )

    async def conversation(
        self,
        org_id: str,
        started: datetime,
        *,
        handoffs: Sequence[Handoff] = (),
        hand_back: bool = False,
        sentiment: str | None = None,
        tags: Sequence[str] = (),
        turns: Sequence[dict[str, Any]] = (),
        csat: tuple[int, datetime] | None = None,
        takeover: bool = False,
        close: str | None = None,
    ) -> str:
        """A widget conversation started at `started`: AI turns with these debug records,
        then each handoff (handed back to the AI between two), then the rest."""
        self._clock(started)
        async with transaction(self.sessionmaker) as db:
            org = uuid.UUID(org_id)
            contact = await widget.create_unverified_contact(
                db, org_id=org, data=CreateUnverified(non_verified_name="Vera")
            )
            viewer = widget.Viewer(org, contact, False, uuid.uuid4())
            session, _ = await widget.create_widget_session(db, viewer=viewer, custom_data={})
            await db.execute(
                sa.update(ChatSession)
                .where(ChatSession.id == session.id)
                .values(created_at=started, updated_at=started)
            )
            await conversations.append_event(
                db, session=session, type="message", sender_type="contact", text="Hello"
            )
            for debug in turns:
                await conversations.append_event(
                    db,
                    session=session,
                    type="message",
                    sender_type="ai",
                    text="An answer",
                    debug=debug,
                )
            if sentiment is not None:
                session.sentiment = sentiment
            for n, handoff in enumerate(handoffs):
                if n or hand_back:
                    await conversations.hand_back_to_ai(db, session=session)
                self._clock(handoff.at)
                await conversations.hand_off(
                    db,
                    session=session,
                    reasons=list(handoff.reasons),
                    explanation=handoff.explanation,
                    summary=handoff.summary,
                    sentiment=handoff.sentiment,
                )
            if hand_back and handoffs:
                await conversations.hand_back_to_ai(db, session=session)
            if tags:
                await conversations.set_session_tags(db, session=session, names=list(tags))
            if takeover:
                await conversations.assign_session(db, session=session, assignee_id=7)
            if close is not None:
                await conversations.close_session(db, session=session, status=close)
            if csat is not None:
                score, answered = csat
                await widget.submit_csat(
                    db,
                    viewer=viewer,
                    session_id=session.id,
                    score=score,
                    feedback=None,
                    system_message_uuid=None,
                )
                await db.execute(
                    sa.update(WidgetCsat)
                    .where(WidgetCsat.session_id == session.id)
                    .values(created_at=answered)
                )
        return str(session.id)


@pytest.fixture
def seed(sessionmaker: Any, monkeypatch: pytest.MonkeyPatch) -> Seeder:
    return Seeder(sessionmaker, monkeypatch)
