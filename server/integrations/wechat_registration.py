"""WeChat web authorisation on a job's registration page: the candidate's nickname and avatar fill in the form.

`/apply/{token}` in WeChat's browser offers "use my WeChat profile" (offered, never forced, as WeChat's rules ask)
-> `/wechat/apply/start?job=TOKEN` -> WeChat's consent screen -> `/wechat/apply/callback?code=&state=` -> the
profile, in a cookie signed for this job link (`server/domain/wechat_applicant.py`) -> back to `/apply/{token}`.
Whatever goes wrong, the candidate lands back on the form: the profile is a nicety, never a gate.
"""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import quote

import httpx
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.domain.job_links import InvalidJobLink, JobLinkSigner
from server.domain.wechat_applicant import COOKIE, COOKIE_PATH, TTL_S, WeChatApplicant, seal_applicant
from server.integrations.wechat_oauth import (
    NO_STORE,
    REQUEST_TIMEOUT_S,
    InvalidState,
    OAuthState,
    WeChatApp,
    WeChatError,
    WeChatOAuthClient,
)
from server.settings import Settings
from server.web.context import services_of
from server.web.problems import Problem

logger = logging.getLogger(__name__)

START_PATH = "/wechat/apply/start"
CALLBACK_PATH = "/wechat/apply/callback"
FLOW_COOKIE, FLOW_COOKIE_TTL_S = "wechat_apply", 3600


def _secure(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def _app(settings: Settings) -> WeChatApp:
    app = WeChatApp.from_settings(settings)
    if app is None:
        raise Problem(404, "wechat_not_configured", "WeChat authorisation is not configured on this server")
    return app


async def start(request: Request) -> Response:
    """`GET /wechat/apply/start?job=TOKEN`: check the job link, then send the browser to WeChat's consent screen."""
    services = services_of(request)
    app = _app(services.settings)
    token = request.query_params.get("job", "")
    try:
        JobLinkSigner(services.settings.signing_key()).verify(token)
    except InvalidJobLink as exc:
        raise Problem(404, "job_link_invalid", "this job's link is not valid or has expired") from exc
    state = OAuthState(services.settings.signing_key()).issue(secrets.token_hex(16), token)
    response = RedirectResponse(app.authorize_url(services.settings.base_url + CALLBACK_PATH, state), status_code=302, headers=NO_STORE)
    response.set_cookie(
        FLOW_COOKIE, token, max_age=FLOW_COOKIE_TTL_S, path=CALLBACK_PATH, httponly=True, samesite="lax", secure=_secure(services.settings)
    )
    return response


async def callback(request: Request) -> Response:
    """`GET /wechat/apply/callback?code=&state=`: the profile into this browser's signed cookie, then back to the form."""
    services = services_of(request)
    app = _app(services.settings)
    settings = services.settings
    token = request.cookies.get(FLOW_COOKIE, "")
    try:
        JobLinkSigner(settings.signing_key()).verify(token)
    except InvalidJobLink as exc:
        raise Problem(
            400, "invalid_oauth_state", "this WeChat authorisation was not started in this browser; open the job's link again"
        ) from exc
    back = RedirectResponse(f"/apply/{quote(token, safe='')}", status_code=302, headers=NO_STORE)
    back.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH, httponly=True, samesite="lax", secure=_secure(settings))
    try:
        OAuthState(settings.signing_key()).check(request.query_params.get("state", ""), token)
    except InvalidState as exc:
        logger.warning("wechat registration: callback refused, %s", exc.reason)
        return back
    code = request.query_params.get("code")
    if not code:
        return back  # the candidate declined
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
        wechat = WeChatOAuthClient(http, app)
        try:
            grant = await wechat.exchange_code(code)
            if grant.is_snapshotuser == 1:
                return back  # a snapshot-mode visitor: a virtual account, nothing to fill in
            user = await wechat.user_info(grant)
        except WeChatError as exc:
            logger.warning("wechat registration: no profile, %s", exc)
            return back
    avatar = user.headimgurl if user.headimgurl.startswith(("https://", "http://")) else ""
    sealed = seal_applicant(WeChatApplicant(user.openid, user.nickname, avatar), settings.signing_key(), token, time.time())
    back.set_cookie(COOKIE, sealed, max_age=TTL_S, path=COOKIE_PATH, httponly=True, samesite="lax", secure=_secure(settings))
    logger.info("wechat registration: profile kept in the applicant's browser")
    return back
