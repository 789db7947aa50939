"""The e-mail that invites a candidate to their interview, when the server is the one to invite (an assessment
partner's duty under Greenhouse's contract: the ATS only says "send the test"). In the interview's language, with the
link and how long it works; nothing HR wrote about the candidate."""

from __future__ import annotations

import logging
import time

from server.domain.interview import Interview
from server.domain.invites import Invite
from server.domain.mail import MailNotSent, OutgoingMail
from server.web.context import Services

logger = logging.getLogger(__name__)

TEXT = {
    "en": {
        "subject": "{company}: your video interview for {job}",
        "subject_plain": "Your video interview for {job}",
        "us": "us",
        "body": (
            "Hello {name},\n\nThank you for applying to {company}. The next step is a short video interview for {job}, "
            "which you take when it suits you, on your phone or computer (in a browser or in WeChat); nothing to install.\n\n"
            "Open this link to start:\n{link}\n\nThe link works until {expires} (UTC) and only for you. You can check your "
            "camera and microphone before the first question, and answer in your own words.\n"
        ),
    },
    "zh": {
        "subject": "{company}：{job} 视频面试邀请",
        "subject_plain": "{job} 视频面试邀请",
        "us": "我们公司",
        "body": (
            "{name}，您好：\n\n感谢您应聘{company}。下一步是{job}的简短视频面试，您可以在方便的时候用手机或电脑"
            "（浏览器或微信）参加，无需安装任何应用。\n\n请打开链接开始：\n{link}\n\n链接有效期至 {expires}（UTC），仅限您本人使用。"
            "开始答题前可以先检查摄像头和麦克风，请用自己的话回答。\n"
        ),
    },
}


def invitation_mail(interview: Interview, invite: Invite, company: str | None) -> OutgoingMail:
    assert interview.candidate.email is not None
    text = TEXT[interview.language]
    words = {
        "company": company or text["us"],
        "job": interview.job.title,
        "name": interview.candidate.name,
        "link": invite.invite_url,
        "expires": time.strftime("%Y-%m-%d %H:%M", time.gmtime(invite.expires_at)),
    }
    return OutgoingMail(
        to=interview.candidate.email,
        subject=text["subject" if company else "subject_plain"].format(**words),
        text=text["body"].format(**words),
        idempotency_key=f"invitation-{interview.id}",
    )


async def email_invitation(services: Services, interview: Interview, invite: Invite, ordered_by: str) -> bool:
    """E-mail the candidate their invitation where an ATS leaves inviting to us; whether it went. A missing mail server
    or address, or a refusal, is logged (with `ordered_by`, the ATS) and the interview stands: HR can resend the link."""
    if services.mailer is None or not interview.candidate.email:
        logger.warning("%s: interview %s: the candidate is not e-mailed (no mail server, or no address)", ordered_by, interview.id)
        return False
    company = services.settings.company_policy(interview.tenant).company_name
    try:
        await services.mailer.send(invitation_mail(interview, invite, company))
    except MailNotSent as exc:
        logger.warning("%s: interview %s: the invitation e-mail was not sent: %s", ordered_by, interview.id, exc.reason)
        return False
    return True
