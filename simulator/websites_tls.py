"""The simulator's own certificate authority and per-site server certificates for HTTPS OPD websites."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Deliberately not SCC's MQTT CA: a checker that trusted it for websites would be misconfigured.
CA_COMMON_NAME = "SCC Simulator Web CA"
DEFAULT_LEAF_DAYS = 180


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SCC Simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _subject_alt_names(hosts: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(entries)


class SimulatorCA:
    """A throwaway CA whose PEM file a checker can trust; issues certificates valid for any window."""

    def __init__(self, directory: Path | None = None) -> None:
        self._tempdir = None if directory else tempfile.TemporaryDirectory(prefix="scc-sim-web-")
        self.directory = directory or Path(self._tempdir.name)  # type: ignore[union-attr]
        self.directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(CA_COMMON_NAME))
            .issuer_name(_name(CA_COMMON_NAME))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file = self.directory / "simulator-web-ca.pem"
        self.ca_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def server_context(
        self,
        site_id: str,
        hosts: list[str],
        *,
        not_before: dt.datetime,
        not_after: dt.datetime,
        self_signed: bool = False,
    ) -> tuple[ssl.SSLContext, dt.datetime]:
        """A server SSLContext with a fresh certificate for ``hosts``; returns it with its notAfter."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(f"{site_id}.opd.sim")
        issuer_name = subject if self_signed else self.certificate.subject
        signing_key = key if self_signed else self._key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(_subject_alt_names(hosts), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        certificate = builder.sign(signing_key, hashes.SHA256())
        # load_cert_chain only reads files; one pair per issue, overwritten when a fault changes the cert.
        cert_path = self.directory / f"{site_id}.crt"
        key_path = self.directory / f"{site_id}.key"
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_key_pem(key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context, not_after

    def close(self) -> None:
        if self._tempdir is not None:
            self._tempdir.cleanup()
