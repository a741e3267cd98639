"""Message attachments. URL entries are kept as given; base64 entries are decoded, checked
against the size limit and written under the data folder, one directory per org and
session, each file under a random name (the client's name is only ever metadata)."""

from __future__ import annotations

import asyncio
import binascii
import mimetypes
import re
import secrets
import shutil
import uuid
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from deskpilot.conversations.schemas import MAX_ATTACHMENT_BYTES, AttachmentInput
from deskpilot.errors import InvalidInput, PayloadTooLarge

_FILE_NAME = re.compile(r"^[0-9a-f]{32}$")
_DATA_URL = re.compile(r"^data:([^;,]*)(?:;[^,]*)?;base64,", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MIME_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
# Base64 of MAX_ATTACHMENT_BYTES: anything longer is refused before it is decoded.
_MAX_ENCODED = 4 * -(-MAX_ATTACHMENT_BYTES // 3)


@dataclass(frozen=True, slots=True)
class AttachmentStore:
    root: Path  # DATA_DIR / "attachments"

    def _dir(self, org_id: uuid.UUID, session_id: uuid.UUID) -> Path:
        return self.root / str(org_id) / str(session_id)

    def path_of(self, org_id: uuid.UUID, session_id: uuid.UUID, file_name: str) -> Path | None:
        """The stored file, or None if the name is not one this store hands out."""
        if not _FILE_NAME.match(file_name):
            return None
        return self._dir(org_id, session_id) / file_name

    async def write(self, org_id: uuid.UUID, session_id: uuid.UUID, data: bytes) -> str:
        file_name = secrets.token_hex(16)
        folder = self._dir(org_id, session_id)

        def write() -> None:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / file_name, "xb") as handle:
                handle.write(data)

        await asyncio.to_thread(write)
        return file_name

    async def delete(
        self, org_id: uuid.UUID, session_id: uuid.UUID, file_names: Sequence[str]
    ) -> None:
        paths = [self.path_of(org_id, session_id, name) for name in file_names]

        def delete() -> None:
            for path in paths:
                if path is not None:
                    path.unlink(missing_ok=True)

        await asyncio.to_thread(delete)

    async def delete_org(self, org_id: uuid.UUID) -> None:
        """Every file of one org (its data is being purged)."""
        await asyncio.to_thread(shutil.rmtree, self.root / str(org_id), ignore_errors=True)


def stored_files(attachments: Sequence[dict[str, Any]] | None) -> list[str]:
    return [str(item["file"]) for item in attachments or () if item.get("file")]


def _display_name(name: str | None, url: str | None) -> str:
    if not name and url:
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    # Only ever shown and sent back as a download name: no paths, no control characters.
    name = _CONTROL.sub("", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:255] or "attachment"


def _decode(value: str, field: str) -> tuple[bytes, str | None]:
    """The bytes of a base64 value (optionally a `data:` URL) and the MIME type it names."""
    mime_type = None
    prefix = _DATA_URL.match(value)
    if prefix:
        if _MIME_TYPE.match(prefix.group(1)):
            mime_type = prefix.group(1)
        value = value[prefix.end() :]
    value = "".join(value.split())  # MIME-style line breaks
    if len(value) > _MAX_ENCODED:
        raise PayloadTooLarge(f"{field} must be at most {MAX_ATTACHMENT_BYTES} bytes")
    try:
        data = b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{field} must be valid base64") from exc
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise PayloadTooLarge(f"{field} must be at most {MAX_ATTACHMENT_BYTES} bytes")
    if not data:
        raise InvalidInput(f"{field} must not be empty")
    return data, mime_type


async def store_attachments(
    store: AttachmentStore,
    *,
    org_id: uuid.UUID,
    session_id: uuid.UUID,
    inputs: Sequence[AttachmentInput],
    field: str = "message.attachments",
) -> list[dict[str, Any]]:
    """Every entry decoded and checked before the first file is written, so a bad entry
    leaves nothing on disk. Returns the entries to keep on the event."""
    decoded = [
        _decode(item.base64, f"{field}.{index}.base64") if item.base64 is not None else None
        for index, item in enumerate(inputs)
    ]
    entries: list[dict[str, Any]] = []
    written: list[str] = []
    try:
        for item, payload in zip(inputs, decoded, strict=True):
            name = _display_name(item.name, item.url)
            mime_type = item.mime_type or (payload[1] if payload else None)
            mime_type = mime_type or mimetypes.guess_type(name)[0]
            entry: dict[str, Any] = {"id": str(uuid.uuid4()), "name": name, "type": mime_type}
            if payload is None:
                entry.update(url=item.url, size=None, file=None)
            else:
                file_name = await store.write(org_id, session_id, payload[0])
                written.append(file_name)
                entry.update(
                    url=None,
                    size=len(payload[0]),
                    file=file_name,
                    type=mime_type or "application/octet-stream",
                )
            entries.append(entry)
    except BaseException:
        await store.delete(org_id, session_id, written)
        raise
    return entries
