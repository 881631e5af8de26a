"""Carry out the chaos schedule against the running soak stack, recording when each incident really began
and ended (monotonic seconds), which is what latencies are measured from."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass

import httpx
import psutil
from sqlalchemy import create_engine, text

from benchmarks.soak.chaos import Incident, Kind
from benchmarks.soak.stack import SoakStack


@dataclass(slots=True)
class Done:
    incident: Incident
    began: float
    ended: float | None = None
    error: str = ""


class Chaos:
    """Walks the schedule on its own thread; ``done`` fills as incidents begin and end."""

    def __init__(self, stack: SoakStack, schedule: list[Incident], control_url: str, database_url: str) -> None:
        self.stack = stack
        self.schedule = schedule
        # A loaded simulator answers slowly; the calls are idempotent, so they are retried.
        self._control = httpx.Client(base_url=control_url, timeout=60, transport=httpx.HTTPTransport(retries=3))
        self._database_url = database_url
        self.done: list[Done] = []
        self._stop = threading.Event()
        self._saved: dict[str, list[str]] = {}
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)
        self.t0 = 0.0

    def start(self, t0: float) -> None:
        self.t0 = t0
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.stack.free_central_disk()  # a run cut short must not drain (and account) on a full disk

    def active_link_cuts(self) -> set[str]:
        return {d.incident.target for d in self.done if d.incident.kind is Kind.LINK_CUT and d.ended is None}

    def _run(self) -> None:
        steps = sorted(
            [(i.at_s, 0, n) for n, i in enumerate(self.schedule)] + [(i.ends_s, 1, n) for n, i in enumerate(self.schedule)]
        )
        records: dict[int, Done] = {}
        for at, phase, number in steps:
            if self._stop.wait(max(0.0, self.t0 + at - time.monotonic())):
                return
            incident = self.schedule[number]
            try:
                if phase == 0:
                    records[number] = Done(incident, time.monotonic())
                    self.done.append(records[number])
                    self._begin(incident)
                else:
                    self._end(incident)
                    records[number].ended = time.monotonic()
            except Exception as error:
                records[number].error = f"{'begin' if phase == 0 else 'end'}: {type(error).__name__}: {error}"
                if phase == 1:
                    records[number].ended = time.monotonic()

    def _begin(self, incident: Incident) -> None:
        kind, target = incident.kind, incident.target
        if kind is Kind.CAMERA:
            self._simulator("POST", f"/cameras/{target}/faults", {"fault": incident.fault})
        elif kind is Kind.LINK_CUT:
            self.stack.links[target].cut()
        elif kind is Kind.BROKER_RESTART:
            self._saved["mosquitto"] = self.stack.stop_child("mosquitto", signal.SIGTERM)
        elif kind is Kind.BROKER_KILL:
            self._saved["mosquitto"] = self.stack.stop_child("mosquitto", signal.SIGKILL)
        elif kind is Kind.INGEST_KILL:
            self._saved["central-ingest"] = self.stack.stop_child("central-ingest", signal.SIGKILL)
        elif kind is Kind.AGENT_RESTART:
            self._saved[target] = self.stack.stop_child(target, signal.SIGTERM)
        elif kind is Kind.WEB_WORKER_KILL:
            master = psutil.Process(self.stack.child("central-web").process.pid)
            workers = master.children()
            if not workers:
                raise RuntimeError("gunicorn has no worker to kill")
            workers[0].kill()
        elif kind is Kind.DB_LOCK:
            threading.Thread(target=self._hold_database, args=(incident.lasts_s,), daemon=True).start()
        elif kind is Kind.DISK_FULL:
            self.stack.fill_central_disk()

    def _end(self, incident: Incident) -> None:
        kind, target = incident.kind, incident.target
        if kind is Kind.CAMERA:
            self._simulator("DELETE", f"/cameras/{target}/faults/{incident.fault}")
        elif kind is Kind.LINK_CUT:
            self.stack.links[target].restore()
        elif kind in (Kind.BROKER_RESTART, Kind.BROKER_KILL):
            self.stack.start_child("mosquitto", self._saved.pop("mosquitto"))
        elif kind is Kind.INGEST_KILL:
            self.stack.start_child("central-ingest", self._saved.pop("central-ingest"))
        elif kind is Kind.AGENT_RESTART:
            self.stack.start_child(target, self._saved.pop(target))
        elif kind is Kind.DISK_FULL:
            self.stack.free_central_disk()

    def _simulator(self, method: str, path: str, body: dict[str, str] | None = None) -> None:
        for attempt in range(3):
            try:
                self._control.request(method, path, json=body).raise_for_status()
                return
            except httpx.TimeoutException:
                if attempt == 2:
                    raise

    def _hold_database(self, seconds: float) -> None:
        """Hold central's database so no one can write: SQLite's exclusive lock, PostgreSQL's table locks."""
        if self._database_url.startswith("sqlite:///"):
            path = self._database_url.removeprefix("sqlite:///")
            with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
                db.execute("BEGIN EXCLUSIVE")
                time.sleep(seconds)
                db.execute("ROLLBACK")
            return
        engine = create_engine(self._database_url)
        try:
            with engine.begin() as connection:
                connection.execute(text("LOCK TABLE cameras, ingested_messages IN ACCESS EXCLUSIVE MODE"))
                time.sleep(seconds)
        finally:
            engine.dispose()
