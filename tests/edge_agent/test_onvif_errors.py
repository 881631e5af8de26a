"""classify(): every failure a camera can cause, to the reason code that decides online/offline."""

from __future__ import annotations

import aiohttp
import pytest
from lxml import etree
from zeep.exceptions import EntitiesForbidden, Fault, TransportError, XMLSyntaxError

from edge_agent.onvif_errors import ReplyTooLarge, classify
from edge_agent.onvif_lib import ONVIFError, ONVIFTimeoutError
from shared.reasons import DOWN_REASONS

NOT_AUTHORIZED = etree.fromstring(
    b'<Code xmlns:ter="http://www.onvif.org/ver10/error"><Subcode><Value>ter:NotAuthorized</Value></Subcode></Code>')


def _wrapped(cause: BaseException) -> ONVIFError:
    try:
        raise ONVIFError("Unknown error") from cause
    except ONVIFError as error:
        return error


def _connector_error() -> aiohttp.ClientConnectorError:
    key = aiohttp.client_reqrep.ConnectionKey("10.0.0.9", 80, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


@pytest.mark.parametrize(("error", "reason"), [
    (TimeoutError(), "onvif_timeout"),
    (ONVIFTimeoutError("slow"), "onvif_timeout"),
    (aiohttp.ServerTimeoutError("read"), "onvif_timeout"),
    (Fault("Sender not Authorized", subcodes=[etree.QName("http://www.onvif.org/ver10/error", "NotAuthorized")]),
     "auth_failed"),
    (Fault("Optional Action Not Implemented"), "onvif_error"),
    (TransportError("denied", status_code=401), "auth_failed"),
    (TransportError("forbidden", status_code=403), "auth_failed"),
    # Something answered, just not SOAP: malformed, never "no answer" (which counts towards offline).
    (TransportError("Server returned response (200) with invalid XML", status_code=200), "onvif_malformed"),
    (TransportError("moved", status_code=302), "onvif_malformed"),
    (TransportError("not found", status_code=404), "onvif_no_answer"),
    (TransportError("server error", status_code=500), "onvif_no_answer"),
    (XMLSyntaxError("Namespace prefix SOAP-ENV on Envelope is not defined"), "onvif_malformed"),
    (EntitiesForbidden("a", "aaaa"), "onvif_malformed"),
    (ReplyTooLarge(2048), "onvif_malformed"),
    (aiohttp.ClientPayloadError("Response payload is not completed"), "onvif_malformed"),
    (_connector_error(), "onvif_no_answer"),
    (aiohttp.ServerDisconnectedError(), "onvif_no_answer"),
    (ConnectionResetError(104, "reset"), "onvif_no_answer"),
    (AttributeError("'NoneType' object has no attribute 'Uri'"), "onvif_malformed"),
    (_wrapped(TimeoutError()), "onvif_timeout"),
    (_wrapped(TransportError("empty", status_code=200)), "onvif_malformed"),
    (ONVIFError("Device doesn't support service: media"), "onvif_error"),
])
def test_classify(error: BaseException, reason: str) -> None:
    failure = classify(error)
    assert failure.reason == reason
    assert failure.message


def test_only_silence_and_refusal_count_as_down() -> None:
    answered = [TransportError("x", status_code=200), ReplyTooLarge(1), Fault("x"), XMLSyntaxError("x")]
    assert all(classify(error).reason not in DOWN_REASONS for error in answered)
    assert classify(TimeoutError()).reason in DOWN_REASONS


def test_message_is_scrubbed() -> None:
    failure = classify(TransportError("http://admin:hunter22@10.0.0.9/onvif", status_code=200))
    assert "hunter22" not in failure.message


@pytest.mark.parametrize(("fault", "message"), [
    # Reolink's bare Sender fault (tests/fixtures/onvif/reolink-sender-fault-empty-reason.xml): no reason at all.
    (Fault("", code="SOAP-ENV:Sender"), "SOAP fault: SOAP-ENV:Sender"),
    (Fault("Optional Action Not Implemented", code="env:Receiver",
           subcodes=[etree.QName("http://www.onvif.org/ver10/error", "ActionNotSupported")]),
     "SOAP fault: env:Receiver; ActionNotSupported; Optional Action Not Implemented"),
    (Fault("bad\n   value", detail=b"<x>http://admin:hunter22@10.0.0.9/</x>"), "SOAP fault: bad value; <x>http://"),
])
def test_a_fault_names_what_it_has_and_no_blanks(fault: Fault, message: str) -> None:
    failure = classify(fault)
    assert failure.message.startswith(message), failure.message
    assert "hunter22" not in failure.message and "  " not in failure.message
