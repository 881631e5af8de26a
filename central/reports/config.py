"""The typed [reports] section of central.toml: language, compliance threshold and the monthly e-mail."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReportsConfig(BaseModel):
    """[reports]: language, compliance threshold and the monthly e-mail."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["id", "en"] = "id"
    timezone: str = "Asia/Jakarta"
    website_max_days_since_update: int = Field(
        7, ge=1, description="An OPD website older than this is not compliant."
    )
    monthly_email_to: list[str] = Field(default_factory=list)
    monthly_day: int = Field(1, ge=1, le=28, description="Day of month the previous month is sent.")
    monthly_hour: int = Field(7, ge=0, le=23, description="Local hour the monthly report is sent.")
