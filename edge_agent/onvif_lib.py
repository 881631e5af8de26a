"""The one import of onvif-zeep-async: without its import-time logging.basicConfig(INFO), plus the parts we build on.

onvif.client calls ``logging.basicConfig(level=INFO)`` when imported, which gives a library user (tests,
benchmarks, anyone embedding the agent) a root handler at INFO that floods output with aiohttp/httpx
lines. Importing it here, and only here, lets us undo exactly that and nothing else.
"""

from __future__ import annotations

import logging


def _import_without_basic_config() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import onvif.client  # noqa: F401 - imported for its side effects, undone below

    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


_import_without_basic_config()

# The imports below find onvif.client already loaded, so they no longer touch logging.
from onvif.client import (  # noqa: E402
    _WSDL_PATH,
    AsyncTransportProtocolErrorHandler,
    UsernameDigestTokenDtDiff,
    ZeepAsyncClient,
    _cached_document,
)
from onvif.definition import SERVICES  # noqa: E402
from onvif.exceptions import ONVIFError, ONVIFTimeoutError  # noqa: E402
from onvif.settings import DEFAULT_SETTINGS  # noqa: E402
from onvif.util import bracket_host, is_auth_error, stringify_onvif_error  # noqa: E402
from onvif.wsa import WsAddressingIfMissingPlugin  # noqa: E402

__all__ = [
    "DEFAULT_SETTINGS",
    "SERVICES",
    "WSDL_DIR",
    "AsyncTransportProtocolErrorHandler",
    "ONVIFError",
    "ONVIFTimeoutError",
    "UsernameDigestTokenDtDiff",
    "WsAddressingIfMissingPlugin",
    "ZeepAsyncClient",
    "bracket_host",
    "cached_document",
    "is_auth_error",
    "stringify_onvif_error",
]

WSDL_DIR = _WSDL_PATH
# Parses a bundled WSDL once per process (module-level cache) with the library's date/time fixes.
cached_document = _cached_document
