"""Settings pages for how the AI behaves (admins only): the AI profile, autopilot per channel
and its topics, the handoff level and toggles, tags; and what every settings page shares
(form reading, clear validation messages, the confirmation shown after a redirect).

Each form calls the same service the Org API route does. A refused form comes back as the
same page with status 400 (409 for a clash), the message on top and what was typed kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from deskpilot.dashboard.access import ActingAdmin, AdminStaff, PageRoute, Staff, render
from deskpilot.deps import AppState, Db, State
from deskpilot.error_handlers import validation_message
from deskpilot.errors import Conflict, InvalidInput, NotFound
from deskpilot.models import Partner, utcnow
from deskpilot.org import service as org_service
from deskpilot.orgsettings import service as orgsettings
from deskpilot.orgsettings.schemas import (
    CHANNELS,
    VOICE_CHANNELS,
    AutopilotUpdate,
    HandoffSettingsRead,
    HandoffSettingsUpdate,
    TagUpsert,
    check_text,
)
from deskpilot.partner.schemas import OrgUpdate

router = APIRouter(route_class=PageRoute, include_in_schema=False)

ModelT = TypeVar("ModelT", bound=BaseModel)

# What a redirect's `done` key shows on the page it lands on (never text from the request).
NOTICES: dict[str, str] = {
    "profile-saved": "The AI profile is saved: the AI uses it from the next message.",
    "profile-inherited": "The organization now uses the partner's default AI profile.",
    "training-draft": "Saved as a draft. The AI does not use the draft until it is published.",
    "training-published": "Published: the AI uses it from the next message.",
    "training-unpublished": "Unpublished: the AI no longer uses it.",
    "training-deleted": "The training entry is deleted.",
    "autopilot-saved": "Autopilot settings saved: they apply to the next incoming message.",
    "handoff-saved": "Handoff settings saved.",
    "schedule-created": "Schedule created.",
    "schedule-saved": "Schedule saved.",
    "schedule-deleted": "Schedule deleted.",
    "tag-saved": "Tag saved.",
    "tag-deleted": "Tag deleted: it was removed from every conversation.",
}
Done = Annotated[str | None, Query(max_length=40)]

CHANNEL_NAMES: dict[str, str] = {
    "web": "Website widget",
    "email": "Email",
    "phone_voice": "Phone (voice)",
    "slack": "Slack",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "instagram": "Instagram",
    "messenger": "Messenger",
    "api": "API",
    "web_voice": "Website voice",
}

# --- shared by every settings page ----------------------------------------------------------


def saved(path: str, done: str) -> RedirectResponse:
    """303 to `path`, which then shows the confirmation `done` names."""
    if done not in NOTICES:
        raise KeyError(done)
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}done={done}", status_code=303)


def render_settings(
    request: Request,
    state: AppState,
    staff: Staff,
    template: str,
    *,
    title: str,
    section: str,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    values = {
        "title": title,
        "nav": "settings",
        "section": section,
        "notice": NOTICES.get(done or ""),
        "error": error,
        "channel_names": CHANNEL_NAMES,
        **context,
    }
    return render(request, state, template, values, staff=staff, status_code=status_code)


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def form_list(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str)]


def checked(form: FormData, name: str) -> bool:
    return form_text(form, name) in ("on", "true", "1")


def multiline(value: str) -> str:
    """Browsers send a textarea's line breaks as CRLF; store them as the API would get them."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def humanize(message: str, labels: Mapping[str, str]) -> str:
    """The API's message with its field names replaced by what the form calls them."""
    words = {key: label for key, label in labels.items() if "*" not in key and "." not in key}
    if words:
        pattern = r"\b(" + "|".join(re.escape(key) for key in words) + r")\b"
        message = re.sub(pattern, lambda match: words[match.group(1)], message)
    return message[:1].upper() + message[1:]


def _label(loc: tuple[Any, ...], labels: Mapping[str, str]) -> str:
    if loc and loc[0] == "body":
        loc = loc[1:]
    key = ".".join("*" if isinstance(part, int) else str(part) for part in loc)
    numbers = [part + 1 for part in loc if isinstance(part, int)]
    label = labels.get(key)
    if label is None:
        return ".".join(str(part) for part in loc) or "The form"
    return label.format(*numbers)


def form_message(exc: ValidationError, labels: Mapping[str, str]) -> str:
    """The first problem, in one sentence naming the field as the form shows it."""
    error: dict[str, Any] = dict(exc.errors()[0])
    label = _label(tuple(error.get("loc", ())), labels)
    ctx: dict[str, Any] = error.get("ctx") or {}
    kind = error.get("type")
    # The label goes in last: field names inside the rest are replaced, never the label's.
    if kind == "too_long" and "max_length" in ctx:
        rest = f"can have at most {ctx['max_length']} entries"
    elif kind == "too_short" and "min_length" in ctx:
        count = ctx["min_length"]
        rest = f"must have at least {count} {'entry' if count == 1 else 'entries'}"
    else:
        error["loc"] = ("field",)
        rest = validation_message(error).removeprefix("field").lstrip(": ")
    rest = humanize(rest, labels)
    return humanize(f"{label} {rest[:1].lower()}{rest[1:]}", {})


class FormRefused(InvalidInput):
    """A value the API's schema refuses, the message already in the form's words."""


def validated(model: type[ModelT], data: Mapping[str, Any], labels: Mapping[str, str]) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormRefused(form_message(exc, labels)) from exc


def refusal(exc: InvalidInput | Conflict, labels: Mapping[str, str]) -> tuple[str, int]:
    """The page's message and status for a refused form (a service speaks in API names)."""
    message = exc.message if isinstance(exc, FormRefused) else humanize(exc.message, labels)
    return message, exc.status_code


# --- AI profile ---------------------------------------------------------------------------

PROFILE_LABELS = {"ai_instructions": "The AI profile"}
BLANK_PROFILE = (
    "The AI profile is empty: write it, or choose “Use the partner default” to inherit it."
)


@router.get("/settings", response_class=HTMLResponse)
async def settings_home(staff: AdminStaff) -> Response:
    return RedirectResponse("/settings/profile", status_code=303)


async def _partner_default(db: Db, staff: Staff) -> str | None:
    partner_id = staff.org.partner_id
    partner = await db.get(Partner, partner_id) if partner_id is not None else None
    return partner.default_ai_instructions if partner is not None else None


async def _profile_page(
    request: Request,
    state: AppState,
    staff: Staff,
    db: Db,
    *,
    text: str,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render_settings(
        request,
        state,
        staff,
        "settings/profile.html",
        title="AI profile",
        section="profile",
        done=done,
        error=error,
        status_code=status_code,
        own=staff.org.ai_instructions,
        partner_default=await _partner_default(db, staff),
        text=text,
    )


@router.get("/settings/profile", response_class=HTMLResponse)
async def profile(
    request: Request, staff: AdminStaff, db: Db, state: State, done: Done = None
) -> HTMLResponse:
    return await _profile_page(
        request, state, staff, db, text=staff.org.ai_instructions or "", done=done
    )


@router.post("/settings/profile", response_class=HTMLResponse)
async def save_profile(request: Request, staff: ActingAdmin, db: Db, state: State) -> Response:
    form = await request.form()
    text = multiline(form_text(form, "ai_instructions"))
    inherit = form_text(form, "action") == "inherit"
    try:
        if inherit:
            changes = OrgUpdate.model_validate({"ai_instructions": None})
        else:
            if not text.strip():
                raise FormRefused(BLANK_PROFILE)
            try:
                check_text(text)
            except ValueError as exc:
                raise FormRefused(f"The AI profile {exc}") from exc
            changes = validated(OrgUpdate, {"ai_instructions": text}, PROFILE_LABELS)
        await org_service.update_org(db, org=staff.org, changes=changes)
    except InvalidInput as exc:
        message, status_code = refusal(exc, PROFILE_LABELS)
        return await _profile_page(
            request, state, staff, db, text=text, error=message, status_code=status_code
        )
    return saved("/settings/profile", "profile-inherited" if inherit else "profile-saved")


# --- autopilot ----------------------------------------------------------------------------

AUTOPILOT_MODES = (
    ("autopilot", "Autopilot", "the AI answers on its own"),
    ("assist", "Assist", "the AI drafts, a person reviews and sends"),
    ("off", "Off", "no AI reply: every message goes to the team inbox"),
)
AUTOPILOT_LABELS = {
    "channels": "Channels",
    "topics": "Topics",
    "topics.*": "Topic {0}",
    **{f"channels.{channel}.mode": f"The mode for {channel}" for channel in CHANNELS},
    **{f"channels.{channel}": f"The mode for {channel}" for channel in CHANNELS},
}


def _autopilot_page(
    request: Request,
    state: AppState,
    staff: Staff,
    *,
    modes: Mapping[str, str],
    topics: str,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render_settings(
        request,
        state,
        staff,
        "settings/autopilot.html",
        title="Autopilot",
        section="autopilot",
        done=done,
        error=error,
        status_code=status_code,
        channels=CHANNELS,
        voice_channels=VOICE_CHANNELS,
        modes=modes,
        mode_choices=AUTOPILOT_MODES,
        topics=topics,
    )


@router.get("/settings/autopilot", response_class=HTMLResponse)
async def autopilot(
    request: Request, staff: AdminStaff, db: Db, state: State, done: Done = None
) -> HTMLResponse:
    current = await orgsettings.get_autopilot(db, org_id=staff.org.id)
    return _autopilot_page(
        request,
        state,
        staff,
        modes={channel: setting.mode for channel, setting in current.channels.items()},
        topics="\n".join(current.topics),
        done=done,
    )


@router.post("/settings/autopilot", response_class=HTMLResponse)
async def save_autopilot(request: Request, staff: ActingAdmin, db: Db, state: State) -> Response:
    form = await request.form()
    modes: dict[str, str] = {channel: form_text(form, f"mode_{channel}") for channel in CHANNELS}
    topics_text = multiline(form_text(form, "topics"))
    body = {
        # A channel missing from the form keeps its mode, as in PATCH /autopilot.
        "channels": {
            channel: {"mode": mode} for channel, mode in modes.items() if f"mode_{channel}" in form
        },
        "topics": [line.strip() for line in topics_text.split("\n") if line.strip()],
    }
    try:
        changes = validated(AutopilotUpdate, body, AUTOPILOT_LABELS)
        async with db.begin_nested():
            await orgsettings.update_autopilot(db, org_id=staff.org.id, changes=changes)
    except InvalidInput as exc:
        message, status_code = refusal(exc, AUTOPILOT_LABELS)
        return _autopilot_page(
            request,
            state,
            staff,
            modes=modes,
            topics=topics_text,
            error=message,
            status_code=status_code,
        )
    return saved("/settings/autopilot", "autopilot-saved")


# --- handoff ------------------------------------------------------------------------------

PRESET_LEVELS = (
    (0, "AI Only", "never hand off; requests for a person are declined"),
    (1, "Quick Handoff", "hand off at the first sign of trouble or a request for a person"),
    (2, "Balanced", "try a few replies first, and ask for a name and email before handing off"),
    (3, "AI-First", "the AI keeps trying longer and gets a clear problem statement first"),
)
COLLECT_FIELDS = (("name", "Name"), ("email", "Email"), ("phone_number", "Phone number"))
HANDOFF_SWITCHES = (
    ("enabled", "Hand off at all (master switch)"),
    ("on_frustration", "Hand off a frustrated contact"),
    ("on_unproductive_conversation", "Hand off when the AI makes no progress"),
    ("on_human_request", "Honour requests to talk to a person"),
    ("require_problem_description", "Get a clear problem statement first"),
)
HANDOFF_LABELS = {
    "mode": "The mode",
    "preset_level": "The preset level",
    "office_hours_id": "The schedule",
    "advanced.enabled": "The master switch",
    "advanced.on_frustration": "Frustration",
    "advanced.on_unproductive_conversation": "No progress",
    "advanced.unproductive_after_turns": "Replies without progress",
    "advanced.on_human_request": "Requests for a person",
    "advanced.require_problem_description": "Problem statement",
    "advanced.collect_fields": "Details to collect",
    "advanced.collect_fields.*": "Detail to collect {0}",
    "advanced.outside_office_hours": "Outside office hours",
}


def _handoff_values(current: HandoffSettingsRead) -> dict[str, Any]:
    """The form's fields as text and booleans, whether read or submitted."""
    advanced = current.advanced
    return {
        "mode": current.mode,
        "preset_level": str(current.preset_level),
        **{name: getattr(advanced, name) for name, _ in HANDOFF_SWITCHES},
        "unproductive_after_turns": str(advanced.unproductive_after_turns),
        "collect_fields": list(advanced.collect_fields),
        "outside_office_hours": advanced.outside_office_hours,
        "office_hours_id": str(current.office_hours_id or ""),
    }


def _handoff_submitted(form: FormData) -> dict[str, Any]:
    return {
        "mode": form_text(form, "mode"),
        "preset_level": form_text(form, "preset_level"),
        # An unticked box is not sent: every switch is on the form, so absent = off.
        **{name: checked(form, name) for name, _ in HANDOFF_SWITCHES},
        "unproductive_after_turns": form_text(form, "unproductive_after_turns").strip(),
        "collect_fields": form_list(form, "collect_fields"),
        "outside_office_hours": form_text(form, "outside_office_hours"),
        "office_hours_id": form_text(form, "office_hours_id"),
    }


async def _handoff_page(
    request: Request,
    state: AppState,
    staff: Staff,
    db: Db,
    *,
    values: Mapping[str, Any],
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    current = await orgsettings.get_handoff_settings(db, org_id=staff.org.id, now=utcnow())
    schedules = await orgsettings.list_schedules(db, org_id=staff.org.id)
    return render_settings(
        request,
        state,
        staff,
        "settings/handoff.html",
        title="Handoff",
        section="handoff",
        done=done,
        error=error,
        status_code=status_code,
        values=values,
        effective=current.effective,
        presets=PRESET_LEVELS,
        preset_toggles=orgsettings.PRESETS,
        switches=HANDOFF_SWITCHES,
        collect_fields=COLLECT_FIELDS,
        schedules=schedules,
    )


@router.get("/settings/handoff", response_class=HTMLResponse)
async def handoff(
    request: Request, staff: AdminStaff, db: Db, state: State, done: Done = None
) -> HTMLResponse:
    current = await orgsettings.get_handoff_settings(db, org_id=staff.org.id, now=utcnow())
    return await _handoff_page(
        request, state, staff, db, values=_handoff_values(current), done=done
    )


@router.post("/settings/handoff", response_class=HTMLResponse)
async def save_handoff(request: Request, staff: ActingAdmin, db: Db, state: State) -> Response:
    values = _handoff_submitted(await request.form())
    body = {
        "mode": values["mode"],
        "preset_level": values["preset_level"],
        "advanced": {
            **{name: values[name] for name, _ in HANDOFF_SWITCHES},
            "unproductive_after_turns": values["unproductive_after_turns"],
            "collect_fields": values["collect_fields"],
            "outside_office_hours": values["outside_office_hours"],
        },
        "office_hours_id": values["office_hours_id"] or None,
    }
    try:
        changes = validated(HandoffSettingsUpdate, body, HANDOFF_LABELS)
        async with db.begin_nested():
            await orgsettings.update_handoff_settings(
                db, org_id=staff.org.id, changes=changes, now=utcnow()
            )
    except InvalidInput as exc:
        message, status_code = refusal(exc, HANDOFF_LABELS)
        return await _handoff_page(
            request, state, staff, db, values=values, error=message, status_code=status_code
        )
    return saved("/settings/handoff", "handoff-saved")


# --- tags ---------------------------------------------------------------------------------

TAG_LABELS = {
    "tag_name": "The tag name",
    "description": "The description",
    "exclude_from_auto_tagging": "Humans only",
}


async def _tags_page(
    request: Request,
    state: AppState,
    staff: Staff,
    db: Db,
    *,
    draft: Mapping[str, Any] | None = None,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    tags = await orgsettings.list_tags(db, org_id=staff.org.id)
    draft_key = orgsettings.tag_key(draft["tag_name"]) if draft else None
    return render_settings(
        request,
        state,
        staff,
        "settings/tags.html",
        title="Tags",
        section="tags",
        done=done,
        error=error,
        status_code=status_code,
        tags=tags,
        draft=draft,
        # The refused form was an existing tag's row: it shows the typed values there.
        draft_is_existing=any(tag.name_key == draft_key for tag in tags),
        draft_key=draft_key,
    )


@router.get("/settings/tags", response_class=HTMLResponse)
async def tags(
    request: Request, staff: AdminStaff, db: Db, state: State, done: Done = None
) -> HTMLResponse:
    return await _tags_page(request, state, staff, db, done=done)


@router.post("/settings/tags", response_class=HTMLResponse)
async def save_tag(request: Request, staff: ActingAdmin, db: Db, state: State) -> Response:
    form = await request.form()
    description = multiline(form_text(form, "description"))
    draft = {
        "tag_name": form_text(form, "tag_name"),
        "description": description,
        "exclude_from_auto_tagging": checked(form, "exclude_from_auto_tagging"),
    }
    body = {**draft, "description": description.strip() or None}
    try:
        data = validated(TagUpsert, body, TAG_LABELS)
        async with db.begin_nested():
            await orgsettings.upsert_tag(db, org_id=staff.org.id, data=data)
    except (InvalidInput, Conflict) as exc:
        message, status_code = refusal(exc, TAG_LABELS)
        return await _tags_page(
            request, state, staff, db, draft=draft, error=message, status_code=status_code
        )
    return saved("/settings/tags", "tag-saved")


@router.post("/settings/tags/delete")
async def delete_tag(request: Request, staff: ActingAdmin, db: Db) -> Response:
    tag_name = form_text(await request.form(), "tag_name")
    try:
        check_text(tag_name)
    except ValueError as exc:
        raise NotFound("Tag not found") from exc
    await orgsettings.delete_tag(db, org_id=staff.org.id, tag_name=tag_name)
    return saved("/settings/tags", "tag-deleted")
