"""The org's members and their roles (admins only): the first member is the admin, those
who join after are agents until an admin says otherwise."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from deskpilot.dashboard import service
from deskpilot.dashboard.access import ROLES, ActingAdmin, AdminStaff, PageRoute, render
from deskpilot.deps import Db, State

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/team", response_class=HTMLResponse)
async def team(request: Request, staff: AdminStaff, db: Db, state: State) -> HTMLResponse:
    members = await service.list_members(db, org_id=staff.org.id)
    context = {"title": "Team", "nav": "team", "members": members, "roles": ROLES}
    return render(request, state, "team.html", context, staff=staff)


@router.post("/team/{user_id}/role")
async def change_role(
    user_id: int,
    staff: ActingAdmin,
    db: Db,
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    await service.set_member_role(
        db, org_id=staff.org.id, user_id=user_id, role=role, acting_user_id=staff.user.id
    )
    return RedirectResponse("/team", status_code=303)
