"""The typed [alerts] section of central.toml: rules, grouping, channels, delivery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    IPvAnyNetwork,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

from central.mail import SmtpConfig
from central.redact import display_url
from shared.messages import AlertSeverity


class _Section(BaseModel):
    # central.config's Section cannot be imported here (it imports us); same rule: no unknown keys.
    model_config = ConfigDict(extra="forbid")


class Hysteresis(_Section):
    """Fire after ``fire_after_minutes`` continuously bad; resolve after ``resolve_after_minutes`` good."""

    fire_after_minutes: float = Field(ge=0)
    resolve_after_minutes: float = Field(5.0, ge=0)


class CameraThresholdOverride(_Section):
    """Thresholds for a group of cameras; the most specific match wins (camera > OPD > regency)."""

    cameras: list[str] = Field(default_factory=list, description="'agent/camera' or bare camera ids.")
    opds: list[str] = Field(default_factory=list)
    regencies: list[str] = Field(default_factory=list)
    offline_minutes: float | None = Field(None, ge=0)
    degraded_minutes: float | None = Field(None, ge=0)


class CameraRules(_Section):
    offline: Hysteresis = Hysteresis(fire_after_minutes=10)
    degraded: Hysteresis = Hysteresis(fire_after_minutes=30)
    overrides: list[CameraThresholdOverride] = Field(default_factory=list)


class AgentRules(_Section):
    offline: Hysteresis = Hysteresis(fire_after_minutes=5)
    # Its reports are being quarantined (new schema, clock ahead, cameras never inventoried...).
    refused: Hysteresis = Hysteresis(fire_after_minutes=5, resolve_after_minutes=20)
    # It stamps its reports ahead of central's clock by more than ingest.clock_flag_s.
    clock: Hysteresis = Hysteresis(fire_after_minutes=5)


class WebsiteRules(_Section):
    down: Hysteresis = Hysteresis(fire_after_minutes=15)
    stale: Hysteresis = Hysteresis(fire_after_minutes=60, resolve_after_minutes=0)
    certificate: Hysteresis = Hysteresis(fire_after_minutes=0, resolve_after_minutes=0)
    certificate_warning_days: int = Field(14, ge=0)
    certificate_critical_days: int = Field(3, ge=0)


class HostRules(_Section):
    disk: Hysteresis = Hysteresis(fire_after_minutes=10)
    disk_percent: float = Field(90.0, gt=0, le=100)
    temperature: Hysteresis = Hysteresis(fire_after_minutes=10)
    temperature_c: float = Field(80.0, gt=0)


class GroupingConfig(_Section):
    """Many cameras of one regency failing together become one regency alert (Alertmanager-style)."""

    enabled: bool = True
    min_cameras: int = Field(5, ge=2, description="This many cameras failing together make an outage.")
    min_fraction: float = Field(
        0.5, gt=0, le=1, description="...or this share of the regency's cameras (with at least 2)."
    )
    window_minutes: float = Field(10.0, gt=0, description="Failures this close together count as one.")


class RulesConfig(_Section):
    camera: CameraRules = CameraRules()
    agent: AgentRules = AgentRules()
    website: WebsiteRules = WebsiteRules()
    host: HostRules = HostRules()


class ChannelFilter(_Section):
    """Which alerts a channel receives; empty lists mean all."""

    min_severity: AlertSeverity = AlertSeverity.WARNING
    regencies: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    send_resolved: bool = True


class WebhookChannel(ChannelFilter):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    url: HttpUrl
    secret: SecretStr = Field(SecretStr(""), description="HMAC-SHA256 key for the signature header.")
    timeout_s: float = Field(10.0, gt=0)

    # Slack, Teams and Telegram put the token in the URL's path or query: a repr or JSON dump shows the host only.
    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, display_url(str(value)) if name == "url" else value

    @field_serializer("url", when_used="json")
    def _masked_in_json(self, url: HttpUrl) -> str:
        return display_url(str(url))


class EmailChannel(ChannelFilter):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    to: list[str] = Field(min_length=1)


class AppriseChannel(ChannelFilter):
    """Any service Apprise speaks (Telegram, WhatsApp, Discord, Slack, Matrix, ntfy, e-mail...) by its URL.

    The URL usually carries the service's token (``tgram://TOKEN/CHAT``): it is a secret, shown and
    logged only as ``scheme://…``.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    url: SecretStr = Field(description="An Apprise URL, e.g. tgram://TOKEN/CHAT_ID or ntfy://host/topic.")

    @field_validator("url")
    @classmethod
    def _apprise_understands_it(cls, url: SecretStr) -> SecretStr:
        import apprise  # loaded when a channel uses it: its plugins cost every process a second otherwise

        if not apprise.Apprise().add(url.get_secret_value()):
            raise ValueError(f"not a URL Apprise can send to ({apprise_display(url.get_secret_value())})")
        return url


def apprise_display(url: str) -> str:
    """``scheme://…``: an Apprise URL's host, path and query may all be the service's token."""
    scheme, separator, _ = url.partition("://")
    return f"{scheme}://…" if separator and scheme.isalnum() else "…"


class MqttChannel(ChannelFilter):
    """AlertEvent on scc/v1/public/alerts, through the broker in [broker] with central's certificate."""

    enabled: bool = False
    publish_timeout_s: float = Field(10.0, gt=0)


class DeliveryConfig(_Section):
    """Outbox retries: wait ``backoff_initial_s`` doubling up to ``backoff_max_s``; give up after N."""

    max_attempts: int = Field(6, ge=1)
    backoff_initial_s: float = Field(30.0, gt=0)
    backoff_max_s: float = Field(3600.0, gt=0)
    batch_size: int = Field(50, ge=1)


class AlertsConfig(_Section):
    """[alerts]: the evaluator loop, its rules, grouping, and where notifications go."""

    enabled: bool = True
    interval_s: float = Field(30.0, gt=0, description="How often `alerts run` evaluates and delivers.")
    rules: RulesConfig = RulesConfig()
    grouping: GroupingConfig = GroupingConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    smtp: SmtpConfig = SmtpConfig()
    webhooks: list[WebhookChannel] = Field(default_factory=list)
    email: list[EmailChannel] = Field(default_factory=list)
    apprise: list[AppriseChannel] = Field(default_factory=list)
    mqtt: MqttChannel = MqttChannel()
    public_url: str = Field("", description="Base URL of the web app, for links in notifications.")
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Internal networks webhooks may reach (e.g. '10.20.0.0/16'); loopback, link-local and "
        "private addresses are refused otherwise.",
    )

    @model_validator(mode="after")
    def _channel_names_unique(self) -> AlertsConfig:
        names = [c.name for c in self.webhooks] + [c.name for c in self.email] + [c.name for c in self.apprise]
        names.append("mqtt")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"channel names must be unique (and not 'mqtt'): {', '.join(duplicates)}")
        return self
