"""`scc-agent doctor`: config, certificates, broker over TLS, clock sync and disk space, each with a fix."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import ssl
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from edge_agent.config import AgentConfig, ConfigError, load_config
from edge_agent.scrub import scrub
from shared.mqtt import TlsFiles, tls_context

CERT_WARN_DAYS = 30
DISK_WARN_BYTES = 1 << 30


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # OK, WARN, FAIL
    what: str
    fix: str = ""


def _certificate(config: AgentConfig) -> list[Finding]:
    findings = []
    tls = config.tls
    for path in (tls.ca_file, tls.cert_file, tls.key_file):
        if not path.is_file():
            findings.append(Finding("FAIL", f"{path} is missing", "re-run `scc-agent enroll BUNDLE`"))
    if findings:
        return findings
    mode = stat.S_IMODE(tls.key_file.stat().st_mode)
    if mode & 0o077:
        findings.append(Finding("FAIL", f"{tls.key_file} is readable by others (mode {mode:o})",
                                f"chmod 600 {tls.key_file}"))
    try:
        cert = x509.load_pem_x509_certificate(tls.cert_file.read_bytes())
        ca = x509.load_pem_x509_certificate(tls.ca_file.read_bytes())
    except ValueError as error:
        return [*findings, Finding("FAIL", f"certificate unreadable: {error}", "re-enroll with a fresh bundle")]
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if config.agent.name not in names:
        findings.append(Finding("FAIL", f"certificate CN {names} is not agent name {config.agent.name!r}",
                                "set [agent] name to the certificate's CN, or re-enroll"))
    if cert.issuer != ca.subject:
        findings.append(Finding("FAIL", "certificate is not issued by the configured CA", "re-enroll"))
    now = dt.datetime.now(dt.UTC)
    left = cert.not_valid_after_utc - now
    if cert.not_valid_before_utc > now:
        findings.append(Finding("FAIL", f"certificate not valid before {cert.not_valid_before_utc:%Y-%m-%d}",
                                "check the clock of this box"))
    elif left.total_seconds() <= 0:
        findings.append(Finding("FAIL", f"certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}",
                                "ask central for a new bundle: scc-provision agent renew"))
    elif left.days < CERT_WARN_DAYS:
        findings.append(Finding("WARN", f"certificate expires in {left.days} days",
                                "ask central for a new bundle soon"))
    else:
        findings.append(Finding("OK", f"certificate valid until {cert.not_valid_after_utc:%Y-%m-%d} ({left.days} days)"))
    return findings


# How long the broker gets to refuse this certificate after the handshake. Mosquitto checks it (CA, CRL,
# expiry) during the handshake and, under TLS 1.3, sends its refusal right after: well within this.
REFUSAL_WAIT_S = 2.0


def _broker(config: AgentConfig) -> Finding:
    """Does the broker accept this agent's certificate? Without an MQTT CONNECT, on purpose.

    The broker takes the client id from the certificate, so a CONNECT from here would take the running
    agent's session: the agent would be cut off and its last will would mark it offline. A TLS
    handshake with the certificate, then a short wait for the broker's refusal, answers the question.
    """
    broker = config.broker
    where = f"{broker.host}:{broker.port}"
    try:
        context = tls_context(TlsFiles(config.tls.ca_file, config.tls.cert_file, config.tls.key_file))
    except (OSError, ssl.SSLError, ValueError) as error:
        return Finding("FAIL", f"TLS files unusable: {scrub(error)}", "re-enroll")
    try:
        raw = socket.create_connection((broker.host, broker.port), timeout=5)
    except OSError as error:
        return Finding("FAIL", f"broker {where} unreachable: {error}",
                       "check the network/firewall towards central (TCP 8883)")
    refused = "the broker refuses this certificate (expired, revoked or from another CA): re-enroll with a fresh bundle"
    try:
        with context.wrap_socket(raw, server_hostname=broker.host) as tls:
            tls.settimeout(REFUSAL_WAIT_S)
            try:
                closed = tls.recv(1) == b""
            except TimeoutError:
                return Finding("OK", f"broker {where} accepts this agent's certificate over mutual TLS")
            except (OSError, ssl.SSLError) as error:
                return Finding("FAIL", f"broker {where} closed the connection without accepting this agent "
                                       f"({scrub(error)})", refused)
            if closed:
                return Finding("FAIL", f"broker {where} closed the connection without accepting this agent", refused)
            return Finding("FAIL", f"broker {where} sent data before any request: is it an MQTT broker?",
                           "check [broker] host and port")
    except ssl.SSLCertVerificationError as error:
        return Finding("FAIL", f"TLS handshake with {where} failed: {scrub(error)}",
                       "this box does not trust the broker's certificate: check [tls] ca_file and [broker] host")
    except (OSError, ssl.SSLError) as error:
        return Finding("FAIL", f"TLS handshake with {where} failed: {scrub(error)}",
                       "the broker does not accept this certificate: re-enroll, or check the CA")
    finally:
        raw.close()


def _clock() -> Finding:
    try:
        result = subprocess.run(["timedatectl", "show", "--property=NTPSynchronized", "--value"],
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return Finding("WARN", "cannot tell whether the clock is synchronised (no timedatectl)",
                       "make sure NTP runs: reports carry this box's timestamps")
    if result.stdout.strip() == "yes":
        return Finding("OK", "clock synchronised (NTP)")
    if result.returncode != 0:
        # No systemd (a container, an old init): timedatectl cannot answer; that is not "unsynchronised".
        why = (result.stderr.strip().splitlines() or ["no answer"])[0][:120]
        return Finding("WARN", f"cannot tell whether the clock is synchronised (timedatectl: {why})",
                       "make sure NTP runs: reports carry this box's timestamps")
    return Finding("WARN", "clock not synchronised", "enable NTP: timedatectl set-ntp true")


def _disk(config: AgentConfig) -> Finding:
    path = config.agent.state_dir if config.agent.state_dir.exists() else Path("/")
    free = shutil.disk_usage(path).free
    if free < config.outbox.max_bytes:
        return Finding("FAIL", f"{free >> 20} MiB free on {path}, less than the outbox bound",
                       "free disk space or lower [outbox] max_bytes")
    if free < DISK_WARN_BYTES:
        return Finding("WARN", f"only {free >> 20} MiB free on {path}", "free disk space")
    return Finding("OK", f"{free >> 30} GiB free on {path}")


def doctor(config_path: Path) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as error:
        print(f"FAIL  configuration: {error}\n      fix the key named above, then run doctor again")
        return 1
    findings = [Finding("OK", f"configuration {config_path} valid: agent {config.agent.name}, "
                              f"{len(config.cameras)} static camera(s), {len(config.websites)} website(s)")]
    findings += _certificate(config)
    findings += [_broker(config), _clock(), _disk(config)]
    for finding in findings:
        print(f"{finding.level:<5} {finding.what}")
        if finding.fix:
            print(f"      fix: {finding.fix}")
    return 1 if any(f.level == "FAIL" for f in findings) else 0
