"""Settings: one object, read from ``STREAMER_*`` variables and an optional ``.env``, passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamer.errors import ConfigError

PLACEHOLDER_TOKENS = {"", "changeme", "change-me", "secret", "token", "admin", "password", "xxx"}
MIN_TOKEN_CHARS = 32
MAKE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'  # noqa: S105


class Settings(BaseSettings):
    """Every knob of the service. Environment variables are ``STREAMER_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    schedules: Path = Path("schedules")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite in the data dir by default"
    )
    storage: str | None = Field(
        default=None, description="file:///path or s3://bucket/prefix; data_dir/public by default"
    )
    public_base_url: str | None = Field(
        default=None, description="base URL (CDN) under which stored objects are public"
    )
    site_url: str | None = Field(
        default=None, description="public URL of the viewer (links to pages); relative if unset"
    )
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_path_style: bool = False
    s3_presign: bool = False
    # sign bodies too (SigV4), for a plain-HTTP S3 endpoint on a network you do not trust
    s3_sign_payload: bool = False
    s3_part_size_mb: int = Field(default=16, ge=5)
    s3_concurrency: int = Field(default=8, ge=1)
    s3_retry_total_s: float = Field(
        default=300.0, gt=0, description="how long one S3 operation may keep failing"
    )
    s3_presign_expires_s: int = Field(default=7 * 24 * 3600, ge=1, le=7 * 24 * 3600)
    admin_token: SecretStr = SecretStr("")
    cors_origins: list[str] = ["*"]
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # scale-out: "thread" runs stages in this process; "procrastinate" queues them in
    # PostgreSQL (STREAMER_DATABASE_URL) for `streamer worker` processes on any machine
    runner: Literal["thread", "procrastinate"] = "thread"
    capture_lease_s: float = Field(
        default=30.0, ge=1, description="a capture lease not renewed for this long passes on"
    )
    raw_storage: str | None = Field(
        default=None,
        description="where capture workers ship raw segments so any machine can split them"
        " (s3://bucket/prefix or file:///shared); unset: recordings stay on their machine",
    )
    raw_prefix: str = "raw"

    # capture
    watch_lead_s: float = 15 * 60
    late_limit_s: float = 60 * 60
    watch_poll_s: float = 30.0
    stall_timeout_s: float = 60.0
    max_height: int = 1080
    cookies_file: Path | None = None
    js_runtimes: list[str] = Field(
        default=["deno", "node"],
        description="JavaScript runtimes yt-dlp may use for YouTube (deno, node, bun, quickjs)",
    )
    # split / publish
    grace_s: float = 120.0
    pad_s: float = 0.0
    split_mode: Literal["exact", "copy"] = "exact"
    # boundary detection (docs/cuts.md): seconds searched either side of a scheduled boundary
    cut_radius_s: float = Field(default=15 * 60.0, gt=0)
    # cut_policy auto: a suggestion at or above this confidence is published without review
    auto_cut_confidence: float = Field(default=0.5, ge=0, le=1)
    webhooks: list[str] = []
    webhook_secret: SecretStr = SecretStr("")
    # security (docs/security.md)
    allow_private_sources: bool = Field(
        default=False,
        description="fetch sources and webhooks on loopback/private/link-local addresses too",
    )
    source_allowlist: list[str] = Field(
        default=[], description="hosts and CIDRs allowed although not public (JSON list)"
    )
    http_header_timeout_s: float = Field(
        default=10.0, gt=0, description="a client must send its request headers within this"
    )
    http_keepalive_s: float = Field(default=5.0, gt=0, description="idle keep-alive limit")
    http_max_connections: int = Field(default=1000, ge=1, description="open connections cap")

    @field_validator("data_dir", "schedules")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        # absolute from the start: subprocesses and scripts must not depend on the cwd
        return value.expanduser().absolute()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'streamer.db').resolve()}"

    @property
    def storage_url(self) -> str:
        return self.storage or (self.data_dir / "public").resolve().as_uri()

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def vods_dir(self) -> Path:
        return self.data_dir / "vods"

    def admin_token_value(self) -> str:
        """The admin token, exactly as configured (no stripping).

        Empty disables the admin API, which only development allows. A configured token must
        be at least MIN_TOKEN_CHARS long and not a placeholder, in every environment.
        """
        token = self.admin_token.get_secret_value()
        if not token:
            if self.env != "development":
                raise ConfigError(f"STREAMER_ADMIN_TOKEN is empty; make one with: {MAKE_TOKEN}")
            return token
        if token.strip().lower() in PLACEHOLDER_TOKENS or len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(
                f"STREAMER_ADMIN_TOKEN is a placeholder or shorter than {MIN_TOKEN_CHARS}"
                f" characters; make one with: {MAKE_TOKEN}"
            )
        if token != token.strip():
            raise ConfigError("STREAMER_ADMIN_TOKEN starts or ends with whitespace; remove it")
        return token
