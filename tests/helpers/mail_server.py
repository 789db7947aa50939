"""A real SMTP server on loopback (aiosmtpd) that keeps what it is sent, for the e-mail tests."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import free_port


class Mailbox:
    """Every message accepted, parsed, with the recipients the envelope named."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(([str(r) for r in envelope.rcpt_tos], parsed))
        return "250 OK"

    def body(self, index: int) -> str:
        part = self.messages[index][1].get_body(("plain",))
        assert part is not None
        return str(part.get_content())


@contextmanager
def mail_server(mailbox: Mailbox | None = None) -> Iterator[tuple[Mailbox, dict[str, Any]]]:
    """A running SMTP server (keeping what it is sent in `mailbox`, or a new one), and the settings that send to it."""
    mailbox = mailbox or Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", "mail_from": "HR <hr@example.test>"}
    finally:
        controller.stop()
