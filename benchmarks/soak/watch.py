"""What the soak watches while it runs: the API and the live stream (as a screen would), the processes,
the outboxes of cut-off agents, and an independent tap on every report the agents publish.

Each watcher is a daemon thread that only appends observations; ``benchmarks.soak.verdict`` reads them
afterwards. Times are ``time.monotonic()`` seconds, comparable with the chaos actions' timestamps.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psutil

from shared.mqtt import TlsFiles, connect_persistent, make_client

POLL_S = 1.0


class Watcher:
    """A loop run every ``every_s`` on its own thread until ``stop``; an exception is kept, not lost."""

    every_s = POLL_S

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as error:
                if len(self.errors) < 50:
                    self.errors.append(f"{type(error).__name__}: {error}")
            self._stop.wait(self.every_s)

    def tick(self) -> None:
        raise NotImplementedError


@dataclass(slots=True)
class Observation:
    at: float
    camera_id: str
    status: str
    reason: str = ""
    # When the agent checked (its status's timestamp, on this clock): splits a slow failure-to-screen
    # into the agent's detection and the way to the screen.
    checked_at: float | None = None


def _on_this_clock(stamp: str | None, now: float, wall: dt.datetime) -> float | None:
    """An API timestamp (UTC, with or without its zone) as a ``time.monotonic()`` reading."""
    if not stamp:
        return None
    when = dt.datetime.fromisoformat(stamp)
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return now - (wall - when).total_seconds()


class ApiWatcher(Watcher):
    """Polls /api/v1/cameras each second with a token, recording every change of a camera's status."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__()
        self._client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.current: dict[str, str] = {}
        self.changes: list[Observation] = []
        self.pk_of: dict[str, int] = {}
        self.failed_polls = 0

    def tick(self) -> None:
        offset, seen = 0, 0
        while True:
            try:
                response = self._client.get("/api/v1/cameras", params={"limit": 500, "offset": offset})
            except httpx.HTTPError:
                self.failed_polls += 1
                return
            if response.status_code != 200:
                self.failed_polls += 1
                return
            page = response.json()
            now, wall = time.monotonic(), dt.datetime.now(dt.UTC)
            for item in page["items"]:
                camera_id, status = item["camera_id"], item["status"]
                self.pk_of[camera_id] = item["id"]
                if self.current.get(camera_id) != status:
                    self.current[camera_id] = status
                    self.changes.append(Observation(now, camera_id, status, item.get("reason", ""),
                                                    _on_this_clock(item.get("last_check_at"), now, wall)))
            seen += len(page["items"])
            offset += 500
            if seen >= page["total"] or not page["items"]:
                return

    def open_alerts(self) -> int:
        """How many alerts are open now (0 when the API does not answer: the caller polls again)."""
        try:
            response = self._client.get("/api/v1/alerts", params={"status": "firing", "limit": 1})
        except httpx.HTTPError:
            return 1
        return int(response.json()["total"]) if response.status_code == 200 else 1

    def alerts(self) -> list[dict[str, object]]:
        items: list[dict[str, object]] = []
        offset = 0
        while True:
            page = self._client.get("/api/v1/alerts", params={"status": "all", "limit": 500, "offset": offset}).json()
            items.extend(page["items"])
            offset += 500
            if offset >= page["total"]:
                return items


class LiveWatcher(Watcher):
    """Holds the live stream a logged-in page holds (/live/events) and records each camera change it pushes."""

    every_s = 0.2

    def __init__(self, base_url: str, user: str, password: str) -> None:
        super().__init__()
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10, read=60), follow_redirects=True)
        self._user, self._password = user, password
        self._last_id = ""
        self.changes: list[tuple[float, int, str]] = []  # (at, camera pk, state)
        self.reconnects = 0

    def _log_in(self) -> None:
        form = self._client.get("/login").text
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
        if match is None:
            raise RuntimeError("no csrf_token on /login")
        self._client.post(
            "/login", data={"username": self._user, "password": self._password, "csrf_token": match.group(1)}
        )

    def tick(self) -> None:
        if "session" not in self._client.cookies:
            self._log_in()
        headers = {"Last-Event-ID": self._last_id} if self._last_id else {}
        with self._client.stream("GET", "/live/events", headers=headers) as response:
            if response.status_code in (401, 403):
                self._client.cookies.clear()
                return
            self.reconnects += 1
            event = ""
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("id: "):
                    self._last_id = line[4:]
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "change":
                    payload = json.loads(line[6:])
                    if payload.get("camera") is not None:
                        self.changes.append((time.monotonic(), int(payload["camera"]), str(payload["state"])))


@dataclass(slots=True)
class Sample:
    at: float
    rss: dict[str, int]  # bytes per process group
    cpu_s: dict[str, float]  # CPU seconds used so far per group
    pids: dict[str, frozenset[int]] = field(default_factory=dict)  # each group's own processes: a restart changes them


class ProcessSampler(Watcher):
    """Every 10 s, the RSS and CPU time of each named process (with its children: gunicorn's workers)."""

    every_s = 10.0

    def __init__(self, groups: Callable[[], dict[str, list[int]]]) -> None:
        super().__init__()
        self._groups = groups
        self.samples: list[Sample] = []

    def tick(self) -> None:
        rss: dict[str, int] = {}
        cpu: dict[str, float] = {}
        groups = self._groups()
        for group, pids in groups.items():
            for process in _with_children(pids):
                with contextlib.suppress(psutil.Error):
                    memory = process.memory_info().rss
                    times = process.cpu_times()
                    rss[group] = rss.get(group, 0) + memory
                    cpu[group] = cpu.get(group, 0.0) + times.user + times.system
        self.samples.append(Sample(time.monotonic(), rss, cpu, {group: frozenset(pids) for group, pids in groups.items()}))


def _with_children(pids: Iterable[int]) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            found.append(process)
            found.extend(process.children(recursive=True))
    return found


class OutboxSampler(Watcher):
    """The depth of each agent's outbox, sampled every 5 s, for the agents ``watched`` returns."""

    every_s = 5.0

    def __init__(self, outboxes: dict[str, Path], watched: Callable[[], set[str]]) -> None:
        super().__init__()
        self._outboxes = outboxes
        self._watched = watched
        self.peak: dict[str, int] = {}

    def tick(self) -> None:
        for agent in self._watched():
            depth = outbox_depth(self._outboxes[agent])
            self.peak[agent] = max(self.peak.get(agent, 0), depth)


def outbox_depth(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


class Tap:
    """Every report any agent publishes, seen by a subscriber of its own (not the ingest's share).

    Its session is persistent (QoS 1), so a broker restart loses it nothing the broker kept; what a
    crashed broker lost, the agents send again, and the tap sees it then.
    """

    def __init__(self, files: TlsFiles, host: str, port: int) -> None:
        self.seen: dict[str, tuple[str, int, str]] = {}  # msg_id -> (agent, seq, topic)
        self._client = make_client(files)  # its certificate's name is its client id
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def start(self) -> None:
        connect_persistent(self._client, self._host, self._port)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        client.subscribe("scc/v1/agents/+/#", qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if "/cmd/" in message.topic:
            return  # central's commands to the agent, not the agent's reports
        with contextlib.suppress(ValueError, KeyError, TypeError):
            data = json.loads(message.payload)
            self.seen[str(data["msg_id"])] = (str(data["agent"]), int(data["seq"]), message.topic)
