"""The SMS reminder channel: a reminder as one pre-approved template and its parameters, sent through an `SmsProvider`.

SMS in China goes out only through templates approved in advance, with the varying parts as parameters. The rules
this module keeps are Tencent Cloud SMS's, the provider implemented beside it (tencent_sms.py), and they are strict:
- A parameter may not be a link (`InvalidParameterValue.ProhibitedUseUrlInTemplateParameter`): the approved template
  holds the fixed part of the candidate's short link, `link_prefix` (e.g. `https://interview.example.cn/s/`, a
  filed domain), and the parameter only the code after it.
- A parameter may be at most 12 characters unless the account is enterprise-verified
  (`InvalidParameterValue.TemplateParameterLengthLimit`). Name, job title and time are kept to 12; the link code
  cannot be cut (a cut code is a dead link) and is 22 characters, so the reminder template needs an
  enterprise-verified account, which has no limit per parameter.
- The whole message, signature and parameters included, stays under 500 characters (70 make one SMS, 67 each part of a
  longer one): short parameters keep a reminder to about two parts.

The template, in each language, takes four parameters in this order, e.g.
`{1}您好，您应聘「{2}」的视频面试将于{3}开始，请届时打开 https://interview.example.cn/s/{4} 参加。`
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from server.domain.reminders import ChannelName, Language, ReminderMessage, ReminderNotSent

TEXT_PARAM_MAX_CHARS = 12  # Tencent's limit per parameter for accounts that are not enterprise-verified
E164 = re.compile(r"\+[1-9][0-9]{7,14}")  # + and 8 to 15 digits, the first not 0 (no country code starts with 0)
# 【】 frame the sender's signature at the head of every SMS: a name carrying them could pose as another sender.
_SIGNATURE_BRACKETS = str.maketrans("", "", "【】")
_SPACES = re.compile(r"\s+")


class SmsProvider(Protocol):
    """Sends one templated SMS to one number."""

    async def send(self, phone_number: str, template_id: str, params: Sequence[str], session_context: str) -> str:
        """Send template `template_id` with `params` to `phone_number` (E.164). `session_context` identifies the send
        (the reminder's id): the provider keeps it with the message, so a duplicate can be traced to its reminder.
        Returns the provider's message id; raises `ReminderNotSent` (`retry` says whether a later try may succeed)."""
        ...


def reminder_params(message: ReminderMessage, link_prefix: str) -> list[str]:
    """The template's four parameters: the candidate's name, the job title, the start and the code of the link."""
    if not message.join_url.startswith(link_prefix) or len(message.join_url) == len(link_prefix):
        raise ReminderNotSent(f"the invite link is not under the SMS template's fixed address {link_prefix}", retry=False)
    # The start in the candidate's own time zone, where they read it; the e-mail and calendar invitation name the zone.
    when = f"{message.local_start():%m-%d %H:%M}"
    return [_text(message.candidate_name), _text(message.job_title), when, message.join_url[len(link_prefix) :]]


def _text(value: str) -> str:
    value = _SPACES.sub(" ", value.translate(_SIGNATURE_BRACKETS)).strip() or "-"
    return value if len(value) <= TEXT_PARAM_MAX_CHARS else value[: TEXT_PARAM_MAX_CHARS - 1] + "…"


class SmsReminderChannel:
    """Reminders by SMS: `template_ids` maps each language to its approved template; `link_prefix` is the fixed part of
    the invite link written into those templates."""

    name: ChannelName = "sms"

    def __init__(self, provider: SmsProvider, template_ids: Mapping[Language, str], *, link_prefix: str) -> None:
        self._provider = provider
        self._template_ids = dict(template_ids)
        self._link_prefix = link_prefix

    async def send(self, message: ReminderMessage, recipient: str) -> str | None:
        if not E164.fullmatch(recipient):
            raise ReminderNotSent("the candidate's phone number is not in international form (+, then 8 to 15 digits)", retry=False)
        template_id = self._template_ids.get(message.language)
        if template_id is None:
            raise ReminderNotSent(f"no SMS template is set up for language {message.language}", retry=False)
        params = reminder_params(message, self._link_prefix)
        return await self._provider.send(recipient, template_id, params, message.reminder_id)
