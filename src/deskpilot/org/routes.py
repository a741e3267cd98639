"""Org API: the org behind the calling org key (`GET/PATCH /org`)."""

from __future__ import annotations

from fastapi import APIRouter

from deskpilot.deps import CurrentOrg, Db
from deskpilot.models import Org, Partner
from deskpilot.org import service as org_service
from deskpilot.org.schemas import CurrentOrgRead, CurrentOrgUpdate
from deskpilot.partner.schemas import OrgUpdate
from deskpilot.partner.service import branding_of
from deskpilot.schemas import error_responses

router = APIRouter(tags=["Org"], responses=error_responses(400, 401, 413, 429, 500))


async def _read(db: Db, org: Org) -> CurrentOrgRead:
    partner = await db.get(Partner, org.partner_id) if org.partner_id else None
    return CurrentOrgRead(
        id=org.id,
        name=org.name,
        external_id=org.external_id,
        website=org.website,
        language=org.language,
        ai_instructions=org.ai_instructions,
        widget_token=org.widget_token,
        partner_branding=branding_of(partner) if partner else None,
        created_at=org.created_at,
        updated_at=org.updated_at,
    )


@router.get("/org", summary="The org of the calling API key")
async def read_current_org(org: CurrentOrg, db: Db) -> CurrentOrgRead:
    return await _read(db, org)


@router.get("/copilot/current", summary="Alias of GET /org (the path OpenCX's dashboard reads)")
async def read_current_org_alias(org: CurrentOrg, db: Db) -> CurrentOrgRead:
    return await _read(db, org)


@router.patch("/org", summary="Update the AI profile, language or website")
async def update_current_org(body: CurrentOrgUpdate, org: CurrentOrg, db: Db) -> CurrentOrgRead:
    changes = OrgUpdate.model_construct(
        _fields_set=body.model_fields_set,
        **{field: getattr(body, field) for field in body.model_fields_set},
    )
    await org_service.update_org(db, org=org, changes=changes)
    return await _read(db, org)
