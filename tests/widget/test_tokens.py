"""Contact JWTs: claims and lifetimes of API.md 1.2; expired or forged tokens are refused."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from deskpilot.errors import Unauthorized
from deskpilot.widget.tokens import mint_contact_token, read_contact_token, signing_key

SECRET = "s" * 40
ORG = uuid.uuid4()
CONTACT = uuid.uuid4()
NOW = datetime(2026, 3, 4, 9, 15, tzinfo=UTC)


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "==="))
    return decoded


class TestMintContactToken:
    def test_verified_token_carries_the_claims_and_lasts_a_day(self) -> None:
        token = mint_contact_token(SECRET, org_id=ORG, contact_id=CONTACT, verified=True, now=NOW)
        claims = claims_of(token)
        assert claims["sub"] == str(CONTACT) and claims["org"] == str(ORG)
        assert claims["vrf"] is True
        assert claims["exp"] == int((NOW + timedelta(hours=24)).timestamp())
        assert claims["iat"] == int(NOW.timestamp())

    def test_unverified_token_lasts_180_days(self) -> None:
        token = mint_contact_token(SECRET, org_id=ORG, contact_id=CONTACT, verified=False, now=NOW)
        assert claims_of(token)["exp"] == int((NOW + timedelta(days=180)).timestamp())

    def test_each_token_names_its_own_browser(self) -> None:
        first = mint_contact_token(SECRET, org_id=ORG, contact_id=CONTACT, verified=False)
        second = mint_contact_token(SECRET, org_id=ORG, contact_id=CONTACT, verified=False)
        assert (
            read_contact_token(SECRET, first).token_id
            != read_contact_token(SECRET, second).token_id
        )


class TestReadContactToken:
    def test_round_trip(self) -> None:
        token = mint_contact_token(SECRET, org_id=ORG, contact_id=CONTACT, verified=True, now=NOW)
        claims = read_contact_token(SECRET, token, now=NOW + timedelta(hours=23))
        assert (claims.contact_id, claims.org_id, claims.verified) == (CONTACT, ORG, True)

    def test_expired_token_is_refused(self) -> None:
        token = mint_contact_token(SECRET, org_id=ORG, contact_id=CONTACT, verified=True, now=NOW)
        with pytest.raises(Unauthorized, match="expired"):
            read_contact_token(SECRET, token, now=NOW + timedelta(hours=24))

    def test_expired_token_is_refused_by_the_real_clock(self) -> None:
        past = datetime.now(UTC) - timedelta(days=2)
        token = mint_contact_token(SECRET, org_id=ORG, contact_id=CONTACT, verified=True, now=past)
        with pytest.raises(Unauthorized):
            read_contact_token(SECRET, token)

    def test_token_signed_with_another_secret_is_refused(self) -> None:
        token = mint_contact_token("o" * 40, org_id=ORG, contact_id=CONTACT, verified=True)
        with pytest.raises(Unauthorized, match="not valid"):
            read_contact_token(SECRET, token)

    def test_tampered_claims_are_refused(self) -> None:
        token = mint_contact_token(SECRET, org_id=ORG, contact_id=CONTACT, verified=False)
        header, _, signature = token.split(".")
        claims = claims_of(token) | {"vrf": True}
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        with pytest.raises(Unauthorized):
            read_contact_token(SECRET, f"{header}.{forged}.{signature}")

    def test_unsigned_token_is_refused(self) -> None:
        claims = claims_of(
            mint_contact_token(SECRET, org_id=ORG, contact_id=CONTACT, verified=True)
        )
        token = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
        with pytest.raises(Unauthorized):
            read_contact_token(SECRET, token)

    def test_token_missing_a_claim_is_refused(self) -> None:
        token = jwt.encode(
            {"sub": str(CONTACT), "org": str(ORG), "exp": 2**40}, signing_key(SECRET), "HS256"
        )
        with pytest.raises(Unauthorized):
            read_contact_token(SECRET, token)

    @pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
    def test_malformed_token_is_refused(self, token: str) -> None:
        with pytest.raises(Unauthorized):
            read_contact_token(SECRET, token)
