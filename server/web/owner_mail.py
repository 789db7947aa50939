"""The e-mail a business owner gets: the link to review shared candidates, and HR's reminder. In the share's
language; the candidates are counted, never named (a mail is read on many devices and forwarded)."""

from __future__ import annotations

import time

from server.domain.mail import OutgoingMail
from server.domain.shares import Share

TEXT = {
    "en": {
        "invite_subject": "{company}: {count} candidate(s) to review",
        "reminder_subject": "Reminder: {count} candidate(s) still wait for your review",
        "body": (
            "Hello {owner},\n\n{lead}\n\n{message}Open the link to watch their answers, read the reports and recommend:\n"
            "{link}\n\nThe link works until {expires} (UTC) and only for you; please do not forward it.\n"
        ),
        "invite_lead": "{hr} shared {count} candidate(s) with you.",
        "reminder_lead": "{count} candidate(s) that {hr} shared with you still wait for your recommendation.",
        "hr": "HR",
    },
    "zh": {
        "invite_subject": "{company}：有 {count} 位候选人请您评估",
        "reminder_subject": "提醒：还有 {count} 位候选人等待您的评估",
        "body": "{owner}，您好：\n\n{lead}\n\n{message}请打开链接观看面试回答、阅读报告并给出建议：\n{link}\n\n链接有效期至 {expires}（UTC），仅限您本人使用，请勿转发。\n",
        "invite_lead": "{hr}与您分享了 {count} 位候选人。",
        "reminder_lead": "{hr}与您分享的 {count} 位候选人仍在等待您的建议。",
        "hr": "HR",
    },
}


def owner_mail(share: Share, link: str, company: str, waiting: int, reminder: bool) -> OutgoingMail:
    text = TEXT[share.language]
    count = waiting if reminder else len(share.interview_ids)
    who = share.shared_by or text["hr"]
    lead = text["reminder_lead" if reminder else "invite_lead"].format(hr=who, count=count)
    message = f"{share.message}\n\n" if share.message else ""
    expires = time.strftime("%Y-%m-%d %H:%M", time.gmtime(share.expires_at))
    subject = text["reminder_subject" if reminder else "invite_subject"].format(company=company, count=count)
    body = text["body"].format(owner=share.owner_name, lead=lead, message=message, link=link, expires=expires)
    return OutgoingMail(to=share.owner_email, subject=subject, text=body)
