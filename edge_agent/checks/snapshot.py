"""Checks: snapshot fetched (digest, then basic; JPEG verified) and the image analysed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import ClassVar

import httpx
import numpy as np

from edge_agent import imaging
from edge_agent.checks.base import CheckContext, outcome, skipped
from shared.messages import CheckOutcome, Outcome

# Image problems that make the picture useless fail; the others only warn.
_FAILING_IMAGE_REASONS = frozenset({"black", "covered", "frozen"})


@dataclass(frozen=True, slots=True)
class Analysed:
    frame: np.ndarray
    size: tuple[int, int]
    stats: imaging.FrameStats
    signature: np.ndarray
    change: float | None
    motion: bool = False


def analyse(jpeg: bytes, previous: np.ndarray | None) -> Analysed | None:
    """Decode and measure in one thread hop: decode, grey, statistics, signature, change."""
    decoded = imaging.decode_jpeg(jpeg)
    if decoded is None:
        return None
    frame, size = decoded
    gray = imaging.analysis_gray(frame)
    signature = imaging.signature(gray)
    return Analysed(frame, size, imaging.frame_stats(gray, size), signature,
                    imaging.difference(previous, signature), imaging.moved(previous, signature))


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
        started = time.monotonic()
        timeout = ctx.config.timeouts.snapshot_s
        try:
            response = await self._fetch(ctx, url, timeout)
            # The camera's answer time; decoding below waits for the agent's own thread pool, and a
            # busy agent must not make a healthy camera look slow.
            answered = time.monotonic() - started
        except (TimeoutError, httpx.TimeoutException):
            return outcome(self.name, Outcome.FAIL, "snapshot_timeout",
                           f"no snapshot within {timeout:g} s per request", started=started)
        except httpx.HTTPError as error:
            return outcome(self.name, Outcome.FAIL, "snapshot_unreachable",
                           f"snapshot request failed: {type(error).__name__}: {error}", started=started)
        if response.status_code == 401:
            return outcome(self.name, Outcome.FAIL, "snapshot_auth_failed",
                           "snapshot URL refused the credentials (digest and basic)", started=started)
        if response.status_code >= 300:
            return outcome(self.name, Outcome.FAIL, "snapshot_http_error",
                           f"snapshot URL answered HTTP {response.status_code}", started=started,
                           http_status=response.status_code)
        body = response.content
        if not imaging.is_jpeg(body):
            return outcome(self.name, Outcome.FAIL, "snapshot_not_jpeg",
                           f"snapshot is not a JPEG ({len(body)} bytes, "
                           f"{response.headers.get('content-type', 'no content type')})", started=started)
        analysed: Analysed | None = await ctx.in_thread(analyse, body, ctx.runtime.previous_signature)
        if analysed is None:
            return outcome(self.name, Outcome.FAIL, "snapshot_not_jpeg", "snapshot JPEG does not decode",
                           started=started)
        ctx.artifacts.snapshot = analysed
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

    async def _fetch(self, ctx: CheckContext, url: str, timeout: float) -> httpx.Response:
        """GET with the camera's auth; each HTTP request may take ``timeout`` (a digest handshake is two)."""
        runtime, target = ctx.runtime, ctx.target
        http = ctx.resources.http
        basic_auth = httpx.BasicAuth(target.username, target.password)
        if runtime.snapshot_basic:
            async with asyncio.timeout(timeout):
                return await http.get(url, auth=basic_auth)
        # Kept per camera once it worked: httpx then reuses the last digest challenge, one request per
        # check instead of the challenge round trip first.
        digest = runtime.digest or httpx.DigestAuth(target.username, target.password)
        async with asyncio.timeout(timeout * (1 if runtime.digest is not None else 2)):
            response = await http.get(url, auth=digest)
        if response.status_code == 401:
            runtime.digest = None
            # Digest first, because basic sends the password in clear; basic only when digest fails.
            async with asyncio.timeout(timeout):
                basic = await http.get(url, auth=basic_auth)
            if basic.status_code != 401:
                runtime.snapshot_basic = True
                return basic
            return response
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
        stats = analysed.stats
        details = {"mean": round(stats.mean, 1), "std": round(stats.std, 1),
                   "sharpness": round(stats.laplacian_var, 1),
                   "change": None if analysed.change is None else round(analysed.change, 2)}
        verdict = imaging.judge(stats, analysed.change, ctx.config.thresholds, motion=analysed.motion)
        ctx.runtime.previous_signature = analysed.signature
        if verdict is None:
            return outcome(self.name, Outcome.OK, "ok", "image looks normal", **details)
        result = Outcome.FAIL if verdict.reason in _FAILING_IMAGE_REASONS else Outcome.WARN
        return outcome(self.name, result, verdict.reason, verdict.message, **details)
