"""Contact JWTs for the Widget API (API.md 1.2): HS256, claims `sub` (contact id), `org`,
`vrf` (verified), `iat`, `exp`, and `jti`, which names the browser of an unverified visitor.

The signing key is derived from SECRET_KEY for this one purpose, so a token can never be
confused with anything else the secret signs.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from deskpilot.errors import Unauthorized

VERIFIED_TTL = timedelta(hours=24)
UNVERIFIED_TTL = timedelta(days=180)
ALGORITHM = "HS256"
_REQUIRED = ["sub", "org", "vrf", "iat", "exp", "jti"]


@dataclass(frozen=True, slots=True)
class ContactClaims:
    contact_id: uuid.UUID
    org_id: uuid.UUID
    verified: bool
    token_id: uuid.UUID  # jti
    expires_at: datetime


def signing_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"deskpilot.widget.contact-token", hashlib.sha256).digest()


def mint_contact_token(
    secret_key: str,
    *,
    org_id: uuid.UUID,
    contact_id: uuid.UUID,
    verified: bool,
    now: datetime | None = None,
) -> str:
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = {
        "sub": str(contact_id),
        "org": str(org_id),
        "vrf": verified,
        "iat": int(issued.timestamp()),
        "exp": int((issued + (VERIFIED_TTL if verified else UNVERIFIED_TTL)).timestamp()),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, signing_key(secret_key), algorithm=ALGORITHM)


def read_contact_token(
    secret_key: str, token: str, *, now: datetime | None = None
) -> ContactClaims:
    """The token's claims, or Unauthorized (forged, malformed, expired)."""
    try:
        claims = jwt.decode(
            token,
            signing_key(secret_key),
            algorithms=[ALGORITHM],
            options={"require": _REQUIRED, "verify_exp": now is None},
        )
        if now is not None and int(claims["exp"]) <= int(now.timestamp()):
            raise jwt.ExpiredSignatureError("Signature has expired")
        verified = claims["vrf"]
        if not isinstance(verified, bool):
            raise jwt.InvalidTokenError("vrf must be a boolean")
        return ContactClaims(
            contact_id=uuid.UUID(str(claims["sub"])),
            org_id=uuid.UUID(str(claims["org"])),
            verified=verified,
            token_id=uuid.UUID(str(claims["jti"])),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("Contact token has expired") from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise Unauthorized("Contact token is not valid") from exc
