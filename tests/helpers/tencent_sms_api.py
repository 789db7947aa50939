"""A stand-in for Tencent Cloud SMS's `SendSms` (API 3.0, version 2021-01-11) in tests: a small Starlette app on loopback.

It checks what Tencent checks, in its own code (a signing bug in the server fails here, not in both places alike):
- the common parameters as headers: X-TC-Action SendSms (InvalidAction), X-TC-Version 2021-01-11 (NoSuchVersion),
  X-TC-Region (MissingParameter), X-TC-Timestamp within five minutes of now (AuthFailure.SignatureExpire);
- the TC3-HMAC-SHA256 Authorization: its shape (AuthFailure.InvalidAuthorization), the SecretId
  (AuthFailure.SecretIdNotFound), the credential's date and service, and the signature over the canonical request
  rebuilt from the headers it names and the body as received (AuthFailure.SignatureFailure);
- the body: the SmsSdkAppId, the approved sign name and template, as many parameters as the template has, none
  of them a link, the SessionContext under 512 bytes; then, per number, an E.164 number.
Failures of the request come back as `Response.Error`, those of a number in its `SendStatusSet` entry, with HTTP 200
as Tencent answers. Every message accepted is kept in `sent`, its text rendered as the candidate would read it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.asgi_server import serving_app

SIGNATURE_TTL_S = 300
AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)/tc3_request, "
    r"SignedHeaders=(?P<headers>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
LINK = re.compile(r"https?://|www\.|[a-z0-9-]+\.(com|cn|net|org)/", re.IGNORECASE)
PLACEHOLDER = re.compile(r"\{(\d+)\}")
TEMPLATES = {
    "2101": "{1}您好，您应聘「{2}」的视频面试将于{3}开始，请届时打开 https://interview.example.cn/s/{4} 参加。",
    "2102": "Hello {1}, your video interview for {2} starts at {3}. Join at https://interview.example.cn/s/{4}",
}


@dataclass(frozen=True)
class SentSms:
    phone_number: str
    template_id: str
    params: list[str]
    session_context: str
    serial_no: str
    text: str  # what the candidate reads: 【sign name】 and the template with its parameters


@dataclass
class FakeTencentSms:
    """One SMS application (SmsSdkAppId, sign name, approved templates) of one account (SecretId, SecretKey)."""

    port: int
    secret_id: str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3fakeid"
    secret_key: str = "Gu5t9xGARNpq86cd98joQYCN3fakekey"
    sdk_app_id: str = "1400787878"
    sign_name: str = "示例科技"
    templates: dict[str, str] = field(default_factory=lambda: dict(TEMPLATES))
    sent: list[SentSms] = field(default_factory=list)
    requests: int = 0  # every request that reached the API, accepted or not
    _failures: deque[tuple[str, bool]] = field(default_factory=deque)
    _http_failures: deque[int] = field(default_factory=deque)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, count: int, code: str, *, whole_request: bool = False) -> None:
        """The next `count` sends that pass the checks fail with `code`: in the number's status, as SMS errors
        (LimitExceeded.*, FailedOperation.*) come, or as the request's `Response.Error` (InternalError, RequestLimitExceeded)."""
        self._failures.extend([(code, whole_request)] * count)

    def answer_next_with_http(self, count: int, status: int) -> None:
        """The next `count` requests get a bare HTTP `status` (a gateway in front of the API failing)."""
        self._http_failures.extend([status] * count)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self._api, methods=["POST"])])

    async def _api(self, request: Request) -> Response:
        self.requests += 1
        if self._http_failures:
            return Response(b"<html>bad gateway</html>", status_code=self._http_failures.popleft(), media_type="text/html")
        body = await request.body()
        refusal = self._refusal(request, body)
        if refusal is not None:
            return _error(*refusal)
        try:
            params: Any = json.loads(body)
        except ValueError:
            return _error("FailedOperation.JsonParseFail", "the body is not JSON")
        refusal = self._invalid(params)
        if refusal is not None:
            return _error(*refusal)
        if self._failures:
            code, whole_request = self._failures.popleft()
            if whole_request:
                return _error(code, "failure asked for by the test")
            return _statuses([_status(number, params["SessionContext"], code) for number in params["PhoneNumberSet"]])
        return _statuses([self._send(number, params) for number in params["PhoneNumberSet"]])

    def _refusal(self, request: Request, body: bytes) -> tuple[str, str] | None:
        headers = request.headers
        if headers.get("x-tc-action") != "SendSms":
            return "InvalidAction", "only SendSms here"
        if headers.get("x-tc-version") != "2021-01-11":
            return "NoSuchVersion", "SendSms is version 2021-01-11"
        if not headers.get("x-tc-region"):
            return "MissingParameter", "Region is required since 2021-01-11"
        if not headers.get("content-type", "").startswith("application/json"):
            return "InvalidParameter", "POST with JSON"
        match = AUTHORIZATION.fullmatch(headers.get("authorization", ""))
        if match is None:
            return "AuthFailure.InvalidAuthorization", "the Authorization header is not TC3-HMAC-SHA256"
        if match["id"] != self.secret_id:
            return "AuthFailure.SecretIdNotFound", "the SecretId is not found"
        try:
            timestamp = int(headers.get("x-tc-timestamp", ""))
        except ValueError:
            return "InvalidParameter", "X-TC-Timestamp is not a number"
        if abs(time.time() - timestamp) > SIGNATURE_TTL_S:
            return "AuthFailure.SignatureExpire", "the signature expired: the timestamp is more than 5 minutes off"
        signed = match["headers"].split(";")
        if "content-type" not in signed or "host" not in signed or any(name not in headers for name in signed):
            return "AuthFailure.InvalidAuthorization", "SignedHeaders must name content-type and host, and headers sent"
        if match["date"] != datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d") or match["service"] != "sms":
            return "AuthFailure.SignatureFailure", "the credential scope is not this date and service"
        expected = _signature(self.secret_key, timestamp, match["date"], match["service"], signed, headers, body)
        if not hmac.compare_digest(expected, match["signature"]):
            return "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
        return None

    def _invalid(self, params: Any) -> tuple[str, str] | None:
        if not isinstance(params, dict):
            return "FailedOperation.FailResolvePacket", "the body is not an object"
        numbers = params.get("PhoneNumberSet")
        if not isinstance(numbers, list) or not numbers or not all(isinstance(n, str) for n in numbers):
            return "MissingParameter.EmptyPhoneNumberSet", "no numbers"
        if len(numbers) > 200:
            return "LimitExceeded.PhoneNumberCountLimit", "at most 200 numbers"
        if params.get("SmsSdkAppId") != self.sdk_app_id:
            return "InvalidParameterValue.SdkAppIdNotExist", "no such SmsSdkAppId"
        if params.get("SignName") != self.sign_name:
            return "FailedOperation.SignatureIncorrectOrUnapproved", "the signature is not approved"
        template = self.templates.get(params.get("TemplateId", ""))
        values = params.get("TemplateParamSet", [])
        if template is None:
            return "FailedOperation.TemplateIncorrectOrUnapproved", "the template is not approved"
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return "InvalidParameter", "TemplateParamSet is a list of strings"
        if len(values) != len(set(PLACEHOLDER.findall(template))):
            return "FailedOperation.TemplateIncorrectOrUnapproved", "the parameters do not match the template"
        if any(LINK.search(value) for value in values):
            return "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter", "no URL in a template parameter"
        context = params.get("SessionContext", "")
        if not isinstance(context, str) or len(context.encode()) >= 512:
            return "InvalidParameter", "SessionContext is a string under 512 bytes"
        if len(self._text(template, values)) > 500:
            return "InvalidParameterValue.ContentLengthLimit", "the message is longer than 500 characters"
        return None

    def _send(self, number: str, params: dict[str, Any]) -> dict[str, object]:
        context = params.get("SessionContext", "")
        if not E164.fullmatch(number):
            return _status(number, context, "InvalidParameterValue.IncorrectPhoneNumber")
        template_id, values = params["TemplateId"], params["TemplateParamSet"]
        serial_no = f"2640:{uuid.uuid4().int % 10**28:028d}"
        self.sent.append(SentSms(number, template_id, values, context, serial_no, self._text(self.templates[template_id], values)))
        return {**_status(number, context, "Ok"), "SerialNo": serial_no, "Fee": 1, "Message": "send success"}

    def _text(self, template: str, values: list[str]) -> str:
        return f"【{self.sign_name}】" + PLACEHOLDER.sub(lambda m: values[int(m[1]) - 1], template)


def _signature(secret_key: str, timestamp: int, date: str, service: str, signed: list[str], headers: Any, body: bytes) -> str:
    """Signature v3 as the server side recomputes it, written apart from the server's signer."""
    canonical_headers = "".join(f"{name}:{headers[name].strip().lower()}\n" for name in signed)
    canonical_request = f"POST\n/\n\n{canonical_headers}\n{';'.join(signed)}\n{hashlib.sha256(body).hexdigest()}"
    string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    secret_date = hmac.new(f"TC3{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    secret_service = hmac.new(secret_date, service.encode(), hashlib.sha256).digest()
    secret_signing = hmac.new(secret_service, b"tc3_request", hashlib.sha256).digest()
    return hmac.new(secret_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _status(number: str, context: str, code: str) -> dict[str, object]:
    return {"SerialNo": "", "PhoneNumber": number, "Fee": 0, "SessionContext": context, "Code": code, "Message": code, "IsoCode": "CN"}


def _statuses(statuses: list[dict[str, object]]) -> JSONResponse:
    return JSONResponse({"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}})


def _error(code: str, message: str) -> JSONResponse:
    return JSONResponse({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}})


@contextlib.asynccontextmanager
async def running(fake: FakeTencentSms) -> AsyncIterator[FakeTencentSms]:
    """Serve `fake` on its loopback port for the block."""
    async with serving_app(fake.app(), fake.port, "fake Tencent Cloud SMS"):
        yield fake
