"""The soak's chaos schedule: what goes wrong when, decided by a seed alone so that a run can be replayed.

The schedule is pure data; ``benchmarks.soak.actions`` carries it out. Its rules say what a fair
measurement needs:

- A warm-up with no faults first, so every camera has reported and the figures start from "all ok".
- At most one infrastructure incident (link cut, broker restart or crash, ingest or web worker killed,
  agent restarted, database locked, central's disk full) at a time, each followed by a settling gap.
  These are what lose reports when the delivery chain is wrong.
- Every kind at least once whenever the run can hold them all back to back (a 30-minute run can): the
  first round of kinds shares out the spare time evenly between them, and only later rounds insist on
  a full camera fault's room after each incident. A run too short for every kind keeps those that fit.
- Camera faults (the simulator's) start and recover only while no infrastructure incident that reaches
  their camera is on or settling, so their failure-to-screen latency measures the pipeline, not an
  outage someone else caused. A link cut or an agent restart reaches only that agent's cameras; the
  others reach every camera. A camera is never faulted twice at once.
- A quiet tail: every fault has ended some time before the end, so the run ends on recovery and the
  accounting sees every alert cleared and every outbox drained.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    CAMERA = "camera"  # a simulator fault on one camera, cleared after lasts_s
    LINK_CUT = "link_cut"  # one agent's connection to the broker cut (and refused) for lasts_s
    BROKER_RESTART = "broker_restart"  # SIGTERM, down for lasts_s, started again
    BROKER_KILL = "broker_kill"  # SIGKILL (what it holds in memory is gone), started after lasts_s
    INGEST_KILL = "ingest_kill"  # SIGKILL of the whole ingest, started again after lasts_s
    WEB_WORKER_KILL = "web_worker_kill"  # SIGKILL of one gunicorn worker; the master starts another
    AGENT_RESTART = "agent_restart"  # SIGTERM of one agent, started again after lasts_s
    DB_LOCK = "db_lock"  # central's database held locked for lasts_s
    DISK_FULL = "disk_full"  # central's data directory (its SQLite database) filled to the last byte for lasts_s


INFRASTRUCTURE = (
    Kind.LINK_CUT, Kind.BROKER_RESTART, Kind.INGEST_KILL, Kind.BROKER_KILL,
    Kind.WEB_WORKER_KILL, Kind.AGENT_RESTART, Kind.DB_LOCK, Kind.DISK_FULL,
)  # fmt: skip

# What failure to screen may take beyond one check interval (the goal: interval + 5 s).
SCREEN_MARGIN_S = 5.0

# Kinds that restart a process whose memory is judged, or pile up a backlog that the ingest then takes
# in its largest batches. A Python process keeps the high-water mark of its largest batch (freed memory
# is reused, not returned; bench_ingest_memory's bursts): played after the ingest's own kill, one of
# these is a step in the stretch its memory is judged on, which a growth per hour cannot tell from a
# leak. So the first round plays them before the ingest kill, and later rounds keep them (and the
# kill) out of the last ``Pacing.memory_judged_s`` of the run.
UPHEAVALS = frozenset({Kind.BROKER_KILL, Kind.BROKER_RESTART, Kind.AGENT_RESTART, Kind.DISK_FULL})
# What leaves a high-water mark: the upheavals and the ingest kill they are played before.
HIGH_WATER_MARKS = UPHEAVALS | {Kind.INGEST_KILL}

# Kinds that reach one agent (``Incident.target``) only: other agents' cameras are measured meanwhile.
AGENT_LOCAL = frozenset({Kind.LINK_CUT, Kind.AGENT_RESTART})

# Kinds that only mean something on SQLite, and why they are left out of a --postgres run.
SQLITE_ONLY: Mapping[Kind, str] = {
    Kind.DISK_FULL: (
        "on PostgreSQL the reports are written to the database server's disk, which the soak does not own "
        "(filling it would hit every database on that server, and a full WAL disk is PostgreSQL's own "
        "failure); central's data directory then holds only a lock file and the live-view socket, nothing on "
        "the report path, so filling it would test nothing"
    ),
}


def applicable(kinds: Sequence[Kind], postgres: bool) -> tuple[tuple[Kind, ...], dict[Kind, str]]:
    """The kinds this run can carry out, and those left out with the reason (for the report)."""
    left_out = {kind: SQLITE_ONLY[kind] for kind in kinds if postgres and kind in SQLITE_ONLY}
    return tuple(kind for kind in kinds if kind not in left_out), left_out

# Camera faults the soak injects, and whether the camera then counts as offline (else degraded).
CAMERA_FAULTS: Mapping[str, str] = {
    "offline": "offline",
    "onvif_dead": "degraded",
    "rtsp_dead": "degraded",
    "snapshot_dead": "degraded",
    "black": "degraded",
    "frozen": "degraded",
}


@dataclass(frozen=True, slots=True)
class Incident:
    at_s: float  # seconds after the run started
    kind: Kind
    target: str = ""  # camera id or agent name; empty for the broker, ingest, web and database
    fault: str = ""  # the simulator's fault name, for cameras
    lasts_s: float = 0.0

    @property
    def ends_s(self) -> float:
        return self.at_s + self.lasts_s


@dataclass(frozen=True, slots=True)
class Pacing:
    """How dense the schedule is; ``interval_s`` is the agents' check interval."""

    interval_s: float
    warmup_s: float
    quiet_tail_s: float
    settle_s: float  # after an infrastructure incident, before the next one or a camera fault
    link_cut_s: tuple[float, float]  # shortest and longest cut
    outage_s: tuple[float, float]  # broker / ingest / agent down
    camera_fault_s: tuple[float, float]
    camera_faults_per_interval: float  # how many camera faults start per check interval, on average
    disk_full_s: tuple[float, float] = (20.0, 40.0)  # central's disk full
    memory_judged_s: float = 0.0  # the run's end, kept free of upheavals in later rounds (UPHEAVALS)


def default_pacing(interval_s: float, duration_s: float) -> Pacing:
    """Scaled to the run: a long soak gets multi-minute cuts, a short one (the test suite's) short ones."""
    long_run = duration_s >= 1200
    return Pacing(
        interval_s=interval_s,
        warmup_s=max(4 * interval_s, 60.0),
        quiet_tail_s=max(6 * interval_s, 120.0 if long_run else 60.0),
        settle_s=max(3 * interval_s, 30.0),
        link_cut_s=(120.0, 300.0) if long_run else (30.0, 45.0),
        outage_s=(20.0, 90.0) if long_run else (8.0, 15.0),
        disk_full_s=(60.0, 180.0) if long_run else (20.0, 40.0),
        camera_fault_s=(6 * interval_s, 15 * interval_s) if long_run else (4 * interval_s, 6 * interval_s),
        camera_faults_per_interval=0.5,
        memory_judged_s=1800.0 if long_run else 0.0,
    )


def plan(
    seed: int,
    duration_s: float,
    cameras: Mapping[str, Sequence[str]],
    pacing: Pacing,
    kinds: Sequence[Kind] = INFRASTRUCTURE,
) -> list[Incident]:
    """The whole run's incidents in time order. ``cameras`` maps each agent to its camera ids."""
    rng = random.Random(seed)
    agents = sorted(cameras)
    end = duration_s - pacing.quiet_tail_s
    infra = _infrastructure(rng, pacing, end, agents, kinds)
    busy = [_Busy(i.at_s, i.ends_s + pacing.settle_s, i.target if i.kind in AGENT_LOCAL else "") for i in infra]
    camera_faults = _camera_faults(rng, pacing, end, cameras, busy)
    return sorted(infra + camera_faults, key=lambda incident: (incident.at_s, incident.kind.value))


@dataclass(frozen=True, slots=True)
class _Busy:
    """An infrastructure incident and its settling gap, and the agent it reaches ("" for every agent)."""

    start_s: float
    stop_s: float
    agent: str


def _infrastructure(
    rng: random.Random, pacing: Pacing, end: float, agents: Sequence[str], kinds: Sequence[Kind]
) -> list[Incident]:
    """Round after round of every kind (shuffled) until time runs out; the first round fits every kind it can."""
    order = _first_round_order(rng, kinds)
    if not order:
        return []
    # Room after an incident for a camera fault from start to recovery, measured on a quiet pipeline.
    full_room = pacing.camera_fault_s[1]
    start = pacing.warmup_s + pacing.settle_s
    first = [(kind, round(_duration(rng, kind, pacing), 1)) for kind in order]
    while first and start + sum(lasts + pacing.settle_s for _, lasts in first) - pacing.settle_s > end:
        first.pop()  # too short a run for every kind: keep those that fit
    spare = end - start - sum(lasts + pacing.settle_s for _, lasts in first) + pacing.settle_s
    first_room = min(full_room, spare / len(first)) if first else 0.0
    incidents: list[Incident] = []
    t = start
    for kind, lasts in first:
        incidents.append(_incident(rng, round(t, 1), kind, lasts, agents))
        t += lasts + pacing.settle_s + first_room
    if first_room < full_room:
        return incidents
    position = 0
    while True:
        t += rng.uniform(1, 3) * pacing.interval_s
        kind = order[position % len(order)]
        lasts = round(_duration(rng, kind, pacing), 1)
        if t + lasts > end:
            return incidents
        position += 1
        if kind in HIGH_WATER_MARKS and t + lasts > end - pacing.memory_judged_s:
            continue
        incidents.append(_incident(rng, round(t, 1), kind, lasts, agents))
        t += lasts + pacing.settle_s + full_room


def _first_round_order(rng: random.Random, kinds: Sequence[Kind]) -> list[Kind]:
    """Upheavals (shuffled), then the ingest kill, then the rest (shuffled): see UPHEAVALS."""
    upheavals = [kind for kind in kinds if kind in UPHEAVALS]
    rest = [kind for kind in kinds if kind not in UPHEAVALS and kind is not Kind.INGEST_KILL]
    rng.shuffle(upheavals)
    rng.shuffle(rest)
    return upheavals + [Kind.INGEST_KILL] * (Kind.INGEST_KILL in kinds) + rest


def _incident(rng: random.Random, at_s: float, kind: Kind, lasts_s: float, agents: Sequence[str]) -> Incident:
    target = rng.choice(agents) if kind in AGENT_LOCAL else ""
    return Incident(at_s, kind, target, lasts_s=lasts_s)


def _duration(rng: random.Random, kind: Kind, pacing: Pacing) -> float:
    if kind is Kind.LINK_CUT:
        return rng.uniform(*pacing.link_cut_s)
    if kind is Kind.WEB_WORKER_KILL:
        return 0.0
    if kind is Kind.DB_LOCK:
        return rng.uniform(3.0, 8.0)
    if kind is Kind.DISK_FULL:
        # Long enough for the ingest's retries to back off to their longest (30 s) and for reports to
        # pile up in the agents' outboxes; the settling gap then covers its retry after the room is back.
        return rng.uniform(*pacing.disk_full_s)
    return rng.uniform(*pacing.outage_s)


def _camera_faults(
    rng: random.Random,
    pacing: Pacing,
    end: float,
    cameras: Mapping[str, Sequence[str]],
    busy: Sequence[_Busy],
) -> list[Incident]:
    everyone = [camera for agent in sorted(cameras) for camera in cameras[agent]]
    agent_of = {camera: agent for agent in cameras for camera in cameras[agent]}
    faulted_until: dict[str, float] = {}
    incidents: list[Incident] = []
    mean_gap = pacing.interval_s / pacing.camera_faults_per_interval
    t = pacing.warmup_s
    while True:
        t = round(t + rng.expovariate(1 / mean_gap), 1)
        lasts = round(rng.uniform(*pacing.camera_fault_s), 1)
        if t + lasts > end:
            break
        # Neither the fault's start nor its recovery may fall inside an outage that reaches the camera:
        # both are measured.
        # Before an outage by the goal's time (an interval, its jitter, the second look, delivery): a fault
        # begun 20 s before a broker crash had its check's report caught by the crash (76.7 s, seed 23).
        reaching = [b for b in busy
                    if any(b.start_s - pacing.interval_s - SCREEN_MARGIN_S <= m <= b.stop_s for m in (t, t + lasts))]
        if any(not b.agent for b in reaching):
            continue
        away = {b.agent for b in reaching}
        free = [c for c in everyone if faulted_until.get(c, -1.0) < t and agent_of[c] not in away]
        if not free:
            continue
        camera = rng.choice(free)
        fault = rng.choice(sorted(CAMERA_FAULTS))
        faulted_until[camera] = t + lasts + pacing.interval_s
        incidents.append(Incident(t, Kind.CAMERA, camera, fault, lasts))
    return incidents
