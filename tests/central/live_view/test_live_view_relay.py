"""The live-view relay end to end: simulator RTSP -> real agent -> real TLS broker -> relay -> two viewers.

Two viewers of one camera share one upstream (one lease on the agent, one stream there); the agent's
stream ends soon after the last viewer closes its socket; a camera of an agent that is not there is
reported as live_timeout within the start timeout.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from central.live_view.wire import watch
from edge_agent.agent import Agent
from shared.messages import LiveFrame, LiveState
from simulator.testing import FleetClient
from tests.fixtures.broker import Pki, TlsBroker
from tests.fixtures.live_view import live_stack, running_relay

pytestmark = pytest.mark.xdist_group("broker")


def test_two_viewers_share_one_upstream_which_stops_when_they_leave(
    pki: Pki, tls_broker: TlsBroker, live_fleet: FleetClient, tmp_path: Path
) -> None:
    # central's budget for this agent's link (1200 kbit/s) is below the agent's own (2000): it holds.
    stack = live_stack(pki, tls_broker, live_fleet.cameras[0], tmp_path, live={"max_width": 320},
                       live_view={"start_timeout_s": 8, "agent_kbps": 1200})
    name, socket_path = stack.name, stack.socket_path

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
        agent = Agent(stack.agent)
        runner = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.wait_for(agent.publisher.connected.wait(), 20)
            await asyncio.sleep(1.0)
            first, second = await asyncio.gather(asyncio.to_thread(view, "gate", 8),
                                                 asyncio.to_thread(view, "gate", 8))
            assert [f.state for f in first + second] == [LiveState.FRAME] * 16
            assert relays[0].upstreams_started == 1 and agent.live.running == ["gate"]
            assert agent.live.central_kbps == 1200 and agent.live.budget_kbps == 1200  # sent with live_start
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

    with running_relay(stack.central) as relays:
        asyncio.run(scenario())
