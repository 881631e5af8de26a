"""Check: the camera's web server answers at all (TCP, then any HTTP answer at the ONVIF device path).

A TCP handshake alone proves little: many cameras keep the port open while the application is
dead, so the check sends a plain GET to the device service and accepts any HTTP status line (in its
details). The device service is where discovery (or agent.toml's ``onvif_url``) says: its path, and TLS
for https.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ssl
import time
from typing import ClassVar
from urllib.parse import urlsplit

from edge_agent.checks.base import CheckContext, outcome
from shared.messages import CheckOutcome, Outcome

DEVICE_PATH = "/onvif/device_service"


def _camera_tls() -> ssl.SSLContext:
    # Camera HTTPS uses self-signed certificates almost everywhere (as in edge_agent.scheduler).
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Reachable:
    name: ClassVar[str] = "reachable"
    requires: ClassVar[tuple[str, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ()

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        target = ctx.target
        where = f"{target.host}:{target.port}"
        timeout = ctx.config.timeouts.connect_s
        service = urlsplit(target.onvif_url) if target.onvif_url else None
        path = (service.path or DEVICE_PATH) if service else DEVICE_PATH
        tls = _camera_tls() if service is not None and service.scheme == "https" else None
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(target.host, target.port, ssl=tls)
        except TimeoutError:
            return outcome(self.name, Outcome.FAIL, "unreachable", f"no TCP answer from {where} within {timeout:g} s",
                           started=started)
        except OSError as error:
            why = "connection refused" if error.errno == errno.ECONNREFUSED else (error.strerror or str(error))
            return outcome(self.name, Outcome.FAIL, "unreachable", f"{where}: {why}", started=started)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {target.host}\r\nConnection: close\r\n\r\n".encode())
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
        return outcome(self.name, Outcome.OK, "ok", f"{where} answers HTTP", started=started, http_status=status)
