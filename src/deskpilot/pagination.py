"""Opaque keyset cursors over (created_at, id), newest first: stable under concurrent inserts."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import InstrumentedAttribute

from deskpilot.errors import InvalidInput

T = TypeVar("T")


class CursorPage(BaseModel, Generic[T]):
    items: list[T]
    next: str | None


def encode_cursor(created_at: datetime, row_id: uuid.UUID | int) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created), str(row_id)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput("cursor is not valid") from exc


def contains_pattern(text: str) -> str:
    """A case-insensitive LIKE pattern (use with `escape="\\"` on a lower-cased column)
    matching `text` anywhere, its own %, _ and backslashes taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def apply_cursor(
    stmt: sa.Select[Any],
    *,
    created_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[Any],
    cursor: str | None,
    limit: int,
) -> sa.Select[Any]:
    """Newest first; fetches one extra row to know whether a next page exists."""
    if cursor:
        created, raw_id = decode_cursor(cursor)
        id_value: Any = raw_id
        if isinstance(id_col.type, sa.Uuid):
            try:
                id_value = uuid.UUID(raw_id)
            except ValueError as exc:
                raise InvalidInput("cursor is not valid") from exc
        stmt = stmt.where(
            sa.or_(
                created_col < created,
                sa.and_(created_col == created, id_col < id_value),
            )
        )
    return stmt.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)


def page_of(rows: Sequence[T], limit: int, key: Any) -> tuple[list[T], str | None]:
    """Split the limit+1 rows into a page and the cursor of the next one."""
    items = list(rows[:limit])
    if len(rows) > limit and items:
        created, row_id = key(items[-1])
        return items, encode_cursor(created, row_id)
    return items, None


_ONE_MS = timedelta(milliseconds=1)


def _millisecond(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def time_range(
    column: Any, after: datetime | None, before: datetime | None
) -> list[sa.ColumnElement[bool]]:
    """`after <= column < before`, both bounds inclusive at the millisecond precision
    timestamps are emitted with, so a value read from a row matches that row."""
    where: list[sa.ColumnElement[bool]] = []
    if after is not None:
        where.append(column >= _millisecond(after))
    if before is not None:
        try:
            where.append(column < _millisecond(before) + _ONE_MS)
        except OverflowError:  # the last representable instant: nothing lies beyond it
            where.append(column <= before)
    return where
