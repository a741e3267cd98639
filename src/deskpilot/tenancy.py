"""The one place org-owned rows are selected: every such query starts from `org_scoped`."""

from __future__ import annotations

import uuid
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped


class OrgOwned(Protocol):
    org_id: Mapped[uuid.UUID]


M = TypeVar("M", bound=Any)


def org_scoped(model: type[M], org_id: uuid.UUID) -> sa.Select[tuple[M]]:
    return sa.select(model).where(model.org_id == org_id)
