"""A canned ONVIF device on real HTTP: plain SOAP 1.2 answers, any of which a test replaces with a field reply.

The baseline answers are minimal and schema-valid, written for these tests; what is under test comes
from tests/fixtures/onvif/ (real replies, each with its source) or from a test's own hostile handler.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from lxml import etree

ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
            'xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>{}</s:Body></s:Envelope>')
MAC = "00-1A-2B-3C-4D-5E"  # Dahua/Uniview write dashes and capitals


@dataclass(slots=True)
class Reply:
    body: bytes
    status: int = 200
    content_type: str = "application/soap+xml; charset=utf-8"


# A test's own answer: the request and its body (already read) in, any response out.
Handler = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


def _baseline(action: str, base: str, services: str, host: str) -> str:
    """The baseline answer to ``action``; ``base`` is scheme://host:port, ``services`` where the services are."""
    now = dt.datetime.now(dt.UTC)
    answers = {
        "GetSystemDateAndTime": (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
            "<tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime>"
            f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>{now.year}</tt:Year>"
            f"<tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date></tt:UTCDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"),
        "GetDeviceInformation": (
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>Canned</tds:Manufacturer><tds:Model>C-1</tds:Model>"
            "<tds:FirmwareVersion>1.0</tds:FirmwareVersion><tds:SerialNumber>SN-1</tds:SerialNumber>"
            "<tds:HardwareId>1</tds:HardwareId></tds:GetDeviceInformationResponse>"),
        "GetNetworkInterfaces": (
            '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0"><tt:Enabled>true</tt:Enabled>'
            f"<tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>{MAC}</tt:HwAddress></tt:Info>"
            "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"),
        "GetServices": (
            "<tds:GetServicesResponse>"
            "<tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace>"
            f"<tds:XAddr>{services}/device_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major>"
            "<tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
            "<tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace>"
            f"<tds:XAddr>{services}/media_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major>"
            "<tt:Minor>60</tt:Minor></tds:Version></tds:Service></tds:GetServicesResponse>"),
        "GetProfiles": (
            '<trt:GetProfilesResponse><trt:Profiles token="main" fixed="true"><tt:Name>main</tt:Name>'
            '<tt:VideoEncoderConfiguration token="enc"><tt:Name>enc</tt:Name><tt:UseCount>1</tt:UseCount>'
            "<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height>"
            "</tt:Resolution><tt:Quality>4</tt:Quality><tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit>"
            "<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl>"
            "<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration></trt:Profiles>"
            "</trt:GetProfilesResponse>"),
        "GetStreamUri": (
            f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>rtsp://{host}:554/main</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
            "<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>"),
        "GetSnapshotUri": (
            f"<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>{base}/snap.jpg</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
            "<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetSnapshotUriResponse>"),
    }
    return ENVELOPE.format(answers[action])


def action_of(body: bytes) -> str:
    """The operation a SOAP request asks for: the local name of the Body's first child."""
    root = etree.fromstring(body)
    soap_body = next(child for child in root if etree.QName(child).localname == "Body")
    return str(etree.QName(soap_body[0]).localname)


@dataclass(slots=True)
class CannedDevice:
    """Answers every ONVIF request at ``path_prefix``; ``replies`` (by action, or "*" for all) and
    ``handlers`` replace the baseline. ``calls`` lists the actions asked, in order."""

    replies: dict[str, Reply] = field(default_factory=dict)
    handlers: dict[str, Handler] = field(default_factory=dict)
    path_prefix: str = "/onvif/"
    base_override: str = ""
    calls: list[str] = field(default_factory=list)
    port: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not request.path.startswith(self.path_prefix):
            return web.Response(status=404, text="not here")
        if request.method != "POST":
            return web.Response(status=405, text="SOAP endpoints accept POST only")  # the reachability GET
        body = await request.read()
        action = action_of(body)
        self.calls.append(action)
        handler = self.handlers.get(action) or self.handlers.get("*")
        if handler is not None:
            return await handler(request, body)
        return self.answer(request, action)

    def answer(self, request: web.Request, action: str) -> web.Response:
        """The reply ``replies`` give for ``action``, else the baseline one."""
        reply = self.replies.get(action) or self.replies.get("*")
        if reply is None:
            base = self.base_override or f"{request.scheme}://{request.host}"
            services = base + self.path_prefix.rstrip("/")
            reply = Reply(_baseline(action, base, services, request.url.host or "127.0.0.1").encode())
        return web.Response(body=reply.body, status=reply.status, headers={"Content-Type": reply.content_type})


@asynccontextmanager
async def serving(device: CannedDevice, host: str = "127.0.0.1",
                  tls: ssl.SSLContext | None = None) -> AsyncIterator[CannedDevice]:
    """``device`` listening on ``host`` at a free port (``device.port``), over TLS with ``tls``, until the
    block ends."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", device.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=tls)
    await site.start()
    device.port = runner.addresses[0][1]
    try:
        yield device
    finally:
        await runner.cleanup()
