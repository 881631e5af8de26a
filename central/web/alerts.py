"""Alert pages: firing and past alerts, acknowledge, mute, maintenance windows, channels with "send test"."""

from __future__ import annotations

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
from central.alerts.config import EmailChannel, WebhookChannel
from central.alerts.model import SubjectKind
from central.alerts.routing import list_channels
from central.alerts.service import AlertService
from central.alerts.tables import AlertChannelConfig, AlertRecord
from central.config import CentralConfig
from central.storage.models import Website
from central.web.accounts import Role
from central.web.auth import current_user, login_required, role_required
from central.web.database import db_session, get_database, released
from central.web.i18n import local_zone
from central.web.redirects import safe_next
from central.web.templating import Words, add_nav_item
from shared.messages import utc_now
from shared.regencies import all_regencies

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


def _common() -> dict[str, Any]:
    return {"regencies": all_regencies(), "now": utc_now()}


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    session = db_session()
    status = request.args.get("status", "firing")
    regency = request.args.get("regency") or None
    page = queries.list_alerts(session, status=status, regency=regency, limit=200)
    return render_template(
        "alerts/index.html",
        alerts=page.items,
        sites=_websites_of(session, page.items),
        total=page.total,
        status=status,
        regency=regency,
        silences=queries.active_silences(session, utc_now()),
        deliveries=queries.deliveries(session, limit=30),
        **_common(),
    )


@bp.get("/<alert_id>")
@login_required
def detail(alert_id: str) -> ResponseReturnValue:
    session = db_session()
    alert = queries.get_alert(session, alert_id)
    if alert is None:
        abort(404)
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
    alert = queries.get_alert(session, alert_id)
    if alert is None:
        abort(404)
    queries.acknowledge(session, alert, _who(), utc_now())
    session.commit()
    flash(_("Alert acknowledged."), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("alerts.index")))


@bp.post("/<alert_id>/mute")
@role_required(Role.OPERATOR)
def mute(alert_id: str) -> ResponseReturnValue:
    session = db_session()
    alert = queries.get_alert(session, alert_id)
    if alert is None:
        abort(404)
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
    if not queries.end_silence(session, silence_id, utc_now()):
        abort(404)
    session.commit()
    return redirect(url_for("alerts.index"))


@bp.get("/channels")
@role_required(Role.ADMIN)
def channels() -> ResponseReturnValue:
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
    raise ValueError("kind must be webhook or email")


@bp.post("/channels")
@role_required(Role.ADMIN)
def add_channel() -> ResponseReturnValue:
    session = db_session()
    name = request.form.get("name", "").strip()
    try:
        kind, settings = _channel_settings(request.form)
        model = WebhookChannel if kind == "webhook" else EmailChannel
        model.model_validate({**settings, "name": name})
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
