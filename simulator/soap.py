"""SOAP 1.2 envelopes for ONVIF: careful request parsing, response and fault templates."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

NS_ENV = "http://www.w3.org/2003/05/soap-envelope"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
NS_TRT = "http://www.onvif.org/ver10/media/wsdl"
NS_TT = "http://www.onvif.org/ver10/schema"
NS_TER = "http://www.onvif.org/ver10/error"

SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"

_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<env:Envelope xmlns:env="{NS_ENV}" xmlns:tt="{NS_TT}" xmlns:tds="{NS_TDS}" '
    f'xmlns:trt="{NS_TRT}" xmlns:ter="{NS_TER}">'
    "<env:Body>"
)
_ENVELOPE_CLOSE = "</env:Body></env:Envelope>"


class SoapParseError(ValueError):
    """The request is not a SOAP 1.2 envelope we are willing to parse."""


@dataclass(frozen=True, slots=True)
class UsernameToken:
    """The WS-Security UsernameToken fields, as sent."""

    username: str
    password: str
    password_type: str
    nonce: str
    created: str


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """The operation element (namespace + local name) plus what auth needs from the header."""

    namespace: str
    operation: str
    body: ET.Element
    token: UsernameToken | None

    def child_text(self, local_name: str) -> str | None:
        """Text of the first descendant of the operation element with this local name."""
        for element in self.body.iter():
            if element.tag.rpartition("}")[2] == local_name:
                return (element.text or "").strip()
        return None


def x(text: object) -> str:
    """Escape for element content; every template value goes through this or ``xa``."""
    return escape(str(text))


def xa(text: object) -> str:
    """Escape and quote for an attribute value."""
    return quoteattr(str(text))


def parse_request(data: bytes) -> SoapRequest:
    """Parse a SOAP request; DTDs are refused outright so entity tricks never reach expat."""
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise SoapParseError("DTDs are not accepted")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise SoapParseError(f"not well-formed XML: {error}") from None
    if root.tag != f"{{{NS_ENV}}}Envelope":
        raise SoapParseError("not a SOAP 1.2 Envelope")
    body = root.find(f"{{{NS_ENV}}}Body")
    if body is None or len(body) == 0:
        raise SoapParseError("empty SOAP Body")
    operation = body[0]
    namespace, _, local = operation.tag[1:].partition("}") if operation.tag.startswith("{") else ("", "", "")
    if not local:
        namespace, local = "", operation.tag
    return SoapRequest(namespace, local, operation, _username_token(root))


def _username_token(root: ET.Element) -> UsernameToken | None:
    token = root.find(f"{{{NS_ENV}}}Header/{{{NS_WSSE}}}Security/{{{NS_WSSE}}}UsernameToken")
    if token is None:
        return None
    password = token.find(f"{{{NS_WSSE}}}Password")
    return UsernameToken(
        username=(token.findtext(f"{{{NS_WSSE}}}Username") or "").strip(),
        password=(password.text or "").strip() if password is not None else "",
        password_type=password.get("Type", "") if password is not None else "",
        nonce=(token.findtext(f"{{{NS_WSSE}}}Nonce") or "").strip(),
        created=(token.findtext(f"{{{NS_WSU}}}Created") or "").strip(),
    )


def envelope(body_xml: str) -> bytes:
    return (_ENVELOPE_OPEN + body_xml + _ENVELOPE_CLOSE).encode()


@dataclass(frozen=True, slots=True)
class SoapFault:
    """A fault as real cameras shape it: env code, ter subcode(s), reason text and an HTTP status."""

    code: str
    subcodes: tuple[str, ...]
    reason: str
    http_status: int

    def render(self) -> bytes:
        subcode_xml = ""
        for subcode in reversed(self.subcodes):
            subcode_xml = f"<env:Subcode><env:Value>{x(subcode)}</env:Value>{subcode_xml}</env:Subcode>"
        return envelope(
            "<env:Fault>"
            f"<env:Code><env:Value>{x(self.code)}</env:Value>{subcode_xml}</env:Code>"
            f'<env:Reason><env:Text xml:lang="en">{x(self.reason)}</env:Text></env:Reason>'
            "</env:Fault>"
        )


NOT_AUTHORIZED = SoapFault("env:Sender", ("ter:NotAuthorized",), "Sender not Authorized", 400)
NOT_WELL_FORMED = SoapFault("env:Sender", ("ter:WellFormed",), "Request is not well-formed SOAP", 400)
ACTION_NOT_SUPPORTED = SoapFault(
    "env:Receiver", ("ter:ActionNotSupported",), "Optional Action Not Implemented", 500
)
NO_PROFILE = SoapFault("env:Sender", ("ter:InvalidArgVal", "ter:NoProfile"), "Profile token does not exist", 400)
NO_SUCH_SERVICE = SoapFault(
    "env:Receiver", ("ter:ActionNotSupported", "ter:NoSuchService"), "The requested service is not supported", 500
)
