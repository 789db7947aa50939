"""WeChat Official Account reminders: a template message (模板消息) or a one-time subscription message (一次性订阅消息).

Both go through the Official Account's server API with an access token, as WeChat documents it:
- The token comes from `POST /cgi-bin/stable_token` (getStableAccessToken), not `GET /cgi-bin/token`. Each node of a
  cluster keeps its own token, and with `/cgi-bin/token` every fetch starts retiring the tokens other nodes hold (they
  stop working 5 minutes later), so nodes would keep invalidating each other. The stable token is the same for every
  caller while it is valid, is renewed by WeChat in its last 5 minutes (old and new both work meanwhile), and carries
  the AppSecret in a POST body rather than in a URL. The token is fetched by one call at a time, renewed 5 minutes
  before it expires, and replaced once when WeChat answers 40001 / 40014 / 42001 (force_refresh only when WeChat hands
  back the very token it just refused, at most every 30 seconds: the forced mode is limited to 20 a day).
- A template message (`POST /cgi-bin/message/template/send`) reaches a candidate who follows the Official Account.
  The template is one the account chose from WeChat's library, with fixed labels; `template_keys` says which of its
  keywords holds the name, the job and the time, and each value is fitted to its keyword's type (thing1: 20 characters,
  time3: WeChat's time format, ...) since WeChat refuses a message with a value that does not fit (47003).
  `client_msg_id`, derived from the reminder's id, lets WeChat drop a repeat sent within 10 minutes.
- A one-time subscription message (`POST /cgi-bin/message/template/subscribe`) reaches any WeChat user who allowed it
  on WeChat's confirm page (`subscription_confirm_url` -> WeChat -> the redirect that `record_consent` checks). One
  consent is good for one message, so the channel takes the consent before sending (server/storage/wechat_subscriptions.py)
  and puts it back when WeChat did not spend it (busy, quota, timeout, cancelled). A send WeChat carried out but whose
  answer was lost spends it at WeChat while it is put back here; the retry then gets 43101 and fails, final.

The access token travels in the URL, as WeChat's API wants: httpx logs URLs at INFO, which the server keeps at WARNING
for libraries. Neither the AppSecret, the token nor a candidate's openid is logged here; reasons given to HR name
WeChat's errcode and what it means.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

import httpx

from server.domain.reminders import ChannelName, ReminderMessage, ReminderNotSent
from server.settings import WECHAT_TEMPLATE_KEYS
from server.storage.wechat_subscriptions import SubscriptionConsents

logger = logging.getLogger(__name__)

MessageKind = Literal["template", "subscription"]
TemplateField = Literal["name", "job", "time"]

TOKEN_PATH = "/cgi-bin/stable_token"
TEMPLATE_PATH = "/cgi-bin/message/template/send"
SUBSCRIBE_PATH = "/cgi-bin/message/template/subscribe"
CONFIRM_PATH = "/mp/subscribemsg"
MAX_RESPONSE_BYTES = 64 * 1024  # WeChat's answers here are a few hundred bytes
MAX_TOKEN_CHARS = 2048  # WeChat: keep at least 512 characters for a token
REFRESH_MARGIN_S = 300.0  # stable_token hands out the next token in the last 5 minutes of the current one
FORCE_REFRESH_SPACING_S = 30.0  # WeChat ignores forced refreshes closer together than this
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid credential, invalid access_token, access_token expired
SCENE_MAX = 10000  # WeChat: a scene is an integer from 0 to 10000
TITLE_MAX_CHARS = 15  # a subscription message's title
CONTENT_MAX_CHARS = 200  # a subscription message's text
RESERVED_TTL_S = 3600  # how long a confirm link stays good: the candidate follows it from the page that offers it
NO_CONSENT = "the candidate has not allowed a WeChat reminder"
DEFAULT_TEMPLATE_KEYS: Mapping[TemplateField, str] = WECHAT_TEMPLATE_KEYS

OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SPACES = re.compile(r"\s+")
_DIGITS = "0123456789"

# What an errcode means for the reminder: (retry?, what HR should know). Codes not listed are final.
_MESSAGE_CODES: dict[int, tuple[bool, str]] = {
    -1: (True, "WeChat was busy"),
    45009: (True, "the Official Account used up today's quota of this WeChat API"),
    45011: (True, "the Official Account called this WeChat API too often in the last minute"),
    43004: (False, "the candidate does not follow the Official Account, and template messages reach only followers"),
    43101: (False, "WeChat says the candidate has not allowed this reminder, or already received the one they allowed"),
    40003: (False, "WeChat does not know the candidate's account for this Official Account (invalid openid)"),
    47003: (False, "WeChat refused a value of the message: too long, or not in the format of its template keyword"),
    47001: (False, "WeChat could not read the message (data format error)"),
    40037: (False, "WeChat does not know the message template: check the template id"),
    43019: (False, "the candidate is on the Official Account's blocklist"),
    48001: (False, "the Official Account has no permission for this WeChat API"),
    40164: (False, "the server's IP address is not on the Official Account's IP allowlist"),
}
_TOKEN_CODES: dict[int, tuple[bool, str]] = {
    -1: (True, "WeChat was busy when asked for an access token"),
    45009: (True, "the Official Account used up today's quota of access tokens"),
    45011: (True, "the Official Account asked for access tokens too often in the last minute"),
    40001: (False, "WeChat did not accept the AppSecret"),
    40125: (False, "WeChat did not accept the AppSecret"),
    40013: (False, "WeChat does not know the AppID"),
    40164: (False, "the server's IP address is not on the Official Account's IP allowlist"),
    89503: (False, "WeChat wants an administrator of the Official Account to allow calls from this server's IP address"),
}
# Errors after which a consent is of no use: WeChat has none for that openid, or the openid is not the account's.
_CONSENT_GONE = frozenset({43101, 40003})


@dataclass(frozen=True, slots=True)
class WeChatMessageConfig:
    """The Official Account that sends reminders, its template, and where WeChat's two hosts are (tests run their own).

    `template_id`: a template message's template, or the one-time subscription template (WeChat console, interface
    permissions). `template_keys`: the template message's keywords for the name, the job and the time."""

    app_id: str
    app_secret: str = field(repr=False)
    template_id: str
    kind: MessageKind = "template"
    api_base: str = "https://api.weixin.qq.com"
    confirm_base: str = "https://mp.weixin.qq.com"
    template_keys: Mapping[TemplateField, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATE_KEYS))
    timeout_s: float = 10.0


class WeChatRefused(ReminderNotSent):
    """WeChat answered with an errcode; `errcode` None: no usable answer (unreachable, timed out, not JSON)."""

    def __init__(self, reason: str, *, retry: bool, errcode: int | None = None) -> None:
        super().__init__(reason, retry=retry)
        self.errcode = errcode


def _refused(code: int, table: Mapping[int, tuple[bool, str]], default: str) -> WeChatRefused:
    retry, words = table.get(code, (False, default))
    return WeChatRefused(f"{words} (errcode {code})", retry=retry, errcode=code)


class WeChatApi:
    """The Official Account's server API as the reminders use it: a stable access token, kept and renewed, and JSON
    POSTs answered with an errcode. Create with the config, `aclose()` at shutdown. `clock`: seconds, monotonic."""

    def __init__(self, config: WeChatMessageConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._base = config.api_base.rstrip("/")
        self._clock = clock
        self._http = httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False)
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._forced_at = -FORCE_REFRESH_SPACING_S

    async def aclose(self) -> None:
        await self._http.aclose()

    async def post(self, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        """POST `body` to `path` with the access token; WeChat's answer when its errcode is 0, else `WeChatRefused`.
        A token WeChat no longer accepts is replaced once and the call made again."""
        token = await self._current_token()
        answer = await self._exchange(path, body, token)
        code = _errcode(answer)
        if code in TOKEN_ERRORS:
            token = await self._replace_token(token)
            answer = await self._exchange(path, body, token)
            code = _errcode(answer)
            if code in TOKEN_ERRORS:
                raise WeChatRefused(f"WeChat refused a fresh access token too (errcode {code})", retry=True, errcode=code)
        if code != 0:
            raise _refused(code, _MESSAGE_CODES, "WeChat refused the message")
        return answer

    def _fresh(self) -> str | None:
        return self._token if self._token is not None and self._clock() < self._renew_at else None

    async def _current_token(self) -> str:
        if token := self._fresh():
            return token
        async with self._lock:  # one fetch, however many sends found the token stale at once
            return self._fresh() or await self._fetch_token(force=False)

    async def _replace_token(self, refused: str) -> str:
        async with self._lock:
            if (token := self._fresh()) and token != refused:
                return token  # another send replaced it meanwhile
            self._token = None
            token = await self._fetch_token(force=False)
            if token == refused and self._clock() - self._forced_at >= FORCE_REFRESH_SPACING_S:
                self._forced_at = self._clock()
                token = await self._fetch_token(force=True)
            return token

    async def _fetch_token(self, *, force: bool) -> str:
        asked_at = self._clock()
        body = {"grant_type": "client_credential", "appid": self._config.app_id, "secret": self._config.app_secret, "force_refresh": force}
        answer = await self._exchange(TOKEN_PATH, body, None)
        if code := _errcode(answer):
            refused = _refused(code, _TOKEN_CODES, "WeChat gave no access token")
            logger.warning("wechat: no access token: %s", refused.reason)
            raise refused
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS or not isinstance(expires_in, int) or expires_in <= 0:
            raise WeChatRefused("WeChat answered the access token request without a usable token", retry=True)
        self._token = token
        # 5 minutes early, so that the renewal is WeChat's next token; half the lifetime for a token that lives less.
        self._renew_at = asked_at + max(expires_in - REFRESH_MARGIN_S, expires_in / 2)
        logger.info("wechat: access token %s, valid %d s", "forced anew" if force else "fetched", expires_in)
        return token

    async def _exchange(self, path: str, body: Mapping[str, object], token: str | None) -> dict[str, Any]:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        params = {"access_token": token} if token is not None else None
        try:
            # httpx bounds each connect, write and read; this bounds the whole exchange, a slow trickle included.
            async with asyncio.timeout(self._config.timeout_s):
                status, received = await self._post(path, content, params)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise WeChatRefused("WeChat did not answer in time", retry=True) from exc
        except httpx.HTTPError as exc:
            raise WeChatRefused(f"WeChat unreachable ({type(exc).__name__})", retry=True) from exc
        if status != 200:
            raise WeChatRefused(f"WeChat answered HTTP {status}", retry=status >= 500 or status in (408, 429))
        try:
            # WeChat sends its JSON as text/plain at times: the body is parsed whatever the content type says.
            answer: Any = json.loads(received)
        except (ValueError, RecursionError) as exc:
            raise WeChatRefused("WeChat answered something other than JSON", retry=True) from exc
        if not isinstance(answer, dict):
            raise WeChatRefused("WeChat answered JSON that is not an object", retry=True)
        return answer

    async def _post(self, path: str, content: bytes, params: dict[str, str] | None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        async with self._http.stream("POST", self._base + path, content=content, params=params, headers=headers) as response:
            received = bytearray()
            async for chunk in response.aiter_bytes():
                received += chunk
                if len(received) > MAX_RESPONSE_BYTES:
                    raise WeChatRefused(f"WeChat answered more than {MAX_RESPONSE_BYTES} bytes", retry=True)
            return response.status_code, bytes(received)


def _errcode(answer: Mapping[str, Any]) -> int:
    code = answer.get("errcode", 0)
    try:
        return int(code)
    except (TypeError, ValueError):
        return -1


# The words of a reminder


def _plain(value: str) -> str:
    return _SPACES.sub(" ", value).strip() or "-"


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _offset(message: ReminderMessage) -> str:
    offset = message.local_start().strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def when_words(message: ReminderMessage) -> str:
    """The start in the candidate's language and time zone: `when_text()` in English, its Chinese form in Chinese."""
    if message.language != "zh":
        return message.when_text()
    local = message.local_start()
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（{message.timezone}，{_offset(message)}）"


def _fitted(keyword: str, field_name: TemplateField, message: ReminderMessage) -> str:
    """The value of a template keyword, fitted to the keyword's type: WeChat names keywords by type and number
    (thing1, time3, name2) and refuses a value that does not fit its type (47003). Keywords of old templates
    (keyword1, ...) take any text."""
    kind = keyword.rstrip(_DIGITS)
    if field_name == "time":
        if kind in ("time", "date"):
            local = message.local_start()
            return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"  # WeChat's time format, in any language
        value = when_words(message)
    else:
        value = _plain(message.candidate_name if field_name == "name" else message.job_title)
    if kind == "thing":
        return _clip(value, 20)
    if kind == "name":  # 10 Chinese characters, or 20 letters
        return _clip(value, 20 if value.isascii() else 10)
    return _clip(value, CONTENT_MAX_CHARS)


def template_data(message: ReminderMessage, keys: Mapping[TemplateField, str]) -> dict[str, dict[str, str]]:
    """A template message's `data`: {keyword: {"value": ...}} for the name, the job and the time."""
    return {keyword: {"value": _fitted(keyword, field_name, message)} for field_name, keyword in keys.items()}


def subscription_words(message: ReminderMessage) -> tuple[str, str]:
    """A subscription message's title (15 characters at most) and text (200 at most), in the candidate's language."""
    name, job = _clip(_plain(message.candidate_name), 20), _clip(_plain(message.job_title), 40)
    if message.language == "zh":
        title = "面试提醒"
        text = f"{name}，您好：您应聘「{job}」的视频面试将于{when_words(message)}开始。点此消息进入面试，可提前 15 分钟检查摄像头和麦克风。"
    else:
        title = "Your interview"
        text = f"Hello {name}, your video interview for {job} starts {when_words(message)}. Tap here to join."
    return title, _clip(text, CONTENT_MAX_CHARS)


def client_msg_id(message: ReminderMessage) -> str:
    """The reminder's id as WeChat's dedup key: one message per openid and key within 10 minutes. Hashed, since the
    reminder id's characters and length are ours and the key's are WeChat's."""
    return "r" + hashlib.sha256(message.reminder_id.encode()).hexdigest()[:31]


# The channels


class WeChatTemplateChannel:
    """Reminders as template messages to the candidate's openid (they must follow the Official Account)."""

    name: ChannelName = "wechat"

    def __init__(self, config: WeChatMessageConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._api = WeChatApi(config, clock=clock)

    async def aclose(self) -> None:
        await self._api.aclose()

    async def send(self, message: ReminderMessage, recipient: str) -> str | None:
        if not recipient:
            raise ReminderNotSent("the candidate did not open the interview in WeChat and share their account", retry=False)
        if not OPENID.fullmatch(recipient):
            raise ReminderNotSent("the candidate's WeChat account is not one the Official Account knows", retry=False)
        body: dict[str, object] = {
            "touser": recipient,
            "template_id": self._config.template_id,
            "url": message.join_url,
            "data": template_data(message, self._config.template_keys),
        }
        if message.reminder_id:
            body["client_msg_id"] = client_msg_id(message)
        try:
            answer = await self._api.post(TEMPLATE_PATH, body)
        except ReminderNotSent as exc:
            logger.warning("wechat: reminder %s not sent: %s", message.reminder_id, exc.reason)
            raise
        msgid = answer.get("msgid")
        logger.info("wechat: reminder %s sent as a template message", message.reminder_id)
        return None if msgid is None else str(msgid)


class WeChatSubscriptionChannel:
    """Reminders as one-time subscription messages: each spends one consent the candidate gave on WeChat's confirm page.

    `recipient`, when not empty, must be the openid that gave the consent (the candidate's, from web authorisation):
    a consent given by another WeChat user is dropped, since the reminder carries the candidate's invite link."""

    name: ChannelName = "wechat"

    def __init__(self, config: WeChatMessageConfig, consents: SubscriptionConsents, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._consents = consents
        self._api = WeChatApi(config, clock=clock)

    async def aclose(self) -> None:
        await self._api.aclose()

    async def send(self, message: ReminderMessage, recipient: str) -> str | None:
        template_id = self._config.template_id
        taken = await self._consents.take(message.interview_id, template_id)
        if taken is None:
            raise ReminderNotSent(NO_CONSENT, retry=False)
        openid, scene = taken
        if recipient and recipient != openid:
            logger.warning("wechat: reminder %s not sent: the consent came from another WeChat account", message.reminder_id)
            raise ReminderNotSent("the WeChat account that allowed the reminder is not the candidate's", retry=False)
        title, text = subscription_words(message)
        body = {
            "touser": openid,
            "template_id": template_id,
            "url": message.join_url,
            "scene": str(scene),
            "title": title,
            "data": {"content": {"value": text}},
        }
        try:
            answer = await self._api.post(SUBSCRIBE_PATH, body)
        except WeChatRefused as exc:
            if exc.errcode not in _CONSENT_GONE:  # WeChat did not spend it: a retry, or the next reminder, may use it
                await self._consents.grant(message.tenant, message.interview_id, openid, template_id, scene)
            logger.warning("wechat: reminder %s not sent: %s", message.reminder_id, exc.reason)
            raise
        except asyncio.CancelledError:  # the scheduler gave up waiting: whether WeChat sent it is unknown
            await asyncio.shield(self._consents.grant(message.tenant, message.interview_id, openid, template_id, scene))
            raise
        msgid = answer.get("msgid")
        logger.info("wechat: reminder %s sent as a subscription message (scene %d)", message.reminder_id, scene)
        return None if msgid is None else str(msgid)


def wechat_channel(
    config: WeChatMessageConfig, consents: SubscriptionConsents | None, *, clock: Callable[[], float] = time.monotonic
) -> WeChatTemplateChannel | WeChatSubscriptionChannel:
    """The channel `config.kind` asks for; subscription messages need the consents store."""
    if config.kind == "template":
        return WeChatTemplateChannel(config, clock=clock)
    if consents is None:
        raise ValueError("WeChat subscription messages need a consent store")
    return WeChatSubscriptionChannel(config, consents, clock=clock)


# The confirm flow: the candidate allows one message on WeChat's page, WeChat sends them back, the consent is kept


class InvalidConsent(Exception):
    """The confirm page's redirect cannot be taken as a consent; `reason` is safe to log and to show. `declined`: the
    candidate chose not to allow the reminder (a choice, not an error)."""

    def __init__(self, reason: str, *, declined: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.declined = declined


class ConsentReserved:
    """The `reserved` of a confirm link: MAC, expiry and interview id, in the [a-zA-Z0-9]{0,128} WeChat carries back.

    The redirect back from WeChat carries nothing signed by WeChat: whoever has a confirm link could otherwise send
    any openid to the redirect. So the MAC (HMAC-SHA256 under `key`, cut to 128 bits) covers the interview, the scene
    and an expiry, and only a link this server issued, not yet expired, for that scene, records a consent."""

    MAC_CHARS, EXPIRY_CHARS, MAX_CHARS = 32, 10, 128
    _SHAPE = re.compile(r"[0-9a-f]{32}[0-9]{10}[A-Za-z0-9]+")

    def __init__(self, key: str, ttl_s: float = RESERVED_TTL_S) -> None:
        self._key = key.encode()
        self._ttl_s = ttl_s

    @classmethod
    def fits(cls, interview_id: str) -> bool:
        return interview_id.isascii() and interview_id.isalnum() and len(interview_id) <= cls.MAX_CHARS - cls.MAC_CHARS - cls.EXPIRY_CHARS

    def issue(self, interview_id: str, scene: int, now: float | None = None) -> str:
        if not self.fits(interview_id):
            raise ValueError("an interview id in a WeChat confirm link must be letters and digits, at most 86 of them")
        expires_at = int((time.time() if now is None else now) + self._ttl_s)
        return f"{self._mac(interview_id, scene, expires_at)}{expires_at:010d}{interview_id}"

    def check(self, reserved: str, scene: int, now: float | None = None) -> str:
        """The interview id `reserved` was issued for, in `scene`; InvalidConsent otherwise."""
        if len(reserved) > self.MAX_CHARS or not self._SHAPE.fullmatch(reserved):
            raise InvalidConsent("the confirm link's reserved value is malformed")
        mac, expires_at = reserved[: self.MAC_CHARS], int(reserved[self.MAC_CHARS : self.MAC_CHARS + self.EXPIRY_CHARS])
        interview_id = reserved[self.MAC_CHARS + self.EXPIRY_CHARS :]
        if not hmac.compare_digest(mac, self._mac(interview_id, scene, expires_at)):
            raise InvalidConsent("the confirm link's reserved value was not issued by this server for this scene")
        if expires_at <= (time.time() if now is None else now):
            raise InvalidConsent("the confirm link has expired")
        return interview_id

    def _mac(self, interview_id: str, scene: int, expires_at: int) -> str:
        message = "\x00".join(("wechat-subscribe-reserved", interview_id, str(scene), str(expires_at))).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[: self.MAC_CHARS]


def subscription_confirm_url(
    config: WeChatMessageConfig, interview_id: str, scene: int, redirect_url: str, reserved: ConsentReserved
) -> str:
    """WeChat's page where the candidate allows one reminder, as WeChat documents it (open it inside WeChat). The
    redirect URL's domain must be one of the Official Account's business domains. `scene` (0 to 10000) tells consents
    apart: WeChat keeps one per user and scene, so each reminder wanted needs its own scene."""
    if not 0 <= scene <= SCENE_MAX:
        raise ValueError(f"a WeChat subscription scene is from 0 to {SCENE_MAX}")
    query = urlencode(
        {
            "action": "get_confirm",
            "appid": config.app_id,
            "scene": str(scene),
            "template_id": config.template_id,
            "redirect_url": redirect_url,
            "reserved": reserved.issue(interview_id, scene),
        },
        quote_via=quote,
        safe="",
    )
    return f"{config.confirm_base.rstrip('/')}{CONFIRM_PATH}?{query}#wechat_redirect"


@dataclass(frozen=True, slots=True)
class ConfirmedConsent:
    interview_id: str
    openid: str = field(repr=False)
    template_id: str
    scene: int


def confirmed_consent(
    query: Mapping[str, str], config: WeChatMessageConfig, reserved: ConsentReserved, now: float | None = None
) -> ConfirmedConsent:
    """The consent in the redirect back from WeChat's confirm page (openid, template_id, action, scene, reserved), or
    InvalidConsent: a reserved value this server did not issue, a scene or template not asked for, a cancel."""
    scene_text = query.get("scene", "")
    if not (scene_text.isascii() and scene_text.isdigit() and len(scene_text) <= 5 and int(scene_text) <= SCENE_MAX):
        raise InvalidConsent("the redirect has no valid scene")
    scene = int(scene_text)
    interview_id = reserved.check(query.get("reserved", ""), scene, now)
    action = query.get("action", "")
    if action == "cancel":
        raise InvalidConsent("the candidate did not allow the reminder", declined=True)
    if action != "confirm":
        raise InvalidConsent("the redirect's action is neither confirm nor cancel")
    if query.get("template_id") != config.template_id:
        raise InvalidConsent("the redirect is for another template than the reminder's")
    openid = query.get("openid", "")
    if not OPENID.fullmatch(openid):
        raise InvalidConsent("the redirect has no valid openid")
    return ConfirmedConsent(interview_id, openid, config.template_id, scene)


async def record_consent(
    query: Mapping[str, str],
    config: WeChatMessageConfig,
    reserved: ConsentReserved,
    consents: SubscriptionConsents,
    tenant_of: Callable[[str], Awaitable[str | None]],
    now: float | None = None,
) -> str:
    """Check the redirect back from WeChat's confirm page and keep the consent; returns the interview id.
    `tenant_of` gives an interview's tenant, or None when it no longer exists. Raises InvalidConsent."""
    consent = confirmed_consent(query, config, reserved, now)
    tenant = await tenant_of(consent.interview_id)
    if tenant is None:
        raise InvalidConsent("the interview no longer exists")
    await consents.grant(tenant, consent.interview_id, consent.openid, consent.template_id, consent.scene)
    logger.info("wechat: interview %s: the candidate allowed one reminder (scene %d)", consent.interview_id, consent.scene)
    return consent.interview_id
