"""Which channels exist (central.toml plus the admin pages) and which of them an alert goes to."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from central.alerts.config import (
    AlertsConfig,
    AppriseChannel,
    ChannelFilter,
    EmailChannel,
    WebhookChannel,
    apprise_display,
)
from central.alerts.senders import AppriseSender, EmailSender, MqttSender, Sender, WebhookSender
from central.alerts.tables import AlertChannelConfig
from central.config import BrokerConfig
from central.mail import SmtpMailer
from central.redact import display_url
from shared.messages import AlertSeverity

log = logging.getLogger(__name__)

SEVERITY_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A channel as the admin page lists it: where it came from and whether it can be edited."""

    name: str
    kind: str
    source: str  # "central.toml" or "admin"
    enabled: bool
    target: str  # recipients, or the URL down to its host (Apprise: its scheme): URLs carry tokens
    filter: ChannelFilter
    db_id: int | None = None


def accepts(channel: ChannelFilter, rule: str, severity: str, regency: str | None, state: str) -> bool:
    if state == "resolved" and not channel.send_resolved:
        return False
    if SEVERITY_RANK[AlertSeverity(severity)] < SEVERITY_RANK[channel.min_severity]:
        return False
    if channel.regencies and regency not in channel.regencies:
        return False
    return not channel.rules or rule in channel.rules


# The kinds of channel an admin can add, by the ``kind`` stored with them.
CHANNEL_MODELS: dict[str, type[WebhookChannel | EmailChannel | AppriseChannel]] = {
    "webhook": WebhookChannel,
    "email": EmailChannel,
    "apprise": AppriseChannel,
}


def target_of(channel: WebhookChannel | EmailChannel | AppriseChannel) -> str:
    """Where a channel sends, as the admin page may show it: never a token."""
    if isinstance(channel, WebhookChannel):
        return display_url(str(channel.url))
    if isinstance(channel, AppriseChannel):
        return apprise_display(channel.url.get_secret_value())
    return ", ".join(channel.to)


def parse_db_channel(row: AlertChannelConfig) -> WebhookChannel | EmailChannel | AppriseChannel | None:
    """The typed channel of an admin-added row, or None (logged) when its settings no longer validate."""
    settings: dict[str, Any] = {**row.settings, "name": row.name}
    model = CHANNEL_MODELS.get(row.kind)
    if model is None:
        log.warning("channel %s has unknown kind %r, skipped", row.name, row.kind)
        return None
    try:
        return model.model_validate(settings)
    except ValidationError as error:
        log.warning("channel %s from the admin pages is invalid, skipped: %s", row.name, error.error_count())
        return None


def list_channels(config: AlertsConfig, db_rows: Iterable[AlertChannelConfig]) -> list[ChannelInfo]:
    channels: list[ChannelInfo] = []
    for hook in config.webhooks:
        channels.append(
            ChannelInfo(hook.name, "webhook", "central.toml", True, display_url(str(hook.url)), hook)
        )
    for mail in config.email:
        channels.append(ChannelInfo(mail.name, "email", "central.toml", True, target_of(mail), mail))
    for service in config.apprise:
        channels.append(ChannelInfo(service.name, "apprise", "central.toml", True, target_of(service), service))
    channels.append(
        ChannelInfo("mqtt", "mqtt", "central.toml", config.mqtt.enabled, "scc/v1/public/alerts", config.mqtt)
    )
    taken = {c.name for c in channels}
    for row in db_rows:
        parsed = parse_db_channel(row)
        if parsed is None or parsed.name in taken:
            continue
        channels.append(ChannelInfo(row.name, row.kind, "admin", row.enabled, target_of(parsed), parsed, row.id))
    return channels


def build_senders(
    config: AlertsConfig, broker: BrokerConfig, channels: Iterable[ChannelInfo]
) -> dict[str, tuple[ChannelInfo, Sender]]:
    """A sender for each enabled channel, keyed by name."""
    mailer = SmtpMailer(config.smtp)
    senders: dict[str, tuple[ChannelInfo, Sender]] = {}
    for info in channels:
        if not info.enabled:
            continue
        sender: Sender
        if isinstance(info.filter, WebhookChannel):
            sender = WebhookSender(info.filter, allowed=config.webhook_allowed_networks)
        elif isinstance(info.filter, EmailChannel):
            sender = EmailSender(info.filter, mailer, config.public_url)
        elif isinstance(info.filter, AppriseChannel):
            sender = AppriseSender(info.filter, config.public_url, allowed=config.webhook_allowed_networks)
        else:
            sender = MqttSender(config.mqtt, broker)
        senders[info.name] = (info, sender)
    return senders
