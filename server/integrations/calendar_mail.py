"""The calendar invitation of a booking, e-mailed to the candidate and to the job's HR attendees (iMIP, RFC 6047).

The candidate's copy carries the interview link; HR's carries the link to the candidate's page in HR's workspace. Both
are the same event (one UID), so a change or a cancellation, sent with a higher SEQUENCE, updates every copy. Sent by
the reminder scheduler as a due-at-once job, so a node dying mid-send loses none (a duplicate REQUEST of the same
SEQUENCE changes nothing in a calendar).
"""

from __future__ import annotations

from server.domain.calendar_invites import InvitationText, Person, calendar_domain, hr_text, invitation, organizer
from server.domain.interview import Interview
from server.domain.mail import MailNotSent, MailSender, OutgoingMail
from server.domain.reminders import ReminderMessage, ReminderNotSent, reminder_message
from server.domain.scheduling import Availability, Booking
from server.settings import Settings


class CalendarMail:
    def __init__(self, mailer: MailSender, settings: Settings) -> None:
        self._mailer = mailer
        self._settings = settings
        self._domain = calendar_domain(settings.base_url)
        self._organizer = organizer(settings.mail_from, self._domain)

    async def send(self, interview: Interview, booking: Booking, availability: Availability | None, now: float) -> str | None:
        """Both copies; raises `ReminderNotSent` (worth retrying) when the mail server did not take one."""
        attendees = list(availability.calendar_attendees) if availability is not None else []
        hr = [Person(a.email, a.name) for a in attendees]
        candidate = [Person(interview.candidate.email, interview.candidate.name)] if interview.candidate.email else []
        if not hr and not candidate:
            raise ReminderNotSent("neither the candidate nor HR has an e-mail address for the invitation", retry=False)
        message = reminder_message(interview, booking)
        mails = []
        if candidate:
            text = _candidate_text(interview, booking, message)
            method, ics = invitation(booking, self._domain, self._organizer, candidate, text, now)
            mails.append(OutgoingMail(candidate[0].email, text.summary, text.description, (method, ics)))
        hr_link = f"{self._settings.base_url}/hr#/interview/{interview.id}"
        for person in hr:
            text = hr_text(interview, booking, message, hr_link)
            method, ics = invitation(booking, self._domain, self._organizer, [*candidate, person], text, now)
            mails.append(OutgoingMail(person.email, text.summary, text.description, (method, ics)))
        for mail in mails:
            try:
                await self._mailer.send(mail)
            except MailNotSent as exc:
                raise ReminderNotSent(exc.reason, retry=True) from exc
        return None


def _candidate_text(interview: Interview, booking: Booking, words: ReminderMessage) -> InvitationText:
    when, job, link = words.when_text(), words.job_title, booking.join_url
    cancelled = booking.status == "cancelled"
    if interview.language == "zh":
        if cancelled:
            return InvitationText(
                f"已取消：视频面试 · {job}", f"您在 {when} 的「{job}」视频面试已取消。\n如需重新预约，请打开：{link}", None
            )
        return InvitationText(
            f"视频面试 · {job}",
            f"时间：{when}\n届时用手机或电脑的浏览器（或微信）打开：{link}\n可提前 15 分钟进入，检查摄像头和麦克风。改期或取消也用这个链接。",
            link,
        )
    if cancelled:
        return InvitationText(
            f"Cancelled: video interview for {job}", f"Your video interview for {job} at {when} is cancelled.\nTo book again: {link}", None
        )
    return InvitationText(
        f"Video interview for {job}",
        f"When: {when}\nAt that time open this link in a browser on your phone or computer (or in WeChat): {link}\n"
        "You can come in 15 minutes early to check your camera and microphone. The same link changes or cancels the time.",
        link,
    )
