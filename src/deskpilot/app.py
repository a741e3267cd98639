"""`create_app(settings)`: the FastAPI application, its lifespan state, routers and handlers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from deskpilot import db as database
from deskpilot import events, health
from deskpilot.analytics import routes as analytics_routes
from deskpilot.auth import routes as auth_routes
from deskpilot.config import Settings
from deskpilot.contacts import routes as contacts_routes
from deskpilot.conversations import routes as conversations_routes
from deskpilot.crawl import routes as crawl_routes
from deskpilot.crawl import tasks as crawl_tasks
from deskpilot.crawl.resources import LazyEmbedder, close_resources, warn_if_render_unavailable
from deskpilot.dashboard import pages as dashboard_pages
from deskpilot.deps import AppState
from deskpilot.error_handlers import install_error_handlers
from deskpilot.events import create_event_bus
from deskpilot.jobs import TaskContext, create_queue
from deskpilot.knowledge.service import KnowledgeBase
from deskpilot.logging import configure_logging
from deskpilot.middleware import (
    BodySizeLimitMiddleware,
    PathCORSMiddleware,
    RequestContextMiddleware,
)
from deskpilot.org import routes as org_routes
from deskpilot.orgsettings import routes as orgsettings_routes
from deskpilot.partner import routes as partner_routes
from deskpilot.ratelimit import RateLimiter
from deskpilot.retrieval import KnowledgeIndex, Retriever
from deskpilot.tasks import TASKS, run_scheduler
from deskpilot.training import routes as training_routes
from deskpilot.webhooks import routes as webhooks_routes
from deskpilot.webhooks.tasks import stop_delivering
from deskpilot.widget import assets as widget_assets
from deskpilot.widget import routes as widget_routes

DASHBOARD_DIR = Path(__file__).parent / "dashboard"


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, minus its 422 entries: validation failures answer 400 here."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title="deskpilot API",
        version=app.version,
        description=(
            "OpenCX-compatible API of deskpilot. Every error has the body "
            "`{statusCode, message, error}`."
        ),
        routes=app.routes,
    )
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    schema["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Partner or org API key"}
    }
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warn_if_render_unavailable(settings)
        engine = database.create_engine(settings)
        bus = await create_event_bus(settings)
        # Every unit of work carries the bus, so services publish after their commit.
        sessionmaker = database.create_sessionmaker(engine, info={events.INFO_KEY: bus})
        limiter = RateLimiter(redis_url=settings.REDIS_URL, enabled=settings.RATE_LIMIT_ENABLED)
        embedder = LazyEmbedder(settings)
        index = KnowledgeIndex(dimension=embedder.dimension)
        queue = create_queue(settings, TASKS)
        knowledge = KnowledgeBase(index, Retriever(index, embedder))
        # One knowledge base per process: the API's searches and the agent's turns share it.
        context = TaskContext(
            settings=settings,
            sessionmaker=sessionmaker,
            queue=queue,
            resources={"embedder": embedder, "knowledge": knowledge, "events": bus},
        )
        await queue.start(context)
        app.state.deskpilot = AppState(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            limiter=limiter,
            templates=Jinja2Templates(directory=DASHBOARD_DIR / "templates"),
            secret_key=settings.secret_key(),
            queue=queue,
            knowledge=knowledge,
            tasks=context,
            events=bus,
        )
        scheduler = None
        if settings.JOBS_BACKEND == "inprocess":
            # This process is the only runner: jobs a previous run left behind are ours.
            await crawl_tasks.take_over_jobs(context)
            scheduler = asyncio.create_task(run_scheduler(context))
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduler
            await queue.close()
            await stop_delivering(context)
            await close_resources(context)
            await embedder.aclose()
            await limiter.close()
            await bus.close()
            await engine.dispose()

    app = FastAPI(
        title="deskpilot API",
        version=settings.version,
        lifespan=lifespan,
        openapi_url="/api-json",
        docs_url="/api",
        redoc_url=None,
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    dashboard_pages.install_page_errors(app)
    app.include_router(health.router)
    app.include_router(partner_routes.router)
    app.include_router(org_routes.router)
    app.include_router(crawl_routes.router)
    app.include_router(training_routes.router)
    app.include_router(contacts_routes.router)
    app.include_router(conversations_routes.router)
    app.include_router(orgsettings_routes.router)
    app.include_router(webhooks_routes.router)
    app.include_router(analytics_routes.router)
    app.include_router(auth_routes.router)
    app.include_router(widget_routes.auth_router)
    app.include_router(widget_routes.router)
    app.include_router(widget_assets.router)
    app.include_router(dashboard_pages.router)
    app.mount(
        "/static/dashboard",
        StaticFiles(directory=DASHBOARD_DIR / "static"),
        name="dashboard-static",
    )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.MAX_BODY_BYTES,
        limit_for=lambda path: widget_routes.body_limit(
            path, conversations_routes.body_limit(path, settings.MAX_BODY_BYTES)
        ),
    )
    app.add_middleware(
        PathCORSMiddleware,
        prefixes=(widget_routes.PREFIX + "/", "/widget.js"),
        allow_headers=["X-Bot-Token", "Authorization", "Content-Type", "Last-Event-ID"],
        expose_headers=[
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-Request-Id",
        ],
    )
    app.add_middleware(RequestContextMiddleware)
    return app
