"""Sends the product's e-mail through the company's SMTP server (aiosmtplib), with STARTTLS or TLS by default.

The password comes from a file only the service user can read (settings.smtp_password_file), never from the
environment or a log; a message that cannot be sent raises `MailNotSent` with a reason HR can act on, naming the
server but never the address it was for.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from server.domain.mail import MailNotSent, OutgoingMail
from server.settings import Settings

logger = logging.getLogger(__name__)
SEND_TIMEOUT_S = 20.0


class SmtpSender:
    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host is not None
        if settings.smtp_security == "none" and settings.smtp_host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("INTERVIEW_SMTP_SECURITY=none sends passwords and links in clear: only for a server on loopback")
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._security = settings.smtp_security
        self._username = settings.smtp_username
        self._password = settings.smtp_password()
        self._sender = settings.mail_from

    async def send(self, mail: OutgoingMail) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        domain = self._sender.rpartition("@")[2].strip(">") or "localhost"
        message["Message-ID"] = f"<{mail.idempotency_key}@{domain}>" if mail.idempotency_key else make_msgid(domain=domain)
        message.set_content(mail.text)
        if mail.calendar is not None:
            method, ics = mail.calendar
            message.add_alternative(ics.decode(), subtype="calendar", params={"method": method})
            message.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                use_tls=self._security == "tls",
                start_tls=self._security == "starttls",
                username=self._username,
                password=self._password,
                timeout=SEND_TIMEOUT_S,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            logger.warning("mail server %s:%d did not take a message: %s", self._host, self._port, type(exc).__name__)
            raise MailNotSent(f"the mail server ({self._host}) did not take the message: {type(exc).__name__}") from exc
