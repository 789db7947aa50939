"""E-mail the product sends (owners' review invitations and reminders; later, candidates' invitations and reminders),
as the web layer sees it. The sender is an integration (server/integrations/smtp_mail.py), built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    text: str  # plain text: every mail client shows it, and a link in it is the whole message
    # An iTIP message (RFC 6047): its method (REQUEST, CANCEL) and the iCalendar bytes, sent as text/calendar beside
    # the text, which mail clients offer to put in (or take out of) the calendar, and as an .ics file for the rest.
    calendar: tuple[str, bytes] | None = None
    # Names the message for good (its Message-ID's left part): the same reminder sent twice, by a node that died
    # mid-send and another that sent it again, is recognisably one message to mail servers and to tests.
    idempotency_key: str | None = None


class MailNotSent(Exception):
    """The mail server refused the message or could not be reached; `reason` is safe to show to HR."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MailSender(Protocol):
    async def send(self, mail: OutgoingMail) -> None:
        """Hand the message to the mail server; raises `MailNotSent`."""
        ...
