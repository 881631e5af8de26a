"""Observations from storage: each rule's bad/good verdict per camera, agent, website and agent box."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.alerts.config import CameraRules, Hysteresis, RulesConfig
from central.alerts.model import Observation, Rule, SubjectKind, Thresholds, alert_key
from central.config import ProvinceConfig
from central.site_names import website_title
from central.storage.models import Agent, Camera, CameraStatusChange, HostMetric, Website, WebsiteStatusChange
from central.storage.quarantine import REFUSING_WINDOW, last_refusals, refusing_agents
from shared.messages import AlertSeverity


def reason_text(reason: str) -> str:
    """An alert's message for a subject in trouble: the reason code, never the agent's or device's own words.

    Alerts leave SCC (scc/v1/public/alerts, webhooks, e-mail); an agent's message may carry a camera's
    address or a raw error string, so it stays on the camera's page.
    """
    return f"alasan: {reason}" if reason else ""


def thresholds(hysteresis: Hysteresis, fire_after_minutes: float | None = None) -> Thresholds:
    fire = hysteresis.fire_after_minutes if fire_after_minutes is None else fire_after_minutes
    return Thresholds(timedelta(minutes=fire), timedelta(minutes=hysteresis.resolve_after_minutes))


def camera_fire_minutes(rules: CameraRules, camera: Camera, which: str, owner: str | None = None) -> float | None:
    """The most specific override's threshold for this camera (camera, then OPD, then its owner's code:
    its regency, or "16" for the province's own offices)."""
    full_id, opd = camera.full_id, camera.opd
    owner_code = owner or camera.regency_code
    matchers = (
        lambda o: full_id in o.cameras or camera.camera_id in o.cameras,
        lambda o: bool(opd) and opd in o.opds,
        lambda o: owner_code in o.regencies,
    )
    for matches in matchers:
        for override in rules.overrides:
            value = override.offline_minutes if which == "offline" else override.degraded_minutes
            if value is not None and matches(override):
                return value
    return None


def _last_ended(
    session: Session, model: type, fk: str, column: str, values: tuple[str, ...], subjects: Collection[int]
) -> dict[int, datetime]:
    """Per subject of ``subjects``, when its latest period in one of ``values`` ended: the start of its
    current good run.

    Only for the given subjects: a good run's start matters only to resolve an open alert (firing looks at
    bad subjects, whose start is their status_since). Asked for every subject, this read all the status
    history ever kept on every tick (the soak saw the alert loop's memory grow with it).
    """
    if not subjects:
        return {}
    key = getattr(model, fk)
    rows = session.execute(
        select(key, func.max(model.ended_at))  # type: ignore[attr-defined]
        .where(key.in_(subjects), getattr(model, column).in_(values), model.ended_at.is_not(None))  # type: ignore[attr-defined]
        .group_by(key)
    )
    return {pk: ended for pk, ended in rows if ended is not None}


def _recovering(subjects: Iterable[tuple[int, str, str]], rule: Rule, bad_state: str,
                alerted: Collection[str]) -> list[int]:
    """Of (pk, subject id, current state), the pks whose ``rule`` alert is open while they are not bad."""
    return [pk for pk, subject, state in subjects if state != bad_state and alert_key(rule, subject) in alerted]


def camera_observations(session: Session, rules: CameraRules, owners: ProvinceConfig | None = None,
                        alerted: Collection[str] = ()) -> list[Observation]:
    """``alerted``: the keys of the open alerts (whose subjects' good runs are looked up)."""
    cameras = list(session.scalars(select(Camera).where(Camera.in_service)))
    states = [(c.id, c.full_id, c.status) for c in cameras]
    offline_ended = _last_ended(session, CameraStatusChange, "camera_pk", "status", ("offline",),
                                _recovering(states, Rule.CAMERA_OFFLINE, "offline", alerted))
    degraded_ended = _last_ended(session, CameraStatusChange, "camera_pk", "status", ("degraded",),
                                 _recovering(states, Rule.CAMERA_DEGRADED, "degraded", alerted))
    result = []
    for camera in cameras:
        subject = camera.full_id
        label = f"kamera {camera.label} ({subject})"
        owner = _owner(owners, camera.agent_name, camera.regency_code)
        for rule, status, hysteresis, ended in (
            (Rule.CAMERA_OFFLINE, "offline", rules.offline, offline_ended),
            (Rule.CAMERA_DEGRADED, "degraded", rules.degraded, degraded_ended),
        ):
            bad: bool | None
            if camera.status == "unknown":
                bad, since = None, None
            elif camera.status == status:
                bad, since = True, camera.status_since
            else:
                bad, since = False, ended.get(camera.id, camera.first_seen_at)
            result.append(
                Observation(
                    rule=rule,
                    subject_kind=SubjectKind.CAMERA,
                    subject_id=subject,
                    subject_label=label,
                    bad=bad,
                    since=since,
                    thresholds=thresholds(hysteresis, camera_fire_minutes(rules, camera, status, owner)),
                    severity=AlertSeverity.CRITICAL if status == "offline" else AlertSeverity.WARNING,
                    message=reason_text(camera.reason) if bad else "",
                    regency=owner,
                    agent=camera.agent_name,
                    opd=camera.opd,
                )
            )
    return result


def agent_observations(
    session: Session, rules: RulesConfig, now: datetime, owners: ProvinceConfig | None = None
) -> list[Observation]:
    agents = list(session.scalars(select(Agent).where(Agent.revoked.is_(False))))
    result = []
    for agent in agents:
        never_seen = agent.presence_since is None
        result.append(
            Observation(
                rule=Rule.AGENT_OFFLINE,
                subject_kind=SubjectKind.AGENT,
                subject_id=agent.name,
                subject_label=f"agen {agent.name}",
                bad=None if never_seen else not agent.online,
                since=agent.presence_since,
                thresholds=thresholds(rules.agent.offline),
                severity=AlertSeverity.CRITICAL,
                message=f"agen offline ({agent.offline_reason or 'connection_lost'})"
                if not agent.online
                else "",
                regency=_owner(owners, agent.name, agent.regency_code),
                agent=agent.name,
            )
        )
    result += _guard_observations(session, rules, agents, now, owners)
    result += _host_observations(session, rules, agents, now, owners)
    return result


def _guard_observations(
    session: Session, rules: RulesConfig, agents: list[Agent], now: datetime, owners: ProvinceConfig | None
) -> list[Observation]:
    """Its reports are being refused (quarantined); its clock runs ahead of central's."""
    refusing = refusing_agents(session, now)
    last_refused = last_refusals(session)
    result = []
    for agent in agents:
        refused = refusing.get(agent.name)
        result.append(Observation(
            rule=Rule.AGENT_REFUSED, subject_kind=SubjectKind.AGENT, subject_id=agent.name,
            subject_label=f"agen {agent.name}", bad=refused is not None,
            since=refused.first_seen_at if refused is not None else _refusals_ended(agent, last_refused),
            thresholds=thresholds(rules.agent.refused), severity=AlertSeverity.WARNING,
            message=(f"{refused.messages} laporan dikarantina, alasan terakhir: {refused.category}"
                     if refused is not None else ""),
            regency=_owner(owners, agent.name, agent.regency_code), agent=agent.name,
        ))
        off = agent.clock_off_since is not None
        result.append(Observation(
            rule=Rule.AGENT_CLOCK, subject_kind=SubjectKind.AGENT, subject_id=agent.name,
            subject_label=f"agen {agent.name}", bad=off,
            since=agent.clock_off_since if off else agent.last_seen_at,
            thresholds=thresholds(rules.agent.clock), severity=AlertSeverity.WARNING,
            message=f"jam agen {agent.clock_ahead_s:.0f} detik lebih cepat dari server pusat" if off else "",
            regency=_owner(owners, agent.name, agent.regency_code), agent=agent.name,
        ))
    return result


def _refusals_ended(agent: Agent, last_refused: dict[str, datetime]) -> datetime:
    """Since when an agent not being refused has been so: its last refusal left the window (or it was created)."""
    last = last_refused.get(agent.name)
    return last + REFUSING_WINDOW if last is not None else agent.created_at


def _run_since(samples: list[tuple[datetime, bool]]) -> tuple[bool, datetime]:
    """Newest-first samples -> (current verdict, oldest sample of the unbroken run with that verdict)."""
    current, since = samples[0][1], samples[0][0]
    for ts, verdict in samples:
        if verdict != current:
            break
        since = ts
    return current, since


def _host_observations(
    session: Session, rules: RulesConfig, agents: list[Agent], now: datetime, owners: ProvinceConfig | None
) -> list[Observation]:
    host = rules.host
    lookback = max(
        host.disk.fire_after_minutes,
        host.disk.resolve_after_minutes,
        host.temperature.fire_after_minutes,
        host.temperature.resolve_after_minutes,
    )
    horizon = now - timedelta(minutes=lookback + 30)
    samples: dict[str, list[_HostSample]] = defaultdict(list)
    # By agent and time, so the (agent_name, ts) index finds each agent's recent samples: by time alone
    # the query read every sample kept (30 days of them) on every tick. The columns the rules read, not
    # whole rows: ~50 samples per agent at one a minute, every tick.
    for metric in session.execute(
        select(HostMetric.agent_name, HostMetric.ts, HostMetric.disk_used_bytes, HostMetric.disk_total_bytes,
               HostMetric.temperatures_c)
        .where(HostMetric.agent_name.in_([agent.name for agent in agents]), HostMetric.ts >= horizon)
        .order_by(HostMetric.agent_name, HostMetric.ts.desc())
    ):
        samples[metric.agent_name].append(metric)
    result = []
    for agent in agents:
        metrics = samples.get(agent.name)
        online = agent.online and bool(metrics)
        disk = [(m.ts, _disk_percent(m) >= host.disk_percent) for m in metrics or ()]
        temperature = [(m.ts, _max_temperature(m) >= host.temperature_c) for m in metrics or ()]
        latest = metrics[0] if metrics else None
        for rule, verdicts, hysteresis, text in (
            (
                Rule.HOST_DISK,
                disk,
                host.disk,
                f"disk terpakai {_disk_percent(latest):.0f}%" if latest else "",
            ),
            (
                Rule.HOST_TEMPERATURE,
                temperature,
                host.temperature,
                f"suhu {_max_temperature(latest):.0f} °C" if latest else "",
            ),
        ):
            bad: bool | None = None
            since: datetime | None = None
            if online and verdicts:
                bad, since = _run_since(verdicts)
            result.append(
                Observation(
                    rule=rule,
                    subject_kind=SubjectKind.AGENT,
                    subject_id=agent.name,
                    subject_label=f"perangkat agen {agent.name}",
                    bad=bad,
                    since=since,
                    thresholds=thresholds(hysteresis),
                    severity=AlertSeverity.WARNING,
                    message=text,
                    regency=_owner(owners, agent.name, agent.regency_code),
                    agent=agent.name,
                )
            )
    return result


class _HostSample(Protocol):
    """What the host rules read of a sample (a row of those columns)."""

    ts: datetime
    disk_used_bytes: int
    disk_total_bytes: int
    temperatures_c: dict[str, Any]


def _disk_percent(metric: _HostSample | None) -> float:
    if metric is None or not metric.disk_total_bytes:
        return 0.0
    return 100.0 * metric.disk_used_bytes / metric.disk_total_bytes


def _max_temperature(metric: _HostSample | None) -> float:
    values = [float(v) for v in (metric.temperatures_c or {}).values()] if metric else []
    return max(values, default=0.0)


def _website_label(site: Website) -> str:
    """The office, named as the web pages name it, and its address: a bare URL names no one."""
    return f"situs {website_title(site)} ({site.url})" if site.url else f"situs {website_title(site)}"


def website_observations(
    session: Session, rules: RulesConfig, owners: ProvinceConfig | None = None, alerted: Collection[str] = ()
) -> list[Observation]:
    sites = list(session.scalars(select(Website)))
    states = [(w.id, w.full_id, w.state) for w in sites]
    down_ended = _last_ended(session, WebsiteStatusChange, "website_pk", "state", ("down",),
                             _recovering(states, Rule.WEBSITE_DOWN, "down", alerted))
    stale_ended = _last_ended(session, WebsiteStatusChange, "website_pk", "state", ("stale",),
                              _recovering(states, Rule.WEBSITE_STALE, "stale", alerted))
    web = rules.website
    result = []
    for site in sites:
        subject = site.full_id
        common = {
            "subject_kind": SubjectKind.WEBSITE,
            "subject_id": subject,
            "subject_label": _website_label(site),
            "regency": _owner(owners, site.agent_name, site.regency_code),
            "agent": site.agent_name,
            "opd": site.opd,
        }
        # A maintenance within its announced end says nothing either way; one that outlasts it is reported down.
        known = site.state not in ("unknown", "maintenance")
        is_down = site.state == "down"
        result.append(
            Observation(
                rule=Rule.WEBSITE_DOWN,
                bad=is_down if known else None,
                since=site.status_since if is_down else down_ended.get(site.id, site.first_seen_at),
                thresholds=thresholds(web.down),
                severity=AlertSeverity.CRITICAL,
                message=reason_text(site.reason) if is_down else "",
                **common,  # type: ignore[arg-type]
            )
        )
        is_stale = site.state == "stale"
        days = ""
        if site.last_update is not None and site.last_check_at is not None:
            days = f"; pembaruan terakhir {(site.last_check_at - site.last_update).days} hari lalu"
        result.append(
            Observation(
                rule=Rule.WEBSITE_STALE,
                bad=is_stale if known and not is_down else None,
                since=site.status_since if is_stale else stale_ended.get(site.id, site.first_seen_at),
                thresholds=thresholds(web.stale),
                severity=AlertSeverity.WARNING,
                message=f"konten tidak diperbarui{days}" if is_stale else "",
                **common,  # type: ignore[arg-type]
            )
        )
        days_left = site.tls_days_left
        expiring = days_left is not None and days_left <= web.certificate_warning_days
        result.append(
            Observation(
                rule=Rule.WEBSITE_CERTIFICATE,
                bad=None if days_left is None or not known else expiring,
                since=site.last_check_at,
                thresholds=thresholds(web.certificate),
                severity=(
                    AlertSeverity.CRITICAL
                    if days_left is not None and days_left <= web.certificate_critical_days
                    else AlertSeverity.WARNING
                ),
                message=f"sertifikat TLS berakhir dalam {days_left} hari" if expiring else "",
                **common,  # type: ignore[arg-type]
            )
        )
    return result


def collect(
    session: Session, rules: RulesConfig, now: datetime, owners: ProvinceConfig | None = None,
    alerted: Collection[str] = (),
) -> list[Observation]:
    """Every rule's observation of every monitored subject, read in one session.

    ``owners`` is central.toml's [province]: what its agents report is filed under the province's own
    offices (code "16"), as the web and API count it, not under the regency on their certificate.
    ``alerted`` are the keys of the open alerts: a good subject's observation says since when it has
    been good only for those (the evaluator needs it to resolve them; a good subject without an alert
    has nothing to resolve), so the history read per tick is theirs, not everyone's.
    """
    return [
        *camera_observations(session, rules.camera, owners, alerted),
        *agent_observations(session, rules, now, owners),
        *website_observations(session, rules, owners, alerted),
    ]


def _owner(owners: ProvinceConfig | None, agent_name: str, regency_code: str) -> str:
    return owners.owner_of(agent_name, regency_code) if owners is not None else regency_code
