"""The live-view relay end to end: simulator RTSP -> real agent -> real TLS broker -> relay -> two viewers.

Two viewers of one camera share one upstream (one lease on the agent, one stream there); the agent's
stream ends soon after the last viewer closes its socket; a camera of an agent that is not there is
reported as live_timeout within the start timeout.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.config import parse_config
from central.live_view import relay as relay_module
from central.live_view.wire import watch
from edge_agent.agent import Agent
from shared.messages import LiveFrame, LiveState
from simulator.testing import FleetClient, run_fleet_process
from tests.edge_agent.conftest import agent_config
from tests.fixtures.broker import CENTRAL, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("broker")


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetClient]:
    with run_fleet_process(1, extra_args=["--discovery-port", "0"]) as client:
        yield client


def test_two_viewers_share_one_upstream_which_stops_when_they_leave(
    pki: Pki, tls_broker: TlsBroker, fleet: FleetClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    camera = fleet.cameras[0]
    agent_conf = agent_config(
        name, tmp_path / "agent", broker_port=tls_broker.port, ca=pki.ca_cert, cert=pki.cert(name),
        key=pki.key(name), schedule={"interval_s": 600, "metrics_every_s": 600, "discovery_every_s": 3600},
        discovery={"enabled": False}, live={"max_fps": 4.0, "max_width": 320},
        cameras=[{"id": "gate", "host": camera.host, "port": camera.onvif_port, "username": camera.username,
                  "password": camera.password, "rtsp_url": camera.rtsp_url, "onvif": False}],
    )
    central = parse_config({
        "state_dir": str(tmp_path / "central"),
        "broker": {"host": tls_broker.host, "port": tls_broker.port, "ca": str(pki.ca_cert),
                   "cert": str(pki.cert(CENTRAL)), "key": str(pki.key(CENTRAL))},
        "live_view": {"lease_s": 3, "start_timeout_s": 8},
    })
    relays: list[relay_module.Relay] = []
    original = relay_module.Relay
    monkeypatch.setattr(relay_module, "Relay", lambda *a: relays.append(original(*a)) or relays[-1])
    stop_relay, ready = threading.Event(), threading.Event()
    relay_thread = threading.Thread(target=relay_module.serve, args=(central, stop_relay, ready), daemon=True)
    relay_thread.start()
    assert ready.wait(10)
    socket_path = central.live_view.socket_path(Path(central.state_dir))

    def view(camera_id: str, count: int, agent_name: str = name) -> list[LiveFrame]:
        seen: list[LiveFrame] = []
        for decoded in watch(socket_path, agent_name, camera_id, 15):
            assert isinstance(decoded.message, LiveFrame)
            seen.append(decoded.message)
            if len(seen) >= count or decoded.message.state is not LiveState.FRAME:
                break
        return seen  # leaving the loop closes the socket: the viewer leaves

    async def scenario() -> None:
        stop = asyncio.Event()
        agent = Agent(agent_conf)
        runner = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.wait_for(agent.publisher.connected.wait(), 20)
            await asyncio.sleep(1.0)
            first, second = await asyncio.gather(asyncio.to_thread(view, "gate", 8),
                                                 asyncio.to_thread(view, "gate", 8))
            assert [f.state for f in first + second] == [LiveState.FRAME] * 16
            assert relays[0].upstreams_started == 1 and agent.live.running == ["gate"]
            # Both left: live_stop went out at once, so the agent stops well before the lease would lapse.
            deadline = time.monotonic() + 3
            while agent.live.running and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert agent.live.running == []
            # Two askers of a still at once: one snapshot_now each, and both get a full-size still.
            stills = await asyncio.gather(*(asyncio.to_thread(lambda: list(watch(socket_path, name, "gate", 15, still=True)))
                                            for _ in range(2)))
            assert [[(d.message.state, d.message.still, d.message.width) for d in got] for got in stills] == \
                [[(LiveState.FRAME, True, 640)]] * 2  # type: ignore[union-attr]
            assert agent.live.running == []  # a still is not a stream
            missing = await asyncio.to_thread(view, "gate", 1, "agent-not-here")
            assert [(f.state, f.reason) for f in missing] == [(LiveState.FAILED, "live_timeout")]
        finally:
            stop.set()
            await asyncio.wait_for(runner, 30)

    try:
        asyncio.run(scenario())
    finally:
        stop_relay.set()
        relay_thread.join(10)
