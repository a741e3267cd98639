"""Org API: office hours, tags, autopilot and handoff settings (API.md 3.6-3.9), and the
widget's greeting and look ([deskpilot] `/widget-settings`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from deskpilot.deps import CurrentOrg, Db
from deskpilot.models import utcnow
from deskpilot.orgsettings import service
from deskpilot.orgsettings.schemas import (
    AutopilotRead,
    AutopilotUpdate,
    HandoffSettingsRead,
    HandoffSettingsUpdate,
    OfficeHoursStatus,
    SafeText,
    ScheduleInput,
    ScheduleRead,
    TagRead,
    TagUpsert,
    WidgetSettingsRead,
    WidgetSettingsUpdate,
)
from deskpilot.schemas import error_responses

office_hours_router = APIRouter(
    tags=["Office hours"], responses=error_responses(400, 401, 404, 413, 429, 500)
)
tags_router = APIRouter(tags=["Tags"], responses=error_responses(400, 401, 413, 429, 500))
ai_router = APIRouter(
    tags=["Autopilot and handoff"], responses=error_responses(400, 401, 413, 429, 500)
)
widget_router = APIRouter(
    tags=["Widget settings"], responses=error_responses(400, 401, 413, 429, 500)
)

# --- office hours ------------------------------------------------------------------------


@office_hours_router.get("/office-hours", summary="Every schedule, newest first")
async def list_schedules(org: CurrentOrg, db: Db) -> list[ScheduleRead]:
    return await service.list_schedules(db, org_id=org.id)


@office_hours_router.get(
    "/office-hours/status",
    summary="Whether the default schedule is open now, and when that changes",
)
async def office_hours_status(org: CurrentOrg, db: Db) -> OfficeHoursStatus:
    return await service.office_hours_status(db, org_id=org.id, now=utcnow())


@office_hours_router.get("/office-hours/{schedule_id}", summary="One schedule with its shifts")
async def read_schedule(schedule_id: uuid.UUID, org: CurrentOrg, db: Db) -> ScheduleRead:
    schedule = await service.get_schedule(db, org_id=org.id, schedule_id=schedule_id)
    return await service.schedule_read(db, schedule=schedule)


@office_hours_router.post(
    "/office-hours",
    status_code=status.HTTP_201_CREATED,
    summary="Create a schedule (the org's first one becomes its default)",
    responses=error_responses(409),
)
async def create_schedule(body: ScheduleInput, org: CurrentOrg, db: Db) -> ScheduleRead:
    schedule = await service.create_schedule(db, org_id=org.id, data=body)
    return await service.schedule_read(db, schedule=schedule)


@office_hours_router.put(
    "/office-hours/{schedule_id}",
    summary="Replace a schedule: shifts whose id matches keep it, the others are replaced",
    responses=error_responses(409),
)
async def replace_schedule(
    schedule_id: uuid.UUID, body: ScheduleInput, org: CurrentOrg, db: Db
) -> ScheduleRead:
    schedule = await service.get_schedule(db, org_id=org.id, schedule_id=schedule_id)
    await service.update_schedule(db, schedule=schedule, data=body)
    return await service.schedule_read(db, schedule=schedule)


@office_hours_router.delete(
    "/office-hours/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a schedule (deleting the default promotes the oldest remaining one)",
    responses=error_responses(409),
)
async def delete_schedule(schedule_id: uuid.UUID, org: CurrentOrg, db: Db) -> Response:
    schedule = await service.get_schedule(db, org_id=org.id, schedule_id=schedule_id)
    await service.delete_schedule(db, schedule=schedule)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- tags --------------------------------------------------------------------------------


@tags_router.get("/tags", summary="Every tag, newest first")
async def list_tags(org: CurrentOrg, db: Db) -> list[TagRead]:
    return [TagRead.model_validate(tag) for tag in await service.list_tags(db, org_id=org.id)]


@tags_router.put(
    "/tags",
    summary="Create or update a tag by its case-insensitive name (201 created, 200 updated)",
    responses={
        status.HTTP_201_CREATED: {"model": TagRead, "description": "Created"},
        **error_responses(409),
    },
)
async def upsert_tag(body: TagUpsert, org: CurrentOrg, db: Db, response: Response) -> TagRead:
    tag, created = await service.upsert_tag(db, org_id=org.id, data=body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return TagRead.model_validate(tag)


@tags_router.delete(
    "/tags/{tag_name:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a tag (URL-encode the name); it leaves every session",
    responses=error_responses(404),
)
async def delete_tag(
    tag_name: Annotated[str, Path(max_length=200), SafeText], org: CurrentOrg, db: Db
) -> Response:
    await service.delete_tag(db, org_id=org.id, tag_name=tag_name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- autopilot and handoff ---------------------------------------------------------------


@ai_router.get("/autopilot", summary="How the AI works on each channel, and forbidden topics")
async def read_autopilot(org: CurrentOrg, db: Db) -> AutopilotRead:
    return await service.get_autopilot(db, org_id=org.id)


@ai_router.patch(
    "/autopilot", summary="Change channel modes (only those listed) or replace the topics"
)
async def update_autopilot(body: AutopilotUpdate, org: CurrentOrg, db: Db) -> AutopilotRead:
    return await service.update_autopilot(db, org_id=org.id, changes=body)


@ai_router.get("/handoff-settings", summary="When the AI hands a conversation to a human")
async def read_handoff_settings(org: CurrentOrg, db: Db) -> HandoffSettingsRead:
    return await service.get_handoff_settings(db, org_id=org.id, now=utcnow())


@ai_router.patch(
    "/handoff-settings",
    summary="Change the handoff mode, preset level, advanced toggles or schedule",
    responses=error_responses(404),
)
async def update_handoff_settings(
    body: HandoffSettingsUpdate, org: CurrentOrg, db: Db
) -> HandoffSettingsRead:
    return await service.update_handoff_settings(db, org_id=org.id, changes=body, now=utcnow())


# --- widget --------------------------------------------------------------------------------


@widget_router.get(
    "/widget-settings", summary="The widget's greeting, suggested questions and look"
)
async def read_widget_settings(org: CurrentOrg, db: Db) -> WidgetSettingsRead:
    return await service.get_widget_settings(db, org_id=org.id)


@widget_router.patch(
    "/widget-settings",
    summary="Change the greeting, suggested questions, bot name, avatar or colour",
)
async def update_widget_settings(
    body: WidgetSettingsUpdate, org: CurrentOrg, db: Db
) -> WidgetSettingsRead:
    return await service.update_widget_settings(db, org_id=org.id, changes=body)


router = APIRouter()
router.include_router(office_hours_router)
router.include_router(tags_router)
router.include_router(ai_router)
router.include_router(widget_router)
