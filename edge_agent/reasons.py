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

REASONS: dict[str, Reason] = {reason.code: reason for reason in _ALL}
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
