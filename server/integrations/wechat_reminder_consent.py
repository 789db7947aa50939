"""The candidate's side of WeChat subscription reminders (`INTERVIEW_WECHAT_REMINDERS=subscription`).

The booking page offers "remind me in WeChat" inside WeChat: the link (`confirm_links`) opens WeChat's own page where
the candidate allows one message; WeChat sends them back to `/wechat/reminder-allowed`, which checks the signed
`reserved` value and keeps the consent (`server/integrations/wechat_messages.py`). The reminder scheduler spends it
on the next reminder due. Each consent is good for one message, as WeChat rules: the page says so.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse

from server.integrations.wechat_messages import (
    ConsentReserved,
    InvalidConsent,
    WeChatMessageConfig,
    record_consent,
    subscription_confirm_url,
)
from server.settings import Settings
from server.web.context import services_of
from server.web.message_page import bilingual_page

SCENE = 1  # one consent per candidate and scene at WeChat: each tap allows the next reminder


def reminder_config(settings: Settings) -> WeChatMessageConfig | None:
    """The Official Account's reminder messages, when `INTERVIEW_WECHAT_REMINDERS` is on (settings check the rest)."""
    if settings.wechat_reminders == "off":
        return None
    assert settings.wechat_app_id and settings.wechat_app_secret and settings.wechat_reminder_template_id
    return WeChatMessageConfig(
        app_id=settings.wechat_app_id,
        app_secret=settings.wechat_app_secret.get_secret_value(),
        template_id=settings.wechat_reminder_template_id,
        kind=settings.wechat_reminders,
        api_base=settings.wechat_api_base_url,
        confirm_base=settings.wechat_confirm_base_url,
        template_keys=dict(settings.wechat_reminder_template_keys),
        timeout_s=settings.wechat_message_timeout_s,
    )


def _reserved(settings: Settings) -> ConsentReserved:
    return ConsentReserved(settings.signing_key())


def confirm_links(settings: Settings) -> Callable[[str], str | None] | None:
    """Interview id -> WeChat's confirm page for one reminder of it; None when reminders are not subscription messages."""
    config = reminder_config(settings)
    if config is None or config.kind != "subscription":
        return None
    reserved = _reserved(settings)
    redirect = f"{settings.base_url}/wechat/reminder-allowed"

    def link(interview_id: str) -> str | None:
        return subscription_confirm_url(config, interview_id, SCENE, redirect, reserved) if ConsentReserved.fits(interview_id) else None

    return link


_PAGES = {
    "allowed": (
        200,
        ("已开启微信提醒", "面试开始前，公众号会给您发一条提醒（每次开启只能发一条）。现在可以关闭此页，返回预约页面。"),
        (
            "WeChat reminder on",
            "The Official Account will send you one reminder before the interview (one per time you allow it). You can close this page and go back to your booking.",
        ),
    ),
    "declined": (
        200,
        ("没有开启微信提醒", "您选择了不接收提醒。您仍会通过其他方式收到提醒（如果公司有您的联系方式）。"),
        (
            "No WeChat reminder",
            "You chose not to get a reminder in WeChat. You still get the company's other reminders, if it has your contact details.",
        ),
    ),
    "invalid": (
        400,
        ("无法开启提醒", "这个链接无效或已过期。请回到预约页面再试一次。"),
        ("The reminder could not be set", "This link is not valid or has expired. Go back to your booking page and try again."),
    ),
}


def _page(outcome: str) -> HTMLResponse:
    status, zh, en = _PAGES[outcome]
    return bilingual_page(status, zh, en)


async def reminder_allowed(request: Request) -> HTMLResponse:
    """Where WeChat's confirm page sends the candidate back (openid, template_id, action, scene, reserved)."""
    services = services_of(request)
    config, consents = reminder_config(services.settings), services.wechat_consents
    if config is None or consents is None:
        return _page("invalid")

    async def tenant_of(interview_id: str) -> str | None:
        interview = await services.store.get_interview(interview_id)
        return interview.tenant if interview is not None else None

    query = {key: value for key, value in request.query_params.items() if len(value) <= 256}
    try:
        await record_consent(query, config, _reserved(services.settings), consents, tenant_of)
    except InvalidConsent as exc:
        return _page("declined" if exc.declined else "invalid")
    return _page("allowed")
