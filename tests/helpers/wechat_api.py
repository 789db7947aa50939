"""A stand-in for the WeChat Official Account API that reminders use, in tests: a Starlette app on loopback that follows
WeChat's documented protocol, checking what WeChat checks in its own code (a bug in the server fails here, not in both
places alike). Time is the test's `clock`, so tokens expire when the test says, without waiting.

- `POST /cgi-bin/stable_token` {grant_type: client_credential, appid, secret, force_refresh}: 40013 unknown appid,
  40125 wrong secret. Normal mode hands out the current token while it has more than 5 minutes left, a new one in its
  last 5 minutes (the old one still works until it expires); force_refresh retires every earlier token. `expires_in`
  is the token's remaining lifetime.
- `POST /cgi-bin/message/template/send?access_token=` {touser, template_id, url, data: {keyword: {value}},
  client_msg_id}: 40001 unknown token, 42001 expired token, 40003 openid not the account's, 43004 user does not follow
  the account, 40037 unknown template, 47003 a keyword missing or its value not fitting its type (thing: 20
  characters, time: WeChat's time format, ...). A repeat of an openid and client_msg_id within 10 minutes is not sent
  again (answered with the first message's msgid, an assumption: WeChat documents only that it sends one).
- `POST /cgi-bin/message/template/subscribe?access_token=` {touser, template_id, url, scene, title, data: {content:
  {value}}}: the token and openid checks as above, 40037 not the one-time subscription template, 47003 a scene outside
  0-10000, a title over 15 or a text over 200 characters, 43101 without an outstanding consent of that openid to that
  template in that scene; a message spends its consent.
- `GET /mp/subscribemsg?action=get_confirm&appid&scene&template_id&redirect_url&reserved`: the confirm page. Where
  WeChat shows it inside WeChat, this one answers for `user_openid` at once: confirm -> a consent, and a redirect to
  `redirect_url?openid&template_id&action=confirm&scene&reserved`; cancel -> the same without openid, action=cancel.
  The redirect URL's domain must be the account's business domain.

`fail_next(count, errcode)` makes the next message sends that pass the token check fail with `errcode`;
`answer_next_raw` makes the next requests get a bare HTTP answer (a gateway failing, an oversized body).
Every message sent is kept in `sent`.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.helpers.asgi_server import serving_app

TOKEN_TTL_S = 7200
RENEW_WINDOW_S = 300
CLIENT_MSG_ID_TTL_S = 600
TEMPLATE_ID = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"  # a category template: typed keywords
LEGACY_TEMPLATE_ID = "Dyvp3-Ff0cnail_CDSzk1fIc6-9lOkxsQE7exTJbwUE"  # an old template: keyword1..3 take any text
SUBSCRIPTION_TEMPLATE_ID = "1uDxHNXwYQfBmXOfPJcjAS3FynHArD8aWMEFNRGSbCc"
CANDIDATE_OPENID = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
WECHAT_TIME = re.compile(r"(\d{4}年\d{1,2}月\d{1,2}日 )?\d{2}:\d{2}")
RESERVED = re.compile(r"[A-Za-z0-9]{0,128}")
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40013: "invalid appid",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    47001: "data format error",
    47003: "argument invalid!",
}


class ManualClock:
    """Seconds that move only when the test moves them; shared by the fake and the client under test."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class SentMessage:
    kind: Literal["template", "subscription"]
    touser: str
    template_id: str
    url: str
    values: dict[str, str]  # keyword -> value
    access_token: str
    msgid: int
    scene: int | None = None
    title: str | None = None


@dataclass
class FakeWeChatApi:
    """One Official Account (AppID, AppSecret, business domain, templates), its users and its followers."""

    port: int
    clock: ManualClock
    app_id: str = "wx520c15f417810387"
    app_secret: str = "fake-app-secret-0123456789abcdef"
    business_domain: str = "interview.example.cn"
    templates: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {TEMPLATE_ID: ("thing1", "thing2", "time3"), LEGACY_TEMPLATE_ID: ("keyword1", "keyword2", "keyword3")}
    )
    subscription_template_id: str = SUBSCRIPTION_TEMPLATE_ID
    user_openid: str = CANDIDATE_OPENID  # who opens confirm pages
    user_cancels: bool = False
    users: set[str] = field(default_factory=lambda: {CANDIDATE_OPENID})  # every openid of the account
    followers: set[str] = field(default_factory=lambda: {CANDIDATE_OPENID})
    consents: set[tuple[str, str, int]] = field(default_factory=set)  # (openid, template id, scene), unspent
    sent: list[SentMessage] = field(default_factory=list)
    token_requests: int = 0
    forced_refreshes: int = 0
    message_requests: int = 0
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at
    _current: str | None = None
    _failures: deque[int] = field(default_factory=deque)
    _raw: deque[tuple[int, bytes]] = field(default_factory=deque)
    _client_msg_ids: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, count: int, errcode: int) -> None:
        self._failures.extend([errcode] * count)

    def answer_next_raw(self, count: int, body: bytes, status: int = 200) -> None:
        self._raw.extend([(status, body)] * count)

    def revoke_tokens(self) -> None:
        """Every token stops working at once, as when someone forces a refresh: WeChat then answers 40001."""
        self.tokens.clear()
        self._current = None

    def expire_tokens(self) -> None:
        """Every token reaches its expiry now, whatever the client's clock says: WeChat then answers 42001."""
        for token in self.tokens:
            self.tokens[token] = self.clock()

    def confirm(self, openid: str, template_id: str, scene: int) -> None:
        """A consent given on WeChat's side only (the server never heard of it)."""
        self.consents.add((openid, template_id, scene))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cgi-bin/stable_token", self._stable_token, methods=["POST"]),
                Route("/cgi-bin/message/template/send", self._template_send, methods=["POST"]),
                Route("/cgi-bin/message/template/subscribe", self._subscribe_send, methods=["POST"]),
                Route("/mp/subscribemsg", self._confirm_page, methods=["GET"]),
            ]
        )

    async def _stable_token(self, request: Request) -> Response:
        self.token_requests += 1
        if self._raw:
            return self._raw_answer()
        body = await _json_body(request)
        if body is None or body.get("grant_type") != "client_credential":
            return _error(47001)
        if body.get("appid") != self.app_id:
            return _error(40013)
        if body.get("secret") != self.app_secret:
            return _error(40125)
        now = self.clock()
        if body.get("force_refresh") is True:
            self.forced_refreshes += 1
            self.tokens.clear()
            self._current = None
        current = self._current
        if current is None or self.tokens.get(current, now) - now <= RENEW_WINDOW_S:
            current = secrets.token_urlsafe(96)
            self.tokens[current] = now + TOKEN_TTL_S
            self._current = current
        return _json({"access_token": current, "expires_in": int(self.tokens[current] - now)})

    async def _authorised(self, request: Request) -> tuple[str, dict[str, Any]] | Response:
        self.message_requests += 1
        if self._raw:
            return self._raw_answer()
        token = request.query_params.get("access_token", "")
        if not token:
            return _error(41001)
        expires_at = self.tokens.get(token)
        if expires_at is None:
            return _error(40001)
        if expires_at <= self.clock():
            return _error(42001)
        body = await _json_body(request)
        if body is None:
            return _error(47001)
        if self._failures:
            return _error(self._failures.popleft())
        return token, body

    async def _template_send(self, request: Request) -> Response:
        checked = await self._authorised(request)
        if isinstance(checked, Response):
            return checked
        token, body = checked
        touser = body.get("touser")
        if touser not in self.users:
            return _error(40003)
        if touser not in self.followers:
            return _error(43004)
        keywords = self.templates.get(str(body.get("template_id")))
        if keywords is None:
            return _error(40037)
        data = body.get("data")
        if not isinstance(data, dict):
            return _error(47001)
        values: dict[str, str] = {}
        for keyword in keywords:
            entry = data.get(keyword)
            value = entry.get("value") if isinstance(entry, dict) else None
            if not isinstance(value, str) or not _fits(keyword, value):
                return _error(47003, f"argument invalid! data.{keyword}.value invalid")
            values[keyword] = value
        now = self.clock()
        client_msg_id = body.get("client_msg_id")
        if isinstance(client_msg_id, str) and client_msg_id:
            earlier = self._client_msg_ids.get((touser, client_msg_id))
            if earlier is not None and now - earlier[1] < CLIENT_MSG_ID_TTL_S:
                return _json({"errcode": 0, "errmsg": "ok", "msgid": earlier[0]})
        msgid = 2_000_000_000 + len(self.sent)
        if isinstance(client_msg_id, str) and client_msg_id:
            self._client_msg_ids[(touser, client_msg_id)] = (msgid, now)
        self.sent.append(SentMessage("template", touser, body["template_id"], str(body.get("url", "")), values, token, msgid))
        return _json({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def _subscribe_send(self, request: Request) -> Response:
        checked = await self._authorised(request)
        if isinstance(checked, Response):
            return checked
        token, body = checked
        touser = body.get("touser")
        if touser not in self.users:
            return _error(40003)
        if body.get("template_id") != self.subscription_template_id:
            return _error(40037)
        scene_text, title = body.get("scene"), body.get("title")
        if not isinstance(scene_text, str) or not scene_text.isdigit() or int(scene_text) > 10000:
            return _error(47003, "argument invalid! scene")
        if not isinstance(title, str) or not 0 < len(title) <= 15:
            return _error(47003, "argument invalid! title")
        data = body.get("data")
        content = data.get("content") if isinstance(data, dict) else None
        value = content.get("value") if isinstance(content, dict) else None
        if not isinstance(value, str) or len(value) > 200:
            return _error(47003, "argument invalid! data.content.value")
        consent = (touser, self.subscription_template_id, int(scene_text))
        if consent not in self.consents:
            return _error(43101)
        self.consents.remove(consent)
        msgid = 2_000_000_000 + len(self.sent)
        self.sent.append(
            SentMessage(
                "subscription",
                touser,
                body["template_id"],
                str(body.get("url", "")),
                {"content": value},
                token,
                msgid,
                int(scene_text),
                title,
            )
        )
        return _json({"errcode": 0, "errmsg": "ok"})

    async def _confirm_page(self, request: Request) -> Response:
        query = request.query_params
        if query.get("action") != "get_confirm" or query.get("appid") != self.app_id:
            return _error_page("参数错误: action must be get_confirm, appid the account's")
        if query.get("template_id") != self.subscription_template_id:
            return _error_page("模板出错: not the account's one-time subscription template")
        scene = query.get("scene", "")
        if not scene.isdigit() or int(scene) > 10000:
            return _error_page("参数错误: scene is an integer from 0 to 10000")
        redirect = urlsplit(query.get("redirect_url", ""))
        if redirect.scheme not in ("http", "https") or redirect.hostname != self.business_domain:
            return _error_page("redirect_url域名与后台配置不一致")
        if not RESERVED.fullmatch(query.get("reserved", "")):
            return _error_page("参数错误: reserved is a-zA-Z0-9, at most 128 bytes")
        answer = {"template_id": query["template_id"], "action": "cancel", "scene": scene, "reserved": query.get("reserved", "")}
        if not self.user_cancels:
            self.consents.add((self.user_openid, query["template_id"], int(scene)))
            answer = {"openid": self.user_openid, **answer, "action": "confirm"}
        separator = "&" if redirect.query else "?"
        return RedirectResponse(query["redirect_url"] + separator + urlencode(answer), status_code=302)

    def _raw_answer(self) -> Response:
        status, body = self._raw.popleft()
        return Response(body, status_code=status, media_type="text/plain")


def _fits(keyword: str, value: str) -> bool:
    """A keyword's value against its type, as WeChat's template message rules list them."""
    kind = keyword.rstrip("0123456789")
    if kind == "thing":
        return 0 < len(value) <= 20
    if kind == "name":
        return 0 < len(value) <= (20 if value.isascii() else 10)
    if kind in ("time", "date"):
        return WECHAT_TIME.fullmatch(value) is not None
    if kind == "character_string":
        return value.isascii() and 0 < len(value) <= 32
    return 0 < len(value) <= 200


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _json(body: dict[str, object]) -> Response:
    # WeChat sends its JSON as text/plain at times.
    return Response(json.dumps(body, ensure_ascii=False), media_type="text/plain")


def _error(errcode: int, errmsg: str | None = None) -> Response:
    rid = secrets.token_hex(4)
    return _json({"errcode": errcode, "errmsg": f"{errmsg or ERRMSG.get(errcode, 'error')} rid: {rid}"})


def _error_page(message: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>微信</title><p>{message}</p>", status_code=400)


@contextlib.asynccontextmanager
async def running(fake: FakeWeChatApi) -> AsyncIterator[FakeWeChatApi]:
    """Serve `fake` on its loopback port for the block."""
    async with serving_app(fake.app(), fake.port, "fake WeChat API"):
        yield fake
