"""The e-mail that invites a candidate to their interview, when the server is the one to invite (an assessment
partner's duty under Greenhouse's contract: the ATS only says "send the test"). In the interview's language, with the
link and how long it works; nothing HR wrote about the candidate."""

from __future__ import annotations

import time

from server.domain.interview import Interview
from server.domain.invites import Invite
from server.domain.mail import OutgoingMail

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
