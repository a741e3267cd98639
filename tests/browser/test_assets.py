"""`GET /widget.js` (type, caching, compression, any origin) and the demo page
`GET /widget/demo?token=…`, which must run the widget under its own strict CSP."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page

from deskpilot.widget import assets
from tests.browser.conftest import WIDGET, Deployment, Widget, expect

pytestmark = pytest.mark.slow

SCRIPT = Path(assets.STATIC_DIR) / "widget.js"
MAX_SCRIPT_BYTES = 60 * 1024


class TestWidgetScript:
    async def test_served_as_javascript_with_an_etag_for_any_origin(
        self, deployment: Deployment
    ) -> None:
        async with httpx.AsyncClient(base_url=deployment.base) as http:
            response = await http.get(
                "/widget.js",
                headers={"Origin": "https://shop.example", "Accept-Encoding": "identity"},
            )
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/javascript; charset=utf-8"
            assert response.headers["access-control-allow-origin"] == "*"
            assert response.headers["cross-origin-resource-policy"] == "cross-origin"
            assert "max-age=" in response.headers["cache-control"]
            assert response.content == SCRIPT.read_bytes()
            etag = response.headers["etag"]

            again = await http.get(
                "/widget.js", headers={"If-None-Match": etag, "Accept-Encoding": "identity"}
            )
            assert again.status_code == 304 and again.content == b""
            assert again.headers["etag"] == etag

            head = await http.head("/widget.js", headers={"Accept-Encoding": "identity"})
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == str(len(SCRIPT.read_bytes()))

    async def test_gzipped_for_clients_that_accept_it(self, deployment: Deployment) -> None:
        async with httpx.AsyncClient(base_url=deployment.base) as http:
            response = await http.get("/widget.js", headers={"Accept-Encoding": "gzip"})
            plain = await http.get("/widget.js", headers={"Accept-Encoding": "identity"})
        assert response.headers["content-encoding"] == "gzip"
        assert "Accept-Encoding" in response.headers["vary"]
        assert response.headers["etag"] != plain.headers["etag"]
        assert response.content == SCRIPT.read_bytes()  # httpx decoded it
        assert int(response.headers["content-length"]) < len(plain.content) // 2

    def test_stays_small(self) -> None:
        data = SCRIPT.read_bytes()
        assert len(data) < MAX_SCRIPT_BYTES, f"widget.js is {len(data)} bytes"
        assert len(gzip.compress(data)) < 20 * 1024


class TestDemoPage:
    async def test_the_demo_page_runs_the_widget_under_a_strict_csp(
        self, page: Page, deployment: Deployment
    ) -> None:
        token = deployment.shop.widget_token
        response = await page.goto(f"{deployment.base}/widget/demo?token={token}&language=de")
        assert response is not None and response.status == 200
        headers = await response.all_headers()
        assert "script-src 'self' 'nonce-" in headers["content-security-policy"]
        referrer = page.locator("meta[name=referrer]")
        await expect(referrer).to_have_attribute("content", "no-referrer")
        await expect(page.locator("h1")).to_have_text("Acme Outdoor")
        await expect(page.locator("pre")).to_contain_text(f'token: "{token}"')
        widget = Widget(page)
        await expect(widget.launcher).to_have_attribute("aria-label", "Chat öffnen")
        await widget.open()
        reply = await widget.ask("How long do I have to return an item?")
        await expect(reply).to_contain_text("30 days")

    async def test_inline_demo(self, page: Page, deployment: Deployment) -> None:
        token = deployment.shop.widget_token
        await page.goto(f"{deployment.base}/widget/demo?token={token}&inline=1")
        await expect(page.locator(f"#chat > {WIDGET}")).to_have_count(1)
        await expect(Widget(page).panel).to_be_visible()

    async def test_an_unknown_token_is_a_404_page(self, deployment: Deployment) -> None:
        async with httpx.AsyncClient(base_url=deployment.base) as http:
            for query in ("token=" + "0" * 32, "token=%3Cscript%3E", ""):
                response = await http.get(f"/widget/demo?{query}")
                assert response.status_code == 404
                assert response.headers["content-type"].startswith("text/html")
                assert "Widget not found" in response.text
                assert "<script" not in response.text

    async def test_the_org_name_is_escaped(self, deployment: Deployment) -> None:
        async with httpx.AsyncClient(base_url=deployment.base) as http:
            org = await http.post(
                "/partner/v1/orgs",
                json={"name": "<script>alert(1)</script> & Co"},
                headers=deployment.shop.partner.headers,
            )
            assert org.status_code == 201, org.text
            response = await http.get(f"/widget/demo?token={org.json()['widget_token']}")
        assert response.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in response.text
        assert "<script>alert(1)" not in response.text
