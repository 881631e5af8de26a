"""The typed [reports] section of central.toml: language, compliance threshold and the monthly e-mail."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.regencies import PROVINCE_CODE, is_regency_code


class ReportsConfig(BaseModel):
    """[reports]: language, compliance threshold and the monthly e-mail."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["id", "en"] = "id"
    timezone: str = "Asia/Jakarta"
    website_max_days_since_update: int = Field(
        7, ge=1, description="An OPD website older than this is not compliant."
    )
    monthly_email_to: list[str] = Field(default_factory=list, description="Receive the province's report.")
    regency_email_to: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Per regency code, who receives a report of that regency only: {"16.71" = ["a@b"]}; '
        '"16" is the province\'s own offices ([province] agents).',
    )
    monthly_day: int = Field(1, ge=1, le=28, description="Day of month the previous month is sent.")
    monthly_hour: int = Field(7, ge=0, le=23, description="Local hour the monthly report is sent.")

    @field_validator("regency_email_to")
    @classmethod
    def _known_regencies(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(code for code in value if not (is_regency_code(code) or code == PROVINCE_CODE))
        if unknown:
            raise ValueError(f"not a regency code of South Sumatra: {', '.join(unknown)} (e.g. 16.71)")
        empty = sorted(code for code, addresses in value.items() if not addresses)
        if empty:
            raise ValueError(
                f"no recipients for {', '.join(empty)}: list at least one address or leave it out"
            )
        return value
