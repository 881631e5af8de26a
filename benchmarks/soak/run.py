"""Run the soak: start the province, let it warm up, play the chaos schedule, drain, and account."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from benchmarks.bench_ingest import _postgres_database
from benchmarks.soak import chaos
from benchmarks.soak.actions import Chaos, Done
from benchmarks.soak.stack import SoakStack, World, central_disk_mb, release_central_disk, wait_for
from benchmarks.soak.verdict import (
    GROWTH_LIMIT_PCT_PER_HOUR,
    audit_alerts,
    cpu_share,
    growth_pct_per_hour,
    latencies,
    memory_judged_from,
    percentiles,
)
from benchmarks.soak.watch import (
    ApiWatcher,
    LiveWatcher,
    OutboxSampler,
    ProcessSampler,
    Sample,
    Tap,
    outbox_depth,
)
from central.config import DatabaseConfig, IngestConfig
from central.storage.maintenance import PRUNED_TABLES
from demo.processes import Supervisor
from shared.mqtt import TlsFiles

DRAIN_TIMEOUT_S = 240.0
SETTLE_TIMEOUT_S = 60.0
# The soak's own stand-ins for the field (cameras, websites, a webhook receiver): their memory is
# reported, but the goal "no process grows more than 5% per hour" is about SCC's processes.
HARNESS = frozenset({"simulator", "webhook-receiver"})
# Long enough for every agent's next decode rotation (decode_every_s 300) to clear what its first one found.
WARM_UP_SETTLE_S = 900.0
# The quiet stretch a growth per hour is fitted over, at the least (a long run's planner keeps 30 minutes).
MEMORY_JUDGED_AT_LEAST_S = 900.0


@dataclass(frozen=True, slots=True)
class SoakOptions:
    duration_s: float
    seed: int = 1
    world: World = field(default_factory=World)
    postgres: str | None = None  # an admin URL: the run gets a database of its own there
    kinds: Sequence[chaos.Kind] = chaos.INFRASTRUCTURE
    pacing: chaos.Pacing | None = None  # default: chaos.default_pacing for the interval and duration
    state_dir: Path | None = None  # default: a temporary directory, removed afterwards


@dataclass(slots=True)
class SoakResult:
    options: dict[str, Any]
    schedule: list[dict[str, Any]]
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def run_soak(options: SoakOptions, say: Callable[[str], None] = print) -> SoakResult:
    with contextlib.ExitStack() as stack:
        state = options.state_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scc-soak-")))
        state.mkdir(parents=True, exist_ok=True)
        state.chmod(0o755)  # the broker, started as root, drops to user mosquitto and reads below here
        world = options.world
        if options.postgres:
            url = stack.enter_context(_postgres_database(options.postgres))
            world = World(**{**asdict(world), "database_url": url})
        kinds, left_out = chaos.applicable(options.kinds, postgres=bool(options.postgres))
        for kind, why in left_out.items():
            say(f"soak: no {kind} incidents in this run: {why}")
        if chaos.Kind.DISK_FULL in kinds:
            world = replace(world, central_disk_mb=central_disk_mb(world, options.duration_s))
            stack.callback(release_central_disk, state)  # after the processes stopped (callbacks run LIFO)
        supervisor = Supervisor(state / "logs")
        stack.callback(supervisor.stop_all)
        result = _run(replace(options, kinds=kinds), world, state, supervisor, say)
        result.figures["kinds_left_out"] = {kind.value: why for kind, why in left_out.items()}
        return result
    raise AssertionError("unreachable")


def _run(options: SoakOptions, world: World, state: Path, supervisor: Supervisor, say: Callable[[str], None]) -> SoakResult:
    soak = SoakStack(state, world, options.seed, supervisor)
    taps: list[Tap] = []
    soak.on_broker_up = lambda started: taps.append(_start_tap(started))
    try:
        return _play(options, world, state, supervisor, soak, taps, say)
    finally:
        for tap in taps:
            tap.stop()
        for link in soak.links.values():
            link.close()


def _warm_up(api: ApiWatcher, total: int, say: Callable[[str], None]) -> None:
    say(f"soak: warming up until all {total} cameras have reported")
    wait_for(lambda: sum(1 for s in api.current.values() if s not in ("unknown",)) >= total, 600, "report from every camera")
    # "All ok" before the first fault: a camera the warm-up left degraded (a low_fps from the agents' first
    # decodes, all at once) stays so until its next decode, and its alert would be read against the chaos.
    say("soak: waiting until every camera is ok and no alert is firing")
    wait_for(lambda: all(s == "ok" for s in api.current.values()) and not api.open_alerts(), WARM_UP_SETTLE_S,
             "moment with every camera ok and no alert firing")


def _judge_memory(result: SoakResult, samples: Sequence[Sample], done: Sequence[Done], t0: float, ran_s: float,
                  duration_s: float) -> None:
    """Memory and CPU figures; the growth rule only on a run long enough to hold a quiet stretch."""
    warmup_s = min(600.0, duration_s / 4)
    judged_from = memory_judged_from(done, t0, warmup_s)
    growth = growth_pct_per_hour(samples, judged_from, warmup_s)
    result.figures["memory_judged_s"] = [round(judged_from - t0), round(ran_s)]
    result.figures["rss_mb_end"] = {g: round(b / 2**20) for g, b in samples[-1].rss.items()} if samples else {}
    result.figures["rss_growth_pct_per_hour"] = {g: round(v, 1) for g, v in growth.items()}
    result.figures["cpu_cores"] = {g: round(v, 2) for g, v in cpu_share(samples).items()}
    if duration_s < 1800:
        return
    grown = {g: v for g, v in growth.items() if v > GROWTH_LIMIT_PCT_PER_HOUR and g not in HARNESS}
    if grown:
        result.problems.append(f"memory grows more than 5%/h: {grown}")
    if t0 + ran_s - judged_from < MEMORY_JUDGED_AT_LEAST_S:
        result.problems.append(f"memory not judged: {max(0.0, t0 + ran_s - judged_from):.0f} s of the run came "
                               f"after the last upheaval's warm-up, under {MEMORY_JUDGED_AT_LEAST_S:.0f} s")


def _start_tap(soak: SoakStack) -> Tap:
    clients = soak.pki / "clients"
    name = soak.tap_identity
    tap = Tap(TlsFiles(soak.pki / "ca.crt", clients / f"{name}.crt", clients / f"{name}.key"), "127.0.0.1",
              soak.broker_port)  # fmt: skip
    tap.start()
    return tap


def _play(options: SoakOptions, world: World, state: Path, supervisor: Supervisor, soak: SoakStack,
          taps: list[Tap], say: Callable[[str], None]) -> SoakResult:  # fmt: skip
    running = soak.start(say=lambda message: say(f"soak: {message}"))
    database_url = world.database_url or f"sqlite:///{soak.central_dir / 'central.db'}"
    fleet = json.loads((state / "simulator-fleet.json").read_text(encoding="utf-8"))
    by_index = {int(camera["index"]): str(camera["id"]) for camera in fleet["cameras"]}
    cameras = {agent.name: [by_index[i] for i in agent.camera_indices()] for agent in soak.scenario.agents}
    camera_agent = {camera: agent for agent, ids in cameras.items() for camera in ids}
    schedule = chaos.plan(options.seed, options.duration_s, cameras,
                          options.pacing or chaos.default_pacing(world.interval_s, options.duration_s), options.kinds)  # fmt: skip
    result = SoakResult(
        options={"duration_s": options.duration_s, "seed": options.seed, **asdict(world),
                 "database": "postgresql" if world.database_url else "sqlite"},
        schedule=[{**asdict(i), "kind": i.kind.value} for i in schedule],
    )  # fmt: skip

    tap = taps[0]
    api = ApiWatcher(running.url, running.credentials.token)
    live = LiveWatcher(running.url, running.credentials.user, running.credentials.password)
    processes = ProcessSampler(soak.pids)
    actions = Chaos(soak, schedule, str(running.simulator_control), database_url)
    outboxes = OutboxSampler({agent: soak.outbox(agent) for agent in cameras}, actions.active_link_cuts)
    for watcher in (api, live, processes, outboxes):
        watcher.start()

    _warm_up(api, sum(len(ids) for ids in cameras.values()), say)
    database_before = _table_bytes(database_url)
    t0 = time.monotonic()
    t0_wall = dt.datetime.now(dt.UTC)
    say(f"soak: chaos for {options.duration_s:.0f} s, {len(schedule)} incidents (seed {options.seed})")
    actions.start(t0)
    while time.monotonic() < t0 + options.duration_s:
        dead = [c.name for c in supervisor.dead() if not _restarting(c.name, actions)]
        if dead:
            result.problems.append(f"died during the run: {', '.join(dead)}")
            break
        time.sleep(5)
    actions.stop()
    say("soak: draining every outbox")
    drained = _drain(soak, list(cameras))
    for watcher in (api, live, processes, outboxes):
        watcher.stop()
    ran_s = time.monotonic() - t0
    _account(result, soak, database_url, _settled(tap, database_url), drained, cameras)
    _screen(result, actions, api, live, world.interval_s)
    alerts = api.alerts()
    audit = audit_alerts(actions.done, alerts, camera_agent, fire_after_s=60, interval_s=world.interval_s,
                         wall=lambda at: t0_wall + dt.timedelta(seconds=at - t0),
                         offline_grace_s=IngestConfig().agent_offline_grace_s, chaos_began=t0_wall)
    result.figures["alerts"] = asdict(audit) | {"total": len(alerts)}
    if audit.failed:
        result.problems.append(f"alerts: {len(audit.missed)} missed, {len(audit.doubled)} doubled, "
                               f"{len(audit.not_cleared)} not cleared, {len(audit.spurious)} for incidents too short "
                               f"to alert, {len(audit.unexplained)} unexplained")  # fmt: skip
    _write_rss_series(state / "rss.csv", processes.samples, t0)
    _judge_memory(result, processes.samples, actions.done, t0, ran_s, options.duration_s)
    result.figures["database"] = _database_growth(database_before, _table_bytes(database_url), ran_s)
    result.figures["outbox_peak_during_cuts"] = outboxes.peak
    result.figures["incident_errors"] = [f"{d.incident.kind} {d.incident.target}: {d.error}" for d in actions.done if d.error]
    result.figures["watcher_errors"] = {type(w).__name__: w.errors[:5] for w in (api, live, processes, outboxes) if w.errors}
    result.figures["api_failed_polls"] = api.failed_polls
    if result.figures["incident_errors"]:
        result.problems.append(f"{len(result.figures['incident_errors'])} incident(s) could not be carried out")
    return result


def _restarting(name: str, actions: Chaos) -> bool:
    """A process the chaos stopped on purpose is not a death."""
    return any(d.ended is None and (d.incident.target == name or name in ("mosquitto", "central-ingest"))
               for d in actions.done)  # fmt: skip


def _drain(soak: SoakStack, agents: list[str]) -> bool:
    """Wait until every agent's outbox is empty: central has confirmed storing everything."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(outbox_depth(soak.outbox(agent)) == 0 for agent in agents):
            return True
        time.sleep(2)
    return False


def _settled(tap: Tap, database_url: str) -> dict[str, tuple[str, int, str]]:
    """What the tap has seen so far, once central has had time to store it all.

    The agents keep reporting while the soak ends, so a report the tap sees in the last seconds may
    still be on its way into the database: judging at once would count it lost (it was, once in CI,
    on a loaded machine). Every report seen up to now must be stored within ``SETTLE_TIMEOUT_S``;
    reports published after this point are not judged.
    """
    seen = dict(tap.seen)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline and not _stored_ids(database_url) >= seen.keys():
        time.sleep(1)
    return seen


def _stored_ids(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("SELECT msg_id FROM ingested_messages"))}
    finally:
        engine.dispose()


def _whereabouts(soak: SoakStack, database_url: str, msg_id: str, agent: str) -> str:
    """Where a report that was never stored is: still in its agent's outbox, in quarantine, or nowhere."""
    outbox = soak.outbox(agent)
    if outbox.exists():
        with contextlib.closing(sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5)) as db:
            row = db.execute("SELECT sent IS NOT NULL FROM outbox WHERE msg_id = ?", (msg_id,)).fetchone()
        if row is not None:
            return "in the outbox, sent and unconfirmed" if row[0] else "in the outbox, waiting to be sent"
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT category, reason, payload FROM quarantine WHERE agent_name = :a"),
                                      {"a": agent}).all()  # fmt: skip
    finally:
        engine.dispose()
    for category, reason, payload in rows:
        if msg_id.encode() in bytes(payload):
            return f"quarantined ({category}: {reason})"
    return "gone: not in its outbox, not in quarantine"


def _account(result: SoakResult, soak: SoakStack, database_url: str, seen: dict[str, tuple[str, int, str]],
             drained: bool, cameras: dict[str, list[str]]) -> None:  # fmt: skip
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = {row[0] for row in connection.execute(text("SELECT msg_id FROM ingested_messages"))}
            doubled_checks = connection.execute(text(
                "SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT camera_pk, ts FROM camera_checks) d) "
                "FROM camera_checks")).scalar_one()  # fmt: skip
            doubled_sites = connection.execute(text(
                "SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT website_pk, ts FROM website_checks) d) "
                "FROM website_checks")).scalar_one()  # fmt: skip
            quarantined = connection.execute(text("SELECT COALESCE(SUM(times_seen), 0) FROM quarantine")).scalar_one()
    finally:
        engine.dispose()
    lost = sorted(m for m in seen if m not in stored)
    dropped = sum(_outbox_meta(soak.outbox(agent), "dropped") for agent in cameras)
    result.figures.update(
        published=len(seen), stored=len(stored), lost=len(lost),
        lost_examples=[(*seen[m], _whereabouts(soak, database_url, m, seen[m][0])) for m in lost[:10]],
        doubled=int(doubled_checks) + int(doubled_sites), quarantined=int(quarantined), outbox_dropped=dropped,
        drained=drained,
    )  # fmt: skip
    if lost:
        result.problems.append(f"{len(lost)} report(s) published but never stored")
    if doubled_checks or doubled_sites:
        result.problems.append(f"{doubled_checks + doubled_sites} report(s) stored twice")
    if not drained:
        result.problems.append(f"outboxes not drained within {DRAIN_TIMEOUT_S:.0f} s")


def _outbox_meta(path: Path, name: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def _screen(result: SoakResult, actions: Chaos, api: ApiWatcher, live: LiveWatcher, interval_s: float) -> None:
    found = latencies(actions.done, api.changes, live.changes, api.pk_of)
    table: dict[str, dict[str, Any]] = {}
    for name, values in (("api_down", found.api_down), ("live_down", found.live_down), ("api_up", found.api_up)):
        for fault, seconds in sorted(values.items()):
            p50, p95, worst = percentiles(seconds)
            table.setdefault(fault, {})[name] = {"n": len(seconds), "p50": round(p50, 1), "p95": round(p95, 1),
                                                  "max": round(worst, 1)}  # fmt: skip
    result.figures["failure_to_screen_s"] = table
    result.figures["never_on_screen"] = found.never_seen
    result.figures["failure_to_screen_each"] = found.each
    everything = [s for values in found.api_down.values() for s in values]
    if everything:
        p95 = percentiles(everything)[1]
        result.figures["failure_to_screen_p95_s"] = round(p95, 1)
        if p95 > interval_s + 5:
            result.problems.append(f"failure-to-screen p95 {p95:.1f} s > interval + 5 s")
    if found.never_seen:
        result.problems.append(f"{len(found.never_seen)} camera fault(s) never shown")


def _table_bytes(url: str) -> dict[str, int]:
    """Bytes each table holds with its indexes: pages in use, not the file (the WAL and free pages
    come and go with checkpoints)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            rows = db.execute("SELECT s.tbl_name, SUM(d.pgsize) FROM dbstat AS d JOIN sqlite_schema AS s "
                              "ON s.name = d.name GROUP BY s.tbl_name").fetchall()
        return {str(name): int(size) for name, size in rows}
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            sizes = connection.execute(text("SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables"))
            return {str(name): int(size) for name, size in sizes}
    finally:
        engine.dispose()


def _write_rss_series(path: Path, samples: Sequence[Sample], t0: float) -> None:
    """Every sample's RSS per group (seconds into the chaos, MB, its pids): a growth figure alone cannot
    tell a cache filling or a backlog's step from a leak; the series beside the run's logs can."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["at_s", "group", "rss_mb", "pids"])
        for sample in samples:
            for group, rss in sorted(sample.rss.items()):
                pids = " ".join(str(pid) for pid in sorted(sample.pids.get(group, ())))
                writer.writerow([round(sample.at - t0, 1), group, round(rss / 2**20, 1), pids])


def _database_growth(before: dict[str, int], after: dict[str, int], ran_s: float) -> dict[str, float]:
    """MB per day at this run's rate: the raw tables retention prunes (they level off after
    ``retention_days``) and the kept ones (status periods, dailies, alerts: they grow for ever)."""
    per_day = 86_400 / ran_s / 2**20
    grown = {table: after.get(table, 0) - before.get(table, 0) for table in after.keys() | before.keys()}
    raw = sum(size for table, size in grown.items() if table in PRUNED_TABLES) * per_day
    kept = sum(size for table, size in grown.items() if table not in PRUNED_TABLES) * per_day
    days = DatabaseConfig().retention_days
    return {"mb_per_day": round(raw + kept, 1), "raw_mb_per_day": round(raw, 1), "kept_mb_per_day": round(kept, 1),
            "retention_days": days, "mb_after_a_year": round(raw * min(days, 365) + kept * 365)}
