"""The website targets an agent checks: the [[websites]] tables of agent.toml and the provincial list."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.messages import Identifier
from shared.validation import format_validation_error

PROVINCIAL_TARGETS_FILE = Path(__file__).with_name("provincial_opds.toml")


class WebsiteTarget(BaseModel):
    """One OPD website to check, as written under [[websites]] in agent.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    url: str = Field(max_length=2048)
    opd: str = Field("", max_length=256)
    stale_after_days: int = Field(30, ge=1, le=3650)
    interval_s: float = Field(300.0, ge=10, le=86400)
    timeout_s: float = Field(10.0, gt=0, le=120)
    slow_after_ms: float = Field(3000.0, gt=0)
    max_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Cap on any one body the checker reads.")
    max_redirects: int = Field(5, ge=0, le=20)
    tls_warn_days: tuple[int, ...] = Field((21, 14, 7), min_length=1, max_length=8)
    ca_file: Path | None = Field(None, description="Extra CA bundle to trust instead of the system store.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host name")
        return value.strip()

    @field_validator("tls_warn_days")
    @classmethod
    def _descending(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(days < 0 for days in value):
            raise ValueError("days must not be negative")
        return tuple(sorted(set(value), reverse=True))


class WebsitesFile(BaseModel):
    """A TOML file holding only website targets, like the provincial list run on the central host."""

    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, Any] = Field(default_factory=dict)
    websites: list[WebsiteTarget] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("defaults"), dict):
            defaults = data["defaults"]
            sites = data.get("websites", [])
            if isinstance(sites, list):
                data = {**data, "websites": [{**defaults, **site} if isinstance(site, dict) else site
                                             for site in sites]}
        return data

    @model_validator(mode="after")
    def _unique_ids(self) -> WebsitesFile:
        seen: set[str] = set()
        for target in self.websites:
            if target.id in seen:
                raise ValueError(f"website id {target.id!r} appears twice")
            seen.add(target.id)
        return self


class WebsiteConfigError(ValueError):
    """A websites file that cannot be used, with one 'file:key: problem' line per error."""


def load_website_targets(path: Path) -> list[WebsiteTarget]:
    """Read ``[defaults]`` and ``[[websites]]`` from a TOML file; errors name the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise WebsiteConfigError(f"{path}: {error}") from None
    try:
        return WebsitesFile.model_validate(data).websites
    except ValidationError as error:
        raise WebsiteConfigError(format_validation_error(error, str(path))) from None


def provincial_targets() -> list[WebsiteTarget]:
    """The provincial OPD websites, checked by the agent that runs on the central host."""
    return load_website_targets(PROVINCIAL_TARGETS_FILE)
