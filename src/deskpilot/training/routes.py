"""Org API: training entries, their versions and directories (API.md 3.3)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from deskpilot.agent.learn import draft_from_session
from deskpilot.agent.resources import agent_for
from deskpilot.agent.search import search_training_and_pages
from deskpilot.deps import CurrentOrg, Db, State
from deskpilot.orgsettings.schemas import Channel, SafeText
from deskpilot.pagination import CursorPage
from deskpilot.schemas import error_responses
from deskpilot.training import service
from deskpilot.training.schemas import (
    DirectoryCreate,
    DirectoryRead,
    DirectoryUpdate,
    DraftToggle,
    GenerateFromSession,
    TrainingCreate,
    TrainingMove,
    TrainingRead,
    TrainingSearch,
    TrainingSearchResults,
    TrainingType,
    TrainingUpdate,
    VersionRead,
)

router = APIRouter(tags=["Training"], responses=error_responses(400, 401, 404, 413, 429, 500))
Limit = Annotated[int, Query(ge=1, le=100)]

# Directory routes come first: `/training/directories` must not be read as a training id.


@router.post(
    "/training/search",
    summary="Search training and website pages the way the AI does (drafts on request)",
)
async def search_training(
    body: TrainingSearch, org: CurrentOrg, db: Db, state: State
) -> TrainingSearchResults:
    results = await search_training_and_pages(db, agent_for(state.tasks), org_id=org.id, body=body)
    return TrainingSearchResults(results=results)


@router.post(
    "/training/generate-from-session",
    status_code=status.HTTP_201_CREATED,
    summary="A draft SCENARIO_SPECIFIC entry from a conversation's question and its answer",
)
async def generate_from_session(body: GenerateFromSession, org: CurrentOrg, db: Db) -> TrainingRead:
    item = await draft_from_session(db, org_id=org.id, session_id=body.session_id)
    return TrainingRead.model_validate(item)


@router.get("/training/directories", summary="Every directory, newest first")
async def list_directories(org: CurrentOrg, db: Db) -> list[DirectoryRead]:
    rows = await service.list_directories(db, org_id=org.id)
    return [DirectoryRead.model_validate(row) for row in rows]


@router.post(
    "/training/directories", status_code=status.HTTP_201_CREATED, summary="Create a directory"
)
async def create_directory(body: DirectoryCreate, org: CurrentOrg, db: Db) -> DirectoryRead:
    directory = await service.create_directory(db, org_id=org.id, data=body)
    return DirectoryRead.model_validate(directory)


@router.patch("/training/directories/{directory_id}", summary="Rename or move a directory")
async def update_directory(
    directory_id: uuid.UUID, body: DirectoryUpdate, org: CurrentOrg, db: Db
) -> DirectoryRead:
    directory = await service.get_directory(db, org_id=org.id, directory_id=directory_id)
    await service.update_directory(db, directory=directory, changes=body)
    return DirectoryRead.model_validate(directory)


@router.delete(
    "/training/directories/{directory_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an empty directory (409 while it holds entries or directories)",
    responses=error_responses(409),
)
async def delete_directory(directory_id: uuid.UUID, org: CurrentOrg, db: Db) -> Response:
    directory = await service.get_directory(db, org_id=org.id, directory_id=directory_id)
    await service.delete_directory(db, directory=directory)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/training",
    status_code=status.HTTP_201_CREATED,
    summary="Create a training entry (published as version 1 unless is_draft is true)",
)
async def create_training(body: TrainingCreate, org: CurrentOrg, db: Db) -> TrainingRead:
    item = await service.create_training(db, org_id=org.id, data=body)
    return TrainingRead.model_validate(item)


@router.get("/training", summary="List training entries, newest first")
async def list_training(
    org: CurrentOrg,
    db: Db,
    cursor: str | None = None,
    limit: Limit = 25,
    training_type: Annotated[TrainingType | None, Query(alias="type")] = None,
    is_draft: bool | None = None,
    directory_id: uuid.UUID | None = None,
    channel: Annotated[
        Channel | None, Query(description="entries that apply on this channel")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="text in title or content"), SafeText
    ] = None,
) -> CursorPage[TrainingRead]:
    rows, next_cursor = await service.list_training(
        db,
        org_id=org.id,
        cursor=cursor,
        limit=limit,
        training_type=training_type,
        is_draft=is_draft,
        directory_id=directory_id,
        channel=channel,
        q=q,
    )
    return CursorPage(items=[TrainingRead.model_validate(r) for r in rows], next=next_cursor)


@router.get("/training/{training_id}", summary="A training entry")
async def read_training(training_id: uuid.UUID, org: CurrentOrg, db: Db) -> TrainingRead:
    item = await service.get_training(db, org_id=org.id, training_id=training_id)
    return TrainingRead.model_validate(item)


@router.put(
    "/training/{training_id}",
    summary="Partial update; on a published entry is_draft true keeps the edits as a draft",
)
async def update_training(
    training_id: uuid.UUID, body: TrainingUpdate, org: CurrentOrg, db: Db
) -> TrainingRead:
    item = await service.get_training(db, org_id=org.id, training_id=training_id, for_update=True)
    await service.update_training(db, item=item, changes=body)
    return TrainingRead.model_validate(item)


@router.delete(
    "/training/{training_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a training entry and its versions",
)
async def delete_training(training_id: uuid.UUID, org: CurrentOrg, db: Db) -> Response:
    item = await service.get_training(db, org_id=org.id, training_id=training_id, for_update=True)
    await service.delete_training(db, item=item)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/training/{training_id}/draft",
    summary="Publish the pending draft as a new version (false) or unpublish (true)",
)
async def set_draft(
    training_id: uuid.UUID, body: DraftToggle, org: CurrentOrg, db: Db
) -> TrainingRead:
    item = await service.get_training(db, org_id=org.id, training_id=training_id, for_update=True)
    await service.set_draft(db, item=item, is_draft=body.is_draft)
    return TrainingRead.model_validate(item)


@router.put("/training/{training_id}/move", summary="Move an entry into a directory (or out)")
async def move_training(
    training_id: uuid.UUID, body: TrainingMove, org: CurrentOrg, db: Db
) -> TrainingRead:
    item = await service.get_training(db, org_id=org.id, training_id=training_id, for_update=True)
    await service.move_training(db, item=item, directory_id=body.directory_id)
    return TrainingRead.model_validate(item)


@router.get("/training/{training_id}/versions", summary="Published versions, newest first")
async def list_versions(
    training_id: uuid.UUID, org: CurrentOrg, db: Db, cursor: str | None = None, limit: Limit = 25
) -> CursorPage[VersionRead]:
    await service.get_training(db, org_id=org.id, training_id=training_id)
    rows, next_cursor = await service.list_versions(
        db, org_id=org.id, training_id=training_id, cursor=cursor, limit=limit
    )
    return CursorPage(items=[VersionRead.model_validate(r) for r in rows], next=next_cursor)


@router.post(
    "/training/{training_id}/versions/{version}/restore",
    summary="Copy a version's text into the draft (publish it with PUT …/draft)",
)
async def restore_version(
    training_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=2_147_483_647)],
    org: CurrentOrg,
    db: Db,
) -> TrainingRead:
    item = await service.get_training(db, org_id=org.id, training_id=training_id, for_update=True)
    await service.restore_version(db, item=item, version=version)
    return TrainingRead.model_validate(item)
