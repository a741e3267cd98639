"""Minting, hashing and checking of secrets: API keys, widget tokens, link and session tokens.

Secrets are stored only as SHA-256 hashes; lookups go by hash and the final comparison is
constant-time, so neither the database nor response timing reveals a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from datetime import datetime, timedelta
from typing import Protocol

_BASE62 = string.digits + string.ascii_letters

PARTNER_KEY_PREFIX = "dp_partner_"
ORG_KEY_PREFIX = "dp_live_"
KEY_BODY_LENGTH = 40
DISPLAY_PREFIX_LENGTH = 12


# last_used_at is a hint, not an audit log: written at most once a minute per key.
LAST_USED_GRANULARITY = timedelta(minutes=1)


class UsedKey(Protocol):
    last_used_at: datetime | None


def note_use(key: UsedKey, now: datetime) -> None:
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
        key.last_used_at = now


def _base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def new_partner_key() -> str:
    return PARTNER_KEY_PREFIX + _base62(KEY_BODY_LENGTH)


def new_org_key() -> str:
    return ORG_KEY_PREFIX + _base62(KEY_BODY_LENGTH)


def new_widget_token() -> str:
    return secrets.token_hex(16)


def new_url_token() -> str:
    """256 bits, URL-safe: login links and browser sessions."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def display_prefix(secret: str) -> str:
    return secret[:DISPLAY_PREFIX_LENGTH]


def looks_like(secret: str, prefix: str) -> bool:
    body = secret[len(prefix) :]
    return (
        secret.startswith(prefix)
        and len(body) == KEY_BODY_LENGTH
        and all(ch in _BASE62 for ch in body)
    )
