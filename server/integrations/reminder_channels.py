"""Two reminder channels that need no provider of their own: e-mail through the company's SMTP server, and an
`interview.reminder_due` webhook event for an HRMS that sends its own reminders (WeChat and SMS are beside them:
wechat_messages.py, sms.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from server.domain.interview import Interview
from server.domain.mail import MailNotSent, MailSender, OutgoingMail
from server.domain.reminders import ChannelName, ReminderMessage, ReminderNotSent
from server.storage.contract import Store
from server.storage.outbox import EventType


def _lead_words(lead_s: float, language: str) -> str:
    hours = round(lead_s / 3600)
    if language == "zh":
        return f"{hours} 小时后" if hours >= 1 else "即将"
    return f"in {hours} hour{'s' if hours != 1 else ''}" if hours >= 1 else "soon"


def reminder_mail(message: ReminderMessage, to: str) -> OutgoingMail:
    """The reminder as a plain-text e-mail in the candidate's language."""
    when = message.when_text()
    if message.language == "zh":
        return OutgoingMail(
            to=to,
            subject=f"面试提醒：{message.job_title}（{when}）",
            text=(
                f"{message.candidate_name}，您好：\n\n"
                f"您预约的「{message.job_title}」视频面试将在{_lead_words(message.lead_s, 'zh')}开始：{when}。\n\n"
                f"届时请用手机或电脑的浏览器（或微信）打开下面的链接；可提前 15 分钟进入，检查摄像头和麦克风：\n{message.join_url}\n\n"
                "如需改期或取消，也请打开这个链接。祝面试顺利！\n"
            ),
        )
    return OutgoingMail(
        to=to,
        subject=f"Reminder: your interview for {message.job_title} ({when})",
        text=(
            f"Hello {message.candidate_name},\n\n"
            f"Your video interview for {message.job_title} starts {_lead_words(message.lead_s, 'en')}: {when}.\n\n"
            "At that time, open this link in the browser of your phone or computer (or in WeChat). You can come in "
            f"15 minutes early to check your camera and microphone:\n{message.join_url}\n\n"
            "To change or cancel the time, open the same link. Good luck!\n"
        ),
    )


class EmailReminders:
    name: ChannelName = "email"

    def __init__(self, mailer: MailSender) -> None:
        self._mailer = mailer

    async def send(self, message: ReminderMessage, recipient: str) -> str | None:
        try:
            await self._mailer.send(replace(reminder_mail(message, recipient), idempotency_key=f"reminder.{message.reminder_id}"))
        except MailNotSent as exc:
            raise ReminderNotSent(exc.reason, retry=True) from exc
        return None


class WebhookReminders:
    """Puts `interview.reminder_due` in the outbox; the webhook dispatcher delivers it, signed and retried. The
    reminder's id rides along, so an HRMS that sees it twice (a node died mid-send) sends its own reminder once."""

    name: ChannelName = "webhook"

    def __init__(self, store: Store) -> None:
        self._store = store

    async def send(self, message: ReminderMessage, recipient: str) -> str | None:
        interview = await self._store.get_interview(message.interview_id, message.tenant)
        if interview is None:
            raise ReminderNotSent("the interview no longer exists", retry=False)
        await self._store.record_event(interview, EventType.INTERVIEW_REMINDER_DUE, reminder_event(message, interview))
        return None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def reminder_event(message: ReminderMessage, interview: Interview) -> dict[str, object]:
    return {
        "reminder_id": message.reminder_id,
        "job_id": interview.job_id,
        "candidate_id": interview.candidate_id,
        "starts_at": _iso(message.starts_at),
        "ends_at": _iso(message.ends_at),
        "timezone": message.timezone,
        "hours_before": round(message.lead_s / 3600, 2),
        "join_url": message.join_url,
        "language": message.language,
    }
