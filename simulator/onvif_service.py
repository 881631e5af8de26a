"""ONVIF device and media service operations for one camera, answered from XML templates."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote

from simulator.camera import Camera, sub_size
from simulator.onvif_dialects import dashed, resolve, undeclare_envelope
from simulator.soap import (
    ACTION_NOT_SUPPORTED,
    NO_PROFILE,
    NO_SUCH_SERVICE,
    NOT_AUTHORIZED,
    NS_TDS,
    NS_TRT,
    SoapFault,
    SoapRequest,
    envelope,
    x,
    xa,
)
from simulator.wsse import verify_token

PROFILE_TOKEN = "Profile_1"
# The sub-stream: half the main stream's size each way, as real cameras offer for viewing over thin links.
SUB_PROFILE_TOKEN = "Profile_2"
PROFILE_TOKENS = (PROFILE_TOKEN, SUB_PROFILE_TOKEN)
_PRE_AUTH_OPERATIONS = {"GetSystemDateAndTime"}


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The URLs this camera hands out, built from the address the client actually used."""

    ip: str
    device_xaddr: str
    media_xaddr: str
    snapshot_uri: str
    stream_uri: str
    sub_stream_uri: str = ""


@dataclass(frozen=True, slots=True)
class SoapReply:
    """A rendered response or fault plus its HTTP status."""

    status: int
    body: bytes


def scopes_for(camera: Camera) -> list[str]:
    """ONVIF scopes, shared by GetScopes and WS-Discovery."""
    info = camera.device_info()
    return [
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/type/Network_Video_Transmitter",
        "onvif://www.onvif.org/Profile/Streaming",
        f"onvif://www.onvif.org/hardware/{quote(info.model, safe='')}",
        f"onvif://www.onvif.org/name/{quote(info.name, safe='')}",
        f"onvif://www.onvif.org/location/city/{quote(camera.identity.regency_name, safe='')}",
        "onvif://www.onvif.org/location/country/indonesia",
    ]


def _date_time_xml(epoch: float) -> str:
    t = time.gmtime(epoch)
    return (f"<tt:Time><tt:Hour>{t.tm_hour}</tt:Hour><tt:Minute>{t.tm_min}</tt:Minute>"
            f"<tt:Second>{t.tm_sec}</tt:Second></tt:Time>"
            f"<tt:Date><tt:Year>{t.tm_year}</tt:Year><tt:Month>{t.tm_mon}</tt:Month>"
            f"<tt:Day>{t.tm_mday}</tt:Day></tt:Date>")


class OnvifService:
    """Dispatches a parsed SOAP request to the right operation for ``camera``."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.dialect = resolve(camera.config.dialect, camera.identity.index)

    def handle(self, request: SoapRequest, endpoints: Endpoints) -> SoapReply:
        reply = self._answer(request, endpoints)
        if self.dialect.undeclared_envelope:
            return SoapReply(reply.status, undeclare_envelope(reply.body))
        return reply

    def _answer(self, request: SoapRequest, endpoints: Endpoints) -> SoapReply:
        dialect = self.dialect
        # http_digest firmware authenticated the HTTP request (simulator.camera_http) and ignores WS-Security.
        needs_token = request.operation not in _PRE_AUTH_OPERATIONS or dialect.time_needs_auth
        if needs_token and not dialect.http_digest:
            camera = self.camera
            if not verify_token(request.token, camera.config.username, camera.accepted_password(), camera.now(),
                                window=dialect.wsse_window_s):
                return self._fault(NOT_AUTHORIZED)
        if request.operation in dialect.unsupported:
            return self._fault(ACTION_NOT_SUPPORTED)
        handlers = {
            NS_TDS: {
                "GetSystemDateAndTime": self._system_date_and_time,
                "GetCapabilities": self._capabilities,
                "GetServices": self._services,
                "GetDeviceInformation": self._device_information,
                "GetNetworkInterfaces": self._network_interfaces,
                "GetScopes": self._scopes,
                "GetHostname": self._hostname,
            },
            NS_TRT: {
                "GetProfiles": self._profiles,
                "GetProfile": self._profile,
                "GetStreamUri": self._stream_uri,
                "GetSnapshotUri": self._snapshot_uri,
                "GetVideoSources": self._video_sources,
            },
        }
        handler = handlers.get(request.namespace, {}).get(request.operation)
        if handler is None:
            return self._fault(ACTION_NOT_SUPPORTED)
        result = handler(request, endpoints)
        if isinstance(result, SoapFault):
            return self._fault(result)
        return SoapReply(200, envelope(result))

    @staticmethod
    def _fault(fault: SoapFault) -> SoapReply:
        return SoapReply(fault.http_status, fault.render())

    def _system_date_and_time(self, request: SoapRequest, endpoints: Endpoints) -> str:
        now = self.camera.now()
        utc = f"<tt:UTCDateTime>{_date_time_xml(now)}</tt:UTCDateTime>" if self.dialect.utc_time else ""
        return ("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
                "<tt:TimeZone><tt:TZ>WIB-7</tt:TZ></tt:TimeZone>"
                f"{utc}"
                f"<tt:LocalDateTime>{_date_time_xml(now + 7 * 3600)}</tt:LocalDateTime>"
                "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")

    def _capabilities(self, request: SoapRequest, endpoints: Endpoints) -> str | SoapFault:
        categories = set((request.child_text("Category") or "All").split())
        device = media = ""
        if categories & {"All", "Device"}:
            device = (f"<tt:Device><tt:XAddr>{x(endpoints.device_xaddr)}</tt:XAddr>"
                      "<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>"
                      "<tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>"
                      "</tt:Device>")
        if categories & {"All", "Media"}:
            media = (f"<tt:Media><tt:XAddr>{x(endpoints.media_xaddr)}</tt:XAddr>"
                     "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
                     "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
                     "</tt:StreamingCapabilities></tt:Media>")
        if not device and not media:
            return NO_SUCH_SERVICE
        return f"<tds:GetCapabilitiesResponse><tds:Capabilities>{device}{media}</tds:Capabilities></tds:GetCapabilitiesResponse>"

    def _services(self, request: SoapRequest, endpoints: Endpoints) -> str:
        entries = ((NS_TDS, endpoints.device_xaddr, 2, 60), (NS_TRT, endpoints.media_xaddr, 2, 60))
        services = "".join(
            f"<tds:Service><tds:Namespace>{x(ns)}</tds:Namespace><tds:XAddr>{x(addr)}</tds:XAddr>"
            f"<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version></tds:Service>"
            for ns, addr, major, minor in entries
        )
        return f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>"

    def _device_information(self, request: SoapRequest, endpoints: Endpoints) -> str:
        info = self.camera.device_info()
        return ("<tds:GetDeviceInformationResponse>"
                f"<tds:Manufacturer>{x(info.manufacturer)}</tds:Manufacturer><tds:Model>{x(info.model)}</tds:Model>"
                f"<tds:FirmwareVersion>{x(info.firmware)}</tds:FirmwareVersion>"
                f"<tds:SerialNumber>{x(info.serial)}</tds:SerialNumber>"
                f"<tds:HardwareId>{x(info.hardware_id)}</tds:HardwareId>"
                "</tds:GetDeviceInformationResponse>")

    def _network_interfaces(self, request: SoapRequest, endpoints: Endpoints) -> str:
        mac = dashed(self.camera.identity.mac) if self.dialect.dashed_mac else self.camera.identity.mac
        return ("<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token=\"eth0\">"
                "<tt:Enabled>true</tt:Enabled>"
                f"<tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>{x(mac)}</tt:HwAddress>"
                "<tt:MTU>1500</tt:MTU></tt:Info>"
                "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config>"
                f"<tt:Manual><tt:Address>{x(endpoints.ip)}</tt:Address><tt:PrefixLength>24</tt:PrefixLength></tt:Manual>"
                "<tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
                "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>")

    def _scopes(self, request: SoapRequest, endpoints: Endpoints) -> str:
        scopes = "".join(
            f"<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>{x(scope)}</tt:ScopeItem></tds:Scopes>"
            for scope in scopes_for(self.camera)
        )
        return f"<tds:GetScopesResponse>{scopes}</tds:GetScopesResponse>"

    def _hostname(self, request: SoapRequest, endpoints: Endpoints) -> str:
        return ("<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
                f"<tt:Name>{x(self.camera.camera_id)}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>")

    def _profile_xml(self, element: str, token: str) -> str:
        camera = self.camera
        sub = token == SUB_PROFILE_TOKEN
        width, height = sub_size(camera.config.resolution) if sub else camera.config.resolution
        name = camera.device_info().name
        fps = round(camera.config.fps)
        n = 2 if sub else 1
        source = (f'<trt:{element} token="{token}" fixed="true"><tt:Name>{"SubStream" if sub else "MainStream"}'
                  '</tt:Name><tt:VideoSourceConfiguration token="VideoSourceConfig_1"><tt:Name>VideoSource</tt:Name>'
                  "<tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken>"
                  f'<tt:Bounds x="0" y="0" width={xa(width)} height={xa(height)}/></tt:VideoSourceConfiguration>'
                  f'<tt:VideoEncoderConfiguration token="VideoEncoderConfig_{n}">'
                  f"<tt:Name>{x(name[:64])}</tt:Name><tt:UseCount>1</tt:UseCount>")
        if self.dialect.sparse_encoder:
            return f"{source}</tt:VideoEncoderConfiguration></trt:{element}>"
        return (f"{source}<tt:Encoding>H264</tt:Encoding>"
                f"<tt:Resolution><tt:Width>{width}</tt:Width><tt:Height>{height}</tt:Height></tt:Resolution>"
                "<tt:Quality>4</tt:Quality>"
                f"<tt:RateControl><tt:FrameRateLimit>{fps}</tt:FrameRateLimit><tt:EncodingInterval>1"
                f"</tt:EncodingInterval><tt:BitrateLimit>{256 if sub else 1024}</tt:BitrateLimit></tt:RateControl>"
                f"<tt:H264><tt:GovLength>{max(fps * 2, 1)}</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>"
                "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address>"
                "</tt:Address><tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart>"
                "</tt:Multicast><tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>"
                f"</trt:{element}>")

    def _profiles(self, request: SoapRequest, endpoints: Endpoints) -> str:
        profiles = "".join(self._profile_xml("Profiles", token) for token in PROFILE_TOKENS)
        return f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>"

    def _profile(self, request: SoapRequest, endpoints: Endpoints) -> str | SoapFault:
        token = request.child_text("ProfileToken")
        if token not in PROFILE_TOKENS:
            return NO_PROFILE
        return f"<trt:GetProfileResponse>{self._profile_xml('Profile', token)}</trt:GetProfileResponse>"

    @staticmethod
    def _media_uri(element: str, uri: str) -> str:
        return (f"<trt:{element}><trt:MediaUri><tt:Uri>{x(uri)}</tt:Uri>"
                "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
                "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
                f"</trt:MediaUri></trt:{element}>")

    def _stream_uri(self, request: SoapRequest, endpoints: Endpoints) -> str | SoapFault:
        token = request.child_text("ProfileToken")
        if token not in PROFILE_TOKENS:
            return NO_PROFILE
        uri = endpoints.sub_stream_uri if token == SUB_PROFILE_TOKEN and endpoints.sub_stream_uri \
            else endpoints.stream_uri
        return self._media_uri("GetStreamUriResponse", uri)

    def _snapshot_uri(self, request: SoapRequest, endpoints: Endpoints) -> str | SoapFault:
        if request.child_text("ProfileToken") not in PROFILE_TOKENS:
            return NO_PROFILE
        uri = endpoints.stream_uri if self.dialect.snapshot_is_stream else endpoints.snapshot_uri
        return self._media_uri("GetSnapshotUriResponse", uri)

    def _video_sources(self, request: SoapRequest, endpoints: Endpoints) -> str:
        width, height = self.camera.config.resolution
        return ('<trt:GetVideoSourcesResponse><trt:VideoSources token="VideoSource_1">'
                f"<tt:Framerate>{self.camera.config.fps:g}</tt:Framerate>"
                f"<tt:Resolution><tt:Width>{width}</tt:Width><tt:Height>{height}</tt:Height></tt:Resolution>"
                "</trt:VideoSources></trt:GetVideoSourcesResponse>")


def malformed(reply: SoapReply) -> SoapReply:
    """Cut inside the Body's start tag and append junk, as crashing firmware does.

    Clients parse leniently (zeep recovers broken XML), so the damage must leave no Body to recover.
    """
    body_start = reply.body.find(b"<env:Body>")
    return SoapReply(200, reply.body[: body_start + len(b"<env:Bo")] + b"\x00<<html>ERROR 0x1F</html>")
