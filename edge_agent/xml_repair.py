"""Declaring the namespace prefixes old firmware uses without declaring them, so a strict parser can read it.

gSOAP-based firmware and hand-written servers send ``<SOAP-ENV:Envelope>`` (or ``tds:``, ``tt:`` ...)
with no ``xmlns:`` declaration; clients that ignore namespaces read these, lxml and expat refuse
them. WS-Discovery replies (edge_agent.discovery_parse) and ONVIF SOAP replies
(edge_agent.onvif_pool) are repaired here, the same way: a prefix ONVIF uses by convention gets its
conventional namespace, any other a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

UNDECLARED = "urn:scc:undeclared:"  # namespace given to prefixes nobody can guess
_PREFIX_USE = re.compile(rb"</?([A-Za-z_][\w.-]*):[A-Za-z_]")
_ATTRIBUTE_PREFIX_USE = re.compile(rb"\s([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*\s*=")
_DECLARED = re.compile(rb"xmlns:([A-Za-z_][\w.-]*)\s*=")
_ROOT = re.compile(rb"<(?![?!])[A-Za-z_][\w.:-]*")

_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
# The prefixes ONVIF's specifications and WSDLs use, with their namespaces (ONVIF is SOAP 1.2).
ONVIF_PREFIXES: Mapping[str, str] = {
    "SOAP-ENV": _SOAP12, "env": _SOAP12, "s": _SOAP12, "soap": _SOAP12, "soapenv": _SOAP12,
    "SOAP-ENC": "http://www.w3.org/2003/05/soap-encoding",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tr2": "http://www.onvif.org/ver20/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "timg": "http://www.onvif.org/ver20/imaging/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "wsa5": "http://www.w3.org/2005/08/addressing",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xsd": "http://www.w3.org/2001/XMLSchema",
}


def undeclared_prefixes(data: bytes) -> set[bytes]:
    """Prefixes used on elements or attributes of ``data`` that no ``xmlns:`` declares."""
    used = set(_PREFIX_USE.findall(data)) | set(_ATTRIBUTE_PREFIX_USE.findall(data))
    return used - set(_DECLARED.findall(data)) - {b"xml", b"xmlns"}


def declare_missing_prefixes(data: bytes, known: Mapping[str, str] | None = None) -> bytes:
    """``data`` with its undeclared prefixes declared on the root element (``known`` ones with their
    namespace, others with a placeholder); unchanged when nothing is missing or there is no root."""
    missing = undeclared_prefixes(data)
    root = _ROOT.search(data) if missing else None
    if root is None:
        return data
    known = known or {}
    declarations = b"".join(
        b' xmlns:%s="%s"' % (prefix, known.get(prefix.decode(), UNDECLARED + prefix.decode()).encode())
        for prefix in sorted(missing)
    )
    return data[:root.end()] + declarations + data[root.end():]
