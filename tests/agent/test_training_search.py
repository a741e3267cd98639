"""`POST /training/search`: training and pages on one score, drafts only when asked."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("shop")

VOUCHERS = {
    "title": "Do you sell gift vouchers?",
    "content": "Yes: gift vouchers from 10 to 200 EUR are sold in the shop under Vouchers.",
}


async def search(client, org, **body):
    return await client.post("/training/search", json=body, headers=org.headers)


async def test_finds_training_and_pages_best_first(client, shop):
    created = await client.post("/training", json=VOUCHERS, headers=shop.headers)
    training_id = created.json()["id"]
    response = await search(client, shop, query="gift vouchers", limit=5)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[0] == {
        "source": "training",
        "id": training_id,
        "title": VOUCHERS["title"],
        "snippet": VOUCHERS["content"],
        "url": None,
        "score": results[0]["score"],
    }
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    pages = await search(client, shop, query="how long does a refund take", sources=["pages"])
    page = pages.json()["results"][0]
    assert page["source"] == "page" and page["url"].endswith("/help/returns.html")
    assert 0 < page["score"] <= 1


async def test_drafts_only_with_include_drafts(client, shop):
    draft = await client.post(
        "/training", json={**VOUCHERS, "is_draft": True}, headers=shop.headers
    )
    draft_id = draft.json()["id"]
    plain = await search(client, shop, query="gift vouchers", sources=["training"])
    assert [r["id"] for r in plain.json()["results"]] == []
    drafts = await search(
        client, shop, query="gift vouchers", sources=["training"], include_drafts=True
    )
    assert [r["id"] for r in drafts.json()["results"]] == [draft_id]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "x", "limit": 21}, "limit"),
        ({"query": "x", "sources": ["web"]}, "sources"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(client, shop, body, field):
    response = await search(client, shop, **body)
    assert response.status_code == 400
    assert response.json()["error"] == "Bad Request"
    assert field in response.json()["message"]


async def test_another_org_finds_nothing_of_this_one(client, shop, other_org):
    await client.post("/training", json=VOUCHERS, headers=shop.headers)
    response = await search(client, other_org, query="gift vouchers refund shipping")
    assert response.json()["results"] == []
