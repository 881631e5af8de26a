"""A small real SCC stack for the end-to-end tests: demo/stack.py's orchestration on a 4-camera scenario.

Everything is the production code path: scc-provision, Mosquitto with mutual TLS, scc-sim, scc-agent,
scc-central ingest, serve (gunicorn) and alerts run, each its own process on free ports.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import ssl
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from demo.processes import Supervisor
from demo.scenario import parse_scenario
from demo.stack import READER, DemoOptions, Running, Stack
from simulator.descriptors import FleetDescriptor
from simulator.testing import FleetClient

T = TypeVar("T")

AGENT = "agent-e2e"
REGENCY = "16.06"
# One agent and four cameras checked every 3 s; alert rules that fire and resolve at once, evaluated
# every second; live pages that poll the change feed three times a second.
SCENARIO: dict[str, Any] = {
    "seed": 61,
    "agents": [
        {
            "name": AGENT,
            "regency": REGENCY,
            "opd": "Dinas Komunikasi dan Informatika Kabupaten Musi Banyuasin",
            "cameras": 4,
            "websites": 0,
            "locations": ["Kantor Bupati Sekayu", "Jembatan Sekayu"],
        }
    ],
    "agent_settings": {
        # RTSP decoding is the costly check and plays no part here: snapshots carry the image checks.
        "schedule": {"interval_s": 3, "rtsp_every": 1000, "metrics_every_s": 10, "thumbnail_every_s": 600},
        "thresholds": {"frozen_diff": 0.02},
    },
    "central": {
        "web": {"rollup_cache_s": 0, "sse_poll_s": 0.3},
        "ingest": {"summary_interval_s": 0.5},
        "alerts": {
            "interval_s": 1,
            "grouping": {"enabled": False},
            "delivery": {"backoff_initial_s": 1},
            "rules": {
                "camera": {
                    "degraded": {"fire_after_minutes": 0, "resolve_after_minutes": 0},
                    "offline": {"fire_after_minutes": 0, "resolve_after_minutes": 0},
                }
            },
        },
    },
}


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except (OSError, ValueError, KeyError) as error:
            last_error = error
        if time.monotonic() >= deadline:
            pytest.fail(
                f"{what}: not within {timeout:.0f} s" + (f" (last error: {last_error})" if last_error else "")
            )
        time.sleep(every)


class PublicReader:
    """A third party on the broker with the demo's reader certificate, subscribed to scc/v1/public/#."""

    def __init__(self, state: Path, port: int) -> None:
        pki = state / "pki"
        self.retained: dict[str, dict[str, Any]] = {}
        self.alerts: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"e2e-{os.getpid()}",
            protocol=mqtt.MQTTv5,
        )
        self.client.tls_set(
            ca_certs=str(pki / "ca.crt"),
            certfile=str(pki / "clients" / f"{READER}.crt"),
            keyfile=str(pki / "clients" / f"{READER}.key"),
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
        self.client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe("scc/v1/public/#", qos=1)
        self.client.on_subscribe = lambda *_args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(15):
            raise TimeoutError("the reader never got its subscription to scc/v1/public/#")

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        payload = json.loads(message.payload) if message.payload else {}
        if message.topic.endswith("/alerts"):
            self.alerts.put(payload)
            return
        with self._lock:
            self.retained[message.topic] = payload

    def latest(self, topic: str) -> dict[str, Any] | None:
        with self._lock:
            return self.retained.get(topic)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class E2EStack:
    """The running stack and handles on it: the API, the simulator's fault control, a public reader."""

    running: Running
    state: Path
    fleet: FleetClient
    reader: PublicReader
    pks: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def password(self) -> str:
        assert self.running.credentials is not None
        return self.running.credentials.password

    def api(self, path: str) -> Any:
        assert self.running.credentials is not None
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.running.credentials.token}"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read())

    def cameras(self) -> dict[str, dict[str, Any]]:
        page = self.api(f"/api/v1/cameras?regency={REGENCY}&limit=100")
        return {item["camera_id"]: item for item in page["items"] if item["agent"] == AGENT}

    def webhook_events(self) -> list[dict[str, Any]]:
        log = self.running.webhook_log
        if log is None or not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="package")
def e2e_stack() -> Iterator[E2EStack]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed")
    # Not tmp_path: pytest's base directory is 0700 and Mosquitto reads the PKI as its own user.
    root = Path(tempfile.mkdtemp(prefix="scc-e2e-"))
    root.chmod(0o755)
    state = root / "state"
    supervisor = Supervisor(state / "logs")
    options = DemoOptions(state_dir=state, web_port=0, broker_port=0, web_workers=1, fresh=True)
    reader: PublicReader | None = None
    try:
        running = Stack(options, parse_scenario(SCENARIO, "e2e scenario"), supervisor).start(
            say=lambda _m: None
        )
        fleet = FleetClient(
            FleetDescriptor.from_json(json.loads((state / "simulator-fleet.json").read_text()))
        )
        reader = PublicReader(state, running.broker_port)
        stack = E2EStack(running, state, fleet, reader)
        # Every camera reported and ok before any test breaks one.

        def all_ok() -> dict[str, dict[str, Any]] | None:
            cameras = stack.cameras()
            return (
                cameras if len(cameras) == 4 and all(c["status"] == "ok" for c in cameras.values()) else None
            )

        ready = wait_for("all four cameras ok in the API", all_ok, timeout=60)
        stack.pks = {camera_id: item["id"] for camera_id, item in ready.items()}
        yield stack
    except BaseException:
        for child in supervisor.children:
            print(f"--- {child.name} ({child.log_path}) ---\n{child.log_tail(30)}")
        raise
    finally:
        if reader is not None:
            reader.close()
        supervisor.stop_all()
        shutil.rmtree(root, ignore_errors=True)
