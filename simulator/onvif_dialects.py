"""How each simulated camera speaks ONVIF: the quirks real firmware has, one named dialect per quirk.

A camera's ``dialect`` (scenario key, ``scc-sim --dialect``) picks one; ``mixed`` gives camera N the
N-th dialect in turn, so a fleet exercises all of them. Each quirk comes from a real reply in
tests/fixtures/onvif/ or an issue tracker named there; none is a failure: a tolerant client checks
every one of these cameras as healthy.

- ``standard``: the spec's behaviour.
- ``time_needs_auth``: GetSystemDateAndTime refused without WS-Security (NotAuthorized), which the spec
  forbids and some firmware does (home-assistant/core#121952, agsh/onvif#178).
- ``local_time_only``: GetSystemDateAndTime without UTCDateTime, only LocalDateTime and a POSIX TZ
  (agsh/onvif#165, home-assistant/core#26656).
- ``gsoap_undeclared``: every reply's envelope uses the ``SOAP-ENV`` prefix without declaring it (the
  gSOAP reply kept by agsh/onvif, issue 13's second outside camera).
- ``no_get_services``: GetServices is not implemented (ActionNotSupported); GetCapabilities is.
- ``no_system_time``: GetSystemDateAndTime is not implemented (a HiKam/"Technology IPC", agsh/onvif#65).
- ``no_snapshot_uri``: GetSnapshotUri is not implemented (libONVIF#22: "Optional Action Not Implemented").
- ``snapshot_uri_rtsp``: GetSnapshotUri answers with the RTSP stream URI (XM530, home-assistant/core#66554).
- ``snapshot_other_port``: the snapshot URI is on another HTTP port than ONVIF (Reolink: ONVIF on 8000,
  snapshots on 80; lumeohq/onvif-rs#48).
- ``sparse_encoder``: the profile's VideoEncoderConfiguration has no Encoding, Resolution or RateControl
  (easy_onvif#20).
- ``dashed_mac``: HwAddress in capitals with dashes (``00-1A-2B-...``), as Windows-style firmware writes it.
- ``narrow_wsse_window``: WS-Security tokens accepted only within 5 s of the camera's clock (most accept
  minutes), so a client must sign with the camera's time, not its own.
- ``http_digest``: every request, GetSystemDateAndTime included, needs HTTP Digest authentication and
  WS-Security is ignored: Hikvision's ONVIF authentication mode "digest" (home-assistant/core#119107,
  whose 401 page is in the corpus).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.wsse import AUTH_WINDOW_SECONDS


@dataclass(frozen=True, slots=True)
class OnvifDialect:
    name: str
    time_needs_auth: bool = False
    utc_time: bool = True
    undeclared_envelope: bool = False
    unsupported: frozenset[str] = frozenset()
    snapshot_is_stream: bool = False
    snapshot_other_port: bool = False
    sparse_encoder: bool = False
    dashed_mac: bool = False
    wsse_window_s: float = AUTH_WINDOW_SECONDS
    http_digest: bool = False


_ALL = (
    OnvifDialect("standard"),
    OnvifDialect("time_needs_auth", time_needs_auth=True),
    OnvifDialect("local_time_only", utc_time=False),
    OnvifDialect("gsoap_undeclared", undeclared_envelope=True),
    OnvifDialect("no_get_services", unsupported=frozenset({"GetServices"})),
    OnvifDialect("no_system_time", unsupported=frozenset({"GetSystemDateAndTime"})),
    OnvifDialect("no_snapshot_uri", unsupported=frozenset({"GetSnapshotUri"})),
    OnvifDialect("snapshot_uri_rtsp", snapshot_is_stream=True),
    OnvifDialect("snapshot_other_port", snapshot_other_port=True),
    OnvifDialect("sparse_encoder", sparse_encoder=True),
    OnvifDialect("dashed_mac", dashed_mac=True),
    OnvifDialect("narrow_wsse_window", wsse_window_s=5.0),
    OnvifDialect("http_digest", http_digest=True),
)
DIALECTS: dict[str, OnvifDialect] = {dialect.name: dialect for dialect in _ALL}
MIXED = "mixed"


def resolve(name: str, index: int) -> OnvifDialect:
    """The dialect camera ``index`` speaks: its own, or the index-th one for ``mixed``."""
    if name == MIXED:
        return _ALL[(index - 1) % len(_ALL)]
    return DIALECTS[name]


def undeclare_envelope(body: bytes) -> bytes:
    """The envelope written with an undeclared ``SOAP-ENV`` prefix, as old gSOAP firmware sends it."""
    return (body.replace(b' xmlns:env="http://www.w3.org/2003/05/soap-envelope"', b"", 1)
            .replace(b"<env:", b"<SOAP-ENV:").replace(b"</env:", b"</SOAP-ENV:"))


def dashed(mac: str) -> str:
    return mac.replace(":", "-").upper()
