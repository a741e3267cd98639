"""An org (with its partner) for every test in this package, and a second one for tenancy."""

from __future__ import annotations

import pytest

from tests.factories import OrgFixture, make_org, make_partner


@pytest.fixture
async def org(client, sessionmaker) -> OrgFixture:
    partner = await make_partner(sessionmaker)
    return await make_org(client, partner)


@pytest.fixture
async def other_org(client, org) -> OrgFixture:
    return await make_org(client, org.partner, name="Other shop")
