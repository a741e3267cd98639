"""Every failure answers in the API's error shape; nothing leaks internals."""

from __future__ import annotations

import json

import httpx
from asgi_lifespan import LifespanManager

from deskpilot.app import create_app
from tests.factories import make_partner

ERROR_KEYS = {"statusCode", "message", "error"}


class TestErrorShape:
    async def test_unknown_route_is_404(self, client: httpx.AsyncClient):
        response = await client.get("/no/such/route")
        assert response.status_code == 404
        assert response.json() == {
            "statusCode": 404,
            "message": "Route not found",
            "error": "Not Found",
        }

    async def test_wrong_method_is_405(self, client):
        response = await client.put("/partner/v1/orgs")
        assert response.status_code == 405
        assert response.json()["error"] == "Method Not Allowed"

    async def test_malformed_json_is_400(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.post(
            "/partner/v1/orgs",
            content=b'{"name": "x",',
            headers={**partner.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json() == {
            "statusCode": 400,
            "message": "Request body is not valid JSON",
            "error": "Bad Request",
        }

    async def test_non_object_body_is_400(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.post("/partner/v1/orgs", json=["name"], headers=partner.headers)
        assert response.status_code == 400 and set(response.json()) == ERROR_KEYS

    async def test_wrong_type_in_query_is_400(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.get(
            "/partner/v1/orgs", params={"limit": "many"}, headers=partner.headers
        )
        assert response.status_code == 400
        assert response.json()["message"] == "limit must be an integer"
        too_big = await client.get(
            "/partner/v1/orgs", params={"limit": 101}, headers=partner.headers
        )
        assert too_big.json()["message"] == "limit must not be greater than 100"

    async def test_bad_uuid_in_path_is_400(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.get("/partner/v1/orgs/not-a-uuid", headers=partner.headers)
        assert response.status_code == 400
        assert response.json()["message"] == "org_id must be a UUID"

    async def test_body_over_1_mib_is_413(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        body = json.dumps({"name": "x", "ai_instructions": "a" * (1024 * 1024)})
        response = await client.post(
            "/partner/v1/orgs",
            content=body,
            headers={**partner.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json()["error"] == "Payload Too Large"

    async def test_chunked_body_over_1_mib_is_413(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)

        async def chunks():
            for _ in range(20):
                yield b"a" * 65536

        response = await client.post(
            "/partner/v1/orgs",
            content=chunks(),
            headers={**partner.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 413

    async def test_nul_and_lone_surrogates_are_refused_before_the_database(
        self, client, sessionmaker
    ):
        partner = await make_partner(sessionmaker)
        headers = {**partner.headers, "Content-Type": "application/json"}
        for raw in (
            b'{"name": "a\\u0000b"}',
            b'{"name": "x", "website": null, "external_id": "\\ud800"}',
        ):
            response = await client.post("/partner/v1/orgs", content=raw, headers=headers)
            assert response.status_code == 400, raw
            assert "must not contain NUL characters" in response.json()["message"]
        query = await client.get("/partner/v1/orgs?q=a%00b", headers=partner.headers)
        assert query.status_code == 400 and query.json()["error"] == "Bad Request"
        listed = (await client.get("/partner/v1/orgs", headers=partner.headers)).json()
        assert listed["items"] == []

    async def test_every_response_has_a_request_id(self, client):
        first = await client.get("/healthz")
        second = await client.get("/nope")
        assert first.headers["x-request-id"] != second.headers["x-request-id"]
        assert len(first.headers["x-request-id"]) >= 8


class TestUnexpectedErrors:
    async def test_crash_is_500_without_internals(self, settings):
        app = create_app(settings)

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("database password is hunter2")

        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.get("/boom")
        assert response.status_code == 500
        assert response.json() == {
            "statusCode": 500,
            "message": "Internal server error",
            "error": "Internal Server Error",
        }
        assert "hunter2" not in response.text


class TestHealth:
    async def test_healthz(self, client):
        body = (await client.get("/healthz")).json()
        assert body["status"] == "ok" and body["version"]

    async def test_readyz_reports_database_and_migrations(self, client):
        response = await client.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok" and body["migrations"].startswith("at head")


class TestOpenApi:
    async def test_document_and_docs_are_served(self, client):
        spec = (await client.get("/api-json")).json()
        assert "/partner/v1/orgs" in spec["paths"]
        create = spec["paths"]["/partner/v1/orgs"]["post"]
        assert {"201", "400", "401", "403", "409", "429"} <= set(create["responses"])
        assert "422" not in json.dumps(spec["paths"])
        docs = await client.get("/api")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
