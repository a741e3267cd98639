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


# --- stream tickets (API.md 4.3) ------------------------------------------------------------

STREAM_TICKET_TTL = timedelta(seconds=60)
_TICKET_REQUIRED = ["sub", "org", "sid", "vrf", "dev", "cexp", "exp", "jti"]


@dataclass(frozen=True, slots=True)
class StreamTicket:
    """Opens one stream of one session for one contact, once, within 60 s."""

    ticket_id: uuid.UUID
    contact_id: uuid.UUID
    org_id: uuid.UUID
    session_id: uuid.UUID
    verified: bool
    device_id: uuid.UUID  # the contact token's jti
    contact_expires_at: datetime  # the stream ends when the contact token would have


def _ticket_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"deskpilot.widget.stream-ticket", hashlib.sha256).digest()


def mint_stream_ticket(
    secret_key: str,
    *,
    org_id: uuid.UUID,
    contact_id: uuid.UUID,
    verified: bool,
    device_id: uuid.UUID,
    contact_expires_at: datetime,
    session_id: uuid.UUID,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """A ticket for `?ticket=` and when it expires (never after the contact token)."""
    issued = now or datetime.now(UTC)
    expires = min(issued + STREAM_TICKET_TTL, contact_expires_at)
    claims = {
        "sub": str(contact_id),
        "org": str(org_id),
        "sid": str(session_id),
        "vrf": verified,
        "dev": str(device_id),
        "cexp": int(contact_expires_at.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, _ticket_key(secret_key), algorithm=ALGORITHM), expires


def read_stream_ticket(secret_key: str, ticket: str) -> StreamTicket:
    """The ticket's claims, or Unauthorized (forged, malformed, expired)."""
    try:
        claims = jwt.decode(
            ticket,
            _ticket_key(secret_key),
            algorithms=[ALGORITHM],
            options={"require": _TICKET_REQUIRED},
        )
        verified = claims["vrf"]
        if not isinstance(verified, bool):
            raise jwt.InvalidTokenError("vrf must be a boolean")
        return StreamTicket(
            ticket_id=uuid.UUID(str(claims["jti"])),
            contact_id=uuid.UUID(str(claims["sub"])),
            org_id=uuid.UUID(str(claims["org"])),
            session_id=uuid.UUID(str(claims["sid"])),
            verified=verified,
            device_id=uuid.UUID(str(claims["dev"])),
            contact_expires_at=datetime.fromtimestamp(int(claims["cexp"]), UTC),
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("Stream ticket has expired") from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise Unauthorized("Stream ticket is not valid") from exc
