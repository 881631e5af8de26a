"""Build a report from storage: per-camera uptime, rollups per regency and OPD, website compliance."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from central.reports.config import ReportsConfig
from central.reports.periods import Period
from central.reports.uptime import Span, StatusPeriod, Uptime, group_uptime, subject_uptime
from central.storage.models import Camera, SilenceRecord, Website, WebsiteCheck
from central.storage.queries import camera_timeline, owner_code
from shared.regencies import regency_label

NO_OPD = "(tanpa OPD)"


@dataclass(frozen=True, slots=True)
class CameraLine:
    regency: str
    opd: str
    subject: str  # agent/camera_id
    label: str
    uptime: Uptime


@dataclass(frozen=True, slots=True)
class GroupLine:
    regency: str  # code; "" for the province total
    name: str
    uptime: Uptime


@dataclass(frozen=True, slots=True)
class WebsiteLine:
    regency: str
    opd: str
    label: str
    url: str
    last_update: datetime | None
    days_since_update: int | None
    max_days: int

    @property
    def compliant(self) -> bool:
        return self.days_since_update is not None and self.days_since_update <= self.max_days


@dataclass(frozen=True, slots=True)
class OpdCompliance:
    regency: str
    opd: str
    websites: int
    compliant: int
    worst_days: int | None
    mean_days: float | None

    @property
    def compliance_pct(self) -> float | None:
        return 100.0 * self.compliant / self.websites if self.websites else None


@dataclass(slots=True)
class Report:
    period: Period
    generated_at: datetime
    language: str
    total: Uptime
    regencies: list[GroupLine] = field(default_factory=list)
    opds: list[GroupLine] = field(default_factory=list)
    cameras: list[CameraLine] = field(default_factory=list)
    websites: list[WebsiteLine] = field(default_factory=list)
    compliance: list[OpdCompliance] = field(default_factory=list)


def _maintenance_spans(session: Session, period: Period) -> list[tuple[SilenceRecord, Span]]:
    rows = session.scalars(
        select(SilenceRecord).where(
            SilenceRecord.kind == "maintenance",
            SilenceRecord.starts_at < period.end,
            or_(SilenceRecord.ends_at.is_(None), SilenceRecord.ends_at > period.start),
        )
    )
    return [(row, Span(row.starts_at, row.ends_at or period.end)) for row in rows]


def _applies(silence: SilenceRecord, camera: Camera) -> bool:
    if silence.target_kind == "regency":
        return silence.target == camera.regency_code
    if silence.target_kind == "agent":
        return silence.target == camera.agent_name
    return silence.target_kind == "camera" and silence.target == camera.full_id


def camera_lines(
    session: Session, period: Period, now: datetime, province_agents: Collection[str] = ()
) -> list[CameraLine]:
    """Cameras in service during the period; a retired one counts up to its retirement only.

    Each is filed under its owner (:func:`owner_code`): the province's own offices ("16") for what
    ``province_agents`` report, as the web and API count them.
    """
    in_period = or_(Camera.in_service, Camera.retired_at > period.start)
    cameras = {c.id: c for c in session.scalars(select(Camera).where(in_period))}
    periods: dict[int, list[StatusPeriod]] = defaultdict(list)
    for change in camera_timeline(session, None, period.start, until=period.end):
        periods[change.camera_pk].append(StatusPeriod(change.status, change.started_at, change.ended_at))
    maintenance = _maintenance_spans(session, period)
    lines = []
    for pk, camera in cameras.items():
        if pk not in periods:
            continue
        spans = [span for silence, span in maintenance if _applies(silence, camera)]
        until = now if camera.retired_at is None else min(now, camera.retired_at)
        lines.append(
            CameraLine(
                regency=owner_code(camera.agent_name, camera.regency_code, province_agents),
                opd=camera.opd or NO_OPD,
                subject=camera.full_id,
                label=camera.label,
                uptime=subject_uptime(periods[pk], period.start, period.end, until, spans),
            )
        )
    return sorted(lines, key=lambda line: (line.regency, line.opd, line.subject))


def website_lines(
    session: Session, period: Period, now: datetime, config: ReportsConfig, province_agents: Collection[str] = ()
) -> list[WebsiteLine]:
    """Days since each website's newest content, as known at the end of the period (or now): by the
    period's newest check that saw it, else (raw checks pruned) the site's current value."""
    as_of = min(period.end, now)
    # Each site's newest such check, sought backwards from as_of in its (website_pk, ts) index: one row
    # a site, where reading the period's every check (a month of them, whole rows) kept the last one.
    newest = (
        select(WebsiteCheck.last_update)
        .where(WebsiteCheck.website_pk == Website.id, WebsiteCheck.ts <= as_of, WebsiteCheck.ts >= period.start,
               WebsiteCheck.last_update.is_not(None))
        .order_by(WebsiteCheck.ts.desc(), WebsiteCheck.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    lines = []
    for site, latest in session.execute(select(Website, newest)):
        last_update = latest
        if last_update is None and site.last_update is not None and site.last_update <= as_of:
            last_update = site.last_update  # raw checks pruned: the current value is the best we know
        days = (as_of - last_update).days if last_update is not None else None
        lines.append(
            WebsiteLine(
                regency=owner_code(site.agent_name, site.regency_code, province_agents),
                opd=site.opd or NO_OPD,
                label=site.label,
                url=site.url,
                last_update=last_update,
                days_since_update=max(days, 0) if days is not None else None,
                max_days=config.website_max_days_since_update,
            )
        )
    return sorted(lines, key=lambda line: (line.regency, line.opd, line.url))


def compliance_by_opd(websites: list[WebsiteLine]) -> list[OpdCompliance]:
    groups: dict[tuple[str, str], list[WebsiteLine]] = defaultdict(list)
    for line in websites:
        groups[(line.regency, line.opd)].append(line)
    result = []
    for (regency, opd), lines in sorted(groups.items()):
        known = [line.days_since_update for line in lines if line.days_since_update is not None]
        result.append(
            OpdCompliance(
                regency=regency,
                opd=opd,
                websites=len(lines),
                compliant=sum(line.compliant for line in lines),
                worst_days=max(known) if len(known) == len(lines) and known else None,
                mean_days=sum(known) / len(known) if known else None,
            )
        )
    return result


def build_report(
    session: Session,
    period: Period,
    now: datetime,
    config: ReportsConfig,
    regencies: Collection[str] | None = None,
    province_agents: Collection[str] = (),
) -> Report:
    """The period's report; ``regencies`` limits it to those (a regency-scoped reader), None: the province.

    What ``province_agents`` report is the province's own offices' (owner "16"), not their certificate's
    regency's: "16" in ``regencies`` is the report of those offices.
    """
    cameras = camera_lines(session, period, now, province_agents)
    websites = website_lines(session, period, now, config, province_agents)
    if regencies is not None:
        cameras = [line for line in cameras if line.regency in regencies]
        websites = [line for line in websites if line.regency in regencies]
    total = Uptime()
    for line in cameras:
        total.add(line.uptime)
    by_regency = group_uptime(((c, c.uptime) for c in cameras), key=lambda c: c.regency)
    by_opd = group_uptime(((c, c.uptime) for c in cameras), key=lambda c: f"{c.regency}\t{c.opd}")
    return Report(
        period=period,
        generated_at=now,
        language=config.language,
        total=total,
        regencies=[GroupLine(code, regency_label(code), up) for code, up in sorted(by_regency.items())],
        opds=[GroupLine(key.split("\t")[0], key.split("\t")[1], up) for key, up in sorted(by_opd.items())],
        cameras=cameras,
        websites=websites,
        compliance=compliance_by_opd(websites),
    )
