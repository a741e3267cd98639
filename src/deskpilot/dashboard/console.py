"""The test console: the org's AI answers a question as a visitor on a chosen channel would
get it, with its sources and its debug record, and no conversation is created (the same
turn `deskpilot ask` runs)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from deskpilot.agent.cli import outcome_json
from deskpilot.agent.resources import agent_for
from deskpilot.agent.turn import TurnInput
from deskpilot.dashboard.access import ActingStaff, CurrentStaff, PageRoute, is_htmx, render
from deskpilot.dashboard.views import debug_view, safe_url
from deskpilot.deps import Db, State
from deskpilot.errors import InvalidInput
from deskpilot.orgsettings.schemas import CHANNELS

router = APIRouter(route_class=PageRoute, include_in_schema=False)

MAX_QUESTION_CHARS = 2000
# Each question is a full turn (and a provider call when one is configured).
QUESTIONS_PER_MINUTE = 30
DEFAULT_CHANNEL = "web"


def _context(**values: object) -> dict[str, object]:
    return {
        "title": "Test console",
        "nav": "console",
        "channels": CHANNELS,
        "channel": DEFAULT_CHANNEL,
        "question": "",
        "result": None,
        "debug_view": debug_view,
        "safe_url": safe_url,
        **values,
    }


@router.get("/console", response_class=HTMLResponse)
async def console(request: Request, staff: CurrentStaff, state: State) -> HTMLResponse:
    return render(request, state, "console.html", _context(), staff=staff)


@router.post("/console", response_class=HTMLResponse)
async def ask(
    request: Request,
    staff: ActingStaff,
    db: Db,
    state: State,
    question: Annotated[str, Form(max_length=MAX_QUESTION_CHARS)] = "",
    channel: Annotated[str, Form(max_length=20)] = DEFAULT_CHANNEL,
) -> HTMLResponse:
    if not question.strip():
        raise InvalidInput("question must not be empty")
    if channel not in CHANNELS:
        raise InvalidInput("channel must be one of the org's channels")
    await state.limiter.hit("dashboard:console", str(staff.user.id), QUESTIONS_PER_MINUTE)
    outcome = await agent_for(state.tasks).run(
        db,
        TurnInput(org_id=staff.org.id, message=question.strip(), channel=channel),
    )
    context = _context(
        question=question,
        channel=channel,
        result=outcome_json(outcome),
        answer_id=uuid.uuid4().hex,  # tells one answer from the next on the page
    )
    template = "_partials/console_result.html" if is_htmx(request) else "console.html"
    return render(request, state, template, context, staff=staff)
