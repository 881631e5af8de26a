"""Check: the camera's web server answers at all (TCP, then any HTTP answer at the ONVIF device path).

A TCP handshake alone proves little: many cameras keep the port open while the application is
dead, so the check sends a plain GET to the device service and accepts any HTTP status line.
The status is kept for the ONVIF check, which otherwise cannot tell a 503 from garbage.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from typing import ClassVar

from edge_agent.checks.base import CheckContext, outcome
from shared.messages import CheckOutcome, Outcome

DEVICE_PATH = "/onvif/device_service"


class Reachable:
    name: ClassVar[str] = "reachable"
    requires: ClassVar[tuple[str, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ()

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        target = ctx.target
        where = f"{target.host}:{target.port}"
        timeout = ctx.config.timeouts.connect_s
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(target.host, target.port)
        except TimeoutError:
            return outcome(self.name, Outcome.FAIL, "unreachable", f"no TCP answer from {where} within {timeout:g} s",
                           started=started)
        except OSError as error:
            why = "connection refused" if error.errno == errno.ECONNREFUSED else (error.strerror or str(error))
            return outcome(self.name, Outcome.FAIL, "unreachable", f"{where}: {why}", started=started)
        try:
            writer.write(f"GET {DEVICE_PATH} HTTP/1.1\r\nHost: {target.host}\r\nConnection: close\r\n\r\n".encode())
            async with asyncio.timeout(max(timeout, ctx.config.timeouts.onvif_s)):
                line = await reader.readline()
        except TimeoutError:
            return outcome(self.name, Outcome.FAIL, "unreachable", f"{where} accepts TCP but sends no HTTP answer",
                           started=started)
        except OSError as error:
            return outcome(self.name, Outcome.FAIL, "unreachable",
                           f"{where} accepts TCP but drops HTTP requests ({type(error).__name__})", started=started)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            return outcome(self.name, Outcome.FAIL, "unreachable", f"{where} accepts TCP but drops HTTP requests",
                           started=started)
        status = int(parts[1])
        ctx.artifacts.onvif_http_status = status
        return outcome(self.name, Outcome.OK, "ok", f"{where} answers HTTP", started=started, http_status=status)
