"""DNS, TCP connect and TLS handshake probes: each timed, the certificate read even when it is rejected."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509

from edge_agent.websites.fetch import classify_error


@dataclass(slots=True)
class Resolved:
    address: str | None
    elapsed_ms: float
    error: str | None = None
    message: str = ""


@dataclass(slots=True)
class TlsInfo:
    """What the handshake showed: timings, the certificate's window and whether it verified."""

    connect_ms: float = 0.0
    handshake_ms: float | None = None
    connect_error: str | None = None
    connect_message: str = ""
    verified: bool | None = None
    verify_error: str = ""
    expired: bool = False
    not_after: dt.datetime | None = None
    issuer: str = ""
    handshake_error: str = ""


@lru_cache(maxsize=16)
def verifying_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system trust store, or only ``ca_file`` when one is given (the simulator's CA in tests)."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    return context


@lru_cache(maxsize=1)
def inspecting_context() -> ssl.SSLContext:
    """Accepts any certificate: used only to read a certificate that failed verification."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def resolve(host: str, port: int, timeout_s: float) -> Resolved:
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except Exception as error:
        elapsed = (time.perf_counter() - started) * 1000
        if isinstance(error, TimeoutError):
            return Resolved(None, elapsed, "dns_timeout", "DNS did not answer in time")
        return Resolved(None, elapsed, "dns_failed", f"name does not resolve: {error}")
    elapsed = (time.perf_counter() - started) * 1000
    if not infos:
        return Resolved(None, elapsed, "dns_failed", "name has no addresses")
    return Resolved(str(infos[0][4][0]), elapsed)


async def _connect(address: str, port: int, timeout_s: float) -> tuple[asyncio.StreamWriter, float]:
    started = time.perf_counter()
    async with asyncio.timeout(timeout_s):
        _reader, writer = await asyncio.open_connection(address, port)
    return writer, (time.perf_counter() - started) * 1000


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(1):
            await writer.wait_closed()
    except Exception:  # closing a probe socket cannot fail the check
        pass


def _read_certificate(writer: asyncio.StreamWriter, info: TlsInfo) -> None:
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    if not der:
        return
    certificate = x509.load_der_x509_certificate(der)
    info.not_after = certificate.not_valid_after_utc
    info.issuer = certificate.issuer.rfc4514_string()[:200]


async def probe(
    address: str, port: int, host: str, *, tls: bool, ca_file: Path | None, timeout_s: float
) -> TlsInfo:
    """Connect (and for HTTPS, handshake with verification, then again without to read a bad cert)."""
    info = TlsInfo()
    try:
        writer, info.connect_ms = await _connect(address, port, timeout_s)
    except Exception as error:
        info.connect_error, info.connect_message = classify_error(error)
        return info
    if not tls:
        await _close(writer)
        return info
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            await writer.start_tls(verifying_context(ca_file), server_hostname=host)
        info.handshake_ms = (time.perf_counter() - started) * 1000
        info.verified = True
        _read_certificate(writer, info)
        return info
    except ssl.SSLCertVerificationError as error:
        info.verified = False
        info.verify_error = str(error.verify_message or error.reason or error)
        info.expired = error.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED
    except Exception as error:
        info.handshake_error = f"{type(error).__name__}: {error}"[:300]
        return info
    finally:
        await _close(writer)
    try:
        second, _ = await _connect(address, port, timeout_s)
        try:
            async with asyncio.timeout(timeout_s):
                await second.start_tls(inspecting_context(), server_hostname=host)
            _read_certificate(second, info)
        finally:
            await _close(second)
    except Exception as error:  # the verdict stands even if the certificate cannot be read
        info.handshake_error = f"could not read the rejected certificate: {error}"[:300]
    return info
