"""Widget API credentials and limits: the org's public widget token (`X-Bot-Token`), the
contact JWT, and the per-(token, IP) rate limit of API.md 1.8 (the others are per endpoint)."""

from __future__ import annotations

import hmac
import re
from typing import Annotated

from fastapi import Depends, Request, Response

from deskpilot.deps import ClientIP, Db, State, bearer_token
from deskpilot.errors import Unauthorized
from deskpilot.models import Org
from deskpilot.ratelimit import Quota
from deskpilot.widget import service
from deskpilot.widget.service import Viewer
from deskpilot.widget.tokens import read_contact_token

_WIDGET_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def apply_quota(response: Response, quota: Quota, request: Request) -> None:
    """Report the tightest of the limits this request counted against."""
    tightest: Quota | None = getattr(request.state, "rate_quota", None)
    if tightest is None or quota.remaining < tightest.remaining:
        request.state.rate_quota = quota
        response.headers.update(quota.headers())


async def widget_org(
    request: Request, response: Response, db: Db, state: State, ip: ClientIP
) -> Org:
    token = request.headers.get("x-bot-token", "")
    if not _WIDGET_TOKEN.match(token):
        raise Unauthorized("Missing or invalid X-Bot-Token")
    quota = await state.limiter.hit(
        "widget", f"{token}:{ip}", state.settings.RATE_LIMIT_WIDGET_PER_MINUTE
    )
    apply_quota(response, quota, request)
    org = await service.find_org_by_widget_token(db, widget_token=token)
    if org is None or not hmac.compare_digest(org.widget_token.encode(), token.encode()):
        raise Unauthorized("Missing or invalid X-Bot-Token")
    return org


WidgetOrg = Annotated[Org, Depends(widget_org)]


async def widget_viewer(request: Request, org: WidgetOrg, db: Db, state: State) -> Viewer:
    """The contact JWT: signed by us, unexpired, for this org and a contact that exists."""
    claims = read_contact_token(state.secret_key, bearer_token(request))
    if claims.org_id != org.id:
        raise Unauthorized("Contact token is not valid for this widget")
    contact = await service.find_contact(db, org_id=org.id, contact_id=claims.contact_id)
    if contact is None:
        raise Unauthorized("Contact token is not valid for this widget")
    return Viewer(
        org_id=org.id,
        contact=contact,
        verified=claims.verified,
        device_id=claims.token_id,
        token_expires_at=claims.expires_at,
    )


CurrentViewer = Annotated[Viewer, Depends(widget_viewer)]
