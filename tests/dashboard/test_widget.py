"""Widget page: the embed snippet with the org's token, the settings form (what
`GET /widget-settings` and the widget's prelude read back), and the preview frame of the
demo page, which the dashboard may frame and nobody else may."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("no_ai")


def settings_form(**fields: str) -> dict[str, str]:
    form = {
        "bot_name": "",
        "initial_messages": "",
        "initial_questions": "",
        "primary_color": "",
        "bot_avatar_url": "",
    }
    form.update(fields)
    return form


async def api_settings(client, org) -> dict[str, Any]:
    response = await client.get("/widget-settings", headers=org.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestPage:
    async def test_the_snippet_carries_the_token_and_the_public_script_url(
        self, org, sign_in, settings
    ):
        admin = await sign_in(org)
        page = await admin.get("/settings/widget")
        assert page.status_code == 200
        snippet = html.unescape(page.text.split('data-testid="widget-snippet"><code>')[1])
        snippet = snippet.split("</code>")[0]
        assert snippet == (
            f'<script src="{settings.PUBLIC_URL}/widget.js"></script>\n'
            f"<script>initOpenScript({json.dumps({'token': org.widget_token})})</script>"
        )
        assert f'src="/widget/demo?token={org.widget_token}&amp;inline=1"' in page.text
        assert 'href="/settings/widget"' in page.text

    async def test_the_dashboard_may_frame_the_demo_page_and_nobody_else(self, client, org):
        demo = await client.get("/widget/demo", params={"token": org.widget_token, "inline": "1"})
        assert demo.status_code == 200
        assert demo.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        [policy] = demo.headers.get_list("content-security-policy")
        assert "frame-ancestors 'self'" in policy
        # Every other page keeps refusing frames.
        missing = await client.get("/widget/demo", params={"token": "0" * 32})
        assert missing.headers.get_list("x-frame-options") == ["DENY"]
        assert "frame-ancestors 'none'" in missing.headers["content-security-policy"]

    async def test_the_dashboards_own_pages_still_refuse_frames(self, org, sign_in):
        admin = await sign_in(org)
        page = await admin.get("/settings/widget")
        assert page.headers.get_list("x-frame-options") == ["DENY"]
        [policy] = page.headers.get_list("content-security-policy")
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy


class TestSettings:
    async def test_saving_changes_what_the_api_and_the_widget_read(self, client, org, sign_in):
        admin = await sign_in(org)
        saved = await admin.post(
            "/settings/widget",
            settings_form(
                bot_name="Shop helper",
                initial_messages="Hi there!\n\nHow can I help?",
                initial_questions="Where is my order?\nDo you ship abroad?\nWhere is my order?",
                primary_color="#FF6600",
                bot_avatar_url="https://cdn.shop.example/bot.png",
            ),
        )
        assert saved.status_code == 303 and saved.headers["location"] == "/settings/widget"
        read = await api_settings(client, org)
        assert read["bot_name"] == "Shop helper"
        assert read["initial_messages"] == ["Hi there!", "How can I help?"]
        assert read["initial_questions"] == ["Where is my order?", "Do you ship abroad?"]
        assert read["primary_color"] == "#ff6600"
        assert read["bot_avatar_url"] == "https://cdn.shop.example/bot.png"
        prelude = await client.get(
            "/backend/widget/v2/prelude", headers={"X-Bot-Token": org.widget_token}
        )
        assert prelude.json()["initialQuestions"] == ["Where is my order?", "Do you ship abroad?"]
        page = await admin.get("/settings/widget")
        assert 'value="Shop helper"' in page.text and "How can I help?" in page.text
        # Emptied fields clear the name, colour and avatar; empty lists clear the lines.
        cleared = await admin.post("/settings/widget", settings_form())
        assert cleared.status_code == 303
        read = await api_settings(client, org)
        assert read["bot_name"] is None and read["primary_color"] is None
        assert read["bot_avatar_url"] is None
        assert read["initial_messages"] == [] and read["initial_questions"] == []

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"primary_color": "orange"}, "primary_color has an invalid format"),
            (
                {"bot_avatar_url": "http://cdn.shop.example/bot.png"},
                "bot_avatar_url must be an https URL",
            ),
            ({"bot_name": "x" * 61}, "bot_name must be at most 60 characters"),
            (
                {"initial_questions": "\n".join(f"Q{i}?" for i in range(7))},
                "initial_questions must have at most 6 lines",
            ),
            ({"initial_messages": "y" * 301}, "initial_messages.0 must be at most 300 characters"),
        ],
    )
    async def test_bad_input_is_a_400_page_and_nothing_changes(
        self, client, org, sign_in, fields, message
    ):
        admin = await sign_in(org)
        assert (
            await admin.post("/settings/widget", settings_form(bot_name="Kept"))
        ).status_code == 303
        response = await admin.post(
            "/settings/widget", settings_form(**{"bot_name": "Kept", **fields})
        )
        assert response.status_code == 400
        assert "Check what you entered" in response.text and message in response.text
        assert (await api_settings(client, org))["bot_name"] == "Kept"


class TestAccess:
    async def test_agents_are_refused(self, client, org, sign_in):
        await sign_in(org, "first@shop.example", "First")
        agent = await sign_in(org, "second@shop.example", "Second")
        page = await agent.get("/settings/widget")
        assert page.status_code == 403 and org.widget_token not in page.text
        saved = await agent.post("/settings/widget", settings_form(bot_name="Agent bot"))
        assert saved.status_code == 403
        assert (await api_settings(client, org))["bot_name"] is None
        assert 'href="/settings/widget"' not in (await agent.get("/inbox")).text

    async def test_a_form_without_the_csrf_token_is_refused(self, client, org, sign_in):
        admin = await sign_in(org)
        response = await admin.post("/settings/widget", settings_form(bot_name="X"), csrf="")
        assert response.status_code == 403
        assert (await api_settings(client, org))["bot_name"] is None

    async def test_each_org_sees_its_own_token(self, org, other_org, sign_in):
        admin = await sign_in(org)
        page = await admin.get("/settings/widget")
        assert org.widget_token in page.text and other_org.widget_token not in page.text
