"""Contacts (every member of the team): the org's contacts with a search over names and
emails, and one contact's page to correct its details (the rules of `PATCH /contacts/{id}`:
what staff write counts as verified) beside its conversations.

The pages live under /people: /contacts is the Org API's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from deskpilot.contacts import service as contacts
from deskpilot.contacts.schemas import ContactInput
from deskpilot.conversations import service as conversations
from deskpilot.conversations.schemas import SessionFilters
from deskpilot.dashboard.access import ActingStaff, CurrentStaff, PageRoute, render
from deskpilot.dashboard.forms import or_null, parse_body, path_id
from deskpilot.dashboard.service import contact_label
from deskpilot.deps import Db, State
from deskpilot.errors import InvalidInput

router = APIRouter(route_class=PageRoute, include_in_schema=False)

CONTACTS_PER_SCREEN = 25
CONVERSATIONS_SHOWN = 50
# Empty rows the form offers for new custom_data entries.
SPARE_ROWS = 3


@router.get("/people", response_class=HTMLResponse)
async def contact_list(
    request: Request,
    staff: CurrentStaff,
    db: Db,
    state: State,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    search = q.strip() if q and q.strip() else None
    rows, next_cursor = await contacts.list_contacts(
        db, org_id=staff.org.id, cursor=cursor, limit=CONTACTS_PER_SCREEN, q=search
    )
    context = {
        "title": "Contacts",
        "nav": "contacts",
        "contacts": rows,
        "q": search,
        "cursor": cursor,
        "next_cursor": next_cursor,
        "contact_label": contact_label,
    }
    return render(request, state, "contacts.html", context, staff=staff)


@router.get("/people/{contact_id}", response_class=HTMLResponse)
async def contact_page(
    contact_id: str, request: Request, staff: CurrentStaff, db: Db, state: State
) -> HTMLResponse:
    contact = await contacts.get_contact(
        db, org_id=staff.org.id, contact_id=path_id(contact_id, "Contact")
    )
    sessions, more = await conversations.filter_sessions(
        db,
        org_id=staff.org.id,
        filters=SessionFilters(contact_ids=[contact.id]),
        sort_by="created_at",
        limit=CONVERSATIONS_SHOWN,
    )
    custom = sorted((contact.custom_data or {}).items())
    context: dict[str, Any] = {
        "title": contact_label(contact) or "Contact",
        "nav": "contacts",
        "contact": contact,
        "custom_rows": [*custom, *[("", "")] * SPARE_ROWS],
        "sessions": sessions,
        "more_sessions": more,
        "contact_label": contact_label,
    }
    return render(request, state, "contact.html", context, staff=staff)


def custom_data(keys: list[str], values: list[str]) -> dict[str, str]:
    """The key/value rows of the form; a row left empty is dropped, a value without a key
    or a key given twice is refused."""
    if len(keys) != len(values):
        raise InvalidInput("custom_data rows must each have a key and a value")
    found: dict[str, str] = {}
    for key, value in zip(keys, values, strict=True):
        key = key.strip()
        if not key and not value.strip():
            continue
        if not key:
            raise InvalidInput("custom_data keys must not be empty")
        if key in found:
            raise InvalidInput(f"custom_data key '{key}' is given twice")
        found[key] = value
    return found


@router.post("/people/{contact_id}")
async def update_contact(
    contact_id: str,
    staff: ActingStaff,
    db: Db,
    name: Annotated[str, Form(max_length=1000)] = "",
    email: Annotated[str, Form(max_length=1000)] = "",
    phone: Annotated[str, Form(max_length=100)] = "",
    # Each row's length is the schema's to check (keys ≤ 64, values ≤ 1,000 characters).
    custom_key: Annotated[list[str] | None, Form()] = None,
    custom_value: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """As `PATCH /contacts/{id}` with every field: an emptied field clears it, custom_data
    is replaced by the rows given. An email or phone another contact has is refused (409)."""
    contact = await contacts.get_contact(
        db, org_id=staff.org.id, contact_id=path_id(contact_id, "Contact")
    )
    data = parse_body(
        ContactInput,
        {
            "name": or_null(name),
            "email": or_null(email),
            "phone": or_null(phone),
            "custom_data": custom_data(custom_key or [], custom_value or []),
        },
    )
    await contacts.update_contact(db, contact=contact, data=data)
    return RedirectResponse(f"/people/{contact.id}", status_code=303)
