"""Every reason code a camera or website status carries, in one table: priority, "down" evidence, wording.

Reason codes are part of the wire contract (``CheckOutcome.reason``, ``CameraStatus.reason``,
``WebsiteStatus.reason``): central and the web UI key on them, so codes are only ever added, never
renamed. Each :class:`Reason` says

- where it comes from (``origin``: the agent's checks, or central itself for ``no_report``, ``lost``
  and ``agent_offline``, see ``central/storage/transitions.py``);
- whether it is evidence that the subject is gone rather than answering badly (``down``), which is
  what the agent's offline decision (``edge_agent/status.py``) and a website's availability count;
- its wording: ``short`` is the English badge and the msgid of its translation in the web's catalog
  (``central/web/translations``; ``N_`` marks it for ``pybabel extract -k N_``), ``detailed`` the same
  with ``%(placeholders)s`` filled from the check's details.

:data:`CAMERA_REASONS` is in priority order: when several checks complain, a camera's status carries
the first one (what an operator should act on first); codes with ``ranked=False`` are not problems.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal


def N_(text: str) -> str:
    """Marks an English wording for the translation catalog; the web translates it when it shows it."""
    return text


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    short: str
    description: str
    detailed: str | None = None
    down: bool = False
    ranked: bool = True
    origin: Literal["agent", "central"] = "agent"


CAMERA_REASONS: tuple[Reason, ...] = (
    # reachability: nothing answers at all
    Reason("unreachable", N_("unreachable"), "Neither the ONVIF nor the RTSP port accepts TCP connections.",
           down=True),
    Reason("onvif_port_closed", N_("ONVIF port closed"), "The ONVIF HTTP port refuses or times out; RTSP answers.",
           down=True),
    Reason("rtsp_port_closed", N_("RTSP port closed"), "The RTSP port refuses or times out; ONVIF answers.",
           down=True),
    Reason("onvif_timeout", N_("ONVIF timeout"),
           "The camera accepted the connection but sent no ONVIF answer in time.", down=True),
    Reason("onvif_no_answer", N_("ONVIF not answering"), "The ONVIF service refused or dropped the request.",
           down=True),
    Reason("snapshot_timeout", N_("snapshot timeout"), "The snapshot request timed out.", down=True),
    Reason("snapshot_unreachable", N_("snapshot unreachable"), "The snapshot URL refuses connections.", down=True),
    Reason("rtsp_timeout", N_("stream timeout"), "The stream did not open or deliver a frame in time.", down=True),
    Reason("rtsp_unreachable", N_("stream unreachable"), "The RTSP server refuses connections.", down=True),
    # credentials: alive, but refusing us
    Reason("auth_failed", N_("wrong password"), "The camera refused the configured user name or password."),
    Reason("snapshot_auth_failed", N_("snapshot wrong password"), "The snapshot URL refused digest and basic auth."),
    Reason("rtsp_auth_failed", N_("stream wrong password"), "The RTSP server refused the credentials."),
    Reason("snapshot_basic_refused", N_("snapshot wants the password in clear"),
           "The snapshot URL asks for Basic authentication over plain HTTP, which would send the password in "
           "clear, and this network is set never to (basic_in_clear = false); nothing was sent."),
    Reason("rtsp_basic_refused", N_("stream wants the password in clear"),
           "The RTSP server asks for Basic authentication over plain RTSP, which would send the password in "
           "clear, and this network is set never to (basic_in_clear = false); nothing was sent."),
    Reason("snapshot_foreign_host", N_("snapshot URI on another host"),
           "The camera's snapshot URI points at a host other than the camera's own address: a misconfigured or "
           "hostile device. Nothing was requested there and no credentials were sent.",
           detailed=N_("snapshot URI on another host (%(host)s)")),
    Reason("rtsp_foreign_host", N_("stream URI on another host"),
           "The camera's stream URI points at a host other than the camera's own address: a misconfigured or "
           "hostile device. Nothing was requested there and no credentials were sent.",
           detailed=N_("stream URI on another host (%(host)s)")),
    # the picture
    Reason("black", N_("black image"), "The image is (almost) entirely black: lens, sensor or video lost."),
    Reason("covered", N_("lens covered"), "The image is uniform with no detail: the lens is covered or turned."),
    Reason("frozen", N_("frozen image"), "The image is the very same picture a few seconds apart, or has not changed since the previous check: the encoder is stuck."),
    Reason("rtsp_no_frames", N_("stream not decoding"), "The stream opened but no frame could be decoded."),
    Reason("snapshot_not_jpeg", N_("snapshot not a JPEG"), "The snapshot answer is not a decodable JPEG."),
    Reason("snapshot_too_large", N_("snapshot too large"),
           "The snapshot answer is larger than the agent reads; it stopped reading there, so the device cannot "
           "exhaust the agent's memory.", detailed=N_("snapshot over %(limit_bytes)s bytes")),
    Reason("snapshot_http_error", N_("snapshot HTTP error"), "The snapshot URL answered with an HTTP error.",
           detailed=N_("snapshot HTTP %(http_status)s")),
    Reason("dark", N_("dark image"), "The image is very dark: night without IR, or a failed IR illuminator."),
    Reason("blurred", N_("blurred image"), "The image has very little sharp detail: out of focus or a dirty lens."),
    Reason("resolution_mismatch", N_("wrong resolution"),
           "The decoded frames are not the resolution the ONVIF profile promises.",
           detailed=N_("resolution %(actual)s (expected %(expected)s)")),
    Reason("low_fps", N_("low frame rate"), "The stream delivers far fewer frames than its profile.",
           detailed=N_("%(fps)s fps (expected %(expected_fps)s)")),
    # answers that are off
    Reason("onvif_malformed", N_("broken ONVIF answer"), "The camera answered with something that is not valid SOAP."),
    Reason("onvif_error", N_("ONVIF error"), "The camera answered with a SOAP fault other than an authentication one."),
    Reason("snapshot_unavailable", N_("no snapshot URI"),
           "The camera advertises no snapshot URI and none is configured."),
    Reason("rtsp_unavailable", N_("no stream URI"), "The camera advertises no RTSP stream URI and none is configured."),
    Reason("clock_skew", N_("clock off"),
           "The camera clock differs from the agent's; requests are signed with the offset so they still work.",
           detailed=N_("clock %(offset_h)s h off")),
    Reason("slow_response", N_("slow response"), "The camera answered, but slower than the warning threshold.",
           detailed=N_("slow (%(elapsed_s)s s)")),
    Reason("internal_error", N_("agent error"), "The check itself crashed; see the agent log."),
    # not problems
    Reason("ok", N_("OK"), "Everything checked answered as expected.", ranked=False),
    Reason("unknown", N_("not checked yet"), "No check cycle has finished for this camera.", ranked=False),
    Reason("skipped", N_("not checked"), "A prerequisite failed, or this check is not due this cycle.", ranked=False),
    # central's own
    Reason("no_report", N_("no report yet"), "Nothing heard from the camera's agent about it for too long.",
           ranked=False, origin="central"),
    Reason("lost", N_("no longer discovered"), "The agent's discovery no longer finds the camera.",
           ranked=False, origin="central"),
    Reason("agent_offline", N_("agent offline"), "The camera's agent went offline, so its state is unknown.",
           ranked=False, origin="central"),
)

# Website codes (``WebsiteStatus.reason`` and its checks), decided in ``edge_agent/websites``.
WEBSITE_REASONS: tuple[Reason, ...] = (
    Reason("ok", N_("OK"), "Up, certificate fine, and content updated within the site's threshold."),
    Reason("fresh", N_("up to date"), "Content updated within the site's threshold."),
    Reason("stale", N_("not updated"), "Up, but no post published, post edited or page edited for longer than "
           "the site's threshold."),
    Reason("freshness_unknown", N_("freshness cannot be judged"),
           "Up, but no signal (REST API, feed, sitemap, Last-Modified, content fingerprint) gave a usable date: "
           "someone should fix or offer a signal."),
    Reason("maintenance", N_("in maintenance"),
           "The site answers 503 with Retry-After or a maintenance page; its announced end has not passed."),
    Reason("maintenance_overrun", N_("maintenance overran"),
           "The site has been in maintenance beyond the end it announced (plus a grace period).", down=True),
    Reason("tls_expiring", N_("certificate expiring"),
           "A certificate on the way to the site (the configured address or a redirect) expires soon.",
           detailed=N_("certificate expires in %(days)s d")),
    Reason("tls_expired", N_("certificate expired"), "A certificate on the way to the site has expired."),
    Reason("tls_invalid", N_("certificate invalid"),
           "A certificate on the way to the site is self-signed, for another name or otherwise rejected."),
    Reason("tls_handshake_failed", N_("TLS handshake failed"), "An HTTPS endpoint accepts TCP but no TLS handshake."),
    Reason("too_large", N_("page too large"), "A page, feed or sitemap is (or inflates to) more than the byte cap."),
    Reason("bad_encoding", N_("unreadable compression"),
           "A body came with a compression the checker did not ask for, or that does not inflate."),
    Reason("not_html", N_("not HTML"), "The home page is not an HTML page."),
    Reason("slow", N_("slow"), "The home page took longer than the site's slow threshold."),
    Reason("dns_failed", N_("name not found"), "The host name does not resolve.", down=True),
    Reason("connect_refused", N_("connection refused"), "Nothing listens on the site's port.", down=True),
    Reason("timeout", N_("timeout"), "No answer in time.", down=True),
    Reason("http_5xx", N_("server error"), "The home page answers an HTTP 5xx error.", down=True),
    Reason("http_4xx", N_("HTTP error"), "The home page answers an HTTP 4xx error.", down=True,
           detailed=N_("HTTP %(http_status)s")),
    Reason("http_error", N_("HTTP error"), "A freshness signal answered with an HTTP error.",
           detailed=N_("HTTP %(http_status)s")),
    Reason("redirect_loop", N_("redirect loop"), "The redirects lead back to where they started.", down=True),
    # a website check that did not run, and why (its outcome is "skipped")
    Reason("not_https", N_("plain HTTP"), "The site is served over plain HTTP: there is no certificate to check."),
    Reason("not_reached", N_("not checked"), "Not checked because the home page did not answer."),
    Reason("not_needed", N_("not needed"), "A freshness signal not read: an earlier one already dated the content."),
    Reason("no_report", N_("no report yet"), "Nothing heard from the website's agent about it for too long.",
           origin="central"),
)

CAMERA: dict[str, Reason] = {reason.code: reason for reason in CAMERA_REASONS}
WEBSITE: dict[str, Reason] = {reason.code: reason for reason in WEBSITE_REASONS}
# The codes that count as evidence a camera is gone (edge_agent/status.py).
DOWN_REASONS = frozenset(reason.code for reason in CAMERA_REASONS if reason.down)
# The order a camera's complaints are ranked in: the first is what an operator acts on first.
PRIORITY: tuple[str, ...] = tuple(reason.code for reason in CAMERA_REASONS if reason.ranked)


# A code this table does not know yet (an agent newer than central): a neutral phrase in the reader's
# language that still names the code, never the code turned into English words.
UNKNOWN_REASON = N_("other reason (%(code)s)")


def unknown_reason(code: str, translate: Callable[[str], str] = str) -> str:
    """How a code missing from the table reads: ``new_code`` -> "other reason (new_code)" / "alasan lain (new_code)"."""
    return translate(UNKNOWN_REASON) % {"code": code.strip() or "?"}


def worded(table: Mapping[str, Reason], code: str, details: Mapping[str, object] | None = None,
           translate: Callable[[str], str] = str) -> str:
    """The code's wording with its placeholders filled from ``details`` (the short form without them).

    ``translate`` maps an English wording to the reader's language (the web passes gettext).
    """
    reason = table.get(code)
    if reason is None:
        return unknown_reason(code, translate)
    say = translate
    if details and reason.detailed is not None:
        try:
            return say(reason.detailed) % dict(details)
        except (KeyError, TypeError, ValueError):
            pass
    return say(reason.short)
