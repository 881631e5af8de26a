"""Every reason code the agent reports, with the badge the web UI shows and what it means.

Reason codes are part of the wire contract (``CheckOutcome.reason`` and ``CameraStatus.reason``):
central and the web UI key on them, so codes are only ever added, never renamed. ``badge`` is a
short English label with ``{placeholders}`` filled from the check's ``details``; ``down`` marks
codes that are evidence the camera is gone (as opposed to answering badly), which is what the
offline decision in ``edge_agent.status`` counts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    badge: str
    description: str
    down: bool = False


_ALL: tuple[Reason, ...] = (
    Reason("ok", "OK", "Everything checked answered as expected."),
    Reason("unknown", "not checked yet", "No check cycle has finished for this camera."),
    Reason("skipped", "not checked", "A prerequisite failed, or this check is not due this cycle."),
    Reason("internal_error", "agent error", "The check itself crashed; see the agent log."),
    # reachability
    Reason("unreachable", "unreachable", "Neither the ONVIF nor the RTSP port accepts TCP connections.", down=True),
    Reason("onvif_port_closed", "ONVIF port closed", "The ONVIF HTTP port refuses or times out; RTSP answers.",
           down=True),
    Reason("rtsp_port_closed", "RTSP port closed", "The RTSP port refuses or times out; ONVIF answers.",
           down=True),
    # ONVIF
    Reason("onvif_timeout", "ONVIF timeout", "The camera accepted the connection but sent no ONVIF answer in time.",
           down=True),
    Reason("onvif_no_answer", "ONVIF not answering", "The ONVIF service refused or dropped the request.",
           down=True),
    Reason("onvif_malformed", "broken ONVIF answer", "The camera answered with something that is not valid SOAP."),
    Reason("onvif_error", "ONVIF error", "The camera answered with a SOAP fault other than an authentication one."),
    Reason("slow_response", "slow ({elapsed_s} s)", "The camera answered, but slower than the warning threshold."),
    Reason("auth_failed", "wrong password", "The camera refused the configured user name or password."),
    Reason("clock_skew", "clock {offset_h} h off",
           "The camera clock differs from the agent's; requests are signed with the offset so they still work."),
    # snapshot
    Reason("snapshot_unavailable", "no snapshot URI", "The camera advertises no snapshot URI and none is configured."),
    Reason("snapshot_timeout", "snapshot timeout", "The snapshot request timed out.", down=True),
    Reason("snapshot_unreachable", "snapshot unreachable", "The snapshot URL refuses connections.", down=True),
    Reason("snapshot_auth_failed", "snapshot wrong password", "The snapshot URL refused digest and basic auth."),
    Reason("snapshot_http_error", "snapshot HTTP {http_status}", "The snapshot URL answered with an HTTP error."),
    Reason("snapshot_not_jpeg", "snapshot not a JPEG", "The snapshot answer is not a decodable JPEG."),
    # image analysis
    Reason("black", "black image", "The image is (almost) entirely black: lens, sensor or video lost."),
    Reason("dark", "dark image", "The image is very dark: night without IR, or a failed IR illuminator."),
    Reason("frozen", "frozen image", "The image has not changed since the previous check: the encoder is stuck."),
    Reason("blurred", "blurred image", "The image has very little sharp detail: out of focus or a dirty lens."),
    Reason("covered", "covered / tampered", "The image is uniform with no detail: the lens is covered or turned."),
    # RTSP
    Reason("rtsp_unavailable", "no stream URI", "The camera advertises no RTSP stream URI and none is configured."),
    Reason("rtsp_timeout", "RTSP timeout", "The stream did not open or deliver a frame in time.", down=True),
    Reason("rtsp_unreachable", "RTSP unreachable", "The RTSP server refuses connections.", down=True),
    Reason("rtsp_auth_failed", "stream wrong password", "The RTSP server refused the credentials."),
    Reason("rtsp_no_frames", "stream not decoding", "The stream opened but no frame could be decoded."),
    Reason("resolution_mismatch", "resolution {actual} (expected {expected})",
           "The decoded frames are not the resolution the ONVIF profile promises."),
    Reason("low_fps", "{fps} fps (expected {expected_fps})", "The stream delivers far fewer frames than its profile."),
)

# Website codes (``WebsiteStatus.reason`` and its checks), decided in ``edge_agent/websites``.
_WEBSITE: tuple[Reason, ...] = (
    Reason("ok", "OK", "Up, certificate fine, and content updated within the site's threshold."),
    Reason("stale", "not updated", "Up, but no post published, post edited or page edited for longer than "
           "the site's threshold."),
    Reason("freshness_unknown", "freshness cannot be judged",
           "Up, but no signal (REST API, feed, sitemap, Last-Modified, content fingerprint) gave a usable date: "
           "someone should fix or offer a signal.", ),
    Reason("maintenance", "in maintenance",
           "The site answers 503 with Retry-After or a maintenance page; its announced end has not passed."),
    Reason("maintenance_overrun", "maintenance overran",
           "The site has been in maintenance beyond the end it announced (plus a grace period).", down=True),
    Reason("tls_expiring", "certificate expires in {days_left} d",
           "A certificate on the way to the site (the configured address or a redirect) expires soon."),
    Reason("tls_expired", "certificate expired", "A certificate on the way to the site has expired."),
    Reason("tls_invalid", "certificate invalid",
           "A certificate on the way to the site is self-signed, for another name or otherwise rejected."),
    Reason("tls_handshake_failed", "TLS handshake failed", "An HTTPS endpoint accepts TCP but no TLS handshake."),
    Reason("too_large", "too large", "A page, feed or sitemap is (or inflates to) more than the byte cap."),
    Reason("bad_encoding", "unreadable compression",
           "A body came with a compression the checker did not ask for, or that does not inflate."),
    Reason("not_html", "not HTML", "The home page is not an HTML page."),
    Reason("slow", "slow", "The home page took longer than the site's slow threshold."),
    Reason("dns_failed", "name not found", "The host name does not resolve.", down=True),
    Reason("connect_refused", "connection refused", "Nothing listens on the site's port.", down=True),
    Reason("timeout", "timeout", "No answer in time.", down=True),
    Reason("http_5xx", "server error", "The home page answers an HTTP 5xx error.", down=True),
    Reason("http_4xx", "HTTP error", "The home page answers an HTTP 4xx error.", down=True),
    Reason("redirect_loop", "redirect loop", "The redirects lead back to where they started.", down=True),
)

REASONS: dict[str, Reason] = {reason.code: reason for reason in _ALL}
WEBSITE_REASONS: dict[str, Reason] = {reason.code: reason for reason in _WEBSITE}
DOWN_REASONS = frozenset(reason.code for reason in _ALL if reason.down)


def badge(code: str, details: dict[str, object] | None = None) -> str:
    """The human badge for ``code`` with its placeholders filled, or the code itself if unknown."""
    reason = REASONS.get(code)
    if reason is None:
        return code
    try:
        return reason.badge.format(**(details or {}))
    except (KeyError, IndexError, ValueError):
        return reason.badge.split("{")[0].strip() or code
