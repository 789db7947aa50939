"""WeChat reminders from the Official Account: template messages, one-time subscription messages and their consents.

WeChat is `tests/helpers/wechat_api.py`, a real server on loopback that follows WeChat's documented protocol, on a
clock the test moves; consents are kept in SQLite and in a real redis-server of the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis.asyncio as redis

from server.domain.reminders import ReminderMessage, ReminderNotSent
from server.integrations.reminder_scheduler import ReminderScheduler
from server.integrations.wechat_messages import (
    NO_CONSENT,
    ConsentReserved,
    InvalidConsent,
    WeChatMessageConfig,
    WeChatSubscriptionChannel,
    WeChatTemplateChannel,
    record_consent,
    subscription_confirm_url,
)
from server.integrations.wechat_reminder_consent import reminder_config
from server.storage.redis_client import Keys
from server.storage.wechat_subscriptions import RedisSubscriptionConsentStore, SubscriptionConsents, SubscriptionConsentStore
from tests.conftest import free_port, make_settings, serving
from tests.helpers.redis_server import RedisServer
from tests.helpers.wechat_api import (
    CANDIDATE_OPENID,
    LEGACY_TEMPLATE_ID,
    SUBSCRIPTION_TEMPLATE_ID,
    TEMPLATE_ID,
    FakeWeChatApi,
    ManualClock,
    running,
)
from tests.test_booking import HR, book, invite, open_job, slots

KEY = "test-signing-key-0123456789abcdef"
REDIRECT_URL = "https://interview.example.cn/wechat/subscribe/callback"
INTERVIEW = "iv7Kq2mZ"
TENANT = "acme"
STARTS_AT = datetime(2026, 12, 10, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def reminder(language: str = "en", **overrides: Any) -> ReminderMessage:
    values: dict[str, Any] = {
        "reminder_id": "rem-24h-1",
        "tenant": TENANT,
        "interview_id": INTERVIEW,
        "language": language,
        "candidate_name": "Li Lei" if language == "en" else "李雷",
        "job_title": "Backend engineer" if language == "en" else "后端工程师",
        "starts_at": STARTS_AT,
        "ends_at": STARTS_AT + 1800,
        "timezone": "Asia/Shanghai",
        "join_url": "https://interview.example.cn/s/AbCdEfGhIjKlMnOpQrStUv",
        "lead_s": 86400,
    }
    return ReminderMessage(**{**values, **overrides})


def config_for(wechat: FakeWeChatApi, **overrides: Any) -> WeChatMessageConfig:
    values: dict[str, Any] = {
        "app_id": wechat.app_id,
        "app_secret": wechat.app_secret,
        "template_id": TEMPLATE_ID,
        "api_base": wechat.url,
        "confirm_base": wechat.url,
        "timeout_s": 5.0,
    }
    return WeChatMessageConfig(**{**values, **overrides})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def wechat(clock: ManualClock) -> AsyncIterator[FakeWeChatApi]:
    async with running(FakeWeChatApi(free_port(), clock)) as fake:
        yield fake


@pytest.fixture
async def templates(wechat: FakeWeChatApi, clock: ManualClock) -> AsyncIterator[WeChatTemplateChannel]:
    channel = WeChatTemplateChannel(config_for(wechat), clock=clock)
    try:
        yield channel
    finally:
        await channel.aclose()


@contextlib.asynccontextmanager
async def consent_store(backend: str, tmp_path: Path, redis_server: RedisServer | None) -> AsyncIterator[SubscriptionConsents]:
    """A consent store as one node opens it: its own connection to the interview database, or its own Redis client."""
    if backend == "sqlite":
        store = await SubscriptionConsentStore.open(tmp_path / "interviews.sqlite3")
        try:
            yield store
        finally:
            await store.close()
        return
    assert redis_server is not None
    client = redis.Redis.from_url(redis_server.url)
    try:
        yield RedisSubscriptionConsentStore(client, Keys("test:"))
    finally:
        await client.aclose()


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def node_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], contextlib.AbstractAsyncContextManager[SubscriptionConsents]]:
    """Opens the consent store as another node would, on the same database or Redis."""
    server = request.getfixturevalue("redis_server") if backend == "redis" else None
    return lambda: consent_store(backend, tmp_path, server)


@pytest.fixture
async def consents(
    node_store: Callable[[], contextlib.AbstractAsyncContextManager[SubscriptionConsents]],
) -> AsyncIterator[SubscriptionConsents]:
    async with node_store() as store:
        yield store


@pytest.fixture
async def subscriptions(
    wechat: FakeWeChatApi, clock: ManualClock, consents: SubscriptionConsents
) -> AsyncIterator[WeChatSubscriptionChannel]:
    channel = WeChatSubscriptionChannel(
        config_for(wechat, kind="subscription", template_id=SUBSCRIPTION_TEMPLATE_ID), consents, clock=clock
    )
    try:
        yield channel
    finally:
        await channel.aclose()


async def tenant_of(interview_id: str) -> str | None:
    return TENANT if interview_id == INTERVIEW else None


async def candidate_confirms(wechat: FakeWeChatApi, consents: SubscriptionConsents, scene: int = 1000) -> str:
    """The candidate opens the confirm link in WeChat and allows one reminder; the server records the redirect back."""
    config = config_for(wechat, kind="subscription", template_id=SUBSCRIPTION_TEMPLATE_ID)
    url = subscription_confirm_url(config, INTERVIEW, scene, REDIRECT_URL, ConsentReserved(KEY))
    async with httpx.AsyncClient(timeout=5) as browser:
        page = await browser.get(url)
    assert page.status_code == 302, page.text
    redirect = urlsplit(page.headers["location"])
    assert f"{redirect.scheme}://{redirect.netloc}{redirect.path}" == REDIRECT_URL
    return await record_consent(dict(parse_qsl(redirect.query)), config, ConsentReserved(KEY), consents, tenant_of)


async def refusal(send: Any) -> ReminderNotSent:
    with pytest.raises(ReminderNotSent) as caught:
        await send
    return caught.value


# Template messages


async def test_a_chinese_template_reminder_arrives_with_name_job_time_and_link_fitted_to_the_templates_keywords(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel
) -> None:
    msgid = await templates.send(reminder("zh"), CANDIDATE_OPENID)

    [sent] = wechat.sent
    assert msgid == str(sent.msgid)
    assert (sent.kind, sent.touser, sent.template_id) == ("template", CANDIDATE_OPENID, TEMPLATE_ID)
    assert sent.values == {"thing1": "李雷", "thing2": "后端工程师", "time3": "2026年12月10日 09:30"}
    assert sent.url == "https://interview.example.cn/s/AbCdEfGhIjKlMnOpQrStUv"


async def test_an_old_style_template_gets_the_time_with_its_zone_in_the_candidates_language(
    wechat: FakeWeChatApi, clock: ManualClock
) -> None:
    keys = {"name": "keyword1", "job": "keyword2", "time": "keyword3"}
    channel = WeChatTemplateChannel(config_for(wechat, template_id=LEGACY_TEMPLATE_ID, template_keys=keys), clock=clock)
    try:
        await channel.send(reminder("en"), CANDIDATE_OPENID)
        await channel.send(reminder("zh", reminder_id="rem-1h-1"), CANDIDATE_OPENID)
    finally:
        await channel.aclose()

    english, chinese = wechat.sent
    assert english.values == {
        "keyword1": "Li Lei",
        "keyword2": "Backend engineer",
        "keyword3": "2026-12-10 09:30 (Asia/Shanghai, UTC+08:00)",
    }
    assert chinese.values == {"keyword1": "李雷", "keyword2": "后端工程师", "keyword3": "2026年12月10日 09:30（Asia/Shanghai，UTC+08:00）"}


async def test_a_long_job_title_is_shortened_to_fit_its_keyword_rather_than_refused(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel
) -> None:
    await templates.send(reminder("en", job_title="Senior  Staff Backend Engineer, Payments Platform"), CANDIDATE_OPENID)

    assert wechat.sent[0].values["thing2"] == "Senior Staff Backen…"


async def test_the_same_reminder_sent_twice_within_minutes_reaches_the_candidate_once(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel
) -> None:
    first = await templates.send(reminder(), CANDIDATE_OPENID)
    again = await templates.send(reminder(), CANDIDATE_OPENID)

    assert first == again
    assert len(wechat.sent) == 1


# The access token


async def test_the_access_token_is_fetched_once_and_reused_even_by_sends_at_the_same_moment(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel
) -> None:
    await asyncio.gather(*(templates.send(reminder(reminder_id=f"rem-{i}"), CANDIDATE_OPENID) for i in range(6)))
    await templates.send(reminder(reminder_id="rem-later"), CANDIDATE_OPENID)

    assert wechat.token_requests == 1
    assert len(wechat.sent) == 7
    assert len({sent.access_token for sent in wechat.sent}) == 1


async def test_the_access_token_is_renewed_a_few_minutes_before_it_expires(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel, clock: ManualClock
) -> None:
    await templates.send(reminder(reminder_id="rem-1"), CANDIDATE_OPENID)
    clock.advance(7200 - 600)
    await templates.send(reminder(reminder_id="rem-2"), CANDIDATE_OPENID)
    assert wechat.token_requests == 1

    clock.advance(400)  # 200 s left: inside WeChat's 5-minute handover
    await templates.send(reminder(reminder_id="rem-3"), CANDIDATE_OPENID)

    assert wechat.token_requests == 2
    first, second, third = (sent.access_token for sent in wechat.sent)
    assert first == second != third


async def test_a_token_wechat_revoked_is_replaced_once_and_the_reminder_still_arrives(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel
) -> None:
    await templates.send(reminder(reminder_id="rem-1"), CANDIDATE_OPENID)
    wechat.revoke_tokens()  # someone forced a refresh: the token answers 40001

    await templates.send(reminder(reminder_id="rem-2"), CANDIDATE_OPENID)

    assert wechat.token_requests == 2
    assert wechat.sent[0].access_token != wechat.sent[1].access_token


async def test_a_token_wechat_says_expired_before_the_server_thought_is_replaced(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel
) -> None:
    await templates.send(reminder(reminder_id="rem-1"), CANDIDATE_OPENID)
    wechat.expire_tokens()  # 42001, while the server's clock says it has two hours left

    await templates.send(reminder(reminder_id="rem-2"), CANDIDATE_OPENID)

    assert wechat.token_requests == 2
    assert len(wechat.sent) == 2


async def test_a_token_refused_though_wechat_still_hands_it_out_is_forced_anew_once(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel
) -> None:
    await templates.send(reminder(reminder_id="rem-1"), CANDIDATE_OPENID)
    wechat.fail_next(1, 40001)

    await templates.send(reminder(reminder_id="rem-2"), CANDIDATE_OPENID)

    assert (wechat.token_requests, wechat.forced_refreshes) == (3, 1)
    assert len(wechat.sent) == 2


async def test_a_token_refused_again_after_its_replacement_is_a_retryable_failure_not_a_loop(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel
) -> None:
    wechat.fail_next(2, 40001)

    failure = await refusal(templates.send(reminder(), CANDIDATE_OPENID))

    assert failure.retry
    assert wechat.message_requests == 2
    assert wechat.sent == []


async def test_a_wrong_app_secret_is_a_final_failure_that_names_it(wechat: FakeWeChatApi, clock: ManualClock) -> None:
    channel = WeChatTemplateChannel(config_for(wechat, app_secret="not-the-secret"), clock=clock)
    try:
        failure = await refusal(channel.send(reminder(), CANDIDATE_OPENID))
    finally:
        await channel.aclose()

    assert not failure.retry
    assert failure.reason == "WeChat did not accept the AppSecret (errcode 40125)"
    assert "not-the-secret" not in failure.reason


# What WeChat's refusals mean


@pytest.mark.parametrize(
    ("errcode", "retry", "words"),
    [
        (-1, True, "WeChat was busy"),
        (45009, True, "today's quota"),
        (43004, False, "does not follow the Official Account"),
        (43101, False, "has not allowed this reminder"),
        (40003, False, "invalid openid"),
        (47003, False, "refused a value of the message"),
        (40037, False, "check the template id"),
        (99999, False, "WeChat refused the message"),
    ],
)
async def test_wechat_errors_are_retryable_or_final_with_a_reason_hr_can_read(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel, errcode: int, retry: bool, words: str
) -> None:
    wechat.fail_next(1, errcode)

    failure = await refusal(templates.send(reminder(), CANDIDATE_OPENID))

    assert failure.retry is retry
    assert words in failure.reason and f"(errcode {errcode})" in failure.reason
    assert CANDIDATE_OPENID not in failure.reason


async def test_a_candidate_who_does_not_follow_the_account_gets_no_template_message_final(
    wechat: FakeWeChatApi, templates: WeChatTemplateChannel
) -> None:
    wechat.followers.clear()

    failure = await refusal(templates.send(reminder(), CANDIDATE_OPENID))

    assert not failure.retry and "(errcode 43004)" in failure.reason


async def test_a_gateway_error_and_an_oversized_answer_are_retryable(wechat: FakeWeChatApi, templates: WeChatTemplateChannel) -> None:
    await templates.send(reminder(reminder_id="rem-1"), CANDIDATE_OPENID)
    wechat.answer_next_raw(1, b"<html>bad gateway</html>", status=502)
    gateway = await refusal(templates.send(reminder(reminder_id="rem-2"), CANDIDATE_OPENID))
    wechat.answer_next_raw(1, b"{" + b" " * (70 * 1024) + b"}")
    oversized = await refusal(templates.send(reminder(reminder_id="rem-3"), CANDIDATE_OPENID))

    assert (gateway.retry, gateway.reason) == (True, "WeChat answered HTTP 502")
    assert oversized.retry and "more than 65536 bytes" in oversized.reason


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and never answers: WeChat hanging."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_wechat_unreachable_or_silent_is_a_retryable_failure(wechat: FakeWeChatApi, clock: ManualClock) -> None:
    closed = WeChatTemplateChannel(config_for(wechat, api_base=f"http://127.0.0.1:{free_port()}"), clock=clock)
    async with silent_server() as url:
        silent = WeChatTemplateChannel(config_for(wechat, api_base=url, timeout_s=0.3), clock=clock)
        try:
            unreachable = await refusal(closed.send(reminder(), CANDIDATE_OPENID))
            timed_out = await refusal(silent.send(reminder(), CANDIDATE_OPENID))
        finally:
            await closed.aclose()
            await silent.aclose()

    assert unreachable.retry and unreachable.reason == "WeChat unreachable (ConnectError)"
    assert timed_out.retry and timed_out.reason == "WeChat did not answer in time"


# Subscription messages and their consents


async def test_a_subscription_reminder_uses_up_its_consent_and_a_second_one_is_refused_for_good(
    wechat: FakeWeChatApi, subscriptions: WeChatSubscriptionChannel, consents: SubscriptionConsents
) -> None:
    assert await candidate_confirms(wechat, consents) == INTERVIEW

    await subscriptions.send(reminder("zh"), CANDIDATE_OPENID)
    second = await refusal(subscriptions.send(reminder("zh", reminder_id="rem-1h-1"), CANDIDATE_OPENID))

    [sent] = wechat.sent
    assert (sent.kind, sent.touser, sent.scene, sent.title) == ("subscription", CANDIDATE_OPENID, 1000, "面试提醒")
    assert sent.values["content"].startswith(
        "李雷，您好：您应聘「后端工程师」的视频面试将于2026年12月10日 09:30（Asia/Shanghai，UTC+08:00）开始。"
    )
    assert sent.url == "https://interview.example.cn/s/AbCdEfGhIjKlMnOpQrStUv"
    assert (second.retry, second.reason) == (False, NO_CONSENT)
    assert wechat.message_requests == 1  # the second never reached WeChat


async def test_an_english_subscription_reminder_fits_wechats_limits(
    wechat: FakeWeChatApi, subscriptions: WeChatSubscriptionChannel, consents: SubscriptionConsents
) -> None:
    await candidate_confirms(wechat, consents)

    await subscriptions.send(reminder("en", candidate_name="Maximilian Alexander Worthington-Smythe", job_title="x" * 300), "")

    [sent] = wechat.sent
    assert sent.title == "Your interview"
    assert sent.values["content"].startswith("Hello Maximilian Alexande…, your video interview for xxx")
    assert "2026-12-10 09:30 (Asia/Shanghai, UTC+08:00)" in sent.values["content"]
    assert len(sent.values["content"]) <= 200


async def test_two_consents_in_two_scenes_allow_two_reminders(
    wechat: FakeWeChatApi, subscriptions: WeChatSubscriptionChannel, consents: SubscriptionConsents
) -> None:
    await candidate_confirms(wechat, consents, scene=1)
    await candidate_confirms(wechat, consents, scene=2)

    await subscriptions.send(reminder(reminder_id="rem-24h"), CANDIDATE_OPENID)
    await subscriptions.send(reminder(reminder_id="rem-1h"), CANDIDATE_OPENID)

    assert [sent.scene for sent in wechat.sent] == [1, 2]


async def test_a_busy_wechat_is_a_retryable_failure_and_the_consent_survives_for_the_retry(
    wechat: FakeWeChatApi, subscriptions: WeChatSubscriptionChannel, consents: SubscriptionConsents
) -> None:
    await candidate_confirms(wechat, consents)
    wechat.fail_next(1, -1)

    busy = await refusal(subscriptions.send(reminder(), CANDIDATE_OPENID))
    await subscriptions.send(reminder(), CANDIDATE_OPENID)

    assert busy.retry
    assert len(wechat.sent) == 1
    assert await consents.take(INTERVIEW, SUBSCRIPTION_TEMPLATE_ID) is None


async def test_a_send_the_scheduler_stops_waiting_for_gives_the_consent_back(wechat: FakeWeChatApi, consents: SubscriptionConsents) -> None:
    await candidate_confirms(wechat, consents)
    async with silent_server() as url:
        channel = WeChatSubscriptionChannel(config_for(wechat, api_base=url, template_id=SUBSCRIPTION_TEMPLATE_ID), consents)
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(channel.send(reminder(), CANDIDATE_OPENID), 0.3)
        finally:
            await channel.aclose()

    assert await consents.take(INTERVIEW, SUBSCRIPTION_TEMPLATE_ID) == (CANDIDATE_OPENID, 1000)


async def test_a_consent_wechat_does_not_know_is_refused_for_good_and_not_kept(
    wechat: FakeWeChatApi, subscriptions: WeChatSubscriptionChannel, consents: SubscriptionConsents
) -> None:
    await consents.grant(TENANT, INTERVIEW, CANDIDATE_OPENID, SUBSCRIPTION_TEMPLATE_ID, 1000)  # WeChat never saw it

    failure = await refusal(subscriptions.send(reminder(), CANDIDATE_OPENID))

    assert not failure.retry and "(errcode 43101)" in failure.reason
    assert await consents.take(INTERVIEW, SUBSCRIPTION_TEMPLATE_ID) is None


async def test_a_consent_given_by_another_wechat_account_than_the_candidates_is_not_used(
    wechat: FakeWeChatApi, subscriptions: WeChatSubscriptionChannel, consents: SubscriptionConsents
) -> None:
    await candidate_confirms(wechat, consents)

    failure = await refusal(subscriptions.send(reminder(), "oOtherUser0000000000000000000"))

    assert not failure.retry
    assert wechat.sent == []


# The consent stores


async def test_consents_survive_reopening_the_sqlite_store(tmp_path: Path) -> None:
    path = tmp_path / "interviews.sqlite3"
    store = await SubscriptionConsentStore.open(path)
    await store.grant(TENANT, INTERVIEW, CANDIDATE_OPENID, SUBSCRIPTION_TEMPLATE_ID, 7)
    await store.close()

    reopened = await SubscriptionConsentStore.open(path)
    try:
        assert await reopened.take(INTERVIEW, SUBSCRIPTION_TEMPLATE_ID) == (CANDIDATE_OPENID, 7)
        assert await reopened.take(INTERVIEW, SUBSCRIPTION_TEMPLATE_ID) is None
    finally:
        await reopened.close()


async def test_two_nodes_taking_at_once_get_each_consent_once(
    node_store: Callable[[], contextlib.AbstractAsyncContextManager[SubscriptionConsents]],
) -> None:
    interviews = [f"iv{i}" for i in range(40)]
    async with node_store() as one, node_store() as other:
        for interview_id in interviews:
            await one.grant(TENANT, interview_id, CANDIDATE_OPENID, SUBSCRIPTION_TEMPLATE_ID, 3)

        taken = await asyncio.gather(*(store.take(i, SUBSCRIPTION_TEMPLATE_ID) for i in interviews for store in (one, other)))

    for interview_id, (first, second) in zip(interviews, zip(taken[::2], taken[1::2]), strict=True):
        assert [first, second].count((CANDIDATE_OPENID, 3)) == 1, interview_id
        assert [first, second].count(None) == 1, interview_id


async def test_the_oldest_consent_is_taken_first_and_a_repeat_in_one_scene_does_not_add_up(consents: SubscriptionConsents) -> None:
    await consents.grant(TENANT, INTERVIEW, CANDIDATE_OPENID, SUBSCRIPTION_TEMPLATE_ID, 20)
    await consents.grant(TENANT, INTERVIEW, CANDIDATE_OPENID, SUBSCRIPTION_TEMPLATE_ID, 10)
    await consents.grant(TENANT, INTERVIEW, CANDIDATE_OPENID, SUBSCRIPTION_TEMPLATE_ID, 10)
    await consents.grant(TENANT, INTERVIEW, CANDIDATE_OPENID, "another-template", 5)

    taken = [await consents.take(INTERVIEW, SUBSCRIPTION_TEMPLATE_ID) for _ in range(3)]

    assert taken == [(CANDIDATE_OPENID, 20), (CANDIDATE_OPENID, 10), None]
    assert await consents.take(INTERVIEW, "another-template") == (CANDIDATE_OPENID, 5)


async def test_erasure_removes_an_interviews_consents_and_no_other(consents: SubscriptionConsents) -> None:
    await consents.grant(TENANT, INTERVIEW, CANDIDATE_OPENID, SUBSCRIPTION_TEMPLATE_ID, 1)
    await consents.grant(TENANT, "ivOther", CANDIDATE_OPENID, SUBSCRIPTION_TEMPLATE_ID, 1)

    await consents.erase([INTERVIEW])

    assert await consents.take(INTERVIEW, SUBSCRIPTION_TEMPLATE_ID) is None
    assert await consents.take("ivOther", SUBSCRIPTION_TEMPLATE_ID) == (CANDIDATE_OPENID, 1)


# The confirm flow


async def test_the_confirm_link_is_the_one_wechat_documents(wechat: FakeWeChatApi) -> None:
    config = config_for(wechat, kind="subscription", template_id=SUBSCRIPTION_TEMPLATE_ID, confirm_base="https://mp.weixin.qq.com")

    url = subscription_confirm_url(config, INTERVIEW, 1000, REDIRECT_URL, ConsentReserved(KEY))

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://mp.weixin.qq.com/mp/subscribemsg"
    assert parts.fragment == "wechat_redirect"
    assert [name for name, _ in parse_qsl(parts.query)] == ["action", "appid", "scene", "template_id", "redirect_url", "reserved"]
    query = parse_qs(parts.query)
    assert query["action"] == ["get_confirm"] and query["appid"] == [wechat.app_id] and query["scene"] == ["1000"]
    assert query["redirect_url"] == [REDIRECT_URL] and "%2F%2Finterview.example.cn%2F" in parts.query
    assert query["reserved"][0].isalnum() and len(query["reserved"][0]) <= 128


async def test_the_confirm_flow_refuses_a_forged_tampered_expired_or_cancelled_redirect(
    wechat: FakeWeChatApi, consents: SubscriptionConsents
) -> None:
    config = config_for(wechat, kind="subscription", template_id=SUBSCRIPTION_TEMPLATE_ID)
    signer = ConsentReserved(KEY)
    genuine = signer.issue(INTERVIEW, 1000)
    good = {"openid": CANDIDATE_OPENID, "template_id": SUBSCRIPTION_TEMPLATE_ID, "action": "confirm", "scene": "1000", "reserved": genuine}
    forged = {
        "another key": ConsentReserved("a-key-that-is-not-the-servers").issue(INTERVIEW, 1000),
        "another interview": genuine[:42] + "ivOther",
        "a flipped MAC": ("0" if genuine[0] != "0" else "1") + genuine[1:],
        "not ours at all": "test",
    }

    for what, reserved in forged.items():
        with pytest.raises(InvalidConsent) as caught:
            await record_consent({**good, "reserved": reserved}, config, signer, consents, tenant_of)
        assert not caught.value.declined, what
    with pytest.raises(InvalidConsent, match="not issued by this server for this scene"):
        await record_consent({**good, "scene": "1001"}, config, signer, consents, tenant_of)
    with pytest.raises(InvalidConsent, match="expired"):
        await record_consent(good, config, signer, consents, tenant_of, now=STARTS_AT + 10**9)
    with pytest.raises(InvalidConsent, match="another template"):
        await record_consent({**good, "template_id": TEMPLATE_ID}, config, signer, consents, tenant_of)
    with pytest.raises(InvalidConsent) as cancelled:
        await record_consent({**good, "action": "cancel", "openid": ""}, config, signer, consents, tenant_of)
    assert cancelled.value.declined
    assert await consents.take(INTERVIEW, SUBSCRIPTION_TEMPLATE_ID) is None

    assert await record_consent(good, config, signer, consents, tenant_of) == INTERVIEW
    assert await consents.take(INTERVIEW, SUBSCRIPTION_TEMPLATE_ID) == (CANDIDATE_OPENID, 1000)


async def test_a_candidate_who_cancels_on_wechats_page_leaves_no_consent(wechat: FakeWeChatApi, consents: SubscriptionConsents) -> None:
    wechat.user_cancels = True

    with pytest.raises(InvalidConsent) as caught:
        await candidate_confirms(wechat, consents)

    assert caught.value.declined
    assert await consents.take(INTERVIEW, SUBSCRIPTION_TEMPLATE_ID) is None


async def test_a_candidate_allows_a_wechat_reminder_from_the_booking_page_and_gets_it(
    tmp_path: Path, store_settings: dict[str, object]
) -> None:
    async with running(FakeWeChatApi(free_port(), ManualClock(), business_domain="127.0.0.1")) as wechat:
        settings = make_settings(
            tmp_path / "data",
            wechat_app_id=wechat.app_id,
            wechat_app_secret=wechat.app_secret,
            wechat_reminders="subscription",
            wechat_reminder_template_id=SUBSCRIPTION_TEMPLATE_ID,
            wechat_api_base_url=wechat.url,
            wechat_confirm_base_url=wechat.url,
            **store_settings,
        )
        async with serving(settings) as server:
            assert "wechat" in server.services.reminder_channels
            await open_job(server, days_away=3, calendar_attendees=[])
            interview_id, token = await invite(server)
            first = (await slots(server, interview_id, token))["slots"][0]["starts_at"]
            booked = await book(server, interview_id, token, first)
            assert booked.status_code == 201, booked.text
            confirm = booked.json()["wechat_reminder_url"]
            assert confirm.startswith(f"{wechat.url}/mp/subscribemsg?")

            # In WeChat: the confirm page, then back to the server, which keeps the consent.
            async with httpx.AsyncClient(timeout=5) as phone:
                allowed = await phone.get(confirm, follow_redirects=True)
            assert allowed.status_code == 200 and "已开启微信提醒" in allowed.text
            forged = await server.http.get(
                f"{server.url}/wechat/reminder-allowed",
                params={
                    "openid": "o-attacker",
                    "template_id": SUBSCRIPTION_TEMPLATE_ID,
                    "action": "confirm",
                    "scene": "1",
                    "reserved": "x" * 50,
                },
            )
            assert forged.status_code == 400

            start = datetime.fromisoformat(first).timestamp()
            now = [start - 24 * 3600 + 1]
            config = reminder_config(server.settings)
            assert config is not None and server.services.wechat_consents is not None
            channel = WeChatSubscriptionChannel(config, server.services.wechat_consents)
            scheduler = ReminderScheduler(
                server.services.bookings, server.services.store, {"wechat": channel}, claim_s=60, clock=lambda: now[0]
            )
            try:
                assert await scheduler.run_due() >= 1
                now[0] = start - 3600 + 1
                await scheduler.run_due()
            finally:
                await channel.aclose()
            [sent] = wechat.sent  # one consent, one message: the day before
            stored = await server.services.bookings.booking(interview_id)
            assert stored is not None and (sent.kind, sent.touser, sent.url) == ("subscription", CANDIDATE_OPENID, stored.join_url)
            status = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/booking", headers=HR)).json()
            outcomes = sorted((r["hours_before"], r["status"]) for r in status["reminders"] if r["channel"] == "wechat")
            assert outcomes == [(1, "failed"), (24, "sent")]
            assert next(r["error"] for r in status["reminders"] if r["channel"] == "wechat" and r["status"] == "failed") == NO_CONSENT

            # Erasing the interview erases its consents.
            await wechat_allows_again(confirm)
            assert (await server.http.delete(f"{server.url}/api/v1/interviews/{interview_id}", headers=HR)).status_code == 204
            assert await server.services.wechat_consents.take(interview_id, SUBSCRIPTION_TEMPLATE_ID) is None


async def wechat_allows_again(confirm: str) -> None:
    async with httpx.AsyncClient(timeout=5) as phone:
        assert (await phone.get(confirm, follow_redirects=True)).status_code == 200
