"""Training pages (admins only): the org's BEHAVIORAL and SCENARIO_SPECIFIC entries with their
state and channels; create, edit as a draft or publish, unpublish, delete. Every change goes
through the training service exactly as the /training routes do (API.md 3.3): a draft is
stored but never used by the AI, and publishing makes the next version live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from deskpilot.dashboard.access import ActingAdmin, AdminStaff, PageRoute, Staff
from deskpilot.dashboard.forms import path_id
from deskpilot.dashboard.settings import (
    Done,
    form_list,
    form_text,
    multiline,
    refusal,
    render_settings,
    saved,
    validated,
)
from deskpilot.deps import AppState, Db, State
from deskpilot.errors import InvalidInput
from deskpilot.models import TrainingItem
from deskpilot.orgsettings.schemas import CHANNELS
from deskpilot.training import service
from deskpilot.training.schemas import TrainingCreate, TrainingUpdate

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
TYPES = (
    ("SCENARIO_SPECIFIC", "Scenario", "used when a visitor's question is close to its title"),
    ("BEHAVIORAL", "Behaviour", "in force in every conversation: tone, style, guardrails"),
)
TYPE_NAMES = {value: name for value, name, _ in TYPES}
STATES: dict[str, bool | None] = {"all": None, "published": False, "draft": True}
LABELS = {
    "title": "The title",
    "content": "The content",
    "type": "The type",
    "is_draft": "Draft",
    "restricted_to_channels": "Channels",
    "restricted_to_channels.*": "Channel {0}",
    "restricted_to_segments": "Segments",
    "restricted_to_segments.*": "Segment {0}",
    "start_time": "“Active from”",
    "end_time": "“Active until”",
    "directory_id": "The directory",
}
BLANK: dict[str, Any] = {
    "title": "",
    "content": "",
    "type": "SCENARIO_SPECIFIC",
    "channels": [],
    "segments": "",
    "start_time": "",
    "end_time": "",
    "directory_id": "",
}


@dataclass(frozen=True, slots=True)
class EntryState:
    key: str  # draft | pending | published
    label: str
    can_publish: bool
    can_unpublish: bool


def entry_state(item: TrainingItem) -> EntryState:
    version = item.current_version
    if item.is_draft:
        label = (
            "Draft, never published" if version is None else f"Unpublished (was version {version})"
        )
        return EntryState("draft", label, can_publish=True, can_unpublish=False)
    if item.draft_title is not None:
        label = f"Published, version {version}, with unpublished edits"
        return EntryState("pending", label, can_publish=True, can_unpublish=True)
    return EntryState("published", f"Published, version {version}", False, True)


def _clock(value: datetime | None) -> str:
    """A timestamp as a datetime-local field shows it (UTC)."""
    if value is None:
        return ""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M" if value.second == 0 else "%Y-%m-%dT%H:%M:%S")


def _values_of(item: TrainingItem) -> dict[str, Any]:
    """What the editor shows: the pending draft's text, else the entry's."""
    return {
        "title": item.draft_title or item.title,
        "content": item.draft_content or item.content,
        "type": item.type,
        "channels": list(item.restricted_to_channels),
        "segments": ", ".join(item.restricted_to_segments),
        "start_time": _clock(item.start_time),
        "end_time": _clock(item.end_time),
        "directory_id": str(item.directory_id or ""),
    }


def _submitted(form: FormData) -> dict[str, Any]:
    return {
        "title": form_text(form, "title"),
        "content": multiline(form_text(form, "content")),
        "type": form_text(form, "type"),
        "channels": form_list(form, "channels"),
        "segments": form_text(form, "segments"),
        "start_time": form_text(form, "start_time"),
        "end_time": form_text(form, "end_time"),
        "directory_id": form_text(form, "directory_id"),
    }


def _body(form: FormData, values: dict[str, Any], *, is_draft: bool) -> dict[str, Any]:
    body = {
        "title": values["title"],
        "content": values["content"],
        "type": values["type"],
        "is_draft": is_draft,
        "restricted_to_channels": values["channels"],
        "restricted_to_segments": [
            segment.strip() for segment in values["segments"].split(",") if segment.strip()
        ],
        "start_time": values["start_time"].strip() or None,
        "end_time": values["end_time"].strip() or None,
    }
    # The directory field is only on the form when the org has directories.
    if "directory_id" in form:
        body["directory_id"] = values["directory_id"] or None
    return body


def _is_draft(form: FormData) -> bool:
    """Which button was pressed; anything but an explicit publish keeps a draft."""
    return form_text(form, "is_draft") != "false"


async def _editor(
    request: Request,
    state: AppState,
    staff: Staff,
    db: Db,
    *,
    item: TrainingItem | None,
    values: dict[str, Any],
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render_settings(
        request,
        state,
        staff,
        "settings/training_form.html",
        title=f"Training: {values['title']}" if item is not None else "New training",
        section="training",
        done=done,
        error=error,
        status_code=status_code,
        item=item,
        entry=entry_state(item) if item is not None else None,
        values=values,
        types=TYPES,
        channels=CHANNELS,
        directories=await service.list_directories(db, org_id=staff.org.id),
    )


@router.get("/settings/training", response_class=HTMLResponse)
async def training_list(
    request: Request,
    staff: AdminStaff,
    db: Db,
    state: State,
    status: Annotated[str | None, Query(max_length=20)] = None,
    kind: Annotated[str | None, Query(alias="type", max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    done: Done = None,
) -> HTMLResponse:
    # Address-bar filters: unknown values are dropped rather than refused.
    chosen = status if status in STATES else "all"
    training_type = kind if kind in TYPE_NAMES else None
    search = (q or "").replace("\x00", "").strip() or None
    rows, next_cursor = await service.list_training(
        db,
        org_id=staff.org.id,
        cursor=cursor,
        limit=PAGE_SIZE,
        training_type=training_type,
        is_draft=STATES[chosen],
        q=search,
    )
    filters = {"status": None if chosen == "all" else chosen, "type": training_type, "q": search}
    query = urlencode({key: value for key, value in filters.items() if value})
    return render_settings(
        request,
        state,
        staff,
        "settings/training_list.html",
        title="Training",
        section="training",
        done=done,
        rows=[(item, entry_state(item)) for item in rows],
        type_names=TYPE_NAMES,
        types=TYPES,
        status=chosen,
        training_type=training_type,
        search=search or "",
        query=query,
        cursor=cursor,
        next_cursor=next_cursor,
    )


@router.get("/settings/training/new", response_class=HTMLResponse)
async def new_training(request: Request, staff: AdminStaff, db: Db, state: State) -> Response:
    return await _editor(request, state, staff, db, item=None, values=dict(BLANK))


@router.post("/settings/training", response_class=HTMLResponse)
async def create_training(request: Request, staff: ActingAdmin, db: Db, state: State) -> Response:
    form = await request.form()
    values = _submitted(form)
    is_draft = _is_draft(form)
    try:
        data = validated(TrainingCreate, _body(form, values, is_draft=is_draft), LABELS)
        async with db.begin_nested():
            item = await service.create_training(db, org_id=staff.org.id, data=data)
    except InvalidInput as exc:
        message, status_code = refusal(exc, LABELS)
        return await _editor(
            request,
            state,
            staff,
            db,
            item=None,
            values=values,
            error=message,
            status_code=status_code,
        )
    return saved(
        f"/settings/training/{item.id}", "training-draft" if is_draft else "training-published"
    )


async def _entry(db: Db, staff: Staff, training_id: str) -> TrainingItem:
    return await service.get_training(
        db, org_id=staff.org.id, training_id=path_id(training_id, "Training"), for_update=True
    )


@router.get("/settings/training/{training_id}", response_class=HTMLResponse)
async def edit_training(
    training_id: str,
    request: Request,
    staff: AdminStaff,
    db: Db,
    state: State,
    done: Done = None,
) -> Response:
    item = await service.get_training(
        db, org_id=staff.org.id, training_id=path_id(training_id, "Training")
    )
    return await _editor(request, state, staff, db, item=item, values=_values_of(item), done=done)


@router.post("/settings/training/{training_id}", response_class=HTMLResponse)
async def update_training(
    training_id: str, request: Request, staff: ActingAdmin, db: Db, state: State
) -> Response:
    item = await _entry(db, staff, training_id)
    form = await request.form()
    values = _submitted(form)
    is_draft = _is_draft(form)
    try:
        changes = validated(TrainingUpdate, _body(form, values, is_draft=is_draft), LABELS)
        async with db.begin_nested():
            await service.update_training(db, item=item, changes=changes)
    except InvalidInput as exc:
        message, status_code = refusal(exc, LABELS)
        await db.refresh(item)  # as stored: the savepoint undid anything half-done
        return await _editor(
            request,
            state,
            staff,
            db,
            item=item,
            values=values,
            error=message,
            status_code=status_code,
        )
    # Saved as a draft on an entry that is live: the live version keeps serving.
    done = "training-draft" if is_draft else "training-published"
    return saved(f"/settings/training/{item.id}", done)


def _back(form: FormData, item: TrainingItem) -> str:
    """Where an action came from: the entry's page, else the list."""
    return (
        f"/settings/training/{item.id}"
        if form_text(form, "back") == "entry"
        else "/settings/training"
    )


async def _set_draft(
    training_id: str, request: Request, staff: Staff, db: Db, *, is_draft: bool
) -> Response:
    """Publish or unpublish, then back to where the button was."""
    item = await _entry(db, staff, training_id)
    await service.set_draft(db, item=item, is_draft=is_draft)
    done = "training-unpublished" if is_draft else "training-published"
    return saved(_back(await request.form(), item), done)


@router.post("/settings/training/{training_id}/publish")
async def publish_training(
    training_id: str, request: Request, staff: ActingAdmin, db: Db
) -> Response:
    return await _set_draft(training_id, request, staff, db, is_draft=False)


@router.post("/settings/training/{training_id}/unpublish")
async def unpublish_training(
    training_id: str, request: Request, staff: ActingAdmin, db: Db
) -> Response:
    return await _set_draft(training_id, request, staff, db, is_draft=True)


@router.post("/settings/training/{training_id}/delete")
async def delete_training(training_id: str, staff: ActingAdmin, db: Db) -> Response:
    item = await _entry(db, staff, training_id)
    await service.delete_training(db, item=item)
    return saved("/settings/training", "training-deleted")
