"""Live view on the agent, end to end: the simulator's RTSP, the real TLS broker, leases from central.

What is asserted is what central receives on scc/v1/live/<agent>/<camera>: frames that decode within
the size and rate limits, one stream however many leases, the end when the last lease goes, a quick
failure with a reason for a camera whose stream cannot open.
"""

from __future__ import annotations

import asyncio
import queue
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent import live_view
from edge_agent.agent import Agent
from edge_agent.checks.base import CameraTarget
from edge_agent.config import LiveSection
from edge_agent.onvif_replies import MediaProfile
from shared import topics
from shared.codec import Decoded, decode, encode
from shared.messages import Command, CommandName, LiveFrame, LiveState, StreamProfile, utc_now
from simulator.testing import FleetClient, run_fleet_process
from tests.edge_agent.conftest import agent_config
from tests.fixtures.broker import CENTRAL_COMMANDS, CENTRAL_OBSERVER, BrokerClient, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("broker")
Profile = MediaProfile | None


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetClient]:
    # Its own process: the agent decodes RTSP with OpenCV, which would stall an in-process simulator.
    with run_fleet_process(1, extra_args=["--discovery-port", "0"]) as client:
        yield client


def _frames(client: BrokerClient, until: float, arrivals: list[float] | None = None) -> list[tuple[LiveFrame, bytes]]:
    """Live messages until ``until``, a stream's end or a still; ``arrivals`` gets each one's monotonic time."""
    got = []
    while (left := until - time.monotonic()) > 0:
        try:
            message = client.messages.get(timeout=left)
        except queue.Empty:
            break
        decoded = decode(message.topic, bytes(message.payload))
        assert isinstance(decoded, Decoded), decoded
        assert isinstance(decoded.message, LiveFrame)
        got.append((decoded.message, decoded.jpeg or b""))
        if arrivals is not None:
            arrivals.append(time.monotonic())
        if decoded.message.state is not LiveState.FRAME or decoded.message.still:
            break  # a stream's end, or a still (one message, never a stream)
    return got


async def _checked(agent: Agent, camera_id: str) -> None:
    """Check the camera now, so its reason is its checks' (its first check may come any time within the
    interval: the scheduler spreads them)."""
    await agent.scheduler.run_once(camera_id)
    assert agent.live.reason(camera_id) == "unreachable"


@pytest.mark.parametrize(("checks_reason", "sent"), [("", "rtsp_no_frames"), ("ok", "rtsp_no_frames"),
                                                     ("unreachable", "unreachable")])
def test_a_failed_still_names_the_cameras_own_fault_before_the_streams(checks_reason: str, sent: str) -> None:
    """The operator is told why the camera is bad (its checks' reason, e.g. powered off) rather than what
    the stream did, which says less; before any check, or when the checks found it fine, the stream's."""
    dead = CameraTarget(camera_id="dead", host="127.0.0.1", port=9, onvif=False, rtsp_url="rtsp://127.0.0.1:9/s")
    view = live_view.LiveView("agent-x", LiveSection(), lambda camera_id: (dead, None), lambda camera_id: checks_reason,
                              lambda topic, payload: True, 2000, 2000)
    assert view._still("dead") == (sent, "the stream did not open")


def test_live_view_leases_frames_budget_and_failures(
    pki: Pki, tls_broker: TlsBroker, fleet: FleetClient, tmp_path: Path
) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    camera = fleet.cameras[0]
    config = agent_config(
        name, tmp_path, broker_port=tls_broker.port, ca=pki.ca_cert, cert=pki.cert(name), key=pki.key(name),
        schedule={"interval_s": 600, "metrics_every_s": 600, "discovery_every_s": 3600},
        discovery={"enabled": False},
        live={"max_fps": 4.0, "max_width": 320, "max_kbps": 2000, "max_duration_s": 60},
        cameras=[
            {"id": "gate", "host": camera.host, "port": camera.onvif_port, "username": camera.username,
             "password": camera.password, "rtsp_url": camera.rtsp_url, "onvif": False},
            # Nothing listens there: the stream cannot open.
            {"id": "dead", "host": "127.0.0.1", "port": 9, "rtsp_url": "rtsp://127.0.0.1:9/stream", "onvif": False},
        ],
    )
    central = tls_broker.connect(CENTRAL_OBSERVER)
    central.subscribe_and_wait(f"{topics.LIVE}/{name}/#")
    commands = tls_broker.connect(CENTRAL_COMMANDS)
    seq = iter(range(1, 1000))

    def send(name_: CommandName, camera_id: str, lease: str, lease_s: int | None = 3) -> None:
        command = Command(agent=name, seq=next(seq), msg_id=uuid.uuid4().hex, ts=utc_now(), command_id=lease,
                          name=name_, camera_id=camera_id, requested_by="test",
                          lease_s=lease_s if name_ is CommandName.LIVE_START else None)
        commands.publish_and_wait(topics.command(name, name_.value), encode(command))

    async def scenario() -> None:
        stop = asyncio.Event()
        agent = Agent(config)
        runner = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.wait_for(agent.publisher.connected.wait(), 20)
            await asyncio.sleep(0.5)  # the command subscription follows the connect
            started = time.monotonic()
            send(CommandName.LIVE_START, "gate", "viewer-a")
            arrivals: list[float] = []
            first = await asyncio.to_thread(_frames, central, time.monotonic() + 2.5, arrivals)
            assert first and first[0][0].state is LiveState.FRAME, first
            first_after = arrivals[0] - started
            # A second viewer joins, the first leaves: the same stream goes on (one upstream per camera).
            send(CommandName.LIVE_START, "gate", "viewer-b")
            send(CommandName.LIVE_STOP, "gate", "viewer-a")
            assert agent.live.running == ["gate"]
            window = time.monotonic()
            shared = await asyncio.to_thread(_frames, central, window + 2.0)
            rate = len(shared) / (time.monotonic() - window)
            assert all(frame.state is LiveState.FRAME for frame, _ in shared), shared[-1]
            # viewer-b stops renewing its 3 s lease (a closed tab): the stream ends by itself.
            tail = await asyncio.to_thread(_frames, central, time.monotonic() + 6.0)
            assert tail and tail[-1][0].state is LiveState.ENDED and tail[-1][0].reason == "viewer_left"
            assert agent.live.running == []

            await _checked(agent, "dead")
            failing = time.monotonic()
            send(CommandName.LIVE_START, "dead", "viewer-c")
            failed = await asyncio.to_thread(_frames, central, time.monotonic() + 15)
            failed_after = time.monotonic() - failing  # _frames returns at the stream's end
            send(CommandName.LIVE_START, "nowhere", "viewer-d")
            unknown = await asyncio.to_thread(_frames, central, time.monotonic() + 5)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 30)
        assert first_after < 2.5
        assert 2.0 <= rate <= 4.6, rate  # max_fps 4 (a frame late at the window's edge counts in the next)
        image = cv2.imdecode(np.frombuffer(shared[-1][1], np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[1] == 320 == shared[-1][0].width
        assert {f.profile for f, _ in first + shared if f.state is LiveState.FRAME} == {StreamProfile.RTSP_URL}
        assert tail[-1][0].profile is None  # an end names no stream
        assert [f.state for f, _ in failed] == [LiveState.FAILED] and failed[0][0].reason == "unreachable"
        assert failed_after < 10
        assert [(f.state, f.reason) for f, _ in unknown] == [(LiveState.FAILED, "unknown_camera")]

    asyncio.run(scenario())


def test_snapshot_now_sends_one_full_size_still_that_fits_or_says_why(
    pki: Pki, tls_broker: TlsBroker, fleet: FleetClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    camera = fleet.cameras[0]
    config = agent_config(
        name, tmp_path, broker_port=tls_broker.port, ca=pki.ca_cert, cert=pki.cert(name), key=pki.key(name),
        schedule={"interval_s": 600, "metrics_every_s": 600, "discovery_every_s": 3600},
        discovery={"enabled": False}, live={"max_width": 320},
        cameras=[
            {"id": "gate", "host": camera.host, "port": camera.onvif_port, "username": camera.username,
             "password": camera.password, "rtsp_url": camera.rtsp_url, "onvif": False},
            {"id": "dead", "host": "127.0.0.1", "port": 9, "rtsp_url": "rtsp://127.0.0.1:9/stream", "onvif": False},
        ],
    )
    central = tls_broker.connect(CENTRAL_OBSERVER)
    central.subscribe_and_wait(f"{topics.LIVE}/{name}/#")
    commands = tls_broker.connect(CENTRAL_COMMANDS)
    seq = iter(range(1, 1000))

    def still(camera_id: str) -> list[tuple[LiveFrame, bytes]]:
        command = Command(agent=name, seq=next(seq), msg_id=uuid.uuid4().hex, ts=utc_now(), command_id="still-1",
                          name=CommandName.SNAPSHOT_NOW, camera_id=camera_id, requested_by="test")
        commands.publish_and_wait(topics.command(name, CommandName.SNAPSHOT_NOW.value), encode(command))
        got = _frames(central, time.monotonic() + 15)
        assert len(got) == 1 and got[0][0].still, got  # one message, marked as a still, and no stream
        return got

    async def scenario() -> list[list[tuple[LiveFrame, bytes]]]:
        stop = asyncio.Event()
        agent = Agent(config)
        runner = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.wait_for(agent.publisher.connected.wait(), 20)
            await asyncio.sleep(0.5)
            full = await asyncio.to_thread(still, "gate")
            # A picture that would not fit at quality 90 is sent at a lower quality...
            monkeypatch.setattr(live_view, "MAX_STILL_BYTES", int(full[0][0].size_bytes * 0.8))
            smaller = await asyncio.to_thread(still, "gate")
            # ... and one that fits at no quality is refused with a reason.
            monkeypatch.setattr(live_view, "MAX_STILL_BYTES", 1000)
            too_large = await asyncio.to_thread(still, "gate")
            await _checked(agent, "dead")
            dead = await asyncio.to_thread(still, "dead")
            assert agent.live.running == []
            return [full, smaller, too_large, dead]
        finally:
            stop.set()
            await asyncio.wait_for(runner, 30)

    full, smaller, too_large, dead = asyncio.run(scenario())
    image = cv2.imdecode(np.frombuffer(full[0][1], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (360, 640) and (full[0][0].width, full[0][0].height) == (640, 360)  # not 320 px
    assert smaller[0][0].state is LiveState.FRAME and smaller[0][0].size_bytes <= full[0][0].size_bytes * 0.8
    assert [(f.state, f.reason) for f, _ in too_large] == [(LiveState.FAILED, "still_too_large")]
    assert [(f.state, f.reason) for f, _ in dead] == [(LiveState.FAILED, "unreachable")]


def test_live_view_reads_the_onvif_sub_stream_nearest_its_width(
    pki: Pki, tls_broker: TlsBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 1280x720 camera offers Profile_1 (main) and Profile_2 (640x360, .../sub): live view at 640 px
    streams the sub-stream instead of scaling the main one down; the checks and a still keep the main."""
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('[defaults]\nresolution = "1280x720"\n')
    name = pki.provision_agent()
    tls_broker.reload()
    with run_fleet_process(1, extra_args=["--discovery-port", "0"], scenario_file=scenario) as big:
        camera = big.cameras[0]
        config = agent_config(
            name, tmp_path, broker_port=tls_broker.port, ca=pki.ca_cert, cert=pki.cert(name), key=pki.key(name),
            schedule={"interval_s": 3, "metrics_every_s": 600, "discovery_every_s": 3600},
            discovery={"enabled": False}, live={"max_width": 640},
            cameras=[{"id": "gate", "host": camera.host, "port": camera.onvif_port, "username": camera.username,
                      "password": camera.password}],
        )
        central = tls_broker.connect(CENTRAL_OBSERVER)
        central.subscribe_and_wait(f"{topics.LIVE}/{name}/#")
        commands = tls_broker.connect(CENTRAL_COMMANDS)

        def send(name_: CommandName, seq: int) -> None:
            command = Command(agent=name, seq=seq, msg_id=uuid.uuid4().hex, ts=utc_now(), command_id=f"c{seq}",
                              name=name_, camera_id="gate", requested_by="test",
                              lease_s=5 if name_ is CommandName.LIVE_START else None)
            commands.publish_and_wait(topics.command(name, name_.value), encode(command))

        async def scenario_() -> tuple[Profile, Profile, list[tuple[LiveFrame, bytes]], list[tuple[LiveFrame, bytes]]]:
            stop = asyncio.Event()
            agent = Agent(config)
            runner = asyncio.create_task(agent.run(stop))
            try:
                await asyncio.wait_for(agent.publisher.connected.wait(), 20)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:  # the first check cycle reads the profiles
                    runtime = agent.checker.runtimes.get("gate")
                    if runtime is not None and runtime.session.profile is not None:
                        break
                    await asyncio.sleep(0.2)
                assert runtime is not None
                session = runtime.session
                send(CommandName.LIVE_START, 1)
                frames = await asyncio.to_thread(_frames, central, time.monotonic() + 6)
                send(CommandName.LIVE_STOP, 2)
                await asyncio.to_thread(_frames, central, time.monotonic() + 5)  # up to the stream's end
                send(CommandName.SNAPSHOT_NOW, 3)
                still = await asyncio.to_thread(_frames, central, time.monotonic() + 15)
                return session.profile, session.live, frames, still
            finally:
                stop.set()
                await asyncio.wait_for(runner, 30)

        with caplog.at_level("INFO", logger="edge_agent.live_view"):
            main, live, frames, still = asyncio.run(scenario_())
    assert main is not None and (main.token, main.width) == ("Profile_1", 1280)  # the checks' profile
    assert live is not None and (live.token, live.width, live.height) == ("Profile_2", 640, 360)
    assert live.stream_uri and live.stream_uri.endswith(f"/cam/{camera.id}/sub")
    assert frames and all(f.state is LiveState.FRAME for f, _ in frames[:-1])
    assert (frames[0][0].width, frames[0][0].height) == (640, 360)
    assert any("reads ONVIF profile Profile_2 (640x360" in r.getMessage() for r in caplog.records), caplog.text
    assert still and still[0][0].still and (still[0][0].width, still[0][0].height) == (1280, 720)
    # Each frame says which stream it came from (central's viewing record shows it): sub here, main for a still.
    assert {f.profile for f, _ in frames if f.state is LiveState.FRAME} == {StreamProfile.SUB}
    assert still[0][0].profile is StreamProfile.MAIN


def test_central_budget_lowers_the_agents_own_and_never_raises_it() -> None:
    """live_start carries central's budget for this agent's link ([live_view] agent_kbps): the lower holds."""
    sent: list[tuple[str, bytes]] = []
    view = live_view.LiveView("agent-x", agent_config("agent-x", Path("/nonexistent")).live, lambda _camera: None,
                              lambda _camera: "", lambda topic, payload: sent.append((topic, payload)) or True,
                              1000, 1000)

    def start(max_kbps: int | None) -> None:
        view.handle(Command(agent="agent-x", seq=1, msg_id=uuid.uuid4().hex, ts=utc_now(), command_id="relay-a",
                            name=CommandName.LIVE_START, camera_id="gate", lease_s=5, max_kbps=max_kbps))

    assert view.budget_kbps == 2000  # [live] max_kbps's default
    start(None)
    assert view.budget_kbps == 2000
    start(600)
    assert view.budget_kbps == 600
    assert view._interval(30_000) == pytest.approx(30_000 / (600 * 1000 / 8))  # 30 kB frames at 600 kbit/s
    start(8000)
    assert view.budget_kbps == 2000  # central cannot give the link more than the agent allows itself
    assert len(sent) == 3  # the camera is unknown here: each start was answered, and nothing streamed
