"""`deskpilot` command line: serve, migrate, the worker, crawl, ask and eval, and the
operator's partner commands."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot import db as database
from deskpilot.config import Settings
from deskpilot.errors import DeskpilotError
from deskpilot.partner import service as partner_service
from deskpilot.partner.schemas import Branding, BrandingUpdate

app = typer.Typer(
    help="deskpilot: a self-hostable AI customer-support platform.",
    no_args_is_help=True,
    add_completion=False,
)
partner_app = typer.Typer(help="Manage partners (operator only).", no_args_is_help=True)
app.add_typer(partner_app, name="partner")

T = TypeVar("T")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"configuration: {'.'.join(map(str, first['loc']))}: {first['msg']}")
        raise  # unreachable: _fail exits


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _run_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate, then run one unit of work in a transaction."""
    database.upgrade(settings)

    async def runner() -> T:
        engine = database.create_engine(settings)
        try:
            async with database.transaction(database.create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(runner())
    except DeskpilotError as exc:
        _fail(exc.message)
        raise


def _partner_json(partner: Any) -> dict[str, Any]:
    return partner_service.to_read(partner).model_dump(mode="json")


def _parse_uuid(value: str, what: str = "partner") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        _fail(f"'{value}' is not {'an' if what[0] in 'aeiou' else 'a'} {what} id (a UUID)")
        raise


def _branding(**fields: str | None) -> BrandingUpdate:
    given = {key: value for key, value in fields.items() if value is not None}
    try:
        return BrandingUpdate(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}")
        raise


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default: PORT)")] = None,
) -> None:
    """Apply migrations, then serve the API, widget and dashboard."""
    import uvicorn

    from deskpilot.app import create_app

    settings = _settings()
    database.upgrade(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.HOST,
        port=port or settings.PORT,
        proxy_headers=False,
        access_log=False,
        log_config=None,
    )


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Exit once the queue is empty")] = False,
) -> None:
    """Run background jobs from the Redis queue (JOBS_BACKEND=redis), with the scheduler."""
    from deskpilot.crawl.resources import close_resources, warn_if_render_unavailable
    from deskpilot.jobs import run_worker
    from deskpilot.logging import configure_logging
    from deskpilot.tasks import TASKS, run_scheduler
    from deskpilot.webhooks.tasks import stop_delivering

    settings = _settings()
    if not settings.REDIS_URL:
        _fail("deskpilot worker needs REDIS_URL (and JOBS_BACKEND=redis on the servers)")
    configure_logging(settings)
    warn_if_render_unavailable(settings)
    database.upgrade(settings)
    scheduler: dict[str, asyncio.Task[None]] = {}

    async def on_startup(context: Any) -> None:
        scheduler["task"] = asyncio.create_task(run_scheduler(context))

    async def on_shutdown(context: Any) -> None:
        task = scheduler.pop("task", None)
        if task is not None:
            task.cancel()
        await stop_delivering(context)
        await close_resources(context)

    asyncio.run(
        run_worker(settings, TASKS, on_startup=on_startup, on_shutdown=on_shutdown, burst=burst)
    )


@app.command()
def crawl(
    url: Annotated[str, typer.Argument(help="Website to crawl, e.g. https://docs.example.com/")],
    org: Annotated[str, typer.Option("--org", help="Org id")],
    page_limit: Annotated[int, typer.Option(min=1, max=5000)] = 100,
) -> None:
    """Crawl a website into an org's knowledge, with a progress bar and a summary."""
    from deskpilot.crawl.cli import crawl_with_progress

    settings = _settings()
    database.upgrade(settings)
    try:
        summary = asyncio.run(
            crawl_with_progress(
                settings, org_id=_parse_uuid(org, "org"), url=url, page_limit=page_limit
            )
        )
    except DeskpilotError as exc:
        _fail(exc.message)
        raise
    _print_json(summary)
    if summary["status"] != "completed":
        raise typer.Exit(1)


def _channel(value: str) -> Any:
    from deskpilot.orgsettings.schemas import CHANNELS

    if value not in CHANNELS:
        _fail(f"--channel must be one of {', '.join(CHANNELS)}")
    return value


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The visitor's question")],
    org: Annotated[str, typer.Option("--org", help="Org id")],
    channel: Annotated[str, typer.Option(help="Channel the question comes from")] = "web",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole outcome as JSON")
    ] = False,
) -> None:
    """Ask the org's AI a question, as a visitor would, without creating a session."""
    from deskpilot.agent.cli import ask as ask_agent

    settings = _settings()
    database.upgrade(settings)
    try:
        outcome = asyncio.run(
            ask_agent(
                settings,
                org_id=_parse_uuid(org, "org"),
                question=question,
                channel=_channel(channel),
            )
        )
    except DeskpilotError as exc:
        _fail(exc.message)
        raise
    if as_json:
        _print_json(outcome)
        return
    typer.echo(outcome["reply"] or "(no reply)")
    for number, source in enumerate(outcome["sources"], start=1):
        typer.echo(f"[{number}] {source['title']} <{source['url']}>")
    decision = outcome["decision"]
    if outcome["handoff"]:
        decision += f" ({', '.join(outcome['handoff']['reasons'])})"
    timings = outcome["debug"].get("timings_ms", {})
    typer.echo(f"decision: {decision} · confidence: {outcome['debug'].get('confidence')}")
    typer.echo(f"time: {timings.get('total')} ms")


@app.command("eval")
def evaluate(
    file: Annotated[str, typer.Argument(help="Evaluation set, one JSON object per line")],
    org: Annotated[str, typer.Option("--org", help="Org id")],
    channel: Annotated[str, typer.Option(help="Channel the questions come from")] = "web",
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items")] = None,
    details: Annotated[bool, typer.Option(help="Also print one JSON line per item")] = False,
) -> None:
    """Run an evaluation set against the org's AI: hit@k, MRR, answer, fact and handoff
    rates, leaks and latency, with a progress bar."""
    from pathlib import Path

    from deskpilot.agent.cli import evaluate as run_eval

    settings = _settings()
    database.upgrade(settings)
    path = Path(file)
    if not path.is_file():
        _fail(f"{file}: no such file")
    try:
        report = asyncio.run(
            run_eval(
                settings,
                org_id=_parse_uuid(org, "org"),
                path=path,
                channel=_channel(channel),
                limit=limit,
                show_progress=sys.stderr.isatty(),
            )
        )
    except (DeskpilotError, ValueError) as exc:
        _fail(exc.message if isinstance(exc, DeskpilotError) else str(exc))
        raise
    if details:
        for result in report.results:
            typer.echo(json.dumps(result.to_json()))
    _print_json(report.summary())


@app.command()
def migrate() -> None:
    """Apply every pending database migration."""
    settings = _settings()
    database.upgrade(settings)
    typer.echo(f"database at {database.head_revision(settings)}")


@partner_app.command("create")
def partner_create(
    name: Annotated[str, typer.Option(help="Partner name")],
    app_name: Annotated[str | None, typer.Option(help="Product name shown to org users")] = None,
    logo_url: Annotated[str | None, typer.Option(help="https URL of a square logo")] = None,
    support_email: Annotated[str | None, typer.Option(help="Where users ask for help")] = None,
    primary_color: Annotated[str | None, typer.Option(help="#RRGGBB")] = None,
    allowed_ip: Annotated[
        list[str] | None, typer.Option(help="Address or CIDR allowed to call (repeatable)")
    ] = None,
) -> None:
    """Create a partner; prints its id and API key (shown once) as JSON."""
    settings = _settings()
    branding_update = _branding(
        app_name=app_name,
        logo_url=logo_url,
        support_email=support_email,
        primary_color=primary_color,
    )
    branding = Branding(
        **{
            key: (str(value) if value is not None else None)
            for key, value in branding_update.model_dump().items()
        }
    )

    async def work(session: AsyncSession) -> dict[str, Any]:
        created = await partner_service.create_partner(
            session, name=name, branding=branding, allow_list=allowed_ip or []
        )
        return {**_partner_json(created.partner), "api_key": created.api_key}

    _print_json(_run_db(settings, work))


@partner_app.command("list")
def partner_list() -> None:
    """List every partner as JSON."""
    settings = _settings()

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [_partner_json(p) for p in await partner_service.list_partners(session)]

    _print_json(_run_db(settings, work))


@partner_app.command("update")
def partner_update(
    partner_id: Annotated[str, typer.Argument(help="Partner id")],
    name: Annotated[str | None, typer.Option()] = None,
    app_name: Annotated[str | None, typer.Option()] = None,
    logo_url: Annotated[str | None, typer.Option()] = None,
    support_email: Annotated[str | None, typer.Option()] = None,
    primary_color: Annotated[str | None, typer.Option()] = None,
    allowed_ip: Annotated[
        list[str] | None, typer.Option(help="Replaces the allow-list (repeatable)")
    ] = None,
    clear_allowed_ips: Annotated[bool, typer.Option(help="Remove the IP allow-list")] = False,
    activate: Annotated[bool, typer.Option(help="Re-activate a deactivated partner")] = False,
) -> None:
    """Change a partner's name, branding, IP allow-list or status."""
    settings = _settings()
    pid = _parse_uuid(partner_id)
    branding = _branding(
        app_name=app_name,
        logo_url=logo_url,
        support_email=support_email,
        primary_color=primary_color,
    )
    if allowed_ip and clear_allowed_ips:
        _fail("--allowed-ip and --clear-allowed-ips cannot be combined")

    async def work(session: AsyncSession) -> dict[str, Any]:
        from deskpilot.partner.schemas import PartnerUpdate

        partner = await partner_service.get_partner(session, partner_id=pid)
        if branding.model_fields_set:
            await partner_service.update_partner(
                session, partner=partner, changes=PartnerUpdate(branding=branding)
            )
        await partner_service.set_operator_fields(
            session,
            partner=partner,
            name=name,
            allow_list=[] if clear_allowed_ips else allowed_ip,
            is_active=True if activate else None,
        )
        return _partner_json(partner)

    _print_json(_run_db(settings, work))


@partner_app.command("rotate-key")
def partner_rotate_key(partner_id: Annotated[str, typer.Argument(help="Partner id")]) -> None:
    """Revoke the partner's key and print a new one (shown once)."""
    settings = _settings()
    pid = _parse_uuid(partner_id)

    async def work(session: AsyncSession) -> dict[str, Any]:
        partner = await partner_service.get_partner(session, partner_id=pid)
        key = await partner_service.rotate_partner_key(session, partner=partner)
        return {"id": str(partner.id), "api_key": key}

    _print_json(_run_db(settings, work))


@partner_app.command("deactivate")
def partner_deactivate(partner_id: Annotated[str, typer.Argument(help="Partner id")]) -> None:
    """Refuse the partner's API calls (401) until re-activated with `update --activate`."""
    settings = _settings()
    pid = _parse_uuid(partner_id)

    async def work(session: AsyncSession) -> dict[str, Any]:
        partner = await partner_service.get_partner(session, partner_id=pid)
        await partner_service.set_operator_fields(session, partner=partner, is_active=False)
        return _partner_json(partner)

    _print_json(_run_db(settings, work))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
