"""Who a candidate is in WeChat, while they fill in a job's registration form: the openid, nickname and avatar that
WeChat's web authorisation gave, kept in this browser only, in a cookie signed for that one job link and an hour.

The form fills in the nickname, the page shows the avatar, and the application keeps all three: the interview's
WeChat profile (what HR see, and where template-message reminders go) once the candidate is invited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

COOKIE = "wechat_applicant"
COOKIE_PATH = "/api/v1/applications/"
TTL_S = 3600
MAC_CHARS = 32
MAX_COOKIE_CHARS = 3000


@dataclass(frozen=True, slots=True)
class WeChatApplicant:
    openid: str
    nickname: str
    avatar_url: str


def _mac(key: str, payload: str, job_token: str) -> str:
    message = "\x00".join(("wechat-applicant", payload, job_token)).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:MAC_CHARS]


def seal_applicant(applicant: WeChatApplicant, key: str, job_token: str, now: float) -> str:
    data = [applicant.openid, applicant.nickname, applicant.avatar_url, int(now + TTL_S)]
    payload = base64.urlsafe_b64encode(json.dumps(data, ensure_ascii=False).encode()).decode().rstrip("=")
    return f"{payload}.{_mac(key, payload, job_token)}"


def open_applicant(cookie: str | None, key: str, job_token: str, now: float) -> WeChatApplicant | None:
    """The applicant the cookie names, when this server signed it for `job_token` and it has not expired."""
    if not cookie or len(cookie) > MAX_COOKIE_CHARS or "." not in cookie:
        return None
    payload, mac = cookie.rsplit(".", 1)
    if not hmac.compare_digest(mac, _mac(key, payload, job_token)):
        return None
    try:
        openid, nickname, avatar_url, expires_at = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(expires_at, int) or expires_at <= now:
        return None
    return WeChatApplicant(str(openid), str(nickname)[:100], str(avatar_url)[:500])
