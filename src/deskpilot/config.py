"""Settings: the only reader of the environment (and of `.env`).

Every value is documented in `.env.example`; `Settings` is built once by the CLI or the
test harness and handed to `create_app`, never read at import time.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from deskpilot import __version__

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "development"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    ENVIRONMENT: Literal["development", "production", "test"] = "development"
    DATA_DIR: Path = Path("data")
    # Empty means the SQLite file `DATA_DIR/deskpilot.db`.
    DATABASE_URL: str = ""
    DATABASE_POOL_SIZE: int = Field(default=10, ge=1, le=200)
    # Signs contact tokens and dashboard CSRF tokens. Generated into DATA_DIR when empty
    # in development; must be set explicitly in production.
    SECRET_KEY: str = ""
    # Public origin used to build login links (`https://support.example.com`).
    PUBLIC_URL: str = "http://127.0.0.1:8000"
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    LOG_FORMAT: Literal["console", "json"] = "console"
    # Redis makes rate limits and live events (and jobs, see JOBS_BACKEND) shared by every process.
    REDIS_URL: str = ""
    # Peers whose X-Forwarded-For / X-Forwarded-Proto headers are believed (CIDRs).
    TRUSTED_PROXIES: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    MAX_BODY_BYTES: int = Field(default=1024 * 1024, ge=1024)
    LOGIN_LINK_TTL_SECONDS: int = Field(default=15 * 60, ge=60, le=24 * 3600)
    DASHBOARD_SESSION_TTL_HOURS: int = Field(default=12, ge=1, le=24 * 30)
    # Background jobs: `inprocess` runs them inside `deskpilot serve`; `redis` hands them to
    # `deskpilot worker` processes (needs REDIS_URL).
    JOBS_BACKEND: Literal["inprocess", "redis"] = "inprocess"
    # Redis list the API servers and workers share; separate installs on one Redis need
    # different names.
    JOBS_QUEUE_NAME: str = "deskpilot:jobs"
    JOBS_CONCURRENCY: int = Field(default=2, ge=1, le=64)
    JOBS_SCHEDULER_INTERVAL_SECONDS: float = Field(default=30, gt=0)
    JOBS_LEASE_SECONDS: int = Field(default=60, ge=5)
    # A deleted org's data (rows and files) is purged for good this many days later.
    DELETED_ORG_RETENTION_DAYS: float = Field(default=30, ge=0)
    # Live updates go through Redis pub/sub when REDIS_URL is set; channels and the streams'
    # shared state live under this prefix (separate installs on one Redis need different ones).
    EVENTS_PREFIX: str = Field(default="deskpilot:events", min_length=1, max_length=100)
    # The crawler refuses private, loopback and link-local addresses unless this is true.
    CRAWLER_ALLOW_PRIVATE_NETWORKS: bool = False
    # Pages in flight per crawl; requests in flight per host; gap between request starts.
    CRAWLER_CONCURRENCY: int = Field(default=8, ge=1, le=64)
    CRAWLER_CONCURRENCY_PER_HOST: int = Field(default=4, ge=1, le=64)
    CRAWLER_POLITENESS_DELAY_SECONDS: float = Field(default=0.1, ge=0)
    CRAWLER_TIMEOUT_SECONDS: float = Field(default=20, gt=0)
    CRAWLER_MAX_PAGE_BYTES: int = Field(default=10 * 1024 * 1024, ge=1024)
    # JavaScript-built pages (next to no text, a script) are loaded in the system's headless
    # Chromium (needs the `render` extra); the last two: time per page, pages at once.
    CRAWLER_RENDER_JS: bool = False
    CRAWLER_CHROMIUM_PATH: str = "/usr/bin/chromium"
    CRAWLER_RENDER_TIMEOUT_SECONDS: float = Field(default=15, gt=0, le=120)
    CRAWLER_RENDER_CONCURRENCY: int = Field(default=2, ge=1, le=16)
    # Webhook URLs must be https and resolve to public addresses; these let an install (in
    # development) use plain http, and private, loopback and link-local addresses.
    WEBHOOKS_ALLOW_HTTP: bool = False
    WEBHOOKS_ALLOW_PRIVATE_NETWORKS: bool = False
    # One delivery attempt, connect to last byte; past it the attempt has failed.
    WEBHOOKS_TIMEOUT_SECONDS: float = Field(default=10, gt=0, le=60)
    # The pause before each retry (±20 % jitter): one attempt more than there are pauses,
    # then the delivery is `failed`.
    WEBHOOKS_RETRY_SCHEDULE_SECONDS: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [60.0, 300.0, 1800.0, 7200.0, 21600.0, 43200.0, 86400.0],
        max_length=20,
    )
    # Requests in flight at once per delivering process (the server, or each worker).
    WEBHOOKS_CONCURRENCY: int = Field(default=16, ge=1, le=256)
    # Embeddings: `local` = all-MiniLM-L6-v2 on the CPU from the installed wheel (offline);
    # `openai` = any OpenAI-compatible /v1/embeddings endpoint.
    EMBEDDINGS_PROVIDER: Literal["local", "openai"] = "local"
    EMBEDDINGS_PRECISION: Literal["int8", "fp32"] = "int8"
    EMBEDDINGS_THREADS: int = Field(default=0, ge=0, le=64)  # 0 = one per core
    EMBEDDINGS_BASE_URL: str = ""
    EMBEDDINGS_API_KEY: str = ""
    EMBEDDINGS_MODEL: str = "text-embedding-3-small"
    EMBEDDINGS_DIMENSION: int = Field(default=1536, ge=8)
    # The chat model that writes replies: any OpenAI-compatible endpoint. Empty base URL = the
    # offline extractive responder (no model, no network).
    LLM_BASE_URL: str = ""
    LLM_API_KEY: str = ""
    LLM_MODEL: str = "gpt-4o-mini"
    LLM_TEMPERATURE: float = Field(default=0.2, ge=0, le=2)
    LLM_MAX_TOKENS: int = Field(default=500, ge=16, le=8192)
    LLM_TIMEOUT_SECONDS: float = Field(default=60, gt=0)
    LLM_MAX_RETRIES: int = Field(default=2, ge=0, le=10)
    # Replies scoring below this (0..1) are not sent as answers: the AI asks for more or hands
    # off, per the handoff settings.
    AGENT_MIN_CONFIDENCE: float = Field(default=0.35, ge=0, le=1)
    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_PARTNER_PER_MINUTE: int = Field(default=100, ge=1)
    RATE_LIMIT_PARTNER_CREATE_ORG_PER_MINUTE: int = Field(default=20, ge=1)
    RATE_LIMIT_PARTNER_CREATE_KEY_PER_MINUTE: int = Field(default=10, ge=1)
    RATE_LIMIT_PARTNER_LOGIN_LINK_PER_MINUTE: int = Field(default=30, ge=1)
    RATE_LIMIT_PARTNER_CONSOLE_LINK_PER_MINUTE: int = Field(default=30, ge=1)
    RATE_LIMIT_ORG_PER_MINUTE: int = Field(default=100, ge=1)
    # The widget's public surface (API.md 1.8).
    RATE_LIMIT_WIDGET_PER_MINUTE: int = Field(default=120, ge=1)  # per widget token and IP
    RATE_LIMIT_WIDGET_SEND_PER_MINUTE: int = Field(default=20, ge=1)  # per contact
    RATE_LIMIT_WIDGET_CREATE_CONTACT_PER_MINUTE: int = Field(default=10, ge=1)  # per IP
    RATE_LIMIT_WIDGET_STREAM_CONNECTS_PER_MINUTE: int = Field(default=30, ge=1)  # per contact
    RATE_LIMIT_WIDGET_STREAM_CONNECTS_PER_ORG_PER_MINUTE: int = Field(default=1000, ge=1)

    @field_validator("TRUSTED_PROXIES", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("WEBHOOKS_RETRY_SCHEDULE_SECONDS", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("WEBHOOKS_RETRY_SCHEDULE_SECONDS")
    @classmethod
    def _positive_pauses(cls, value: list[float]) -> list[float]:
        if any(pause <= 0 for pause in value):
            raise ValueError("every pause must be more than 0 seconds")
        return value

    @field_validator("PUBLIC_URL")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("PUBLIC_URL must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.ENVIRONMENT == "production" and (
            self.SECRET_KEY.lower() in _PLACEHOLDER_SECRETS or len(self.SECRET_KEY) < 32
        ):
            raise ValueError("SECRET_KEY must be set to 32+ random characters in production")
        return self

    @cached_property
    def database_url(self) -> str:
        """The async URL the application uses."""
        if not self.DATABASE_URL:
            return f"sqlite+aiosqlite:///{(self.DATA_DIR / 'deskpilot.db').resolve()}"
        url = self.DATABASE_URL
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def version(self) -> str:
        return __version__

    def secret_key(self) -> str:
        """The signing secret; in development a random one is kept under DATA_DIR."""
        if self.SECRET_KEY:
            return self.SECRET_KEY
        path = self.DATA_DIR / "secret_key"
        if path.exists():
            return path.read_text().strip()
        import secrets

        self.DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
