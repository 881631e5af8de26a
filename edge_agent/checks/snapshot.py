"""Checks: snapshot fetched (digest; basic only when asked and allowed; bounded; JPEG verified) and the image analysed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import ClassVar
from urllib.parse import urlsplit

import httpx
import numpy as np

from edge_agent import imaging
from edge_agent.checks.base import CheckContext, outcome, skipped
from edge_agent.config import ThresholdSection
from shared.messages import CheckOutcome, Outcome

# Image problems that make the picture useless fail; the others only warn.
_FAILING_IMAGE_REASONS = frozenset({"black", "covered", "frozen"})


@dataclass(frozen=True, slots=True)
class Analysed:
    # The picture for the thumbnail, already at its width (320x180, 173 kB), and None once the cycle
    # has made its thumbnail or decided it needs none (scheduler.CameraChecker.cycle): what each camera
    # holds through the second look's wait, every waiting camera at once, is the agent's largest memory
    # at scale (bench_agent, 1,000 cameras; docs/performance.md).
    frame: np.ndarray | None
    size: tuple[int, int]
    stats: imaging.FrameStats
    signature: np.ndarray
    change: float | None
    motion: bool = False
    # What the second look compares (imaging.identical): the JPEG as fetched and its analysis grey
    # (320 px wide, ~57 kB); both live only for the cycle, in CheckContext.artifacts.
    jpeg: bytes = b""
    gray: np.ndarray | None = None

    def without_picture(self) -> Analysed:
        return replace(self, frame=None)


def analyse(jpeg: bytes, previous: np.ndarray | None) -> Analysed | None:
    """Decode and measure in one thread hop: decode, grey, statistics, signature, change."""
    decoded = imaging.decode_jpeg(jpeg)
    if decoded is None:
        return None
    frame, size = decoded
    gray = imaging.analysis_gray(frame)
    signature = imaging.signature(gray)
    return Analysed(imaging.fit_width(frame), size, imaging.frame_stats(gray, size), signature,
                    imaging.difference(previous, signature), imaging.moved(previous, signature), jpeg, gray)


def _expected_size(ctx: CheckContext, size: tuple[int, int]) -> tuple[int, int] | None:
    """The profile's size when the snapshot differs from it and nothing says the difference is harmless.

    ONVIF lets a camera take the snapshot's JPEG settings from elsewhere, so once a decode has shown
    the stream at the profile's size, a differently sized snapshot is a setting, not a fault; until
    then (decodes run on a slower rotation) the snapshot is the evidence checked every cycle.
    """
    profile = ctx.runtime.session.profile
    if profile is None or not profile.width or not profile.height or size == (profile.width, profile.height):
        return None
    decoded = ctx.runtime.stream_result
    if decoded is not None and (decoded.details.get("width"), decoded.details.get("height")) == (
        profile.width, profile.height
    ):
        return None
    return profile.width, profile.height


# The most the agent reads of a snapshot. Real cameras' JPEGs stay well below (a 4K, high-quality one is
# 2-4 MB); past this the answer is a finding, not something to hold in memory and decode.
MAX_SNAPSHOT_BYTES = 12 * 1024 * 1024


class SnapshotTooLarge(Exception):
    """The snapshot answer announced or delivered more than MAX_SNAPSHOT_BYTES."""


class BasicRefused(Exception):
    """The server asks for Basic over plain http and the camera's network forbids sending it."""


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    content_type: str
    body: bytes
    asks_basic: bool = False  # a 401 whose challenges include Basic


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed ``response``, read chunk by chunk; raises SnapshotTooLarge past ``limit``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise SnapshotTooLarge(f"the camera announces {int(declared)} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise SnapshotTooLarge(f"the answer goes on past {limit} bytes")
    return bytes(body)


def _asks_for_basic(response: httpx.Response) -> bool:
    return any(challenge.strip().lower().startswith("basic") for challenge in
               response.headers.get_list("www-authenticate"))


class Snapshot:
    name: ClassVar[str] = "snapshot"
    requires: ClassVar[tuple[str, ...]] = ()
    # The snapshot URI comes from the media refresh the credentials check does.
    after: ClassVar[tuple[str, ...]] = ("credentials",)

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        profile = ctx.runtime.session.profile
        url = ctx.target.snapshot_url or (profile.snapshot_uri if profile else None)
        if not url:
            return outcome(self.name, Outcome.FAIL, "snapshot_unavailable",
                           "no snapshot URI known (ONVIF gave none and none is configured)")
        if not ctx.target.owns(url):
            host = urlsplit(url).hostname or "?"
            return outcome(self.name, Outcome.FAIL, "snapshot_foreign_host",
                           f"snapshot URI points at {host}, not the camera's address {ctx.target.host}; "
                           "nothing was requested there", host=host[:64])
        started = time.monotonic()
        timeout = ctx.config.timeouts.snapshot_s
        try:
            response = await self.fetch(ctx, url, timeout)
            # The camera's answer time; decoding below waits for the agent's own thread pool, and a
            # busy agent must not make a healthy camera look slow.
            answered = time.monotonic() - started
        except (TimeoutError, httpx.TimeoutException):
            return outcome(self.name, Outcome.FAIL, "snapshot_timeout",
                           f"no snapshot within {timeout:g} s per request", started=started)
        except SnapshotTooLarge as error:
            return outcome(self.name, Outcome.FAIL, "snapshot_too_large",
                           f"snapshot too large: {error}; stopped reading", started=started,
                           limit_bytes=MAX_SNAPSHOT_BYTES)
        except BasicRefused:
            return outcome(self.name, Outcome.FAIL, "snapshot_basic_refused",
                           "the snapshot URL asks for Basic authentication over plain http (the password in "
                           "clear); this network is set never to send it", started=started)
        except httpx.HTTPError as error:
            return outcome(self.name, Outcome.FAIL, "snapshot_unreachable",
                           f"snapshot request failed: {type(error).__name__}: {error}", started=started)
        if response.status == 401:
            return outcome(self.name, Outcome.FAIL, "snapshot_auth_failed",
                           "snapshot URL refused the credentials", started=started)
        if response.status >= 300:
            return outcome(self.name, Outcome.FAIL, "snapshot_http_error",
                           f"snapshot URL answered HTTP {response.status}", started=started,
                           http_status=response.status)
        body = response.body
        if not imaging.is_jpeg(body):
            return outcome(self.name, Outcome.FAIL, "snapshot_not_jpeg",
                           f"snapshot is not a JPEG ({len(body)} bytes, "
                           f"{response.content_type or 'no content type'})", started=started)
        analysed: Analysed | None = await ctx.in_thread(analyse, body, ctx.runtime.previous_signature)
        if analysed is None:
            return outcome(self.name, Outcome.FAIL, "snapshot_not_jpeg", "snapshot JPEG does not decode",
                           started=started)
        ctx.artifacts.snapshot, ctx.artifacts.snapshot_url = analysed, url
        elapsed = round(answered, 2)
        details = {"bytes": len(body), "width": analysed.size[0], "height": analysed.size[1],
                   "auth": "basic" if ctx.runtime.snapshot_basic else "digest"}
        expected = _expected_size(ctx, analysed.size)
        if expected is not None:
            actual = f"{analysed.size[0]}x{analysed.size[1]}"
            return outcome(self.name, Outcome.WARN, "resolution_mismatch",
                           f"snapshot is {actual}, profile says {expected[0]}x{expected[1]}", started=started,
                           actual=actual, expected=f"{expected[0]}x{expected[1]}", **details)
        if elapsed > ctx.config.timeouts.slow_warn_s:
            return outcome(self.name, Outcome.WARN, "slow_response", f"snapshot took {elapsed} s",
                           started=started, elapsed_s=elapsed, **details)
        return outcome(self.name, Outcome.OK, "ok", "snapshot fetched", started=started, **details)

    async def _get(self, ctx: CheckContext, url: str, auth: httpx.Auth | None) -> Fetched:
        """One GET, its body streamed and bounded: a device cannot make the agent hold more than the bound."""
        async with ctx.resources.http.stream("GET", url, auth=auth) as response:
            # Only a success's body is used; an error page is not even read.
            body = await read_bounded(response, MAX_SNAPSHOT_BYTES) if response.status_code < 300 else b""
            return Fetched(response.status_code, response.headers.get("content-type", ""), body,
                           asks_basic=response.status_code == 401 and _asks_for_basic(response))

    async def fetch(self, ctx: CheckContext, url: str, timeout: float) -> Fetched:
        """GET with the camera's auth; each HTTP request may take ``timeout`` (a digest handshake is two).

        Digest first, which never sends the password; Basic (the password in clear) only when the server
        asks for it, and over plain http only when the camera's network allows it.
        """
        runtime, target = ctx.runtime, ctx.target
        basic_auth = httpx.BasicAuth(target.username, target.password)
        if runtime.snapshot_basic:
            async with asyncio.timeout(timeout):
                return await self._get(ctx, url, basic_auth)
        # Kept per camera once it worked: httpx then reuses the last digest challenge, one request per
        # check instead of the challenge round trip first. httpx sends no credentials until challenged.
        digest = runtime.digest or httpx.DigestAuth(target.username, target.password)
        async with asyncio.timeout(timeout * (1 if runtime.digest is not None else 2)):
            response = await self._get(ctx, url, digest)
        if response.status == 401:
            runtime.digest = None
            if not response.asks_basic:  # the server did not ask for Basic: the digest answer stands
                return response
            if not target.may_send_basic(url):
                raise BasicRefused()
            async with asyncio.timeout(timeout):
                basic = await self._get(ctx, url, basic_auth)
            if basic.status != 401:
                runtime.snapshot_basic = True
            return basic
        runtime.digest = digest
        return response


class Image:
    name: ClassVar[str] = "image"
    requires: ClassVar[tuple[str, ...]] = ("snapshot",)
    after: ClassVar[tuple[str, ...]] = ()

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        analysed = ctx.artifacts.snapshot
        if analysed is None:
            return skipped(self.name, "no snapshot to analyse")
        ctx.runtime.previous_signature = analysed.signature
        return image_outcome(analysed, ctx.config.thresholds)


def image_outcome(analysed: Analysed, limits: ThresholdSection, *, still_for: float | None = None) -> CheckOutcome:
    """The image check's outcome for ``analysed`` (and a second look's ``still_for``, see imaging.judge)."""
    stats = analysed.stats
    details: dict[str, float | None] = {
        "mean": round(stats.mean, 1), "std": round(stats.std, 1), "sharpness": round(stats.laplacian_var, 1),
        "change": None if analysed.change is None else round(analysed.change, 2),
    }
    if still_for is not None:
        details["still_for_s"] = round(still_for, 1)
    verdict = imaging.judge(stats, analysed.change, limits, motion=analysed.motion, still_for=still_for)
    if verdict is None:
        return outcome(Image.name, Outcome.OK, "ok", "image looks normal", **details)
    result = Outcome.FAIL if verdict.reason in _FAILING_IMAGE_REASONS else Outcome.WARN
    return outcome(Image.name, result, verdict.reason, verdict.message, **details)
