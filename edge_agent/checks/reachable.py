"""Check: does the camera's ONVIF/HTTP port accept a TCP connection at all."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from typing import ClassVar

from edge_agent.checks.base import CheckContext, outcome
from shared.messages import CheckOutcome, Outcome


class Reachable:
    name: ClassVar[str] = "reachable"
    requires: ClassVar[tuple[str, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ()

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        target = ctx.target
        started = time.monotonic()
        try:
            async with asyncio.timeout(ctx.config.timeouts.connect_s):
                _, writer = await asyncio.open_connection(target.host, target.port)
        except TimeoutError:
            return outcome(self.name, Outcome.FAIL, "unreachable",
                           f"no TCP answer from {target.host}:{target.port} within "
                           f"{ctx.config.timeouts.connect_s:g} s", started=started)
        except OSError as error:
            why = "connection refused" if error.errno == errno.ECONNREFUSED else (error.strerror or str(error))
            return outcome(self.name, Outcome.FAIL, "unreachable", f"{target.host}:{target.port}: {why}",
                           started=started)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return outcome(self.name, Outcome.OK, "ok", f"{target.host}:{target.port} accepts connections",
                       started=started)
