"""WeChat web authorisation (snsapi_userinfo) for candidates who open their invite in WeChat: nickname and avatar.

The flow, when INTERVIEW_WECHAT_APP_ID and INTERVIEW_WECHAT_APP_SECRET are set:
`/i/{token}` in WeChat's browser offers a button (its hello says `wechat_login_url`; never a forced redirect, which
WeChat's rules forbid) -> `/wechat/oauth/start?token=` -> WeChat's consent screen
-> `/wechat/oauth/callback?code=&state=` -> code for access_token -> userinfo -> stored -> back to `/i/{token}`.
Whatever goes wrong after the start (the candidate declines, WeChat refuses the code), the candidate lands on
the invite page anyway: the profile is a nicety, never a gate to the interview.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response

from server.domain.interview import Interview, InterviewStatus
from server.domain.invites import InvalidInvite, InviteClaims, InviteSigner
from server.settings import Settings
from server.web.context import services_of
from server.web.problems import Problem

logger = logging.getLogger(__name__)

SCOPE = "snsapi_userinfo"
START_PATH = "/wechat/oauth/start"
CALLBACK_PATH = "/wechat/oauth/callback"
WECHAT_BROWSER = "MicroMessenger"  # in the user agent of WeChat's in-app browser
STATE_TTL_S = 600  # WeChat's code lives 5 minutes; a candidate may read the consent screen a while first
# The candidate's invite token, from start to callback, so that a state on its own (WeChat and logs see it) is worth nothing.
FLOW_COOKIE, FLOW_COOKIE_TTL_S = "wechat_oauth", 3600
# The interview whose candidate was already asked: one who declined is not asked again on every visit.
ASKED_COOKIE = "wechat_oauth_asked"
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
REQUEST_TIMEOUT_S = 10.0

Model = TypeVar("Model", bound=BaseModel)


class WeChatError(Exception):
    """WeChat answered with an errcode (40029 invalid code, 40163 code been used, ...), or not usefully at all (-1)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatGrant(BaseModel):
    """`sns/oauth2/access_token`'s answer: the web-authorisation access token (not the Official Account's)."""

    access_token: str
    expires_in: int
    refresh_token: str
    openid: str
    scope: str
    unionid: str | None = None
    # 1: the page was open in WeChat's snapshot mode (how WeChat answers authorisation asked for before the user
    # engaged with the page); the openid, nickname and avatar are then a virtual account's, not the user's.
    is_snapshotuser: int = 0


class WeChatUser(BaseModel):
    """`sns/userinfo`'s answer, the parts kept (since October 2021 sex and region come back empty)."""

    openid: str
    nickname: str
    headimgurl: str = ""
    unionid: str | None = None


@dataclass(frozen=True, slots=True)
class WeChatApp:
    """An Official Account's credentials and where WeChat's two hosts are (configurable, so tests run their own)."""

    app_id: str
    app_secret: str
    open_base_url: str = "https://open.weixin.qq.com"
    api_base_url: str = "https://api.weixin.qq.com"

    @classmethod
    def from_settings(cls, settings: Settings) -> WeChatApp | None:
        """The app when both AppID and AppSecret are set, else None (the feature is off)."""
        if not settings.wechat_app_id or settings.wechat_app_secret is None:
            return None
        return cls(
            settings.wechat_app_id,
            settings.wechat_app_secret.get_secret_value(),
            settings.wechat_open_base_url.rstrip("/"),
            settings.wechat_api_base_url.rstrip("/"),
        )

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        # WeChat matches this URL strictly: the parameters in exactly this order, redirect_uri percent-encoded whole.
        query = urlencode(
            {"appid": self.app_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": SCOPE, "state": state},
            quote_via=quote,
            safe="",
        )
        return f"{self.open_base_url}/connect/oauth2/authorize?{query}#wechat_redirect"


class WeChatOAuthClient:
    """The two server-side calls of web authorisation, on an httpx client its owner creates and closes."""

    def __init__(self, http: httpx.AsyncClient, app: WeChatApp) -> None:
        self._http = http
        self._app = app

    async def exchange_code(self, code: str) -> WeChatGrant:
        """The code from the callback (single use, 5 minutes) for an access token and the user's openid."""
        params = {"appid": self._app.app_id, "secret": self._app.app_secret, "code": code, "grant_type": "authorization_code"}
        return await self._get("/sns/oauth2/access_token", params, WeChatGrant)

    async def user_info(self, grant: WeChatGrant) -> WeChatUser:
        """The user's nickname and avatar; needs a grant of scope snsapi_userinfo."""
        params = {"access_token": grant.access_token, "openid": grant.openid, "lang": "zh_CN"}
        user = await self._get("/sns/userinfo", params, WeChatUser)
        if user.openid != grant.openid:
            raise WeChatError(-1, "userinfo answered for another user than the grant's")
        return user

    async def _get(self, path: str, params: dict[str, str], model: type[Model]) -> Model:
        try:
            response = await self._http.get(self._app.api_base_url + path, params=params)
        except httpx.HTTPError as exc:
            raise WeChatError(-1, f"{path} unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise WeChatError(-1, f"{path} answered HTTP {response.status_code}")
        try:
            # WeChat sends its JSON as text/plain at times: the body is parsed whatever the content type says.
            body: Any = json.loads(response.content)
        except (ValueError, RecursionError) as exc:
            raise WeChatError(-1, f"{path} answered something other than JSON") from exc
        if not isinstance(body, dict):
            raise WeChatError(-1, f"{path} answered JSON that is not an object")
        if body.get("errcode"):
            raise WeChatError(int(body["errcode"]), str(body.get("errmsg", "")))
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise WeChatError(-1, f"{path} answered without {', '.join(str(e['loc'][0]) for e in exc.errors())}") from exc


class InvalidState(Exception):
    """The callback's state is malformed, forged, for another invite, or expired; `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OAuthState:
    """The `state` of one authorisation: MAC, expiry and interview id, in the [a-zA-Z0-9]{0,128} WeChat accepts.

    The MAC (HMAC-SHA256, cut to 128 bits) covers the interview, the expiry and the candidate's invite token,
    which stays in this browser's cookie: a state is good only together with the invite it was started from.
    """

    MAC_CHARS, EXPIRY_CHARS, MAX_CHARS = 32, 10, 128
    _SHAPE = re.compile(r"[0-9a-f]{32}[0-9]{10}[A-Za-z0-9]+")

    def __init__(self, key: str, ttl_s: float = STATE_TTL_S) -> None:
        self._key = key.encode()
        self._ttl_s = ttl_s

    def issue(self, interview_id: str, invite_token: str, now: float | None = None) -> str:
        if not self.fits(interview_id):
            raise ValueError("an interview id in a WeChat state must be letters and digits, at most 86 of them")
        expires_at = int((time.time() if now is None else now) + self._ttl_s)
        return f"{self._mac(interview_id, expires_at, invite_token)}{expires_at:010d}{interview_id}"

    @classmethod
    def fits(cls, interview_id: str) -> bool:
        return interview_id.isascii() and interview_id.isalnum() and len(interview_id) <= cls.MAX_CHARS - cls.MAC_CHARS - cls.EXPIRY_CHARS

    def check(self, state: str, invite_token: str, now: float | None = None) -> str:
        """The interview id the state was issued for, with `invite_token`; InvalidState otherwise."""
        if len(state) > self.MAX_CHARS or not self._SHAPE.fullmatch(state):
            raise InvalidState("state is malformed")
        mac, expires_at = state[: self.MAC_CHARS], int(state[self.MAC_CHARS : self.MAC_CHARS + self.EXPIRY_CHARS])
        interview_id = state[self.MAC_CHARS + self.EXPIRY_CHARS :]
        if not hmac.compare_digest(mac, self._mac(interview_id, expires_at, invite_token)):
            raise InvalidState("state does not match this browser's invite")
        if expires_at <= (time.time() if now is None else now):
            raise InvalidState("state has expired")
        return interview_id

    def _mac(self, interview_id: str, expires_at: int, invite_token: str) -> str:
        message = "\x00".join(("wechat-oauth-state", interview_id, str(expires_at), invite_token)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[: self.MAC_CHARS]


def wechat_login_offer(connection: HTTPConnection, interview: Interview, token: str) -> str | None:
    """Where the candidate page's "use my WeChat name and photo" button leads, or None when not to offer it.

    Offered, never forced: WeChat's rules (since July 2022) treat asking for snsapi_userinfo as soon as a page opens
    as forced login, and then answer with a snapshot-mode stand-in. So only when WeChat is configured, the page is open
    in WeChat's browser, the interview has not started, and this browser was not already asked (a candidate who
    declined is not asked again on every visit). The caller checks that no profile is stored yet (it reads it anyway).
    """
    services = services_of(connection)
    if WeChatApp.from_settings(services.settings) is None or WECHAT_BROWSER not in connection.headers.get("user-agent", ""):
        return None
    if interview.status != InterviewStatus.SCHEDULED or not OAuthState.fits(interview.id):
        return None
    if connection.cookies.get(ASKED_COOKIE) == interview.id:
        return None
    return f"{START_PATH}?{urlencode({'token': token})}"


async def start(request: Request) -> Response:
    """`GET /wechat/oauth/start?token=INVITE`: check the invite, then send the browser to WeChat's consent screen."""
    services = services_of(request)
    app = _configured(services.settings)
    token = request.query_params.get("token", "")
    if not token:
        raise Problem(400, "missing_token", "the token query parameter (the invite token) is required")
    try:
        claims = services.signer.verify(token)
    except InvalidInvite as exc:
        raise Problem(401, "invalid_token", exc.reason) from exc
    interview = await services.store.get_interview(claims.interview_id)
    if interview is None:
        raise Problem(404, "interview_not_found", "this interview no longer exists")
    if not OAuthState.fits(interview.id):
        raise Problem(409, "wechat_unsupported", "this interview's id cannot be carried through WeChat authorisation")
    state = OAuthState(services.settings.signing_key()).issue(interview.id, token)
    response = RedirectResponse(app.authorize_url(services.settings.base_url + CALLBACK_PATH, state), status_code=302, headers=NO_STORE)
    response.set_cookie(
        FLOW_COOKIE, token, max_age=FLOW_COOKIE_TTL_S, path=CALLBACK_PATH, httponly=True, samesite="lax", secure=_secure(services.settings)
    )
    logger.info("wechat oauth: interview %s sent to authorisation", interview.id)
    return response


async def callback(request: Request) -> Response:
    """`GET /wechat/oauth/callback?code=&state=`: store the candidate's nickname and avatar, then back to the invite.

    Without this browser's flow cookie (or with an invite no longer valid) there is no invite to go back to: 400.
    Otherwise the candidate goes back to the invite page whatever happens; the profile is stored only when the state
    matches the invite and WeChat answers both calls.
    """
    services = services_of(request)
    app = _configured(services.settings)
    token = request.cookies.get(FLOW_COOKIE, "")
    claims = _verified(services.signer, token)
    if claims is None:
        raise Problem(
            400, "invalid_oauth_state", "this WeChat authorisation was not started in this browser; open the interview link again"
        )
    back = _back_to_invite(token, claims, services.settings)
    try:
        interview_id = OAuthState(services.settings.signing_key()).check(request.query_params.get("state", ""), token)
    except InvalidState as exc:
        logger.warning("wechat oauth: interview %s: callback refused, %s", claims.interview_id, exc.reason)
        return back
    if interview_id != claims.interview_id:  # cannot happen unless the signing key is out: the MAC covers the token
        logger.warning("wechat oauth: interview %s: callback refused, state for another interview", claims.interview_id)
        return back
    code = request.query_params.get("code")
    if not code:  # WeChat's answer when the user declines: the state, and no code
        logger.info("wechat oauth: interview %s: the candidate declined", interview_id)
        return back
    if await services.store.get_interview(interview_id) is None:
        return back  # erased meanwhile: the invite page says so
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
        wechat = WeChatOAuthClient(http, app)
        try:
            grant = await wechat.exchange_code(code)
            if grant.is_snapshotuser == 1:
                logger.info("wechat oauth: interview %s: nothing stored, a snapshot-mode visitor (virtual account)", interview_id)
                return back
            user = await wechat.user_info(grant)
        except WeChatError as exc:
            logger.warning("wechat oauth: interview %s: nothing stored, %s", interview_id, exc)
            return back
    avatar = user.headimgurl if user.headimgurl.startswith(("https://", "http://")) else ""
    await services.store.save_wechat_profile(interview_id, user.openid, user.nickname, avatar)
    logger.info("wechat oauth: interview %s: profile stored", interview_id)
    return back


def _configured(settings: Settings) -> WeChatApp:
    app = WeChatApp.from_settings(settings)
    if app is None:
        raise Problem(404, "wechat_not_configured", "WeChat authorisation is not configured on this server")
    return app


def _verified(signer: InviteSigner, token: str) -> InviteClaims | None:
    if not token:
        return None
    try:
        return signer.verify(token)
    except InvalidInvite:
        return None


def _back_to_invite(token: str, claims: InviteClaims, settings: Settings) -> Response:
    response = RedirectResponse(f"/i/{quote(token, safe='')}", status_code=302, headers=NO_STORE)
    secure = _secure(settings)
    response.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH, httponly=True, samesite="lax", secure=secure)
    response.set_cookie(
        ASKED_COOKIE,
        claims.interview_id,
        max_age=max(0, claims.expires_at - int(time.time())),
        path="/i",
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    return response


def _secure(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")
