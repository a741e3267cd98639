"""Webhook secrets and signatures (API.md 3.10): `dp_whsec_` secrets, kept encrypted under a
key derived from SECRET_KEY (a secret that must sign cannot be stored as a hash), and the
`X-Deskpilot-Signature` header, HMAC-SHA256 over `"<t>.<raw body>"`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_PREFIX = "dp_whsec_"  # noqa: S105 - the format, not a secret
SECRET_BODY_LENGTH = 40
_BASE62 = string.digits + string.ascii_letters
# Changing it makes every stored secret unreadable: it names the key's purpose, not a version.
_KEY_PURPOSE = b"deskpilot webhook signing secrets"

__all__ = ["InvalidToken", "SecretBox", "new_secret", "sign", "signature_header"]


def new_secret() -> str:
    return SECRET_PREFIX + "".join(secrets.choice(_BASE62) for _ in range(SECRET_BODY_LENGTH))


class SecretBox:
    """Encrypts secrets at rest with Fernet (AES-128-CBC and HMAC-SHA256), keyed by HKDF
    over the install's SECRET_KEY: the database alone does not reveal them. Changing
    SECRET_KEY makes them unreadable; rotating each webhook's secret recovers."""

    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_PURPOSE).derive(
            secret_key.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        """The secret; raises InvalidToken if it was sealed under another SECRET_KEY."""
        return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(signing_secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex>`, one `v1=` per secret (two while a rotation overlaps)."""
    entries = [f"v1={sign(secret, timestamp, body)}" for secret in signing_secrets]
    return ",".join([f"t={timestamp}", *entries])
