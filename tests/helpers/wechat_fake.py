"""A stand-in for WeChat's web authorisation in tests: a small Starlette app that follows the documented protocol.

- `GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state` (parameters in that order, as WeChat
  matches the link strictly): where the real one shows a consent screen inside WeChat, this one answers for the user at
  once: approve -> `redirect_uri?code=CODE&state=STATE`; decline -> `redirect_uri?state=STATE` (no code, as documented).
  A bad request gets an error page, as WeChat shows one (10003 redirect_uri domain, 10005 scope, ...).
- `GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code`: a code is good once, for 5 minutes
  (40029 invalid code, 40163 code been used, 40125 invalid appsecret, 40013 invalid appid). JSON sent as text/plain,
  as WeChat does.
- `GET /sns/userinfo?access_token&openid&lang`: 40001 invalid access_token, 40003 invalid openid, 48001 for a
  snsapi_base token.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.conftest import LiveServer, make_settings, serving
from tests.helpers.asgi_server import serving_app

AUTHORIZE_PARAMETERS = ["appid", "redirect_uri", "response_type", "scope", "state"]
STATE = re.compile(r"[A-Za-z0-9]{0,128}")
CODE_TTL_S = 300
# What sns/userinfo gives a snapshot-mode visitor: a virtual account, the same for everyone.
VIRTUAL_NICKNAME, VIRTUAL_AVATAR = (
    "微信用户",
    "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132",
)


@dataclass(frozen=True)
class WeChatUser:
    openid: str = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
    nickname: str = "小明 ✨"
    headimgurl: str = "https://thirdwx.qlogo.cn/mmopen/g3MonUZtNHkdmzicIlibx6iaFqAc56vxLSUfpb6n5WKSYVY0ChQKkiaJSgQ1dZuTOgvLLrhJbERQQ4eMsv84eavHiaiceqxibJxCfHe/46"


@dataclass
class _Code:
    scope: str
    issued_at: float
    snapshot: bool
    used: bool = False


@dataclass
class FakeWeChat:
    """One Official Account (`app_id`, `app_secret`, authorised callback domain) and the one user who opens pages."""

    port: int
    app_id: str = "wx520c15f417810387"
    app_secret: str = "fake-app-secret-0123456789abcdef"
    callback_domain: str = "127.0.0.1"
    user: WeChatUser = field(default_factory=WeChatUser)
    user_declines: bool = False
    snapshot_mode: bool = False  # the page was open in snapshot mode: codes stand for a virtual account
    codes: dict[str, _Code] = field(default_factory=dict)
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # access_token -> (openid, scope)
    calls: list[str] = field(default_factory=list)  # paths requested, in order

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/connect/oauth2/authorize", self._authorize, methods=["GET"]),
                Route("/sns/oauth2/access_token", self._access_token, methods=["GET"]),
                Route("/sns/userinfo", self._userinfo, methods=["GET"]),
            ]
        )

    async def _authorize(self, request: Request) -> Response:
        self.calls.append(request.url.path)
        query = request.query_params
        if list(query.keys()) != AUTHORIZE_PARAMETERS:
            return _error_page(f"参数错误: the parameters must be exactly {AUTHORIZE_PARAMETERS}, in that order")
        if query["appid"] != self.app_id:
            return _error_page("参数错误: unknown appid")
        redirect = urlsplit(query["redirect_uri"])
        if redirect.scheme not in ("http", "https") or redirect.hostname != self.callback_domain:
            return _error_page("10003 redirect_uri域名与后台配置不一致")
        if query["response_type"] != "code":
            return _error_page("参数错误: response_type must be code")
        if query["scope"] not in ("snsapi_base", "snsapi_userinfo"):
            return _error_page("10005 此公众号并没有这些scope的权限")
        if not STATE.fullmatch(query["state"]):
            return _error_page("参数错误: state must be a-zA-Z0-9, at most 128 bytes")
        answer = {"state": query["state"]}
        if not self.user_declines:
            code = secrets.token_hex(16)
            self.codes[code] = _Code(query["scope"], time.monotonic(), self.snapshot_mode)
            answer = {"code": code, **answer}
        separator = "&" if redirect.query else "?"
        return RedirectResponse(query["redirect_uri"] + separator + urlencode(answer), status_code=302)

    async def _access_token(self, request: Request) -> Response:
        self.calls.append(request.url.path)
        query = request.query_params
        if query.get("appid") != self.app_id:
            return _json({"errcode": 40013, "errmsg": "invalid appid"})
        if query.get("secret") != self.app_secret:
            return _json({"errcode": 40125, "errmsg": "invalid appsecret"})
        if query.get("grant_type") != "authorization_code":
            return _json({"errcode": 40002, "errmsg": "invalid grant_type"})
        code = self.codes.get(query.get("code", ""))
        if code is None or time.monotonic() - code.issued_at > CODE_TTL_S:
            return _json({"errcode": 40029, "errmsg": "invalid code"})
        if code.used:
            return _json({"errcode": 40163, "errmsg": "code been used"})
        code.used = True
        openid = "o" + secrets.token_hex(14) if code.snapshot else self.user.openid
        access_token = secrets.token_urlsafe(48)
        self.tokens[access_token] = (openid, code.scope)
        grant: dict[str, object] = {
            "access_token": access_token,
            "expires_in": 7200,
            "refresh_token": secrets.token_urlsafe(48),
            "openid": openid,
            "scope": code.scope,
        }
        if code.snapshot:
            grant["is_snapshotuser"] = 1
        return _json(grant)

    async def _userinfo(self, request: Request) -> Response:
        self.calls.append(request.url.path)
        query = request.query_params
        if "access_token" not in query:
            return _json({"errcode": 41001, "errmsg": "access_token missing"})
        holder = self.tokens.get(query["access_token"])
        if holder is None:
            return _json({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
        openid, scope = holder
        if query.get("openid") != openid:
            return _json({"errcode": 40003, "errmsg": "invalid openid"})
        if scope != "snsapi_userinfo":
            return _json({"errcode": 48001, "errmsg": "api unauthorized"})
        virtual = openid != self.user.openid
        # Since October 2021 sex and region come back empty.
        return _json(
            {
                "openid": openid,
                "nickname": VIRTUAL_NICKNAME if virtual else self.user.nickname,
                "sex": 0,
                "province": "",
                "city": "",
                "country": "",
                "headimgurl": VIRTUAL_AVATAR if virtual else self.user.headimgurl,
                "privilege": [],
            }
        )


def _json(body: dict[str, object]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type="text/plain")


def _error_page(message: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>微信</title><p>{message}</p>", status_code=400)


@contextlib.asynccontextmanager
async def running(fake: FakeWeChat) -> AsyncIterator[FakeWeChat]:
    """Serve `fake` on its loopback port for the block."""
    async with serving_app(fake.app(), fake.port, "fake WeChat"):
        yield fake


@contextlib.asynccontextmanager
async def serving_with(tmp_path: Path, wechat: FakeWeChat, **overrides: object) -> AsyncIterator[LiveServer]:
    """The interview server, with WeChat authorisation pointed at the fake (and `overrides`)."""
    values: dict[str, object] = {
        "wechat_app_id": wechat.app_id,
        "wechat_app_secret": wechat.app_secret,
        "wechat_open_base_url": wechat.url,
        "wechat_api_base_url": wechat.url,
    }
    async with serving(make_settings(tmp_path / "data", **{**values, **overrides})) as server:
        yield server
