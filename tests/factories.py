"""Small factories: each test builds the data it needs through the real services and API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from deskpilot.db import transaction
from deskpilot.partner import service as partner_service
from deskpilot.partner.schemas import Branding


@dataclass
class PartnerFixture:
    id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class OrgFixture:
    id: str
    widget_token: str
    api_key: str
    partner: PartnerFixture

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def make_partner(
    sessionmaker: Any,
    *,
    name: str = "Acme Platform",
    allow_list: list[str] | None = None,
    branding: Branding | None = None,
) -> PartnerFixture:
    async with transaction(sessionmaker) as session:
        created = await partner_service.create_partner(
            session,
            name=name,
            allow_list=allow_list or [],
            branding=branding or Branding(app_name="Acme Help", support_email="help@acme.example"),
        )
    return PartnerFixture(str(created.partner.id), created.api_key)


async def make_org(client: httpx.AsyncClient, partner: PartnerFixture, **fields: Any) -> OrgFixture:
    body = {"name": "Bookshop", **fields}
    response = await client.post("/partner/v1/orgs", json=body, headers=partner.headers)
    assert response.status_code == 201, response.text
    org = response.json()
    key = await client.post(
        f"/partner/v1/orgs/{org['id']}/api-keys", json={"name": "server"}, headers=partner.headers
    )
    assert key.status_code == 201, key.text
    return OrgFixture(org["id"], org["widget_token"], key.json()["api_key"], partner)


async def make_login_link(
    client: httpx.AsyncClient, org: OrgFixture, email: str = "agent@bookshop.example", **extra: Any
) -> str:
    response = await client.post(
        f"/partner/v1/orgs/{org.id}/login-links",
        json={"email": email, **extra},
        headers=org.partner.headers,
    )
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    return url.removeprefix("http://testserver")
