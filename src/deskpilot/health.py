"""Liveness and readiness probes."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from deskpilot import db as database
from deskpilot.deps import State

router = APIRouter(tags=["Health"])


class Health(BaseModel):
    status: str
    version: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: str


@router.get("/healthz", summary="The process is alive")
async def healthz(state: State) -> Health:
    return Health(status="ok", version=state.settings.version)


@router.get(
    "/readyz",
    summary="The database is reachable and its schema is at the latest migration",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
async def readyz(state: State) -> Readiness | JSONResponse:
    try:
        async with state.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        current = await database.current_revision(state.engine)
    except (sa.exc.SQLAlchemyError, OSError):
        body = Readiness(status="unavailable", database="unreachable", migrations="unknown")
        return JSONResponse(body.model_dump(), status_code=503)
    head = database.head_revision(state.settings)
    if current != head:
        body = Readiness(
            status="unavailable", database="ok", migrations=f"at {current}, head is {head}"
        )
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(status="ok", database="ok", migrations=f"at head ({head})")
