"""Partner API (`/partner/v1`): the partner account, its orgs, org keys and login links, and
sign-in links to the partner console."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from deskpilot.auth import service as auth_service
from deskpilot.deps import CurrentPartner, Db, PartnerOrg, State, partner_endpoint_limit
from deskpilot.org import service as org_service
from deskpilot.pagination import CursorPage
from deskpilot.partner import service as partner_service
from deskpilot.partner.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ConsoleLinkCreate,
    LoginLinkCreate,
    LoginLinkCreated,
    OrgCreate,
    OrgCreated,
    OrgHealth,
    OrgRead,
    OrgUpdate,
    PartnerRead,
    PartnerUpdate,
)
from deskpilot.schemas import error_responses

router = APIRouter(
    prefix="/partner/v1",
    tags=["Partner API"],
    responses=error_responses(400, 401, 403, 413, 429, 500),
)
_ORG_ERRORS = error_responses(404)

Limit = Annotated[int, Query(ge=1, le=100)]


@router.get("/me", summary="The calling partner account")
async def read_me(partner: CurrentPartner) -> PartnerRead:
    return partner_service.to_read(partner)


@router.patch("/me", summary="Update branding and the default AI profile")
async def update_me(body: PartnerUpdate, partner: CurrentPartner, db: Db) -> PartnerRead:
    await partner_service.update_partner(db, partner=partner, changes=body)
    return partner_service.to_read(partner)


@router.post(
    "/orgs",
    status_code=status.HTTP_201_CREATED,
    summary="Create an org",
    responses=error_responses(409),
    dependencies=[
        Depends(partner_endpoint_limit("create_org", "RATE_LIMIT_PARTNER_CREATE_ORG_PER_MINUTE"))
    ],
)
async def create_org(body: OrgCreate, partner: CurrentPartner, db: Db) -> OrgCreated:
    org = await org_service.create_org(db, partner_id=partner.id, data=body)
    return OrgCreated(
        id=org.id, name=org.name, widget_token=org.widget_token, external_id=org.external_id
    )


@router.get("/orgs", summary="List the partner's orgs, newest first")
async def list_orgs(
    partner: CurrentPartner,
    db: Db,
    cursor: str | None = None,
    limit: Limit = 25,
    external_id: str | None = None,
    health: OrgHealth | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> CursorPage[OrgRead]:
    items, next_cursor = await partner_service.list_org_reads(
        db,
        partner_id=partner.id,
        cursor=cursor,
        limit=limit,
        external_id=external_id,
        health=health,
        name_contains=q,
    )
    return CursorPage(items=items, next=next_cursor)


@router.get("/orgs/{org_id}", summary="Get an org", responses=_ORG_ERRORS)
async def read_org(org: PartnerOrg, db: Db) -> OrgRead:
    return (await partner_service.org_reads(db, orgs=[org]))[0]


@router.patch("/orgs/{org_id}", summary="Update an org", responses=error_responses(404, 409))
async def update_org(body: OrgUpdate, org: PartnerOrg, db: Db) -> OrgRead:
    await org_service.update_org(db, org=org, changes=body)
    return (await partner_service.org_reads(db, orgs=[org]))[0]


@router.delete(
    "/orgs/{org_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an org: keys, widget token and login links stop working at once",
    responses=_ORG_ERRORS,
)
async def delete_org(org: PartnerOrg, db: Db) -> Response:
    await org_service.delete_org(db, org=org)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/orgs/{org_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Mint an org API key (the secret is shown only here)",
    responses=error_responses(404, 409),
    dependencies=[
        Depends(partner_endpoint_limit("create_key", "RATE_LIMIT_PARTNER_CREATE_KEY_PER_MINUTE"))
    ],
)
async def create_api_key(body: ApiKeyCreate, org: PartnerOrg, db: Db) -> ApiKeyCreated:
    created = await org_service.create_org_key(db, org_id=org.id, name=body.name)
    return ApiKeyCreated(
        api_key=created.secret,
        id=created.key.id,
        name=created.key.name,
        prefix=created.key.prefix,
        created_at=created.key.created_at,
    )


@router.get("/orgs/{org_id}/api-keys", summary="List an org's API keys", responses=_ORG_ERRORS)
async def list_api_keys(
    org: PartnerOrg, db: Db, cursor: str | None = None, limit: Limit = 25
) -> CursorPage[ApiKeyRead]:
    keys, next_cursor = await org_service.list_org_keys(
        db, org_id=org.id, cursor=cursor, limit=limit
    )
    return CursorPage(items=[ApiKeyRead.model_validate(key) for key in keys], next=next_cursor)


@router.delete(
    "/orgs/{org_id}/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an org API key (idempotent)",
    responses=_ORG_ERRORS,
)
async def revoke_api_key(key_id: uuid.UUID, org: PartnerOrg, db: Db) -> Response:
    await org_service.revoke_org_key(db, org_id=org.id, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/orgs/{org_id}/login-links",
    status_code=status.HTTP_201_CREATED,
    summary="A single-use dashboard sign-in link, valid 15 minutes",
    responses=_ORG_ERRORS,
    dependencies=[
        Depends(partner_endpoint_limit("login_link", "RATE_LIMIT_PARTNER_LOGIN_LINK_PER_MINUTE"))
    ],
)
async def create_login_link(
    body: LoginLinkCreate, org: PartnerOrg, db: Db, state: State
) -> LoginLinkCreated:
    issued = await auth_service.create_login_link(
        db,
        org_id=org.id,
        email=str(body.email),
        name=body.name,
        redirect_path=body.redirect_path,
        ttl=timedelta(seconds=state.settings.LOGIN_LINK_TTL_SECONDS),
    )
    return LoginLinkCreated(
        url=f"{state.settings.PUBLIC_URL}/auth/login/{issued.token}",
        expires_at=issued.link.expires_at,
    )


@router.post(
    "/console-links",
    status_code=status.HTTP_201_CREATED,
    summary="A single-use partner console sign-in link, valid 15 minutes [deskpilot]",
    description="Signs one of the partner's admins into the partner console: the partner's "
    "orgs with their health and activity, and a jump into any org's dashboard as its admin. "
    "The user is created if unknown. Opening the link consumes it; a used or expired link "
    "shows an expired page (410 for non-browser clients).",
    dependencies=[
        Depends(
            partner_endpoint_limit("console_link", "RATE_LIMIT_PARTNER_CONSOLE_LINK_PER_MINUTE")
        )
    ],
)
async def create_console_link(
    body: ConsoleLinkCreate, partner: CurrentPartner, db: Db, state: State
) -> LoginLinkCreated:
    issued = await auth_service.create_console_link(
        db,
        partner_id=partner.id,
        email=str(body.email),
        name=body.name,
        ttl=timedelta(seconds=state.settings.LOGIN_LINK_TTL_SECONDS),
    )
    return LoginLinkCreated(
        url=f"{state.settings.PUBLIC_URL}/auth/console/{issued.token}",
        expires_at=issued.link.expires_at,
    )
