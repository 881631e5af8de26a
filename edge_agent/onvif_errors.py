"""What an ONVIF failure means: one reason code from shared/reasons.py and a scrubbed message.

The codes matter beyond the label: ``onvif_timeout`` and ``onvif_no_answer`` count as evidence the
camera is gone (edge_agent.status), ``onvif_malformed`` and ``onvif_error`` as a camera answering
badly. So an answer that arrived, whatever it was (an empty HTTP 200, an HTML page, a reply too
large to read), is never classified as "no answer".
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from lxml.etree import LxmlError
from zeep.exceptions import (
    DTDForbidden,
    EntitiesForbidden,
    Fault,
    TransportError,
    XMLParseError,
    XMLSyntaxError,
)
from zeep.exceptions import ValidationError as ZeepValidationError

from edge_agent.onvif_lib import ONVIFError, ONVIFTimeoutError, is_auth_error, stringify_onvif_error
from edge_agent.scrub import scrub
from shared.messages import clip_text


class ReplyTooLarge(ONVIFError):
    """The device's answer exceeded the agent's bound on one SOAP reply; it was not read further."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"answer larger than {limit} bytes (not read further)")
        self.limit = limit


# The failures a camera can cause (the Home Assistant integration's pattern): anything else is a bug.
ONVIF_ERRORS: tuple[type[BaseException], ...] = (
    ONVIFError, Fault, TransportError, XMLParseError, XMLSyntaxError, aiohttp.ClientError, TimeoutError,
    OSError, ValueError, AttributeError, KeyError, TypeError, IndexError, LxmlError, ZeepValidationError,
    DTDForbidden, EntitiesForbidden,
)


@dataclass(frozen=True, slots=True)
class OnvifFailure:
    reason: str
    message: str


def classify(error: BaseException) -> OnvifFailure:
    """Map any ONVIF failure to a reason code from shared/reasons.py and a scrubbed message."""
    seen: set[int] = set()
    current: BaseException | None = error
    # onvif-zeep-async wraps causes in ONVIFError; the cause says more.
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _classify_one(current)
        if verdict is not None:
            return verdict
        current = current.__cause__ or current.__context__
    return OnvifFailure("onvif_error", scrub(f"{type(error).__name__}: {error}"))


def fault_text(fault: Fault) -> str:
    """Code, subcodes, reason and detail of a fault, those it has, as discovery names its faults:
    "SOAP-ENV:Sender; ter:InvalidArgVal; reason". Firmware often leaves the reason empty (Reolink's bare
    Sender fault), which the library's "reason (code:...) (subcodes:...)" turned into a blank."""
    subcodes = fault.subcodes if isinstance(fault.subcodes, list) else [fault.subcodes]
    detail = fault.detail.decode("utf-8", "replace") if isinstance(fault.detail, bytes) else fault.detail
    # A subcode is an lxml QName ("{namespace}Name"): its local name is what a person reads.
    parts = [fault.code, *(getattr(code, "localname", code) for code in subcodes), fault.message, detail]
    return "; ".join(text for part in parts if part is not None and (text := " ".join(str(part).split())))


def _transport(error: TransportError, text: str) -> OnvifFailure:
    status = error.status_code
    if status in (401, 403):
        return OnvifFailure("auth_failed", f"camera refused the credentials (HTTP {status})")
    if 200 <= status < 400:
        # zeep raises TransportError for a 2xx whose body is not XML (empty, HTML, a vendor's JSON):
        # the service answered, just not in SOAP.
        return OnvifFailure("onvif_malformed", f"ONVIF service answered HTTP {status} without SOAP: "
                                               f"{clip_text(text, 160)}")
    return OnvifFailure("onvif_no_answer", f"ONVIF service answered HTTP {status}")


def _classify_one(error: BaseException) -> OnvifFailure | None:
    text = scrub(stringify_onvif_error(error) if isinstance(error, Exception) else str(error))
    if isinstance(error, ReplyTooLarge):
        return OnvifFailure("onvif_malformed", f"ONVIF answer larger than {error.limit} bytes (not read further)")
    if isinstance(error, DTDForbidden | EntitiesForbidden):
        return OnvifFailure("onvif_malformed", "answer declares a DTD or entities (refused)")
    if isinstance(error, TimeoutError | ONVIFTimeoutError | aiohttp.ServerTimeoutError):
        return OnvifFailure("onvif_timeout", "no ONVIF answer in time")
    if isinstance(error, Fault):
        if is_auth_error(error):
            return OnvifFailure("auth_failed", f"camera refused the credentials: {clip_text(text, 200)}")
        return OnvifFailure("onvif_error", f"SOAP fault: {clip_text(scrub(fault_text(error)), 300)}")
    if isinstance(error, TransportError):
        return _transport(error, text)
    if isinstance(error, XMLSyntaxError | XMLParseError | ZeepValidationError | LxmlError):
        return OnvifFailure("onvif_malformed", f"answer is not valid SOAP: {clip_text(text, 200)}")
    if isinstance(error, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError |
                  aiohttp.ClientOSError | ConnectionError):
        return OnvifFailure("onvif_no_answer", f"ONVIF connection failed: {clip_text(text, 200)}")
    if isinstance(error, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        # The server answered and then broke the body (bad chunking, wrong Content-Length, bad gzip).
        return OnvifFailure("onvif_malformed", f"ONVIF answer broken in transit: {clip_text(text, 200)}")
    if isinstance(error, aiohttp.ClientError | OSError):
        return OnvifFailure("onvif_no_answer", f"ONVIF request failed: {clip_text(text, 200)}")
    if isinstance(error, TypeError | AttributeError | ValueError | KeyError | IndexError):
        # zeep hands back half-parsed objects for answers that do not match the schema.
        return OnvifFailure("onvif_malformed", f"answer does not match the ONVIF schema: {clip_text(text, 200)}")
    return None
