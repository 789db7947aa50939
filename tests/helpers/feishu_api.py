"""A stand-in for Feishu's Open Platform as Feishu Hire's exam partners see it, in tests: a Starlette app on loopback
that follows the documented protocol and checks what Feishu checks (a bug in the server fails here, not in both
places alike). Sources: the Feishu Open Platform documentation of hire-v1 eco_exam / eco_exam_paper, auth-v3
tenant_access_token/internal, event subscription (encryption and X-Lark-Signature), and the official SDKs.

- `POST /open-apis/auth/v3/tenant_access_token/internal` {app_id, app_secret}: code 10003 for an unknown app or a wrong
  secret; else {code: 0, tenant_access_token, expire}. While the current token has 30 minutes or more left it is
  handed out again; in its last 30 minutes a new one (the old one still works until it expires).
- `POST /open-apis/hire/v1/eco_exams/{exam_id}/login_info`, `.../update_result`, `POST /open-apis/hire/v1/eco_exam_papers`:
  `Authorization: Bearer <tenant_access_token>` (99991663, HTTP 400 when unknown, expired or revoked), a JSON body
  with the documented fields and types (99992402 with HTTP 400 when one is missing or of the wrong type), and the
  exam must be one Feishu created (`exams`). `fail_next(...)` scripts failures (a rate limit is HTTP 429, code
  99991400, `x-ogw-ratelimit-reset`).
- `event(...)`: an event as Feishu sends it, encrypted with the app's Encrypt Key and signed.

Time is the test's `clock`, so tokens expire when the test says.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serving_app

TOKEN_TTL_S = 7200
RENEW_WINDOW_S = 1800
INVALID_TOKEN = 99991663
INVALID_PARAM = 99992402


def encrypt(encrypt_key: str, plain: bytes) -> str:
    """What Feishu does with an event under an Encrypt Key: base64(iv ‖ AES-256-CBC(SHA-256(key), PKCS7(plain)))."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(hashlib.sha256(encrypt_key.encode()).digest()), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode()


@dataclass
class Call:
    path: str
    authorization: str
    body: dict[str, Any]


@dataclass
class FeishuOpenPlatform:
    port: int
    app_id: str = "cli_a5f0e1c2d3b4a596"
    app_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    encrypt_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    verification_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    clock: Callable[[], float] = time.time
    token_ttl_s: int = TOKEN_TTL_S
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at
    current: str | None = None
    token_requests: int = 0
    tokens_refused: int = 0  # calls answered 99991663
    exams: set[str] = field(default_factory=set)  # exam ids Feishu created (by sending their event)
    calls: list[Call] = field(default_factory=list)  # authorised API calls that passed the checks
    scripted: deque[tuple[int, int, dict[str, str]]] = field(default_factory=deque)  # HTTP status, code, headers

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app_config(self, tenant: str) -> dict[str, str]:
        """The app as the server's INTERVIEW_FEISHU_HIRE_APPS_FILE lists it."""
        return {
            "tenant": tenant,
            "app_id": self.app_id,
            "app_secret": self.app_secret,
            "encrypt_key": self.encrypt_key,
            "verification_token": self.verification_token,
            "api_base_url": self.base_url,
        }

    def calls_to(self, suffix: str) -> list[Call]:
        return [c for c in self.calls if c.path.endswith(suffix)]

    def revoke_tokens(self) -> None:
        """Every token handed out stops working (an app secret reset, say)."""
        self.tokens.clear()
        self.current = None

    def fail_next(self, count: int, status: int, code: int, headers: dict[str, str] | None = None) -> None:
        for _ in range(count):
            self.scripted.append((status, code, headers or {}))

    def event(self, event_type: str, body: dict[str, Any], *, event_id: str | None = None) -> tuple[bytes, dict[str, str]]:
        """An event as Feishu posts it to the request URL: the v2.0 envelope, encrypted, with its signature headers."""
        envelope = {
            "schema": "2.0",
            "header": {
                "event_id": event_id or secrets.token_hex(16),
                "event_type": event_type,
                "create_time": str(int(self.clock() * 1000)),
                "token": self.verification_token,
                "app_id": self.app_id,
                "tenant_key": "2ca1d211f64f6438",
            },
            "event": body,
        }
        if event_type == "hire.eco_exam.created_v1":
            self.exams.add(body["exam_id"])
        return self.sealed(json.dumps(envelope, ensure_ascii=False).encode())

    def sealed(self, plain: bytes) -> tuple[bytes, dict[str, str]]:
        raw = json.dumps({"encrypt": encrypt(self.encrypt_key, plain)}).encode()
        timestamp, nonce = str(int(self.clock())), secrets.token_hex(8)
        signature = hashlib.sha256((timestamp + nonce + self.encrypt_key).encode() + raw).hexdigest()
        headers = {
            "content-type": "application/json",
            "x-lark-request-timestamp": timestamp,
            "x-lark-request-nonce": nonce,
            "x-lark-signature": signature,
        }
        return raw, headers

    def app(self) -> Starlette:
        async def token(request: Request) -> JSONResponse:
            body = await request.json()
            self.token_requests += 1
            if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
                return JSONResponse({"code": 10003, "msg": "invalid param"})
            now = self.clock()
            if self.current is None or self.tokens.get(self.current, 0) - now < RENEW_WINDOW_S:
                self.current = "t-" + secrets.token_hex(20)
                self.tokens[self.current] = now + self.token_ttl_s
            expire = int(self.tokens[self.current] - now)
            return JSONResponse({"code": 0, "msg": "ok", "tenant_access_token": self.current, "expire": expire})

        def checked(fields: Callable[[dict[str, Any], Request], str | None]) -> Callable[[Request], Any]:
            async def endpoint(request: Request) -> JSONResponse:
                authorization = request.headers.get("authorization", "")
                held = authorization.removeprefix("Bearer ")
                if not authorization.startswith("Bearer ") or self.tokens.get(held, 0) <= self.clock():
                    self.tokens_refused += 1
                    message = "Invalid access token for authorization. Please make a request with token attached."
                    return JSONResponse({"code": INVALID_TOKEN, "msg": message}, status_code=400)
                if not request.headers.get("content-type", "").startswith("application/json"):
                    return JSONResponse({"code": INVALID_PARAM, "msg": "content-type must be application/json"}, status_code=400)
                body = await request.json()
                problem = fields(body, request) if isinstance(body, dict) else "the body is not an object"
                if problem is not None:
                    return JSONResponse({"code": INVALID_PARAM, "msg": f"param is invalid: {problem}"}, status_code=400)
                if self.scripted:
                    status, code, headers = self.scripted.popleft()
                    return JSONResponse({"code": code, "msg": "scripted failure"}, status_code=status, headers=headers)
                self.calls.append(Call(request.url.path, authorization, body))
                return JSONResponse({"code": 0, "msg": "success", "data": {}})

            return endpoint

        def exam(request: Request) -> str | None:
            exam_id = request.path_params["exam_id"]
            return None if exam_id in self.exams else f"no exam {exam_id}"

        def login_info(body: dict[str, Any], request: Request) -> str | None:
            info = body.get("exam_login_info")
            if "result" in body and not isinstance(body["result"], int):
                return "result must be an int"
            if not isinstance(info, dict) or not isinstance(info.get("exam_url"), str) or not info["exam_url"]:
                return "exam_login_info.exam_url is required"
            return exam(request)

        def update_result(body: dict[str, Any], request: Request) -> str | None:
            if not isinstance(body.get("result"), str):
                return "result is required and must be a string"
            if "result_time" in body and not (isinstance(body["result_time"], str) and body["result_time"].isdigit()):
                return "result_time must be a millisecond timestamp string"
            for report in body.get("report_list", []):
                if not isinstance(report.get("name"), str) or not isinstance(report.get("url"), str):
                    return "report_list[].name and url are required strings"
            for detail in body.get("detail_list", []):
                if not isinstance(detail.get("name"), str) or not isinstance(detail.get("result"), str):
                    return "detail_list[].name and result are required strings"
            return exam(request)

        def papers(body: dict[str, Any], request: Request) -> str | None:
            if not isinstance(body.get("account_id"), str) or not isinstance(body.get("paper_list"), list):
                return "account_id and paper_list are required"
            for paper in body["paper_list"]:
                if not isinstance(paper.get("id"), str) or not isinstance(paper.get("name"), str):
                    return "paper_list[].id and name are required strings"
            return None

        return Starlette(
            routes=[
                Route("/open-apis/auth/v3/tenant_access_token/internal", token, methods=["POST"]),
                Route("/open-apis/hire/v1/eco_exams/{exam_id}/login_info", checked(login_info), methods=["POST"]),
                Route("/open-apis/hire/v1/eco_exams/{exam_id}/update_result", checked(update_result), methods=["POST"]),
                Route("/open-apis/hire/v1/eco_exam_papers", checked(papers), methods=["POST"]),
            ]
        )


@contextlib.asynccontextmanager
async def feishu_open_platform(platform: FeishuOpenPlatform) -> AsyncIterator[FeishuOpenPlatform]:
    async with serving_app(platform.app(), platform.port, "Feishu Open Platform double"):
        yield platform
