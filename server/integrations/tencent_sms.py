"""Tencent Cloud SMS (API 3.0, `SendSms` of version 2021-01-11) as an `SmsProvider`, signed with TC3-HMAC-SHA256.

One POST of JSON to `https://sms.tencentcloudapi.com/` per message, with the common parameters as X-TC-* headers and
an Authorization header computed as Tencent Cloud's "Signature v3" documents it (canonical request -> string to sign
-> key derived from "TC3" + SecretKey over the date, the service and "tc3_request" -> HMAC-SHA256 of the string).
Tencent answers HTTP 200 for most failures: `Response.Error` for the request as a whole (a bad signature, a rate
limit), otherwise `Response.SendStatusSet`, one status per number ("Ok", or why that number got nothing).

The SecretKey comes from a file only the service user can read; neither it, the phone number nor the message's
parameters are ever logged. Reasons given to HR name Tencent's error code and what to do, never the number.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from server.domain.reminders import Language, ReminderNotSent

logger = logging.getLogger(__name__)

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
MAX_RESPONSE_BYTES = 64 * 1024  # a SendSms answer for one number is well under 1 KiB
SESSION_CONTEXT_MAX_BYTES = 511  # "less than 512 bytes", echoed back as sent

_DO_NOT_DISTURB = "the number is on the do-not-disturb list (the candidate unsubscribed, or the carrier blocks it)"
# What a code means for the reminder: (retry?, what HR should know). Codes in `Response.Error` and in a number's
# `SendStatus.Code` share one namespace; codes not listed fall back on their family (`_FAMILIES`).
_CODES: dict[str, tuple[bool, str]] = {
    "AuthFailure.SignatureExpire": (True, "the server's clock is more than five minutes off Tencent Cloud's; check its time sync"),
    "AuthFailure.SignatureFailure": (False, "Tencent Cloud did not accept the request's signature: check the SecretKey"),
    "AuthFailure.SecretIdNotFound": (False, "Tencent Cloud does not know the SecretId, or it was disabled"),
    "AuthFailure.InvalidSecretId": (False, "the SecretId is not a Tencent Cloud API key"),
    "AuthFailure.UnauthorizedOperation": (False, "the API key may not send SMS (grant it sms:SendSms in CAM)"),
    "LimitExceeded.PhoneNumberDailyLimit": (True, "this number got as many SMS today as the console's limit allows"),
    "LimitExceeded.PhoneNumberOneHourLimit": (True, "this number got as many SMS this hour as the console's limit allows"),
    "LimitExceeded.PhoneNumberThirtySecondLimit": (True, "this number got an SMS less than 30 seconds ago"),
    "LimitExceeded.PhoneNumberSameContentDailyLimit": (True, "this number got the same SMS as often today as allowed"),
    "LimitExceeded.AppDailyLimit": (True, "the SMS application reached its daily limit set in the console"),
    "LimitExceeded.DailyLimit": (True, "the account reached its daily limit for international SMS"),
    "LimitExceeded.DeliveryFrequencyLimit": (True, "the sending hit a frequency limit set in the console"),
    "LimitExceeded.PhoneNumberCountLimit": (False, "too many numbers in one request"),
    "FailedOperation.InsufficientBalanceInSmsPackage": (True, "the SMS package is used up: buy more in the Tencent Cloud console"),
    "UnauthorizedOperation.SerivceSuspendDueToArrears": (True, "Tencent Cloud suspended SMS for arrears: top up the account"),
    "FailedOperation.PhoneNumberInBlacklist": (False, _DO_NOT_DISTURB),
    "FailedOperation.PhoneNumberOnBlacklist": (False, _DO_NOT_DISTURB),
    "InvalidParameterValue.IncorrectPhoneNumber": (False, "Tencent Cloud does not take the candidate's phone number as a valid number"),
    "UnsupportedOperation.UnsuportedRegion": (False, "Tencent Cloud does not send SMS to the candidate's country or region"),
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": (False, "domestic and international numbers in one request"),
    "FailedOperation.SignatureIncorrectOrUnapproved": (False, "the SMS signature (sign name) is not approved, or not written as approved"),
    "FailedOperation.TemplateIncorrectOrUnapproved": (False, "the SMS template is not approved, or its parameters do not fit it"),
    "FailedOperation.ContainSensitiveWord": (False, "Tencent Cloud found a word it does not send in the message"),
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": (False, "a template parameter looks like a link, which is forbidden"),
    "InvalidParameterValue.TemplateParameterLengthLimit": (
        False,
        "a template parameter is longer than 12 characters, which only enterprise-verified accounts may send",
    ),
    "InvalidParameterValue.TemplateParameterFormatError": (False, "the template is a verification-code template, which takes only digits"),
    "InvalidParameterValue.ContentLengthLimit": (False, "the message is too long for one SMS request"),
    "InvalidParameterValue.SdkAppIdNotExist": (False, "the SmsSdkAppId does not exist"),
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": (False, "the SmsSdkAppId does not belong to the API key's account"),
    "UnauthorizedOperation.SdkAppIdIsDisabled": (False, "the SMS application is disabled"),
    "UnauthorizedOperation.RequestIpNotInWhitelist": (False, "the server's address is not on the SMS application's allowlist"),
    "UnauthorizedOperation.RequestPermissionDeny": (False, "the account may not send this SMS; ask Tencent Cloud's SMS helper"),
    "InternalError.RequestTimeException": (True, "the server's clock differs from Tencent Cloud's; check its time sync"),
}
_FAMILIES: dict[str, tuple[bool, str]] = {
    "AuthFailure": (False, "Tencent Cloud refused the API key"),
    "InternalError": (True, "Tencent Cloud SMS had an internal error"),
    "RequestLimitExceeded": (True, "Tencent Cloud limited the request rate"),
    "LimitExceeded": (True, "a Tencent Cloud SMS sending limit was reached"),
    "ResourceUnavailable": (True, "Tencent Cloud SMS was unavailable"),
}


@dataclass(frozen=True, slots=True)
class TencentSmsConfig:
    """An SMS application of a Tencent Cloud account: the API key, the SmsSdkAppId, its approved signature (the sign
    name in 【】 at the head of every message) and reminder templates, the region and where the API is."""

    secret_id: str
    secret_key: str = field(repr=False)
    sdk_app_id: str
    sign_name: str
    template_ids: Mapping[Language, str]
    region: str = "ap-guangzhou"
    base_url: str = "https://sms.tencentcloudapi.com"
    timeout_s: float = 10.0

    @classmethod
    def load(
        cls,
        *,
        secret_id: str,
        secret_key_file: Path,
        sdk_app_id: str,
        sign_name: str,
        template_ids: Mapping[Language, str],
        region: str = "ap-guangzhou",
        base_url: str = "https://sms.tencentcloudapi.com",
        timeout_s: float = 10.0,
    ) -> TencentSmsConfig:
        """The configuration, with the SecretKey read from `secret_key_file` (a file only the service user can read)."""
        secret_key = secret_key_file.read_text(encoding="utf-8").strip()
        if not secret_key:
            raise ValueError(f"{secret_key_file} is empty: it must hold the Tencent Cloud SecretKey")
        return cls(secret_id, secret_key, sdk_app_id, sign_name, dict(template_ids), region, base_url.rstrip("/"), timeout_s)


def tc3_authorization(
    *, secret_id: str, secret_key: str, service: str, timestamp: int, signed_headers: Mapping[str, str], payload: bytes
) -> str:
    """The Authorization header of a POST to "/" (API 3.0 always uses "/" and no query), signing `signed_headers`
    (they must include content-type and host, with the values sent)."""
    headers = sorted((name.strip().lower(), value.strip().lower()) for name, value in signed_headers.items())
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in headers)
    header_names = ";".join(name for name, _ in headers)
    canonical_request = "\n".join(("POST", "/", "", canonical_headers, header_names, _sha256_hex(payload)))
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")  # the UTC date, or signing fails near midnight
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join((ALGORITHM, str(timestamp), scope, _sha256_hex(canonical_request.encode())))
    key = _hmac(("TC3" + secret_key).encode(), date)
    key = _hmac(key, service)
    key = _hmac(key, "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={header_names}, Signature={signature}"


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _meaning(code: str) -> tuple[bool, str]:
    known = _CODES.get(code) or _FAMILIES.get(code.split(".", 1)[0])
    return known if known is not None else (False, "Tencent Cloud SMS refused the message")


class TencentSms:
    """Create with the configuration, `send()`, `aclose()` at shutdown. `clock` gives epoch seconds (tests skew it)."""

    def __init__(self, config: TencentSmsConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock
        self._url = config.base_url.rstrip("/") + "/"
        self._host = httpx.URL(self._url).netloc.decode("ascii")
        self._http = httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, phone_number: str, template_id: str, params: Sequence[str], session_context: str) -> str:
        if len(session_context.encode()) > SESSION_CONTEXT_MAX_BYTES:
            session_context = hashlib.sha256(session_context.encode()).hexdigest()  # still names one send, traceably
        payload = json.dumps(
            {
                "PhoneNumberSet": [phone_number],
                "SmsSdkAppId": self._config.sdk_app_id,
                "SignName": self._config.sign_name,
                "TemplateId": template_id,
                "TemplateParamSet": list(params),
                "SessionContext": session_context,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        try:
            body = await self._post(payload)
        except ReminderNotSent as exc:
            logger.warning("tencent sms: %s not sent: %s", session_context, exc.reason)
            raise
        serial_no = self._accepted(body, session_context)
        logger.info("tencent sms: %s sent, serial %s", session_context, serial_no)
        return serial_no

    async def _post(self, payload: bytes) -> dict[str, Any]:
        timestamp = int(self._clock())
        signed = {"Content-Type": CONTENT_TYPE, "Host": self._host}
        headers = {
            **signed,
            "Authorization": tc3_authorization(
                secret_id=self._config.secret_id,
                secret_key=self._config.secret_key,
                service=SERVICE,
                timestamp=timestamp,
                signed_headers=signed,
                payload=payload,
            ),
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self._config.region,
        }
        try:
            # httpx bounds each connect, write and read; this bounds the whole exchange, a slow trickle included.
            async with asyncio.timeout(self._config.timeout_s):
                status, content = await self._exchange(payload, headers)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ReminderNotSent("Tencent Cloud SMS did not answer in time", retry=True) from exc
        except httpx.HTTPError as exc:
            raise ReminderNotSent(f"Tencent Cloud SMS unreachable ({type(exc).__name__})", retry=True) from exc
        if status >= 500 or status in (408, 429):
            raise ReminderNotSent(f"Tencent Cloud SMS answered HTTP {status}", retry=True)
        try:
            body: Any = json.loads(content)
        except (ValueError, RecursionError) as exc:
            raise ReminderNotSent(f"Tencent Cloud SMS answered HTTP {status} with something other than JSON", retry=status == 200) from exc
        if not isinstance(body, dict) or not isinstance(body.get("Response"), dict):
            raise ReminderNotSent(f"Tencent Cloud SMS answered HTTP {status} without a Response", retry=status == 200)
        response: dict[str, Any] = body["Response"]
        error = response.get("Error")
        if isinstance(error, dict):
            raise self._refused(str(error.get("Code", "")))
        if status != 200:
            raise ReminderNotSent(f"Tencent Cloud SMS answered HTTP {status}", retry=False)
        return response

    async def _exchange(self, payload: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        async with self._http.stream("POST", self._url, content=payload, headers=headers) as response:
            received = bytearray()
            async for chunk in response.aiter_bytes():
                received += chunk
                if len(received) > MAX_RESPONSE_BYTES:
                    raise ReminderNotSent(f"Tencent Cloud SMS answered more than {MAX_RESPONSE_BYTES} bytes", retry=True)
            return response.status_code, bytes(received)

    def _accepted(self, response: dict[str, Any], session_context: str) -> str:
        statuses = response.get("SendStatusSet")
        if not isinstance(statuses, list) or len(statuses) != 1 or not isinstance(statuses[0], dict):
            logger.warning("tencent sms: %s: an answer without one send status", session_context)
            raise ReminderNotSent("Tencent Cloud SMS answered without the message's status", retry=True)
        code = str(statuses[0].get("Code", ""))
        serial_no = statuses[0].get("SerialNo")
        if code == "Ok" and isinstance(serial_no, str) and serial_no:
            return serial_no
        refused = self._refused(code)
        logger.warning("tencent sms: %s not sent: %s", session_context, refused.reason)
        raise refused

    def _refused(self, code: str) -> ReminderNotSent:
        retry, words = _meaning(code)
        # Tencent's own Message is left out: it may quote the number.
        return ReminderNotSent(f"{words} ({code[:80] or 'no code'})", retry=retry)
