"""Moka (MokaHR) ATS webhooks, as Moka documents them for its customers' systems
(https://www.mokahr.com/docs/api/, sections 主动推送说明 (Webhooks), 推送面试信息):

- The customer gives Moka's CSM an https URL and gets a signing key; Moka then POSTs `{id, event, triggeredAt, data}`
  to `URL?sign=<hex>`, where sign = HMAC-SHA256(signing key, request body), lowercase hex.
- Optionally (switched on by the CSM) `data` is encrypted: AES-256-CBC with the key and IV the CSM gives (used as
  their UTF-8 bytes: 32 and 16), PKCS7 padding, the ciphertext as hex; `id`, `event`, `triggeredAt` stay plain.
- `createInterviewsInfo` / `updateInterviewsInfo` / `deleteInterviewsInfo` (HR confirmed, changed or removed an
  interview arrangement): data {applicationIds, interviewType (4 = video), interviews [{event_id, applicationIds,
  startTime, endTime (ms), interviewee [{id, name, email, phone, jobId, jobTitle, intervieweeUrl}], ...}]}.
- Any 2xx takes the push; other answers are shown to the HR user as a failed import, so their words matter.

What Moka does not publish where this server could read it is how a partner writes an interview's result back (the
result endpoint of its partner guide, https://www.mokahr.com/docs/api/view/openPlatform.html, and the fields of
`POST /api-platform/v1/interview/updateInterviewFeedback`): the connector takes interviews from Moka and HR sees
the results here; the write-back waits for that contract (README: HRMS integrations).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, model_validator

CREATE_INTERVIEWS = "createInterviewsInfo"
UPDATE_INTERVIEWS = "updateInterviewsInfo"
DELETE_INTERVIEWS = "deleteInterviewsInfo"
VIDEO_INTERVIEW = 4  # interviewType: 1 on site, 2 group, 3 phone, 4 video, 5 queued ("叫号")


class MokaAccount(BaseModel):
    """One company's Moka account, bound to a tenant here; `account` names it in the webhook URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    tenant: str = Field(min_length=1, max_length=64)
    signing_key: SecretStr
    data_key: SecretStr | None = None  # AES-256 key for an encrypted `data` (32 characters), with data_iv
    data_iv: SecretStr | None = None
    default_test: str = Field(
        "job:{jobId}",
        max_length=200,
        description="the test each Moka video interview becomes: a test id (as Greenhouse's list_tests names them), where"
        " {jobId} is Moka's job id; e.g. job:{jobId} (the tenant's job stored under Moka's id) or backend_engineer:zh",
    )

    @model_validator(mode="after")
    def _key_with_iv(self) -> MokaAccount:
        if (self.data_key is None) != (self.data_iv is None):
            raise ValueError("data_key and data_iv come together")
        key, iv = self.data_key, self.data_iv
        if key is not None and iv is not None and (len(key.get_secret_value().encode()), len(iv.get_secret_value().encode())) != (32, 16):
            raise ValueError("data_key must be 32 bytes and data_iv 16 (AES-256-CBC)")
        return self


def load_accounts(path: Path) -> dict[str, MokaAccount]:
    """INTERVIEW_MOKA_ACCOUNTS_FILE: a JSON list of accounts (a file only the service user can read), by account name."""
    accounts = TypeAdapter(list[MokaAccount]).validate_json(path.read_bytes())
    return {account.account: account for account in accounts}


class PushRefused(ValueError):
    """A push that is not Moka's: a missing or wrong signature, a `data` that does not decrypt."""


def signature(signing_key: str, body: bytes) -> str:
    return hmac.new(signing_key.encode(), body, hashlib.sha256).hexdigest()


def decrypt_data(account: MokaAccount, encrypted: str) -> Any:
    if account.data_key is None or account.data_iv is None:
        raise PushRefused("data is encrypted, but no data_key is set up for this account")
    try:
        raw = bytes.fromhex(encrypted)
    except ValueError as exc:
        raise PushRefused("encrypted data is not hex") from exc
    if not raw or len(raw) % 16:
        raise PushRefused("encrypted data is not whole AES blocks")
    key, iv = account.data_key.get_secret_value().encode(), account.data_iv.get_secret_value().encode()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(decryptor.update(raw) + decryptor.finalize()) + unpadder.finalize()
        return json.loads(plain)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PushRefused("encrypted data does not decrypt with this account's data_key") from exc


def open_push(account: MokaAccount, sign: str | None, body: bytes) -> dict[str, Any]:
    """The push, checked (signature over the raw body) and its `data` decrypted where it came encrypted."""
    if not sign:
        raise PushRefused("the sign query parameter is missing")
    if not hmac.compare_digest(signature(account.signing_key.get_secret_value(), body), sign.strip().lower()):
        raise PushRefused("sign does not match the body")
    try:
        push = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, binascii.Error) as exc:
        raise PushRefused("the body is not JSON") from exc
    if not isinstance(push, dict):
        raise PushRefused("the body is not a JSON object")
    if isinstance(push.get("data"), str):
        push["data"] = decrypt_data(account, push["data"])
    return push
