"""The service functions the agent calls, the idle auto-close and the org activity count."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from deskpilot import tasks as registry
from deskpilot.conversations import service
from deskpilot.conversations.tasks import close_idle_sessions
from deskpilot.db import transaction
from deskpilot.errors import InvalidInput, NotFound
from deskpilot.llm import ConversationTurn
from deskpilot.models import ChatEvent, ChatSession, utcnow
from tests.conversations.conftest import (
    ai_reply,
    create_session,
    history,
    make_tag,
    read_session,
    sent_id,
)


async def load(db, org, session_id):
    return await service.get_session(db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id))


class TestGetSession:
    async def test_another_orgs_session_is_not_found(self, client, org, other_org, sessionmaker):
        session_id = await create_session(client, org)
        async with transaction(sessionmaker) as db:
            assert (await load(db, org, session_id)).id == uuid.UUID(session_id)
            with pytest.raises(NotFound, match="Chat session not found"):
                await load(db, other_org, session_id)


class TestAppendEvent:
    async def test_sequence_is_unique_under_concurrent_writers(self, client, org, sessionmaker):
        session_id = await create_session(client, org)

        async def append(n):
            async with transaction(sessionmaker) as db:
                session = await load(db, org, session_id)
                event = await service.append_event(
                    db, session=session, type="message", sender_type="ai", text=f"r{n}"
                )
                return event.seq

        seqs = await asyncio.gather(*(append(n) for n in range(12)))
        assert sorted(seqs) == list(range(1, 13))
        async with transaction(sessionmaker) as db:
            session = await load(db, org, session_id)
            assert (session.event_seq, session.ai_replies) == (12, 12)
            assert session.last_message_sender == "ai"

    async def test_only_messages_move_last_message_at(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        async with transaction(sessionmaker) as db:
            session = await load(db, org, session_id)
            before = session.updated_at
            event = await service.append_event(
                db, session=session, type="csat_requested", sender_type="system"
            )
            assert event.seq == 1 and session.updated_at > before
            assert session.last_message_at is None

    async def test_unknown_types_are_a_programming_error(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        async with transaction(sessionmaker) as db:
            session = await load(db, org, session_id)
            with pytest.raises(ValueError, match="unknown chat event type"):
                await service.append_event(db, session=session, type="chat", sender_type="ai")
            with pytest.raises(ValueError, match="unknown sender type"):
                await service.append_event(db, session=session, type="message", sender_type="bot")


class TestRecentTurns:
    async def test_visible_messages_oldest_first_with_roles(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        await sent_id(client, org, session_id, "q1")
        await ai_reply(sessionmaker, org, session_id, "a1")
        await sent_id(client, org, session_id, "q2", sender="agent", agent={"id": 2})
        async with transaction(sessionmaker) as db:
            session = await load(db, org, session_id)
            await service.append_event(
                db, session=session, type="human_agent_comment", sender_type="human_agent", text="n"
            )
            last = await service.append_event(
                db, session=session, type="message", sender_type="contact", text="q3"
            )
            turns = await service.recent_turns(db, session=session)
            assert turns == [
                ConversationTurn(role="contact", text="q1"),
                ConversationTurn(role="ai", text="a1"),
                ConversationTurn(role="agent", text="q2"),
                ConversationTurn(role="contact", text="q3"),
            ]
            assert await service.recent_turns(db, session=session, limit=2) == turns[2:]
            assert await service.recent_turns(db, session=session, before_seq=last.seq) == turns[:3]

    async def test_redacted_messages_are_left_out(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        secret = await sent_id(client, org, session_id, "my password is hunter2")
        await sent_id(client, org, session_id, "hello")
        await client.post(
            f"/chat/sessions/{session_id}/messages/{secret}/redact", headers=org.headers
        )
        async with transaction(sessionmaker) as db:
            turns = await service.recent_turns(db, session=await load(db, org, session_id))
        assert turns == [ConversationTurn(role="contact", text="hello")]


class TestHandOff:
    async def test_sets_the_handoff_once(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        async with transaction(sessionmaker) as db:
            session = await load(db, org, session_id)
            first = await service.hand_off(
                db,
                session=session,
                reasons=["insufficient_knowledge", "insufficient_knowledge"],
                explanation="No page covers it.",
                summary="Asks about refunds.",
                sentiment="neutral",
            )
            assert service.is_handed_off(session) and not service.is_human_owned(session)
            second = await service.hand_off(
                db, session=session, reasons=["user_frustrated"], explanation="again"
            )
            assert second.id == first.id
        async with transaction(sessionmaker) as db:
            again = await service.hand_off(
                db,
                session=await load(db, org, session_id),
                reasons=["user_frustrated"],
                explanation=None,
            )
            assert again.id == first.id
        body = await read_session(client, org, session_id)
        assert body["handoff"]["reasons"] == ["insufficient_knowledge"]
        assert body["handoff"]["explanation"] == "No page covers it."
        assert body["ai_closure_type"] == "handed_off"
        [item] = await history(client, org, session_id)
        assert item["event"]["type"] == "handoff"
        assert "integration" not in item["event"]


class TestSessionTags:
    async def test_add_only_keeps_the_others(self, client, org, sessionmaker):
        for name in ("billing", "bug", "vip"):
            await make_tag(client, org, name)
        session_id = await create_session(client, org)
        async with transaction(sessionmaker) as db:
            session = await load(db, org, session_id)
            assert await service.set_session_tags(db, session=session, names=["billing"]) == [
                "billing"
            ]
            added = await service.set_session_tags(
                db, session=session, names=["VIP", "billing"], add_only=True
            )
            assert added == ["vip"]
            with pytest.raises(InvalidInput, match="tags: unknown tag 'nope'"):
                await service.set_session_tags(db, session=session, names=["nope"])
        assert (await read_session(client, org, session_id))["tags"] == ["billing", "vip"]


class TestCloseAndReopen:
    async def test_close_logs_once_and_reopen_keeps_a_handoff(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        async with transaction(sessionmaker) as db:
            session = await load(db, org, session_id)
            await service.hand_off(
                db, session=session, reasons=["prohibited_topic"], explanation=None
            )
            closed = await service.close_session(db, session=session, status="closed_unresolved")
            assert closed is not None and closed.sender_type == "system"
            assert session.closed_at is not None
            assert (
                await service.close_session(db, session=session, status="closed_unresolved")
            ) is None
            with pytest.raises(InvalidInput):
                await service.close_session(db, session=session, status="open")
            reopened = await service.reopen_session(db, session=session)
            assert reopened is not None and session.status == "open"
            assert session.ai_closure_type == "handed_off" and session.closed_at is None
            assert await service.reopen_session(db, session=session) is None
            resolved = await service.close_session(
                db, session=session, status="closed_resolved", ai_closure_type="resolved"
            )
            assert resolved is not None and resolved.sender_type == "ai"
        types = [i["event"]["type"] for i in await history(client, org, session_id)]
        assert types == ["handoff", "session_closed", "session_reopened", "session_closed"]


class TestIdleSessions:
    async def test_silent_after_an_ai_reply_closes_as_assumed_resolved(
        self, app, client, org, sessionmaker
    ):
        answered = await create_session(client, org)
        await sent_id(client, org, answered, "Hours?")
        await ai_reply(sessionmaker, org, answered, "9 to 5.")
        waiting = await create_session(client, org)
        await ai_reply(sessionmaker, org, waiting, "Hello!")
        await sent_id(client, org, waiting, "Still there?")
        owned = await create_session(client, org, custom_data={})
        await ai_reply(sessionmaker, org, owned, "Hello!")
        await client.patch(f"/chat/sessions/{owned}", json={"assignee_id": 3}, headers=org.headers)
        silent = await create_session(client, org)
        ctx = app.state.deskpilot.tasks

        await close_idle_sessions(ctx, now=utcnow() + timedelta(hours=23))
        assert (await read_session(client, org, answered))["status"] == "open"

        await close_idle_sessions(ctx, now=utcnow() + timedelta(hours=25))
        body = await read_session(client, org, answered)
        assert (body["status"], body["ai_closure_type"]) == ("closed_resolved", "assumed_resolved")
        last = (await history(client, org, answered))[-1]["event"]
        assert (last["type"], last["sender"]["type"]) == ("session_closed", "ai")
        for untouched in (waiting, owned, silent):
            assert (await read_session(client, org, untouched))["status"] == "open"

        # Closed once: a second sweep finds nothing more to do.
        await close_idle_sessions(ctx, now=utcnow() + timedelta(hours=48))
        assert len(await history(client, org, answered)) == 3

    async def test_the_scheduler_tick_runs_it(self, app, client, org, sessionmaker, monkeypatch):
        session_id = await create_session(client, org)
        await ai_reply(sessionmaker, org, session_id, "Anything else?")
        async with transaction(sessionmaker) as db:
            await db.execute(
                sa.update(ChatSession)
                .where(ChatSession.id == uuid.UUID(session_id))
                .values(last_message_at=utcnow() - timedelta(hours=25))
            )
        await registry.scheduler_tick(app.state.deskpilot.tasks)
        assert (await read_session(client, org, session_id))["status"] == "closed_resolved"

    async def test_one_failing_periodic_does_not_stop_the_others(self, app, monkeypatch):
        ran = []

        async def broken(ctx):
            raise RuntimeError("boom")

        async def fine(ctx):
            ran.append(ctx)

        monkeypatch.setattr(registry, "PERIODIC", (broken, fine))
        await registry.scheduler_tick(app.state.deskpilot.tasks)
        assert ran == [app.state.deskpilot.tasks]


class TestRegistry:
    def test_every_feature_is_registered_once(self):
        assert {"run_crawl", "sync_page", "embed_chunks", "close_idle_sessions"} <= set(
            registry.TASKS
        )
        with pytest.raises(RuntimeError, match="registered twice"):
            registry._merged({"a": close_idle_sessions}, {"a": close_idle_sessions})


class TestOrgActivity:
    async def test_a_recent_session_makes_a_new_org_active(self, client, org, sessionmaker):
        async def health():
            response = await client.get(f"/partner/v1/orgs/{org.id}", headers=org.partner.headers)
            return response.json()["health"]

        assert await health() == "new"
        session_id = await create_session(client, org)
        assert await health() == "setup_incomplete"
        async with transaction(sessionmaker) as db:
            await db.execute(
                sa.update(ChatSession)
                .where(ChatSession.id == uuid.UUID(session_id))
                .values(created_at=utcnow() - timedelta(days=31))
            )
        assert await health() == "new"


class TestEventRows:
    async def test_events_keep_org_and_session(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        await sent_id(client, org, session_id, "hi")
        async with transaction(sessionmaker) as db:
            [event] = list(await db.scalars(sa.select(ChatEvent)))
            assert (str(event.org_id), str(event.session_id)) == (org.id, session_id)
