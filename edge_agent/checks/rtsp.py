"""Check: the RTSP server answers DESCRIBE for the stream with our credentials (cheap, every cycle)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import time
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

from edge_agent.checks.base import CameraRuntime, CameraTarget, CheckContext, outcome
from shared.messages import CheckOutcome, Outcome

_MAX_HEADER_BYTES = 16_384
_CHALLENGE_FIELD = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


@dataclass(frozen=True, slots=True)
class RtspReply:
    status: int
    headers: dict[str, list[str]]


def camera_stream_url(target: CameraTarget, runtime: CameraRuntime) -> str | None:
    """The configured stream URL, else the one ONVIF gave."""
    profile = runtime.session.profile
    return target.rtsp_url or (profile.stream_uri if profile else None)


def stream_url(ctx: CheckContext) -> str | None:
    return camera_stream_url(ctx.target, ctx.runtime)


def without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


async def _read_reply(reader: asyncio.StreamReader) -> RtspReply:
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > _MAX_HEADER_BYTES:
        raise ValueError("RTSP reply header too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("RTSP/"):
        raise ValueError(f"not an RTSP reply: {lines[0][:80]!r}")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    length = int(headers.get("content-length", ["0"])[0] or 0)
    if length:
        await reader.readexactly(min(length, 1_000_000))
    return RtspReply(int(parts[1]), headers)


class BasicRefused(Exception):
    """The server offers only Basic over plain rtsp:// and the camera's network forbids sending it."""


def _authorization(challenges: list[str], url: str, username: str, password: str, *, basic_allowed: bool) -> str | None:
    """The answer to the server's challenge: Digest when offered; Basic only when asked and allowed."""
    digest = next((c for c in challenges if c.lower().startswith("digest ")), None)
    if digest is not None:
        fields = {m[0].lower(): m[1] or m[2] for m in _CHALLENGE_FIELD.findall(digest[7:])}
        realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
        ha1 = hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"DESCRIBE:{url}".encode()).hexdigest()
        if "auth" in fields.get("qop", "").split(","):
            cnonce = os.urandom(8).hex()
            response = hashlib.md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
            return (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{url}", '
                    f'response="{response}", qop=auth, nc=00000001, cnonce="{cnonce}"')
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
        return f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{url}", response="{response}"'
    if any(c.lower().startswith("basic") for c in challenges):
        if not basic_allowed:
            raise BasicRefused()
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    return None


async def describe(url: str, username: str, password: str, *, basic_allowed: bool) -> RtspReply:
    """DESCRIBE ``url`` (answering one auth challenge); raises OSError/TimeoutError/ValueError, and
    BasicRefused when the server wants Basic and ``basic_allowed`` is false."""
    url = without_userinfo(url)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("rtsp", "rtsps") or not parts.hostname:
        raise ValueError("not an rtsp:// URL")
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 554)
    try:
        request = f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\nUser-Agent: scc-agent\r\n\r\n"
        writer.write(request.encode())
        reply = await _read_reply(reader)
        if reply.status == 401 and (username or password):
            authorization = _authorization(reply.headers.get("www-authenticate", []), url, username, password,
                                           basic_allowed=basic_allowed)
            if authorization is not None:
                writer.write(f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n"
                             f"Authorization: {authorization}\r\nUser-Agent: scc-agent\r\n\r\n".encode())
                reply = await _read_reply(reader)
        return reply
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class RtspAnswers:
    name: ClassVar[str] = "rtsp"
    requires: ClassVar[tuple[str, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ("credentials",)

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        url = stream_url(ctx)
        if not url:
            return outcome(self.name, Outcome.FAIL, "rtsp_unavailable",
                           "no stream URI known (ONVIF gave none and none is configured)")
        target = ctx.target
        if not target.owns(url):
            host = urlsplit(url).hostname or "?"
            return outcome(self.name, Outcome.FAIL, "rtsp_foreign_host",
                           f"stream URI points at {host}, not the camera's address {target.host}; "
                           "nothing was requested there", host=host[:64])
        started = time.monotonic()
        timeout = ctx.config.timeouts.rtsp_open_s
        try:
            async with asyncio.timeout(timeout):
                reply = await describe(url, target.username, target.password, basic_allowed=target.may_send_basic(url))
        except BasicRefused:
            return outcome(self.name, Outcome.FAIL, "rtsp_basic_refused",
                           "the RTSP server asks for Basic authentication over plain rtsp (the password in "
                           "clear); this network is set never to send it", started=started)
        except TimeoutError:
            return outcome(self.name, Outcome.FAIL, "rtsp_timeout", f"no RTSP answer within {timeout:g} s",
                           started=started)
        except (OSError, asyncio.IncompleteReadError) as error:
            return outcome(self.name, Outcome.FAIL, "rtsp_unreachable",
                           f"RTSP connection failed: {type(error).__name__}: {error}", started=started)
        except (ValueError, asyncio.LimitOverrunError) as error:
            return outcome(self.name, Outcome.FAIL, "rtsp_no_frames", f"RTSP answer unusable: {error}",
                           started=started)
        if reply.status == 401:
            return outcome(self.name, Outcome.FAIL, "rtsp_auth_failed", "RTSP server refused the credentials",
                           started=started)
        if reply.status == 404:
            return outcome(self.name, Outcome.FAIL, "rtsp_unavailable",
                           "RTSP server does not know the stream (404)", started=started, rtsp_status=404)
        if reply.status >= 300:
            return outcome(self.name, Outcome.FAIL, "rtsp_no_frames", f"RTSP DESCRIBE answered {reply.status}",
                           started=started, rtsp_status=reply.status)
        return outcome(self.name, Outcome.OK, "ok", "RTSP stream described", started=started)
