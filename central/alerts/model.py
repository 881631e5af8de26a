"""The evaluator's vocabulary: observations in, active alerts as state, transitions out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from shared.messages import AlertSeverity


class SubjectKind(StrEnum):
    CAMERA = "camera"
    AGENT = "agent"
    WEBSITE = "website"
    REGENCY = "regency"


class Rule(StrEnum):
    CAMERA_OFFLINE = "camera_offline"
    CAMERA_DEGRADED = "camera_degraded"
    AGENT_OFFLINE = "agent_offline"
    AGENT_REFUSED = "agent_refused"
    AGENT_CLOCK = "agent_clock"
    WEBSITE_DOWN = "website_down"
    WEBSITE_STALE = "website_stale"
    WEBSITE_CERTIFICATE = "website_certificate"
    HOST_DISK = "host_disk"
    HOST_TEMPERATURE = "host_temperature"
    REGENCY_OUTAGE = "regency_outage"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Hysteresis: bad this long in a row fires, good this long in a row resolves."""

    fire_after: timedelta
    resolve_after: timedelta


@dataclass(frozen=True, slots=True)
class Observation:
    """One rule's verdict on one subject now; ``since`` starts the current run of bad (or good).

    ``bad`` is None when the subject's state is unknown (no reports): nothing fires or resolves.
    """

    rule: str
    subject_kind: SubjectKind
    subject_id: str
    subject_label: str
    bad: bool | None
    since: datetime | None
    thresholds: Thresholds
    severity: AlertSeverity = AlertSeverity.WARNING
    message: str = ""
    regency: str | None = None
    agent: str | None = None
    opd: str = ""

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.subject_id)


def alert_key(rule: str, subject_id: str) -> str:
    return f"{rule}:{subject_id}"


@dataclass(frozen=True, slots=True)
class Silence:
    """A mute or a maintenance window: no notifications for matching alerts while it lasts."""

    kind: str  # "mute" or "maintenance"
    target_kind: SubjectKind
    target: str
    starts_at: datetime
    ends_at: datetime | None = None
    rule: str | None = None

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)

    def matches(self, alert: ActiveAlert) -> bool:
        if self.rule is not None and self.rule != alert.rule:
            return False
        if self.target_kind == SubjectKind.REGENCY:
            return alert.regency == self.target
        if self.target_kind == SubjectKind.AGENT and alert.agent == self.target:
            # Silencing an agent silences its cameras and host too: they share the box and the link.
            return True
        return self.target_kind == alert.subject_kind and self.target == alert.subject_id


@dataclass(slots=True)
class ActiveAlert:
    """A firing alert as the evaluator tracks it; persisted so a restart neither forgets nor re-sends."""

    alert_id: str
    rule: str
    subject_kind: SubjectKind
    subject_id: str
    subject_label: str
    severity: AlertSeverity
    message: str
    started_at: datetime
    fired_at: datetime
    regency: str | None = None
    agent: str | None = None
    opd: str = ""
    notified: bool = False
    suppressed_by: str | None = None
    good_since: datetime | None = None
    members: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.subject_id)


class TransitionKind(StrEnum):
    FIRED = "fired"
    RESOLVED = "resolved"
    NOTIFY_FIRING = "notify_firing"
    NOTIFY_RESOLVED = "notify_resolved"
    UPDATED = "updated"


@dataclass(frozen=True, slots=True)
class Transition:
    kind: TransitionKind
    alert: ActiveAlert
    at: datetime
    resolved_at: datetime | None = None


@dataclass(slots=True)
class Evaluation:
    """What one evaluation produced: the alerts still firing and what changed, in order."""

    active: dict[str, ActiveAlert]
    transitions: list[Transition] = field(default_factory=list)

    def of_kind(self, kind: TransitionKind) -> list[Transition]:
        return [t for t in self.transitions if t.kind == kind]
