"""WeChat web authorisation for candidates in WeChat: nickname and avatar stored, and the interview never blocked by it.

WeChat is `tests/wechat_fake.py`, a real server on loopback that follows WeChat's documented protocol.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect

from server.domain.job_links import JobLink, JobLinkSigner
from server.domain.wechat_applicant import WeChatApplicant, seal_applicant
from server.integrations.wechat_oauth import STATE_TTL_S, OAuthState
from tests.conftest import API_KEY, LiveServer, free_port, make_settings, serving
from tests.helpers.wechat_fake import FakeWeChat, running, serving_with

WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
    " MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
)
SAFARI_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4"
    " Mobile/15E148 Safari/604.1"
)
CANDIDATE_PAGE = "/static/candidate/candidate.js"
LOGGER = "server.integrations.wechat_oauth"


@pytest.fixture
async def wechat() -> AsyncIterator[FakeWeChat]:
    async with running(FakeWeChat(free_port())) as fake:
        yield fake


@pytest.fixture
async def server(tmp_path: Path, wechat: FakeWeChat) -> AsyncIterator[LiveServer]:
    async with serving_with(tmp_path, wechat) as live:
        yield live


def browser(user_agent: str = WECHAT_UA) -> httpx.AsyncClient:
    """A candidate's browser: its own cookies, redirects followed only when asked."""
    return httpx.AsyncClient(headers={"User-Agent": user_agent}, timeout=20)


async def page_decision(server: LiveServer, client: httpx.AsyncClient, token: str) -> httpx.URL | None:
    """Where the invite page's "use my WeChat name and photo" button leads for this browser, or None when not offered.

    The page learns it from the hello on its websocket, which carries the browser's user agent and cookies.
    """
    claims = server.services.signer.verify(token)
    url = server.url.replace("http://", "ws://") + f"/ws/interviews/{claims.interview_id}?token={token}"
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    headers = {"User-Agent": client.headers["user-agent"], **({"Cookie": cookies} if cookies else {})}
    async with connect(url, additional_headers=headers) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
    offer = hello["interview"]["wechat_login_url"]
    return None if offer is None else httpx.URL(server.url).join(offer)


async def open_invite(server: LiveServer, client: httpx.AsyncClient, token: str) -> httpx.Response:
    """Open the invite link as the browser would, following every redirect (through WeChat and back)."""
    into_wechat = await page_decision(server, client, token)
    return await client.get(into_wechat or f"{server.url}/i/{token}", follow_redirects=True)


async def callback_url(server: LiveServer, client: httpx.AsyncClient, token: str) -> httpx.URL:
    """Start authorisation and let WeChat answer, but stop where WeChat sends the browser back to the server."""
    start = await client.get(f"{server.url}/wechat/oauth/start", params={"token": token})
    assert start.status_code == 302, start.text
    wechat = await client.get(start.headers["location"])
    assert wechat.status_code == 302, wechat.text
    return httpx.URL(wechat.headers["location"])


def assert_back_on_the_invite(response: httpx.Response, token: str) -> None:
    assert response.status_code == 200 and response.url.path == f"/i/{token}", (response.status_code, response.url)
    assert CANDIDATE_PAGE in response.text


async def test_a_candidate_in_wechat_goes_through_authorisation_and_lands_on_the_invite_with_their_profile_stored(
    server: LiveServer, wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    interview, token = await server.schedule()
    async with browser() as client:
        landed = await open_invite(server, client, token)
        assert_back_on_the_invite(landed, token)
        hops = [str(r.url.copy_with(query=None, fragment=None)) for r in landed.history]
        assert hops == [f"{server.url}/wechat/oauth/start", f"{wechat.url}/connect/oauth2/authorize", f"{server.url}/wechat/oauth/callback"]
        assert wechat.calls == ["/connect/oauth2/authorize", "/sns/oauth2/access_token", "/sns/userinfo"]
        profile = await server.services.store.wechat_profile(interview.id)
        assert profile is not None
        assert (profile.openid, profile.nickname, profile.avatar_url) == (
            wechat.user.openid,
            wechat.user.nickname,
            wechat.user.headimgurl,
        )
        # Asked once: with the profile stored, the page is served straight away, in this browser or another.
        assert await page_decision(server, client, token) is None
    async with browser() as other:
        assert await page_decision(server, other, token) is None
    assert f"interview {interview.id}: profile stored" in caplog.text
    for personal in (wechat.user.openid, wechat.user.nickname, wechat.user.headimgurl):
        assert personal not in caplog.text, "logs carry interview ids, never the candidate's WeChat identity"


async def test_the_authorize_link_is_the_one_wechat_documents(server: LiveServer, wechat: FakeWeChat) -> None:
    interview, token = await server.schedule()
    async with browser() as client:
        into_wechat = await page_decision(server, client, token)
        assert into_wechat is not None and into_wechat.path == "/wechat/oauth/start"
        assert into_wechat.params["token"] == token
        start = await client.get(into_wechat)
    assert start.status_code == 302 and start.headers["cache-control"] == "no-store"
    authorize = urlsplit(start.headers["location"])
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{wechat.url}/connect/oauth2/authorize"
    assert authorize.fragment == "wechat_redirect"
    # The order is part of the protocol: WeChat matches the link strictly.
    assert [pair.split("=")[0] for pair in authorize.query.split("&")] == ["appid", "redirect_uri", "response_type", "scope", "state"]
    query = {name: values[0] for name, values in parse_qs(authorize.query).items()}
    assert query["appid"] == wechat.app_id and query["response_type"] == "code" and query["scope"] == "snsapi_userinfo"
    assert query["redirect_uri"] == f"{server.url}/wechat/oauth/callback"
    assert "%3A%2F%2F" in authorize.query, "redirect_uri is percent-encoded whole"
    state = query["state"]
    assert state.isalnum() and len(state) <= 128 and interview.id in state and token not in authorize.query


async def test_other_browsers_and_interviews_already_under_way_are_not_sent_to_wechat(server: LiveServer, wechat: FakeWeChat) -> None:
    interview, token = await server.schedule()
    async with browser(SAFARI_UA) as safari:
        assert await page_decision(server, safari, token) is None
        assert_back_on_the_invite(await open_invite(server, safari, token), token)
    cancelled = await server.http.post(f"{server.url}/api/v1/interviews/{interview.id}/cancel", headers={"X-API-Key": API_KEY})
    assert cancelled.status_code == 200
    async with browser() as client:
        assert await page_decision(server, client, token) is None
    assert wechat.calls == []


async def test_without_wechat_configured_no_candidate_is_sent_to_wechat(tmp_path: Path, wechat: FakeWeChat) -> None:
    async with serving(make_settings(tmp_path / "data")) as server, browser() as client:
        _, token = await server.schedule()
        assert await page_decision(server, client, token) is None
        assert_back_on_the_invite(await open_invite(server, client, token), token)
        for path in ("/wechat/oauth/start", "/wechat/oauth/callback"):
            response = await client.get(f"{server.url}{path}", params={"token": token, "code": "x", "state": "y"})
            assert response.status_code == 404 and response.json()["code"] == "wechat_not_configured", path
    assert wechat.calls == []


async def test_a_candidate_who_declines_lands_on_the_invite_with_nothing_stored_and_is_not_asked_again(
    server: LiveServer, wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    wechat.user_declines = True
    interview, token = await server.schedule()
    async with browser() as client:
        landed = await open_invite(server, client, token)
        assert_back_on_the_invite(landed, token)
        assert "code" not in landed.history[-1].url.params, "a declined authorisation comes back with the state only"
        assert await server.services.store.wechat_profile(interview.id) is None
        assert wechat.calls == ["/connect/oauth2/authorize"]
        assert f"interview {interview.id}: the candidate declined" in caplog.text
        # Not asked again on every visit from this browser.
        assert await page_decision(server, client, token) is None
    async with browser() as other:
        assert await page_decision(server, other, token) is not None, "another browser was never asked"


@pytest.mark.parametrize(("case", "errcode"), [("code used elsewhere", 40163), ("unknown code", 40029), ("wrong app secret", 40125)])
async def test_a_code_wechat_refuses_still_lands_on_the_invite_with_nothing_stored(
    tmp_path: Path, wechat: FakeWeChat, caplog: pytest.LogCaptureFixture, case: str, errcode: int
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    secret = "not-the-app-secret-0123456789" if case == "wrong app secret" else wechat.app_secret
    async with serving_with(tmp_path, wechat, wechat_app_secret=secret) as server, browser() as client:
        interview, token = await server.schedule()
        back = await callback_url(server, client, token)
        if case == "code used elsewhere":
            spent = await client.get(
                f"{wechat.url}/sns/oauth2/access_token",
                params={
                    "appid": wechat.app_id,
                    "secret": wechat.app_secret,
                    "code": back.params["code"],
                    "grant_type": "authorization_code",
                },
            )
            assert "access_token" in spent.json()
        if case == "unknown code":
            back = back.copy_set_param("code", "0" * 32)
        landed = await client.get(back, follow_redirects=True)
        assert_back_on_the_invite(landed, token)
        assert await server.services.store.wechat_profile(interview.id) is None
        assert f"interview {interview.id}: nothing stored, WeChat error {errcode}" in caplog.text
        assert await page_decision(server, client, token) is None, "one refusal, not a loop of consent screens"


async def test_a_snapshot_mode_visitor_is_not_stored(server: LiveServer, wechat: FakeWeChat) -> None:
    wechat.snapshot_mode = True
    interview, token = await server.schedule()
    async with browser() as client:
        assert_back_on_the_invite(await open_invite(server, client, token), token)
    assert await server.services.store.wechat_profile(interview.id) is None, "a snapshot visitor's profile is a virtual account's"
    assert "/sns/userinfo" not in wechat.calls


async def test_a_tampered_or_expired_state_is_never_used_and_leaves_the_code_unspent(server: LiveServer, wechat: FakeWeChat) -> None:
    interview, token = await server.schedule()
    other_interview, _ = await server.schedule()
    expired = OAuthState(server.settings.signing_key()).issue(interview.id, token, now=time.time() - STATE_TTL_S - 1)
    async with browser() as client:
        for name in ("tampered", "expired", "for another interview", "empty", "too long"):
            genuine = await callback_url(server, client, token)
            state = genuine.params["state"]
            bad = {
                "tampered": ("1" if state[0] != "1" else "2") + state[1:],
                "expired": expired,
                "for another interview": state[:42] + other_interview.id,  # someone else's interview under this MAC
                "empty": "",
                "too long": state + "0" * 100,
            }[name]
            landed = await client.get(genuine.copy_set_param("state", bad))
            # The candidate still goes to their own invite (from their browser's cookie, not from the state).
            assert landed.status_code == 302 and landed.headers["location"] == f"/i/{token}", name
        assert "/sns/oauth2/access_token" not in wechat.calls, "no refused state spends a code"
        assert await server.services.store.wechat_profile(interview.id) is None
        assert await server.services.store.wechat_profile(other_interview.id) is None

        # Each refusal ended its flow, as any callback does; a fresh authorisation in this browser goes through.
        assert_back_on_the_invite(await client.get(await callback_url(server, client, token), follow_redirects=True), token)
    profile = await server.services.store.wechat_profile(interview.id)
    assert profile is not None and profile.nickname == wechat.user.nickname


async def test_a_callback_in_a_browser_that_did_not_start_the_authorisation_is_refused(server: LiveServer, wechat: FakeWeChat) -> None:
    interview, token = await server.schedule()
    async with browser() as candidate:
        genuine = await callback_url(server, candidate, token)
    # The state travels through WeChat and its URL; alone, it neither stores a profile nor hands out the invite.
    async with browser() as stranger:
        refused = await stranger.get(genuine)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_oauth_state"
    assert token not in refused.text and "location" not in refused.headers
    assert await server.services.store.wechat_profile(interview.id) is None
    assert "/sns/oauth2/access_token" not in wechat.calls


async def test_starting_authorisation_needs_a_valid_invite(server: LiveServer, wechat: FakeWeChat) -> None:
    _, token = await server.schedule()
    async with browser() as client:
        missing = await client.get(f"{server.url}/wechat/oauth/start")
        assert missing.status_code == 400 and missing.json()["code"] == "missing_token"
        forged = await client.get(f"{server.url}/wechat/oauth/start", params={"token": token[:-4] + "AAAA"})
        assert forged.status_code == 401 and forged.json()["code"] == "invalid_token"
    assert wechat.calls == []


async def test_erasing_the_candidate_erases_their_wechat_profile(server: LiveServer, wechat: FakeWeChat) -> None:
    hr = {"X-API-Key": API_KEY}
    candidate = {"name": "Wang Fang", "email": "wang@example.com", "skills": ["SQL"], "years_experience": 3}
    assert (await server.http.put(f"{server.url}/api/v1/candidates/cand-1", json=candidate, headers=hr)).status_code == 201
    job = {"title": "Data analyst", "role": "data_analyst", "required_skills": [{"name": "SQL"}]}
    created = await server.http.post(f"{server.url}/api/v1/interviews", json={"job": job, "candidate_id": "cand-1"}, headers=hr)
    assert created.status_code == 201, created.text
    interview_id, token = created.json()["interview"]["id"], created.json()["invite_token"]
    async with browser() as client:
        assert_back_on_the_invite(await open_invite(server, client, token), token)
    assert await server.services.store.wechat_profile(interview_id) is not None

    assert (await server.http.delete(f"{server.url}/api/v1/candidates/cand-1", headers=hr)).status_code == 204
    assert await server.services.store.wechat_profile(interview_id) is None


async def test_a_candidate_registering_from_a_poster_in_wechat_fills_the_form_with_their_profile_and_the_interview_keeps_it(
    server: LiveServer, wechat: FakeWeChat
) -> None:
    job = {"title": "Backend engineer", "role": "backend_engineer", "language": "zh", "screening": {"on_pass": "invite"}}
    assert (await server.http.put(f"{server.url}/api/v1/jobs/backend", json=job, headers={"X-API-Key": API_KEY})).status_code == 201
    token = JobLinkSigner(server.settings.signing_key()).issue(JobLink("default", "backend"))
    api = f"{server.url}/api/v1/applications/{token}"
    async with browser(SAFARI_UA) as safari:
        assert (await safari.get(api)).json()["wechat_login_url"] is None  # only offered inside WeChat
    async with browser() as client:
        offer = (await client.get(api)).json()["wechat_login_url"]
        assert offer == f"/wechat/apply/start?job={token}"
        landed = await client.get(server.url + offer, follow_redirects=True)
        assert landed.url.path == f"/apply/{token}" and landed.status_code == 200
        assert wechat.calls == ["/connect/oauth2/authorize", "/sns/oauth2/access_token", "/sns/userinfo"]
        form = (await client.get(api)).json()
        assert form["wechat"] == {"nickname": wechat.user.nickname, "avatar_url": wechat.user.headimgurl}
        assert form["wechat_login_url"] is None
        applied = await client.post(api, json={"name": wechat.user.nickname, "email": "ming@example.test", "consent": True})
        assert applied.status_code == 201 and applied.json()["outcome"] == "invited", applied.text
    interview_id = server.services.signer.verify(applied.json()["invite_url"].rsplit("/", 1)[1]).interview_id
    profile = await server.services.store.wechat_profile(interview_id)
    assert profile is not None and (profile.openid, profile.nickname) == (wechat.user.openid, wechat.user.nickname)

    # A cookie made up, or signed for another job's link, is nobody.
    other = JobLinkSigner(server.settings.signing_key()).issue(JobLink("default", "designer"))
    for forged in (
        "eyJ4Ijo.0000",
        seal_applicant(WeChatApplicant("o-someone", "冒名", ""), server.settings.signing_key(), other, time.time()),
    ):
        async with browser() as client:
            client.cookies.set("wechat_applicant", forged, path="/api/v1/applications/")
            assert (await client.get(api)).json()["wechat"] is None
