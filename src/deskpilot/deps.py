"""Request dependencies: the unit of work, the caller's identity, rate limits.

The edges own the transaction: `Db` commits when the route returns and rolls back when it
raises, before the response is sent, so a failed commit is never reported as a success.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from deskpilot import clientip
from deskpilot import db as database
from deskpilot.config import Settings
from deskpilot.errors import PermissionDenied, Unauthorized
from deskpilot.events import EventBus
from deskpilot.jobs import JobQueue, TaskContext
from deskpilot.knowledge.service import KnowledgeBase
from deskpilot.models import Org, Partner
from deskpilot.org import service as org_service
from deskpilot.partner import service as partner_service
from deskpilot.ratelimit import Quota, RateLimiter


@dataclass(slots=True)
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    limiter: RateLimiter
    templates: Jinja2Templates
    secret_key: str
    queue: JobQueue
    knowledge: KnowledgeBase
    tasks: TaskContext
    events: EventBus


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.deskpilot
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_db(state: State) -> AsyncIterator[AsyncSession]:
    async with database.transaction(state.sessionmaker) as session:
        yield session


Db = Annotated[AsyncSession, Depends(get_db, scope="function")]


def client_ip(request: Request, state: State) -> clientip.IPAddress | None:
    peer = request.client.host if request.client else None
    return clientip.resolve_client_ip(
        peer, request.headers.get("x-forwarded-for"), state.settings.TRUSTED_PROXIES
    )


ClientIP = Annotated[clientip.IPAddress | None, Depends(client_ip)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing bearer token in the Authorization header")
    return token.strip()


def _apply_quota(response: Response, quota: Quota, request: Request) -> None:
    """Report the tightest of the limits this request counted against."""
    tightest: Quota | None = getattr(request.state, "rate_quota", None)
    if tightest is None or quota.remaining < tightest.remaining:
        request.state.rate_quota = quota
        response.headers.update(quota.headers())


async def current_partner(
    request: Request, response: Response, db: Db, state: State, ip: ClientIP
) -> Partner:
    """Partner API security layers 1-4 (API.md 2.1), in order."""
    token = bearer_token(request)
    partner = await partner_service.authenticate_partner(db, api_key=token)
    if not clientip.allowed(ip, partner.ip_allow_list or []):
        raise PermissionDenied("Requests from this IP address are not allowed for this partner")
    quota = await state.limiter.hit(
        "partner", str(partner.id), state.settings.RATE_LIMIT_PARTNER_PER_MINUTE
    )
    _apply_quota(response, quota, request)
    return partner


CurrentPartner = Annotated[Partner, Depends(current_partner)]


async def partner_org(org_id: uuid.UUID, partner: CurrentPartner, db: Db) -> Org:
    """Layer 5: the org in the path must belong to the caller."""
    return await org_service.get_partner_org(db, partner_id=partner.id, org_id=org_id)


PartnerOrg = Annotated[Org, Depends(partner_org)]


def partner_endpoint_limit(
    scope: str, setting: str
) -> Callable[[Request, Response, Partner, AppState], Awaitable[None]]:
    """A per-endpoint limit counted on top of the partner's global one."""

    async def dependency(
        request: Request, response: Response, partner: CurrentPartner, state: State
    ) -> None:
        per_minute = getattr(state.settings, setting)
        quota = await state.limiter.hit(f"partner:{scope}", str(partner.id), per_minute)
        _apply_quota(response, quota, request)

    return dependency


async def current_org(request: Request, response: Response, db: Db, state: State) -> Org:
    org = await org_service.authenticate_org_key(db, api_key=bearer_token(request))
    quota = await state.limiter.hit("org", str(org.id), state.settings.RATE_LIMIT_ORG_PER_MINUTE)
    _apply_quota(response, quota, request)
    return org


CurrentOrg = Annotated[Org, Depends(current_org)]
