"""What every check plugin gets and returns: the camera, its state across cycles, shared resources."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

import httpx
import numpy as np

from edge_agent.config import AgentConfig
from edge_agent.onvif_client import OnvifSession
from edge_agent.onvif_pool import OnvifPool
from edge_agent.scrub import scrub
from shared.messages import CheckOutcome, DiscoveryMethod, Outcome, clip_text

if TYPE_CHECKING:
    from edge_agent.checks.snapshot import Analysed


@dataclass(slots=True)
class CameraTarget:
    """A camera to check, from the static list or from discovery; the password never leaves the agent."""

    camera_id: str
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    name: str = ""
    opd: str = ""
    onvif: bool = True
    snapshot_url: str | None = None
    rtsp_url: str | None = None
    endpoint_ref: str = ""
    # The device service URL discovery found (its scheme and path kept); "" for the ONVIF default.
    onvif_url: str = ""
    discovered_by: DiscoveryMethod = DiscoveryMethod.STATIC
    # Answer a Basic challenge over plain http:// or rtsp:// (the password travels in clear)? Per network.
    basic_in_clear: bool = True

    def owns(self, url: str) -> bool:
        """Whether ``url`` points at this camera's own address: the only host its credentials go to.

        A snapshot or stream URI comes from the device (or from whoever answers WS-Discovery on its
        network) and may name any host; sending the camera's password there would hand it out.
        """
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return False
        return host is not None and _same_address(host, self.host)

    def may_send_basic(self, url: str) -> bool:
        """Basic sends the password in clear unless the URL is TLS (https, rtsps)."""
        return self.basic_in_clear or urlsplit(url).scheme.lower() in ("https", "rtsps")


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.rstrip(".").lower() == b.rstrip(".").lower()


@dataclass(slots=True)
class CameraRuntime:
    """Everything remembered about one camera between cycles."""

    session: OnvifSession
    cycles: int = 0
    consecutive_failures: int = 0
    snapshot_basic: bool = False
    digest: httpx.DigestAuth | None = None
    previous_signature: np.ndarray | None = None
    thumbnail_signature: np.ndarray | None = None
    thumbnail_sent_at: float = 0.0
    # The RTSP decode runs on its own rotation (edge_agent.decodes); its latest outcome is reported by
    # the stream check of the next cycles.
    stream_result: CheckOutcome | None = None
    decoded_at: float = 0.0  # monotonic time of the latest decode; 0: never
    decoding: bool = False
    # The latest cycle's DESCRIBE answered: a decode is worth a slot.
    rtsp_ok: bool = False
    # The second look (checks/second_look.py): what this camera's snapshot has shown it to be
    # ("unproven", "trusted" or "cached"), and whether the last cycle's frozen came from the second look.
    second_look_trust: str = "unproven"
    second_look_froze: bool = False


@dataclass(slots=True)
class Resources:
    """Shared by all checks of the process: HTTP pools (snapshots, ONVIF), thread pools, check and decode limits."""

    config: AgentConfig
    http: httpx.AsyncClient
    onvif: OnvifPool
    executor: Executor
    # RTSP probes block a thread for seconds: their own pool, so snapshots never queue behind them.
    rtsp_executor: Executor
    # Decodes and check cycles have separate limits: a camera waiting for a decode never holds a check slot.
    rtsp_slots: asyncio.Semaphore
    check_slots: asyncio.Semaphore


@dataclass(slots=True)
class Artifacts:
    """What a check leaves for later checks of the same camera and cycle (and for the scheduler's thumbnail)."""

    # The decoded and analysed snapshot, for image analysis and the thumbnail.
    snapshot: Analysed | None = None
    snapshot_url: str = ""  # where it was fetched: the second look (checks/second_look.py) asks there again


@dataclass(slots=True)
class CheckContext:
    target: CameraTarget
    runtime: CameraRuntime
    resources: Resources
    results: dict[str, CheckOutcome] = field(default_factory=dict)
    artifacts: Artifacts = field(default_factory=Artifacts)

    @property
    def config(self) -> AgentConfig:
        return self.resources.config

    async def in_thread(self, function: Any, *args: Any) -> Any:
        """Run CPU work (decode, analysis, encoding) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.resources.executor, function, *args)


class Check(Protocol):
    """A check plugin: a name, what it needs, and ``run`` that returns one outcome and never raises."""

    name: ClassVar[str]
    # Checks that must have passed (ok or warn); otherwise this one is skipped.
    requires: ClassVar[tuple[str, ...]]
    # Checks that must have finished first, whatever their outcome.
    after: ClassVar[tuple[str, ...]]

    async def run(self, ctx: CheckContext) -> CheckOutcome: ...


def outcome(
    check: str,
    result: Outcome,
    reason: str,
    message: str = "",
    *,
    started: float | None = None,
    **details: str | int | float | bool | None,
) -> CheckOutcome:
    """Build a CheckOutcome with scrubbed, clipped text and the elapsed time since ``started``."""
    duration = (time.monotonic() - started) * 1000 if started is not None else 0.0
    return CheckOutcome(
        check=check,
        outcome=result,
        reason=reason,
        message=clip_text(scrub(message), 2048),
        duration_ms=round(max(duration, 0.0), 1),
        details={k: (clip_text(scrub(v), 256) if isinstance(v, str) else v) for k, v in details.items()},
    )


def skipped(check: str, why: str) -> CheckOutcome:
    return outcome(check, Outcome.SKIPPED, "skipped", why)
