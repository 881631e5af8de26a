"""Benchmark: the agent's memory against an ONVIF device whose reply never ends (issue 15: bound every read).

A hostile device in its own process answers every SOAP request with 600 MB: streamed without a length,
declared in Content-Length, or as a gzip bomb (600 MB of zeros in ~0.6 MB). The agent's side runs in
another process per case, one ``OnvifSession.system_time`` each, so its peak RSS is its own; a plain SOAP
reply is the baseline. For comparison the bound is lifted on a 200 MB stream, which is what the library's
own transport does (onvif-zeep-async reads a reply whole).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from benchmarks.report import write_section

REPO = Path(__file__).resolve().parent.parent
HOSTILE_BYTES = 600 * 1024 * 1024
LIBRARY_BYTES = 200 * 1024 * 1024
CHUNK = b"<a>" * 21_846  # ~64 KiB of an element that never closes
PLAIN = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
         b'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">'
         b"<s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
         b"<tt:DaylightSavings>false</tt:DaylightSavings></tds:SystemDateAndTime>"
         b"</tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>")


def _gzip_zeros(size: int) -> bytes:
    """``size`` zero bytes gzip-compressed, built a megabyte at a time (the device need not hold them)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    megabyte = b"\0" * (1 << 20)
    parts = [compressor.compress(megabyte) for _ in range(size >> 20)]
    return b"".join(parts) + compressor.flush()


def serve(port_file: Path) -> None:
    """The hostile device: /plain, /stream/<bytes>, /declared, /gzip on a free loopback port."""
    from aiohttp import web

    bomb = _gzip_zeros(HOSTILE_BYTES)

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        kind = request.match_info["kind"]
        if kind == "plain":
            return web.Response(body=PLAIN, content_type="application/soap+xml")
        if kind == "gzip":
            return web.Response(body=bomb, headers={"Content-Type": "application/soap+xml",
                                                     "Content-Encoding": "gzip"})
        headers = {"Content-Type": "application/soap+xml"}
        total = int(request.match_info.get("size") or HOSTILE_BYTES)
        if kind == "declared":
            headers["Content-Length"] = str(total)
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        sent = 0
        try:
            while sent < total:
                await response.write(CHUNK)
                sent += len(CHUNK)
        except (ConnectionError, RuntimeError):
            pass  # the agent hung up
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/{kind}", handle)
        app.router.add_post("/{kind}/{size}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_file.write_text(str(runner.addresses[0][1]))
        await asyncio.Event().wait()

    asyncio.run(main())


def client(url: str, unbounded: bool) -> dict[str, Any]:
    """One GetSystemDateAndTime against ``url`` in this process: outcome, time, peak RSS."""
    from edge_agent.onvif_client import OnvifSession
    from edge_agent.onvif_errors import ONVIF_ERRORS, classify
    from edge_agent.onvif_pool import OnvifPool

    async def main() -> str:
        # unbounded: the bound lifted past the reply, so it is read whole as the library's transport does.
        pool = OnvifPool(connections=2, reply_limit=4 * LIBRARY_BYTES) if unbounded else OnvifPool(connections=2)
        session = OnvifSession("127.0.0.1", 0, "", "", timeout_s=120, pool=pool, device_url=url)
        try:
            await session.system_time()
            return "read"
        except ONVIF_ERRORS as error:
            return f"{classify(error).reason}: {classify(error).message[:60]}"
        finally:
            await pool.close()

    import gc
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    outcome = asyncio.run(main())
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"outcome": outcome, "wall_s": wall, "rss_before_mib": before, "rss_peak_mib": peak}


def _run_client(url: str, unbounded: bool = False) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.bench_hostile_replies", "--client", url]
    if unbounded:
        argv.append("--unbounded")
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--unbounded", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/performance.md")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.client:
        print(json.dumps(client(args.client, args.unbounded)))
        return 0
    port_file = REPO / ".bench-hostile-port"
    port_file.unlink(missing_ok=True)
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_hostile_replies", "--serve", str(port_file)],
                              cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the hostile device did not start")
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        rows = [
            ("plain reply (baseline)", _run_client(f"{base}/plain")),
            ("600 MB streamed, no length", _run_client(f"{base}/stream")),
            ("600 MB declared in Content-Length", _run_client(f"{base}/declared")),
            ("gzip bomb: 600 MB of zeros in ~0.6 MB", _run_client(f"{base}/gzip")),
            ("200 MB streamed, bound lifted (what the library's transport does)",
             _run_client(f"{base}/stream/{LIBRARY_BYTES}", unbounded=True)),
        ]
    finally:
        server.terminate()
        server.wait(10)
        port_file.unlink(missing_ok=True)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    lines = [
        "## Hostile device: an ONVIF reply without end (bench_hostile_replies)",
        "",
        "Command: `.venv/bin/python -m benchmarks.bench_hostile_replies` (also run by `make bench`). A device in "
        "its own process answers GetSystemDateAndTime with each reply below; the agent side "
        "(`OnvifSession` on the shared `OnvifPool`, replies bounded at 2 MiB) runs in a fresh process per case.",
        f"Machine: {platform.machine()}, Python {platform.python_version()}; load average {load} at the end.",
        "",
        "| reply | agent outcome | time | agent peak RSS |",
        "|---|---|---|---|",
    ]
    for name, row in rows:
        lines.append(f"| {name} | {row['outcome']} | {row['wall_s']:.2f} s | {row['rss_peak_mib']:.0f} MiB |")
    lines += ["", "The agent hangs up at the bound: the device cannot make it hold more than the bound plus "
              "the HTTP pool's buffers, and the check reports `onvif_malformed` (the device answered, badly), "
              "never an out-of-memory kill. Without the bound the whole reply is held (and parsed), as the library's "
              "own transport would."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("hostile_replies", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
