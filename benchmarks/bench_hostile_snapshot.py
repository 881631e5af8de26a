"""Benchmark: the agent's memory against a device whose snapshot "JPEG" is 600 MB (issue 15: bound every read).

A hostile device (a thread of this process) answers the snapshot request with 600 MB: streamed without a
length, or announced in Content-Length. The agent's side runs in its own process per case, one snapshot
check each, and prints its peak RSS; a real 640x360 JPEG from the simulator's scene is the baseline. Before
the bound, the check read the answer whole: +1,350 MB RSS in 4 s for the 600 MB case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.report import write_section

REPO = Path(__file__).resolve().parent.parent
HOSTILE_BYTES = 600 * 1024 * 1024
COMMAND = "python -m benchmarks.bench_hostile_snapshot"


def _jpeg() -> bytes:
    import cv2
    import numpy as np

    frame = np.zeros((360, 640, 3), np.uint8)
    cv2.putText(frame, "SCC", (200, 200), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
    ok, encoded = cv2.imencode(".jpg", frame)
    assert ok
    return bytes(encoded)


def serve(ready: threading.Event, port: list[int]) -> None:
    """The hostile device: /plain (a real JPEG), /stream (600 MB, no length), /declared (600 MB announced)."""
    jpeg = _jpeg()
    chunk = b"\0" * 65536

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            if path == b"/plain":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: "
                             + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg)
            else:
                length = b"Content-Length: " + str(HOSTILE_BYTES).encode() + b"\r\n" if path == b"/declared" else b""
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n" + length
                             + b"\r\n\xff\xd8\xff\xe0")
                for _ in range(HOSTILE_BYTES // len(chunk)):
                    writer.write(chunk)
                    await writer.drain()
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        await server.serve_forever()

    asyncio.run(main())


def check(url: str) -> None:
    """Child process: one snapshot check of ``url``; prints the outcome and this process's peak RSS."""
    from edge_agent.checks.base import CameraTarget, CheckContext
    from edge_agent.checks.snapshot import Snapshot
    from edge_agent.scheduler import CameraChecker, close_resources, make_resources
    from tests.edge_agent.conftest import agent_config

    async def main() -> tuple[str, float]:
        with tempfile.TemporaryDirectory() as state:
            config = agent_config("agent-bench", Path(state), timeouts={"snapshot_s": 60})
            target = CameraTarget(camera_id="cam-1", host="127.0.0.1", port=80, onvif=False, snapshot_url=url)
            resources = make_resources(config)
            checker = CameraChecker(config, resources)
            started = time.monotonic()
            try:
                result = await Snapshot().run(CheckContext(target, checker.runtime(target), resources))
            finally:
                await checker.close()
                await close_resources(resources)
            return result.reason, time.monotonic() - started

    reason, seconds = asyncio.run(main())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"reason": reason, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb)}))


def run() -> None:
    ready, port = threading.Event(), list[int]()
    threading.Thread(target=serve, args=(ready, port), daemon=True).start()
    ready.wait(30)
    rows = []
    for case, label in (("plain", "a real 640x360 JPEG (baseline)"),
                        ("stream", "600 MB streamed without a length"),
                        ("declared", "600 MB announced in Content-Length")):
        out = subprocess.run([sys.executable, "-m", "benchmarks.bench_hostile_snapshot", "--check",
                              f"http://127.0.0.1:{port[0]}/{case}"], cwd=REPO, capture_output=True, text=True,
                             check=True, timeout=300).stdout
        result = json.loads(out.strip().splitlines()[-1])
        rows.append(f"| {label} | `{result['reason']}` | {result['seconds']} s | {result['peak_rss_mb']} MB |")
    text = f"""## Hostile snapshot: the agent's memory

`{COMMAND}` on {platform.machine()} ({platform.python_version()}), {time.strftime('%Y-%m-%d')}. One snapshot
check per process against a local device; peak RSS is the checking process's own (`ru_maxrss`), which
includes the agent's imports (OpenCV, numpy, httpx). The check reads at most
`edge_agent.checks.snapshot.MAX_SNAPSHOT_BYTES` (12 MiB) and reports `snapshot_too_large` beyond it;
before the bound a 600 MB answer cost +1,350 MB RSS in 4 s.

| device answers | check's reason | time | peak RSS |
| --- | --- | --- | --- |
{chr(10).join(rows)}
"""
    write_section("hostile-snapshot", text)
    print(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        check(args.check)
    else:
        run()
