"""`POST /training/generate-from-session`: a draft scenario from a conversation a person
answered, so the AI answers the next such question itself once someone reviews and
publishes it."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.agent.summary import clip
from deskpilot.agent.understand import detect_small_talk
from deskpilot.conversations.service import get_session, recent_turns
from deskpilot.errors import InvalidInput
from deskpilot.models import TrainingItem
from deskpilot.training.schemas import TrainingCreate
from deskpilot.training.service import create_training

MAX_TURNS = 200


async def draft_from_session(
    db: AsyncSession, *, org_id: uuid.UUID, session_id: uuid.UUID
) -> TrainingItem:
    """Title: the contact's first real question. Content: what the human agents answered
    (else the AI's answers). 400 when the conversation has no question or no answer."""
    session = await get_session(db, org_id=org_id, session_id=session_id)
    turns = await recent_turns(db, session=session, limit=MAX_TURNS)
    questions = [t.text for t in turns if t.role == "contact" and not detect_small_talk(t.text)]
    answers = [t.text for t in turns if t.role == "agent"] or [
        t.text for t in turns if t.role == "ai"
    ]
    if not questions or len(questions[0].strip()) < 3:
        raise InvalidInput("session_id: the conversation has no question to learn from")
    content = "\n\n".join(answers).strip()
    if len(content) < 10:
        raise InvalidInput("session_id: the conversation has no answer to learn from")
    data = TrainingCreate(
        title=clip(questions[0], 200),
        content=content[:20_000],
        type="SCENARIO_SPECIFIC",
        is_draft=True,
        metadata={"generated_from_session_id": str(session.id)},
    )
    return await create_training(db, org_id=org_id, data=data)
