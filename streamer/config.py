"""Settings: one object, read from ``STREAMER_*`` variables and an optional ``.env``, passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamer.errors import ConfigError

PLACEHOLDER_TOKENS = {"", "changeme", "change-me", "secret", "token", "admin", "password", "xxx"}


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
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_path_style: bool = False
    s3_presign: bool = False
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
    webhooks: list[str] = []
    webhook_secret: SecretStr = SecretStr("")

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
        """The admin token; refuses an empty or placeholder one outside development."""
        token = self.admin_token.get_secret_value()
        weak = token.strip().lower() in PLACEHOLDER_TOKENS or len(token) < 8
        if weak and self.env != "development":
            raise ConfigError(
                "STREAMER_ADMIN_TOKEN is empty or a placeholder; set a long random token"
            )
        return token
