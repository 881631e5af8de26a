"""A reporting agent as its own process, for the delivery tests: the real outbox and publisher, a steady stream.

``python -m tests.edge_agent.delivery_agent AGENT_TOML MADE_LOG INTERVAL_S`` adds the five cameras'
inventory, then a camera status (five
cameras in turn, keyed like the agent's) every INTERVAL_S and a host_metrics sample every ten reports,
appending "msg_id ts" of each report to MADE_LOG once the outbox has stored it. SIGUSR1 stops making
reports (after one last host_metrics sample) while the publisher carries on, so the outbox can drain.
It runs until SIGTERM (a clean stop) or SIGKILL (a crash); either way the outbox file is what a
restarted agent resumes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from edge_agent import metrics
from edge_agent.config import load_config
from edge_agent.outbox import Outbox
from edge_agent.publisher import Publisher
from shared.messages import CameraIdentity, CameraInventory, CameraState, CameraStatus, DiscoveryMethod

CAMERAS = 5
READY = "delivery agent running"


async def run(config_path: Path, made_log: Path, interval_s: float) -> None:
    config = load_config(config_path)
    outbox = Outbox(config.outbox_path, max_bytes=config.outbox.max_bytes, max_age_s=config.outbox.max_age_s)
    publisher = Publisher(config, outbox)
    stop, pause = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, pause.set)
    await publisher.start()
    print(READY, flush=True)  # the signal handlers are in place: the test may pause or stop us now
    name = config.agent.name
    index = 0

    def inventory(seq: int, msg_id: str) -> CameraInventory:
        # As the agent does before its first check: central knows a camera only from an inventory.
        cameras = [CameraIdentity(camera_id=f"cam-{i}", host=f"10.0.0.{i + 10}", port=80,
                                  discovered_by=DiscoveryMethod.STATIC) for i in range(CAMERAS)]
        return CameraInventory(agent=name, seq=seq, msg_id=msg_id, ts=datetime.now(UTC), cameras=cameras)

    outbox.add(inventory, key="inventory")
    with made_log.open("a", encoding="utf-8") as log:
        while not stop.is_set() and not pause.is_set():
            camera = f"cam-{index % CAMERAS}"

            def status(seq: int, msg_id: str, camera: str = camera) -> CameraStatus:
                return CameraStatus(agent=name, seq=seq, msg_id=msg_id, ts=datetime.now(UTC), camera_id=camera,
                                    status=CameraState.OK, reason="ok", checks=[])

            made = outbox.add(status, key=f"status/{camera}")
            log.write(f"{made.msg_id} {made.ts.isoformat()}\n")
            if index % 10 == 9:  # the outbox's own counters, as the agent reports them to central
                outbox.add(metrics.sample(name, config.agent.state_dir, outbox.stats()), key="metrics")
            log.flush()
            publisher.wake()
            index += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
    if pause.is_set():
        outbox.add(metrics.sample(name, config.agent.state_dir, outbox.stats()), key="metrics")
        publisher.wake()
        await stop.wait()
    await publisher.stop()
    outbox.close()


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])))
