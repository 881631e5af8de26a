"""Alert pages: firing and past alerts, acknowledge, mute, maintenance windows, channels with "send test"."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.alerts import queries
from central.alerts.config import WebhookChannel
from central.alerts.destinations import UnresolvedHost, resolve
from central.alerts.model import SubjectKind
from central.alerts.routing import CHANNEL_MODELS, list_channels
from central.alerts.service import AlertService
from central.alerts.tables import AlertChannelConfig, AlertRecord
from central.config import CentralConfig
from central.reports.periods import FIRST_YEAR, LAST_YEAR
from central.storage.models import IDENTIFIER_LENGTH, SilenceRecord, Website
from central.web import scope
from central.web.accounts import Role
from central.web.auth import current_user, login_required, role_required
from central.web.database import db_session, get_database, released
from central.web.i18n import local_zone
from central.web.redirects import safe_next
from central.web.templating import Words, add_nav_item
from shared.messages import utc_now
from shared.regencies import PROVINCE_CODE, all_regencies

bp = Blueprint("alerts", __name__, url_prefix="/alerts")
add_nav_item("alerts.index", _l("Alerts"))

# Stored values stay English (API, webhooks); people read them in the page's language.
SEVERITY_WORDS = {"info": _l("info"), "warning": _l("warning"), "critical": _l("critical")}
ALERT_STATE_WORDS = {"firing": _l("firing"), "resolved": _l("resolved")}
DELIVERY_STATE_WORDS = {"pending": _l("pending"), "sent": _l("sent"), "failed": _l("failed")}
# The rules' titles for people (notifications keep central.alerts.notices.RULE_TITLES_ID, in Indonesian).
RULE_TITLE_WORDS = {
    "camera_offline": _l("Camera offline"),
    "camera_degraded": _l("Camera quality degraded"),
    "agent_offline": _l("Agent offline"),
    "website_down": _l("Website unreachable"),
    "website_stale": _l("Website not updated"),
    "website_certificate": _l("TLS certificate expiring soon"),
    "host_disk": _l("Agent disk nearly full"),
    "host_temperature": _l("Agent box running hot"),
    "regency_outage": _l("Cameras out across the regency"),
    "test": _l("Notification channel test"),
}


@bp.record_once
def _register_words(state: Any) -> None:
    state.app.jinja_env.globals.update(
        SEVERITY_WORDS=Words("severity", SEVERITY_WORDS),
        ALERT_STATE_WORDS=Words("alert_state", ALERT_STATE_WORDS),
        DELIVERY_STATE_WORDS=Words("delivery_state", DELIVERY_STATE_WORDS),
        RULE_TITLES=Words("rule_titles", RULE_TITLE_WORDS),
    )


MUTE_CHOICES = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "24h": timedelta(hours=24),
    "forever": None,
}


def _config() -> CentralConfig:
    config: CentralConfig = current_app.config["SCC"]
    return config


def _who() -> str:
    user = current_user()
    return user.name if user is not None else ""


def _local(text: str) -> datetime | None:
    """A datetime-local form value, read in the configured web zone (the command room's clock)."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    if not FIRST_YEAR <= value.year <= LAST_YEAR:  # year 1 or 9999 overflow when converted to UTC
        raise ValueError(f"{text}: the year must be between {FIRST_YEAR} and {LAST_YEAR}")
    return value.replace(tzinfo=local_zone()) if value.tzinfo is None else value


def _websites_of(session: Session, alerts: list[AlertRecord]) -> dict[str, Website]:
    """The website rows behind website alerts, by subject id (``agent/website_id``), to name them by office.

    The stored subject_label is frozen when the alert fires; the page names a site as the websites
    page does now, so an office entered later shows up on old alerts too.
    """
    wanted = {a.subject_id for a in alerts if a.subject_kind == SubjectKind.WEBSITE.value}
    if not wanted:
        return {}
    agents = {subject.partition("/")[0] for subject in wanted}
    sites = session.scalars(select(Website).where(Website.agent_name.in_(agents)))
    return {key: site for site in sites if (key := f"{site.agent_name}/{site.website_id}") in wanted}


def _alert(session: Session, alert_id: str) -> AlertRecord:
    """The alert, if it exists and is of the caller's regencies; else 404."""
    alert = queries.get_alert(session, alert_id[:IDENTIFIER_LENGTH])
    if alert is None or not scope.sees(alert.regency_code):
        abort(404)
    return alert


def _target_regency(session: Session, target_kind: str, target: str) -> str | None:
    """The regency a silence target belongs to: a regency code, or its agent's regency (``agent[/id]``)."""
    if target_kind == SubjectKind.REGENCY.value:
        return target
    agent = target.partition("/")[0]
    return scope.agent_regencies(session, [agent]).get(agent)


def _visible_silences(session: Session, silences: list[SilenceRecord]) -> list[SilenceRecord]:
    if scope.province_wide():
        return silences
    return [s for s in silences if scope.sees(_target_regency(session, s.target_kind, s.target))]


@dataclass(frozen=True, slots=True)
class _Owner:
    code: str
    display_name: str


def alert_owners() -> list[Any]:
    """Whose alerts can be: the 17 regencies and, when configured, the province's own offices ("16")."""
    province = current_app.config["SCC"].province
    offices = [_Owner(PROVINCE_CODE, province.name)] if province.agents else []
    return [*all_regencies(), *offices]


def _common() -> dict[str, Any]:
    return {"regencies": alert_owners(), "now": utc_now()}


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    session = db_session()
    status = request.args.get("status", "firing")
    regency = request.args.get("regency") or None
    page = queries.list_alerts(session, status=status, regency=regency, limit=200, within=scope.within(regency))
    return render_template(
        "alerts/index.html",
        alerts=page.items,
        sites=_websites_of(session, page.items),
        total=page.total,
        status=status,
        regency=regency,
        silences=_visible_silences(session, queries.active_silences(session, utc_now())),
        # Deliveries name channels and subjects across the province.
        deliveries=queries.deliveries(session, limit=30) if scope.province_wide() else [],
        **_common(),
    )


@bp.get("/<alert_id>")
@login_required
def detail(alert_id: str) -> ResponseReturnValue:
    session = db_session()
    alert = _alert(session, alert_id)
    return render_template(
        "alerts/detail.html",
        alert=alert,
        sites=_websites_of(session, [alert]),
        deliveries=queries.deliveries(session, alert_pk=alert.id),
        **_common(),
    )


@bp.post("/<alert_id>/ack")
@role_required(Role.OPERATOR)
def acknowledge(alert_id: str) -> ResponseReturnValue:
    session = db_session()
    alert = _alert(session, alert_id)
    queries.acknowledge(session, alert, _who(), utc_now())
    session.commit()
    flash(_("Alert acknowledged."), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("alerts.index")))


@bp.post("/<alert_id>/mute")
@role_required(Role.OPERATOR)
def mute(alert_id: str) -> ResponseReturnValue:
    session = db_session()
    alert = _alert(session, alert_id)
    choice = request.form.get("duration", "4h")
    if choice not in MUTE_CHOICES:
        abort(400, description="unknown mute duration")
    now = utc_now()
    duration = MUTE_CHOICES[choice]
    queries.add_silence(
        session,
        kind="mute",
        target_kind=alert.subject_kind,
        target=alert.subject_id,
        starts_at=now,
        ends_at=now + duration if duration else None,
        rule=alert.rule,
        reason=request.form.get("reason", ""),
        who=_who(),
    )
    session.commit()
    flash(_("Muted."), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("alerts.index")))


@bp.post("/silences")
@role_required(Role.OPERATOR)
def add_silence() -> ResponseReturnValue:
    session = db_session()
    form = request.form
    if not scope.sees(_target_regency(session, form.get("target_kind", "regency"), form.get("target", ""))):
        abort(404, description="this target is not in your regencies")
    try:
        starts_at = _local(form.get("starts_at", "")) or utc_now()
        queries.add_silence(
            session,
            kind=form.get("kind", "maintenance"),
            target_kind=form.get("target_kind", "regency"),
            target=form.get("target", ""),
            starts_at=starts_at,
            ends_at=_local(form.get("ends_at", "")),
            rule=form.get("rule") or None,
            reason=form.get("reason", ""),
            who=_who(),
        )
    except ValueError as error:
        flash(str(error), "error")
        return redirect(url_for("alerts.index"))
    session.commit()
    flash(_("Saved."), "ok")
    return redirect(url_for("alerts.index"))


@bp.post("/silences/<int:silence_id>/end")
@role_required(Role.OPERATOR)
def end_silence(silence_id: int) -> ResponseReturnValue:
    session = db_session()
    silence = session.get(SilenceRecord, silence_id)
    if silence is None or not _visible_silences(session, [silence]):
        abort(404)
    if not queries.end_silence(session, silence_id, utc_now()):
        abort(404)
    session.commit()
    return redirect(url_for("alerts.index"))


@bp.get("/channels")
@role_required(Role.ADMIN)
def channels() -> ResponseReturnValue:
    scope.require_province()  # channels carry every regency's alerts
    session = db_session()
    return render_template(
        "alerts/channels.html",
        channels=list_channels(_config().alerts, queries.channel_rows(session)),
        deliveries=queries.deliveries(session, limit=30),
        smtp_host=_config().alerts.smtp.host,
        **_common(),
    )


def _channel_settings(form: Any) -> tuple[str, dict[str, Any]]:
    kind = form.get("kind", "")
    common: dict[str, Any] = {
        "min_severity": form.get("min_severity", "warning"),
        "regencies": [r for r in form.getlist("regencies") if r],
        "send_resolved": form.get("send_resolved") == "on",
    }
    if kind == "webhook":
        return kind, {**common, "url": form.get("url", ""), "secret": form.get("secret", "")}
    if kind == "email":
        recipients = [r.strip() for r in form.get("to", "").replace(";", ",").split(",") if r.strip()]
        return kind, {**common, "to": recipients}
    if kind == "apprise":
        return kind, {**common, "url": form.get("url", "")}
    raise ValueError("kind must be webhook, email or apprise")


def _check_webhook_target(channel: WebhookChannel) -> None:
    """Refuse an internal target now; one that does not resolve yet is left to the check at every send."""
    url = channel.url
    with released(), contextlib.suppress(UnresolvedHost):  # no write lock held over a DNS lookup
        resolve(url.host or "", url.port or 443, _config().alerts.webhook_allowed_networks)


@bp.post("/channels")
@role_required(Role.ADMIN)
def add_channel() -> ResponseReturnValue:
    scope.require_province()  # channels carry every regency's alerts
    session = db_session()
    name = request.form.get("name", "").strip()
    try:
        kind, settings = _channel_settings(request.form)
        channel = CHANNEL_MODELS[kind].model_validate({**settings, "name": name})
        if isinstance(channel, WebhookChannel):
            _check_webhook_target(channel)
    except (ValueError, ValidationError) as error:
        flash(_("Channel not saved: %(error)s", error=str(error).splitlines()[0]), "error")
        return redirect(url_for("alerts.channels"))
    if name in {c.name for c in list_channels(_config().alerts, queries.channel_rows(session))}:
        flash(_("A channel with this name exists."), "error")
        return redirect(url_for("alerts.channels"))
    session.add(AlertChannelConfig(name=name, kind=kind, enabled=True, settings=settings,
                                   updated_at=utc_now(), updated_by=_who()))  # fmt: skip
    session.commit()
    flash(_("Channel saved."), "ok")
    return redirect(url_for("alerts.channels"))


@bp.post("/channels/<int:channel_id>/delete")
@role_required(Role.ADMIN)
def delete_channel(channel_id: int) -> ResponseReturnValue:
    scope.require_province()  # channels carry every regency's alerts
    session = db_session()
    row = session.get(AlertChannelConfig, channel_id)
    if row is None:
        abort(404)
    session.delete(row)
    session.commit()
    return redirect(url_for("alerts.channels"))


@bp.post("/channels/<name>/test")
@role_required(Role.ADMIN)
def test_channel(name: str) -> ResponseReturnValue:
    scope.require_province()  # channels carry every regency's alerts
    names = {c.name for c in list_channels(_config().alerts, queries.channel_rows(db_session())) if c.enabled}
    if name not in names:
        abort(404)
    # The service commits in a session of its own; the request's transaction (and on SQLite its
    # write lock) ends first, or the queueing would wait on this very request.
    with released():
        AlertService(_config(), get_database()).queue_test(name, _who())
    flash(_("Test queued; `alerts run` sends it within %(s)d s. Its result appears below.",
            s=int(_config().alerts.interval_s)), "ok")  # fmt: skip
    return redirect(url_for("alerts.channels"))
