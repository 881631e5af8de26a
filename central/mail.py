"""E-mail out of central: the SMTP server's settings, a plain-text message with attachments, and sending it.

Alert e-mails (``central.alerts``) and the monthly report (``central.reports``) both send through here.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class MailError(Exception):
    """A message not sent; ``permanent`` ones will not go through on a retry (bad login, refused recipients)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmtpConfig(BaseModel):
    """[alerts.smtp]: the server alert e-mails and reports go through."""

    model_config = ConfigDict(extra="forbid")

    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    password_file: Path | None = Field(None, description="Read the password from this file instead.")
    sender: str = "scc@localhost"
    ca_file: Path | None = Field(None, description="Trust this CA for the SMTP server (else the system's).")
    timeout_s: float = Field(20.0, gt=0)

    def resolved_password(self) -> str:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password.get_secret_value()


class SmtpMailer:
    """Sends a message through the configured SMTP server: STARTTLS or implicit TLS, then AUTH."""

    def __init__(self, smtp: SmtpConfig) -> None:
        self._smtp = smtp

    @property
    def sender(self) -> str:
        return self._smtp.sender

    def _tls_context(self) -> ssl.SSLContext:
        cafile = str(self._smtp.ca_file) if self._smtp.ca_file else None
        context = ssl.create_default_context(cafile=cafile)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def send(self, message: EmailMessage) -> None:
        smtp = self._smtp
        if not smtp.host:
            raise MailError("[alerts.smtp] host is not set", permanent=True)
        client: smtplib.SMTP
        try:
            if smtp.security == "tls":
                client = smtplib.SMTP_SSL(
                    smtp.host, smtp.port, timeout=smtp.timeout_s, context=self._tls_context()
                )
            else:
                client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
            with client:
                client.ehlo()
                if smtp.security == "starttls":
                    # starttls() refuses when the server does not offer it: never send AUTH in clear.
                    client.starttls(context=self._tls_context())
                    client.ehlo()
                if smtp.username:
                    client.login(smtp.username, smtp.resolved_password())
                client.send_message(message)
        except smtplib.SMTPAuthenticationError as error:
            raise MailError(f"SMTP authentication failed ({error.smtp_code})", permanent=True) from None
        except smtplib.SMTPRecipientsRefused as error:
            raise MailError(
                f"recipients refused: {', '.join(error.recipients)}", permanent=True
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            # str(error) of smtplib never carries the password; the class and text identify the cause.
            raise MailError(f"{type(error).__name__}: {error}") from None


def build_email(
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> EmailMessage:
    """A plain-text message; attachments are (filename, mime type, bytes)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="scc.sumselprov.go.id")
    message.set_content(text)
    for filename, mime, data in attachments:
        maintype, _, subtype = mime.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


