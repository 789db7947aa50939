"""Feishu Hire (飞书招聘) as an assessment provider: the protocol of Feishu's Open Platform for "eco" exam partners.

Sources (Feishu Open Platform documentation, and its official SDKs larksuite/oapi-sdk-python and oapi-sdk-go):
- Events, webhook mode: v2.0 envelope {schema, header {event_id, event_type, create_time, token, app_id, tenant_key},
  event}; with an Encrypt Key the body is {"encrypt": base64(iv ‖ AES-256-CBC(PKCS7(json)))} with key
  SHA-256(encrypt key), and X-Lark-Signature = hex(SHA-256(X-Lark-Request-Timestamp ‖ X-Lark-Request-Nonce ‖
  encrypt key ‖ raw body)); URL verification is {challenge, token, type: "url_verification"}, answered with the
  challenge. Feishu redelivers an event that was not answered 200 in time, with the same event_id.
- `hire.eco_account.created_v1` (a customer bound the provider's account: scope 2 is exams) and
  `hire.eco_exam.created_v1` (HR arranged an exam: exam_id, account_id, paper_id, candidate_info {name, mobile
  {code, number}, email}).
- `POST /open-apis/hire/v1/eco_exam_papers` {account_id, paper_list [{id, name, duration, question_count}]}: the papers
  HR can pick (each call replaces the list); `POST /open-apis/hire/v1/eco_exams/{exam_id}/login_info` {result: 0,
  msg, exam_login_info {exam_url}}: the candidate's entry link; `POST /open-apis/hire/v1/eco_exams/{exam_id}/update_result`
  {result: "0"–"100", result_time (ms), report_list [{name, url, answer_time}], detail_list [{id, name, result}]}:
  the result (a later call overwrites it).
- `POST /open-apis/auth/v3/tenant_access_token/internal` {app_id, app_secret} → {code, tenant_access_token, expire (s)}:
  sent as `Authorization: Bearer`; cached until shortly before it expires, fetched again at once when Feishu calls it
  invalid (codes 99991661, 99991663, 99991664, 99991668, 99991671). Every answer is {code, msg, data}, code 0 for
  success; rate limits answer 429 (or 400) with code 99991400 and `x-ogw-ratelimit-reset` seconds.

Each company binds its own self-built Feishu app (INTERVIEW_FEISHU_HIRE_APPS_FILE), which names the tenant here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter

from hrms_bridge.connectors.base import CallForResponse, InterviewFacts
from hrms_bridge.retrying import Outcome, Send
from server.storage.ats_writebacks import LINK, PAPERS, RESULT, WriteBack

NAME = "feishu_hire"
ACCOUNT_CREATED = "hire.eco_account.created_v1"
EXAM_CREATED = "hire.eco_exam.created_v1"
EXAM_SCOPE = 2  # eco_account scope: 1 background checks, 2 exams
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
TOKEN_INVALID = frozenset({99991661, 99991663, 99991664, 99991668, 99991671})
RATE_LIMITED = 99991400
REFRESH_BEFORE_S = 300.0  # a token is fetched again this long before it expires (Feishu's last 30 minutes give a new one)


class FeishuHireApp(BaseModel):
    """One company's self-built Feishu app, bound to a tenant here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = Field(min_length=1, max_length=64)
    app_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")
    app_secret: SecretStr
    encrypt_key: SecretStr | None = None  # None: events arrive in plain JSON, checked by the verification token alone
    verification_token: SecretStr
    api_base_url: str = "https://open.feishu.cn"  # https://open.larksuite.com for Lark


def load_apps(path: Path) -> dict[str, FeishuHireApp]:
    """INTERVIEW_FEISHU_HIRE_APPS_FILE: a JSON list of apps (a file only the service user can read), by app id."""
    apps = TypeAdapter(list[FeishuHireApp]).validate_json(path.read_bytes())
    return {app.app_id: app for app in apps}


class EventRefused(ValueError):
    """An event that is not Feishu's: a bad signature, a token that does not match, a body that does not decrypt."""


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    """An `encrypt` value opened: AES-256-CBC with SHA-256(encrypt key), the IV its first 16 bytes, PKCS7 padding."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EventRefused("the encrypted event is not base64") from exc
    if len(raw) < 32 or len(raw) % 16:
        raise EventRefused("the encrypted event is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(hashlib.sha256(encrypt_key.encode()).digest()), modes.CBC(raw[:16])).decryptor()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise EventRefused("the encrypted event does not decrypt with this app's Encrypt Key") from exc


def open_event(app: FeishuHireApp, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The event Feishu sent `app`, checked: signature (with an Encrypt Key; URL verification may come without one),
    decryption, verification token. Raises EventRefused."""
    try:
        outer = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EventRefused("the body is not JSON") from exc
    if not isinstance(outer, dict):
        raise EventRefused("the body is not a JSON object")
    signed = headers.get("x-lark-signature")
    if app.encrypt_key is not None:
        key = app.encrypt_key.get_secret_value()
        if not isinstance(outer.get("encrypt"), str):
            raise EventRefused("this app has an Encrypt Key, so events must come encrypted")
        if signed is not None:
            expected = signature(headers.get("x-lark-request-timestamp", ""), headers.get("x-lark-request-nonce", ""), key, body)
            if not hmac.compare_digest(expected, signed.strip().lower()):
                raise EventRefused("X-Lark-Signature does not match")
        try:
            event = json.loads(decrypt(key, outer["encrypt"]))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EventRefused("the decrypted event is not JSON") from exc
        if not isinstance(event, dict):
            raise EventRefused("the decrypted event is not a JSON object")
        if signed is None and event.get("type") != "url_verification":
            raise EventRefused("events must carry X-Lark-Signature")  # only URL verification comes unsigned
    else:
        event = outer
    token = event.get("token") if event.get("type") == "url_verification" else (event.get("header") or {}).get("token")
    if not isinstance(token, str) or not hmac.compare_digest(token, app.verification_token.get_secret_value()):
        raise EventRefused("the verification token does not match this app's")
    return event


@dataclass
class _Token:
    value: str
    expires_at: float


class TenantTokens:
    """Each app's tenant access token, fetched once and shared until shortly before it expires; dropped when Feishu
    says it is invalid. One fetch per app at a time."""

    def __init__(self) -> None:
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.clock: Callable[[], float] = time.time

    def drop(self, app_id: str, value: str) -> None:
        if (held := self._tokens.get(app_id)) is not None and held.value == value:
            del self._tokens[app_id]

    async def token(self, app: FeishuHireApp, call: CallForResponse) -> tuple[str | None, Outcome | None]:
        """A valid token, or None with the outcome of the failed fetch."""
        async with self._locks.setdefault(app.app_id, asyncio.Lock()):
            held = self._tokens.get(app.app_id)
            if held is not None and held.expires_at - REFRESH_BEFORE_S > self.clock():
                return held.value, None
            url = app.api_base_url + TOKEN_PATH
            body = {"app_id": app.app_id, "app_secret": app.app_secret.get_secret_value()}
            outcome, response = await call(url, lambda client: client.post(url, json=body))
            data = _envelope(response)
            answer = _answer(outcome, response, data)
            if not answer.success:
                return None, answer
            assert response is not None
            value, expire = data.get("tenant_access_token"), data.get("expire")
            if not isinstance(value, str) or not isinstance(expire, int | float):
                return None, Outcome(response.status_code, "Feishu's token answer lacks tenant_access_token or expire", None, refused=True)
            self._tokens[app.app_id] = _Token(value, self.clock() + float(expire))
            return value, None


def _envelope(response: httpx.Response | None) -> dict[str, Any]:
    """Feishu's {code, msg, data} answer; empty when there was no answer or it is not JSON."""
    try:
        body = response.json() if response is not None else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _answer(outcome: Outcome, response: httpx.Response | None, body: dict[str, Any]) -> Outcome:
    """An answer of Feishu's API as an outcome: its `code` decides (0 is success), and a rate limit says when to retry."""
    if response is None:
        return outcome
    code = body.get("code")
    retry_after = outcome.retry_after_s
    reset = response.headers.get("x-ogw-ratelimit-reset", "")
    if reset.isdigit():
        retry_after = max(retry_after or 0.0, float(reset))
    if code == 0 and outcome.success:
        return outcome
    if code is None:
        return Outcome(response.status_code, outcome.error or "Feishu's answer is not its JSON envelope", retry_after, refused=True)
    message = body.get("msg", "")
    return Outcome(response.status_code, f"Feishu code {code}: {message}"[:500], retry_after, refused=True)


def _authorised_post(url: str, body: Mapping[str, Any], token: str) -> Send:
    return lambda client: client.post(url, json=body, headers={"authorization": f"Bearer {token}"})


def milliseconds(epoch_s: float) -> str:
    return str(int(epoch_s * 1000))


def result_body(facts: InterviewFacts) -> dict[str, Any]:
    """update_result's body: the overall score (0–100), when, the report link, and the recommendation beside it."""
    completed = milliseconds(facts.completed_at if facts.completed_at is not None else time.time())
    details = [{"id": "recommendation", "name": "Recommendation · 建议", "result": facts.recommendation or "—"}]
    if facts.score is None:
        details.append({"id": "note", "name": "Note · 说明", "result": "No answer could be scored · 没有可评分的回答"})
    if facts.summary:
        details.append({"id": "reasons", "name": "Reasons · 理由", "result": facts.summary[:500]})
    return {
        "result": f"{facts.score:.1f}" if facts.score is not None else "0",
        "result_time": completed,
        "report_list": [
            {"name": f"AI interview report · AI 面试报告: {facts.candidate_name}", "url": facts.report_url, "answer_time": completed}
        ],
        "detail_list": details,
    }


class FeishuHireConnector:
    """Write-backs to Feishu Hire, with the app's token: an exam's entry link (login_info) and result (update_result),
    an exam account's papers (eco_exam_papers).

    target: {"app_id"} and {"exam_id"} for an exam, with {"exam_url"} for its link; {"account_id", "papers"} (the
    papers as JSON) for an account.
    """

    name = NAME

    def __init__(self, apps: Mapping[str, FeishuHireApp]) -> None:
        self.apps = dict(apps)
        self.tokens = TenantTokens()

    async def write_back(self, item: WriteBack, facts: InterviewFacts | None, call: CallForResponse) -> Outcome:
        app = self.apps.get(item.target.get("app_id", ""))
        if app is None:
            return Outcome(None, f"Feishu app {item.target.get('app_id')!r} is not set up on this node", None)
        if item.action == PAPERS:
            return await self.publish_papers(app, item.target["account_id"], json.loads(item.target["papers"]), call)
        exam_id = item.target["exam_id"]
        if item.action == LINK:
            path = f"/open-apis/hire/v1/eco_exams/{exam_id}/login_info"
            body: dict[str, Any] = {"result": 0, "msg": "success", "exam_login_info": {"exam_url": item.target["exam_url"]}}
        elif item.action == RESULT and facts is not None:
            path, body = f"/open-apis/hire/v1/eco_exams/{exam_id}/update_result", result_body(facts)
        else:
            return Outcome(None, f"Feishu Hire takes no {item.action!r} write-back", None)
        return await self.post(app, path, body, call)

    async def post(self, app: FeishuHireApp, path: str, body: Mapping[str, Any], call: CallForResponse) -> Outcome:
        """One authorised POST to Feishu's API; a token Feishu calls invalid is dropped and the call made once more."""
        url = app.api_base_url + path
        for _ in range(2):
            token, failed = await self.tokens.token(app, call)
            if token is None:
                assert failed is not None
                return failed
            outcome, response = await call(url, _authorised_post(url, body, token))
            answer = _envelope(response)
            if isinstance(code := answer.get("code"), int) and code in TOKEN_INVALID:
                self.tokens.drop(app.app_id, token)
                continue
            return _answer(outcome, response, answer)
        return Outcome(None, "Feishu refused a freshly fetched tenant access token", None)

    async def publish_papers(self, app: FeishuHireApp, account_id: str, papers: list[dict[str, Any]], call: CallForResponse) -> Outcome:
        """The tests HR can pick for exams under `account_id` (the whole list: Feishu replaces what it had)."""
        return await self.post(app, "/open-apis/hire/v1/eco_exam_papers", {"account_id": account_id, "paper_list": papers}, call)
