"""Org API: contacts (API.md 3.5). Writes through this API count as verified."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from deskpilot.contacts import service
from deskpilot.contacts.schemas import ContactBody, ContactCreated, ContactRead, Email, Phone
from deskpilot.deps import CurrentOrg, Db
from deskpilot.orgsettings.schemas import InputTimestamp
from deskpilot.pagination import CursorPage
from deskpilot.schemas import error_responses

router = APIRouter(tags=["Contacts"], responses=error_responses(400, 401, 404, 413, 429, 500))
Limit = Annotated[int, Query(ge=1, le=100)]
Bound = Annotated[InputTimestamp | None, Query(description="inclusive")]


@router.post(
    "/contacts",
    status_code=status.HTTP_201_CREATED,
    summary="Create a contact (409 if its email or phone is taken)",
    responses=error_responses(409),
)
async def create_contact(body: ContactBody, org: CurrentOrg, db: Db) -> ContactCreated:
    contact = await service.create_contact(db, org_id=org.id, data=body.contact)
    return ContactCreated(id=contact.id)


@router.get("/contacts", summary="List contacts, newest first")
async def list_contacts(
    org: CurrentOrg,
    db: Db,
    cursor: str | None = None,
    limit: Limit = 25,
    created_after: Bound = None,
    created_before: Bound = None,
    updated_after: Bound = None,
    updated_before: Bound = None,
    email: Annotated[Email | None, Query(description="case-insensitive")] = None,
    phone_number: Phone | None = None,
) -> CursorPage[ContactRead]:
    rows, next_cursor = await service.list_contacts(
        db,
        org_id=org.id,
        cursor=cursor,
        limit=limit,
        created_after=created_after,
        created_before=created_before,
        updated_after=updated_after,
        updated_before=updated_before,
        email=email,
        phone_number=phone_number,
    )
    return CursorPage(items=[ContactRead.model_validate(r) for r in rows], next=next_cursor)


@router.get("/contacts/{contact_id}", summary="A contact")
async def read_contact(contact_id: uuid.UUID, org: CurrentOrg, db: Db) -> ContactRead:
    contact = await service.get_contact(db, org_id=org.id, contact_id=contact_id)
    return ContactRead.model_validate(contact)


@router.patch(
    "/contacts/{contact_id}",
    summary="Update a contact: omitted fields unchanged, null clears, custom_data replaced",
    responses=error_responses(409),
)
async def update_contact(
    contact_id: uuid.UUID, body: ContactBody, org: CurrentOrg, db: Db
) -> ContactRead:
    contact = await service.get_contact(db, org_id=org.id, contact_id=contact_id)
    await service.update_contact(db, contact=contact, data=body.contact)
    return ContactRead.model_validate(contact)


@router.delete(
    "/contacts/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a contact; its sessions stay, detached",
)
async def delete_contact(contact_id: uuid.UUID, org: CurrentOrg, db: Db) -> Response:
    contact = await service.get_contact(db, org_id=org.id, contact_id=contact_id)
    await service.delete_contact(db, contact=contact)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
