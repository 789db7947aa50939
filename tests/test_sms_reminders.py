"""SMS reminders through Tencent Cloud SMS: the right template and parameters arrive, signed; failures say whether to retry.

Tencent Cloud is `tests/helpers/tencent_sms_api.py`, a real server on loopback that follows the documented SendSms
protocol and checks the TC3-HMAC-SHA256 signature with its own code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from server.domain.reminders import ReminderMessage, ReminderNotSent
from server.integrations.sms import TEXT_PARAM_MAX_CHARS, SmsReminderChannel
from server.integrations.tencent_sms import TencentSms, TencentSmsConfig, tc3_authorization
from tests.conftest import free_port
from tests.helpers.asgi_server import serving_app
from tests.helpers.tencent_sms_api import FakeTencentSms, running

LINK_PREFIX = "https://interview.example.cn/s/"
LINK_CODE = "Qm9va2luZy1saW5rLWNvZA"  # 22 characters, as secrets.token_urlsafe(16) makes them
PHONE = "+8613800138000"
REMINDER = ReminderMessage(
    reminder_id="rem-7f3a9c-s2-86400",
    tenant="default",
    interview_id="7f3a9c",
    language="zh",
    candidate_name="欧阳娜娜",
    job_title="高级后端开发工程师（分布式存储方向）",
    starts_at=datetime(2026, 12, 10, 1, 30, tzinfo=UTC).timestamp(),
    ends_at=datetime(2026, 12, 10, 2, 15, tzinfo=UTC).timestamp(),
    timezone="Asia/Shanghai",
    join_url=LINK_PREFIX + LINK_CODE,
    lead_s=86400.0,
)
ProviderFactory = Callable[..., TencentSms]


@pytest.fixture
async def api() -> AsyncIterator[FakeTencentSms]:
    async with running(FakeTencentSms(free_port())) as fake:
        yield fake


@pytest.fixture
async def tencent(api: FakeTencentSms, tmp_path: Path) -> AsyncIterator[ProviderFactory]:
    """Makes providers for the fake's account (a test may change the key, the address or the clock); closes them."""
    made: list[TencentSms] = []

    def make(secret_key: str = api.secret_key, base_url: str = api.url, clock: Callable[[], float] = time.time) -> TencentSms:
        key_file = tmp_path / f"tencent-secret-key-{len(made)}"
        key_file.write_text(secret_key + "\n", encoding="utf-8")
        config = TencentSmsConfig.load(
            secret_id=api.secret_id,
            secret_key_file=key_file,
            sdk_app_id=api.sdk_app_id,
            sign_name=api.sign_name,
            template_ids={"zh": "2101", "en": "2102"},
            base_url=base_url,
            timeout_s=5.0,
        )
        made.append(TencentSms(config, clock=clock))
        return made[-1]

    yield make
    for provider in made:
        await provider.aclose()


def channel(provider: TencentSms) -> SmsReminderChannel:
    return SmsReminderChannel(provider, {"zh": "2101", "en": "2102"}, link_prefix=LINK_PREFIX)


async def refusal(sms: SmsReminderChannel, message: ReminderMessage = REMINDER, recipient: str = PHONE) -> ReminderNotSent:
    with pytest.raises(ReminderNotSent) as refused:
        await sms.send(message, recipient)
    return refused.value


async def test_reminder_arrives_with_its_language_template_parameters_and_reminder_id(
    api: FakeTencentSms, tencent: ProviderFactory
) -> None:
    sms = channel(tencent())

    serial_no = await sms.send(REMINDER, PHONE)

    [sent] = api.sent
    assert serial_no == sent.serial_no
    assert (sent.phone_number, sent.template_id, sent.session_context) == (PHONE, "2101", REMINDER.reminder_id)
    assert sent.params == ["欧阳娜娜", "高级后端开发工程师（分…", "12-10 09:30", LINK_CODE]
    assert sent.text.startswith("【示例科技】欧阳娜娜您好")
    assert REMINDER.join_url in sent.text, "the template's fixed address and the code make the candidate's link again"


async def test_parameters_stay_within_tencents_limits_and_cannot_pose_as_a_sender(api: FakeTencentSms, tencent: ProviderFactory) -> None:
    message = replace(
        REMINDER,
        language="en",
        candidate_name="【Bank】 Maximilian\n  Alexander von Hohenberg",
        job_title="Principal Distributed Storage Engineer",
        timezone="Europe/Berlin",
    )

    await channel(tencent()).send(message, PHONE)

    [sent] = api.sent
    assert sent.template_id == "2102"
    name, title, when, code = sent.params
    assert all(len(text) <= TEXT_PARAM_MAX_CHARS for text in (name, title, when))
    assert (name, title) == ("Bank Maximi…", "Principal D…"), "no 【】 (the sender's frame), no line breaks"
    assert when == "12-10 02:30", "the start in the candidate's own time zone"
    assert code == LINK_CODE, "a link code is never cut"


async def test_signer_reproduces_tencents_documented_example() -> None:
    """Signature v3's worked example (CVM DescribeInstances, 2019-02-25), to the last hex digit."""
    authorization = tc3_authorization(
        secret_id="AKID**********************0123456789EXAMPLE",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        service="cvm",
        timestamp=1551113065,
        signed_headers={"Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com"},
        payload=b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}',
    )

    assert authorization == (
        "TC3-HMAC-SHA256 Credential=AKID**********************0123456789EXAMPLE/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )


async def test_signature_check_accepts_ours_and_refuses_a_wrong_secret_for_good(api: FakeTencentSms, tencent: ProviderFactory) -> None:
    await channel(tencent()).send(REMINDER, PHONE)

    refused = await refusal(channel(tencent(secret_key="Gu5t9xGARNpq86cd98joQYCN3notthekey")))

    assert not refused.retry
    assert "signature" in refused.reason and "SecretKey" in refused.reason and "AuthFailure.SignatureFailure" in refused.reason
    assert len(api.sent) == 1 and api.requests == 2


async def test_a_clock_five_minutes_off_is_refused_as_an_expired_signature(api: FakeTencentSms, tencent: ProviderFactory) -> None:
    refused = await refusal(channel(tencent(clock=lambda: time.time() - 330)))

    assert refused.retry, "another try, once the clock is synced (or from another node), can succeed"
    assert "AuthFailure.SignatureExpire" in refused.reason and "clock" in refused.reason
    assert api.sent == []


@pytest.mark.parametrize(
    ("code", "whole_request"),
    [
        ("LimitExceeded.PhoneNumberDailyLimit", False),
        ("LimitExceeded.DeliveryFrequencyLimit", False),
        ("InternalError.Timeout", False),
        ("InternalError", True),
        ("RequestLimitExceeded", True),
        ("FailedOperation.InsufficientBalanceInSmsPackage", False),
    ],
)
async def test_limits_and_tencents_own_errors_are_worth_a_retry(
    api: FakeTencentSms, tencent: ProviderFactory, code: str, whole_request: bool
) -> None:
    sms = channel(tencent())
    api.fail_next(1, code, whole_request=whole_request)

    refused = await refusal(sms)
    await sms.send(REMINDER, PHONE)

    assert refused.retry and code in refused.reason
    assert [sent.session_context for sent in api.sent] == [REMINDER.reminder_id], "the retry went out, once"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("InvalidParameterValue.IncorrectPhoneNumber", "not take the candidate's phone number as a valid number"),
        ("FailedOperation.PhoneNumberInBlacklist", "do-not-disturb list"),
        ("FailedOperation.TemplateIncorrectOrUnapproved", "template is not approved"),
        ("UnsupportedOperation.UnsuportedRegion", "country or region"),
    ],
)
async def test_a_wrong_or_blocked_number_or_template_is_final(api: FakeTencentSms, tencent: ProviderFactory, code: str, words: str) -> None:
    api.fail_next(1, code)

    refused = await refusal(channel(tencent()))

    assert not refused.retry
    assert words in refused.reason and code in refused.reason
    assert PHONE not in refused.reason and PHONE[3:] not in refused.reason


async def test_a_failing_gateway_or_an_unreachable_api_is_worth_a_retry(api: FakeTencentSms, tencent: ProviderFactory) -> None:
    api.answer_next_with_http(1, 502)

    gateway = await refusal(channel(tencent()))
    unreachable = await refusal(channel(tencent(base_url=f"http://127.0.0.1:{free_port()}")))

    assert gateway.retry and "HTTP 502" in gateway.reason
    assert unreachable.retry and "unreachable" in unreachable.reason
    assert api.sent == []


async def test_an_oversized_answer_is_cut_off_and_retried(tencent: ProviderFactory) -> None:
    async def oversized(_: object) -> Response:
        return Response(b'{"Response": {"SendStatusSet": [' + b" " * (1024 * 1024), media_type="application/json")

    port = free_port()
    async with serving_app(Starlette(routes=[Route("/", oversized, methods=["POST"])]), port, "oversized API"):
        refused = await refusal(channel(tencent(base_url=f"http://127.0.0.1:{port}")))

    assert refused.retry and "more than 65536 bytes" in refused.reason


@pytest.mark.parametrize(
    "recipient",
    [
        "13800138000",
        "008613800138000",
        "+86 138 0013 8000",
        "+0861380013800",
        "+8613800",
        "+86138001380001234",
        "+８６１３８００１３８０００",
        "",
    ],
)
async def test_a_number_not_in_e164_form_is_refused_before_any_request(
    api: FakeTencentSms, tencent: ProviderFactory, recipient: str
) -> None:
    refused = await refusal(channel(tencent()), recipient=recipient)

    assert not refused.retry and "international form" in refused.reason
    assert api.requests == 0


async def test_a_link_outside_the_templates_address_or_a_language_without_template_is_refused_before_any_request(
    api: FakeTencentSms, tencent: ProviderFactory
) -> None:
    sms = SmsReminderChannel(tencent(), {"zh": "2101"}, link_prefix=LINK_PREFIX)

    elsewhere = await refusal(sms, replace(REMINDER, join_url="https://elsewhere.example.com/s/" + LINK_CODE))
    english = await refusal(sms, replace(REMINDER, language="en"))

    assert not elsewhere.retry and LINK_PREFIX in elsewhere.reason
    assert not english.retry and "language en" in english.reason
    assert api.requests == 0


async def test_logs_name_the_reminder_never_the_secret_the_number_or_the_message(
    api: FakeTencentSms, tencent: ProviderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sms = channel(tencent())

    await sms.send(REMINDER, PHONE)
    api.fail_next(1, "InvalidParameterValue.IncorrectPhoneNumber")
    await refusal(sms)
    await refusal(channel(tencent(secret_key="Gu5t9xGARNpq86cd98joQYCN3notthekey")))

    assert f"{REMINDER.reminder_id} sent, serial {api.sent[0].serial_no}" in caplog.text
    assert f"{REMINDER.reminder_id} not sent" in caplog.text
    for secret in (api.secret_key, "Gu5t9xGARNpq86cd98joQYCN3notthekey", PHONE, PHONE[3:], REMINDER.candidate_name, "高级后端", LINK_CODE):
        assert secret not in caplog.text
