"""Moka's interview pushes, as Moka's documentation describes them (signed with HMAC-SHA256 in `?sign=`, `data`
optionally AES-256-CBC encrypted): a video arrangement becomes an AI interview per interviewee, once, with the
invitation e-mailed; a deletion cancels them; anything unsigned or malformed is a clear 4xx and creates nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from server.domain.interview import InterviewStatus
from server.web.ats_tests import ordered_interview_id
from tests.conftest import LiveServer, make_settings, serving
from tests.helpers.mail_server import mail_server
from tests.helpers.waiting import wait_until

TENANT = "acme"
SIGNING_KEY = secrets.token_hex(16)
DATA_KEY, DATA_IV = secrets.token_hex(16), secrets.token_hex(8)  # 32 and 16 characters, as the CSM hands them out


def accounts_file(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "moka-accounts.json"
    accounts = [
        {"account": "acme", "tenant": TENANT, "signing_key": SIGNING_KEY, "default_test": "backend_engineer:zh:text"},
        {
            "account": "acme-encrypted",
            "tenant": TENANT,
            "signing_key": SIGNING_KEY,
            "data_key": DATA_KEY,
            "data_iv": DATA_IV,
            "default_test": "job:{jobId}",
        },
    ]
    path.write_text(json.dumps(accounts))
    path.chmod(0o600)
    return path


def encrypted(data: dict[str, Any]) -> str:
    """What Moka does to `data` when the CSM switches encryption on: AES-256-CBC, key and IV as text, hex out."""
    padder = padding.PKCS7(128).padder()
    plain = padder.update(json.dumps(data, ensure_ascii=False).encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(DATA_KEY.encode()), modes.CBC(DATA_IV.encode())).encryptor()
    return (encryptor.update(plain) + encryptor.finalize()).hex()


def interview_push(event: str, interview_type: int = 4, arrangement: str = "ev-1", people: int = 2) -> dict[str, Any]:
    interviewees = [
        {
            "id": 5000 + n,
            "name": ["李雷", "韩梅梅", "王芳"][n],
            "email": f"candidate{n}@example.com",
            "phone": "13800138000",
            "jobId": 321,
            "jobTitle": "后端工程师",
            "intervieweeUrl": "https://app.mokahr.com/interviewee/x",
        }
        for n in range(people)
    ]
    interview = {"event_id": arrangement, "applicationIds": [7000], "startTime": 1765000000000, "interviewee": interviewees}
    data = {"applicationIds": [7000], "interviewType": interview_type, "createTime": 1764900000000, "interviews": [interview]}
    return {"id": secrets.token_hex(8), "event": event, "triggeredAt": 1764900000, "data": data}


async def push(server: LiveServer, body: dict[str, Any], account: str = "acme", sign: str | None = "auto") -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()  # as JSON.stringify writes it
    signed = hmac.new(SIGNING_KEY.encode(), raw, hashlib.sha256).hexdigest() if sign == "auto" else sign
    params = {"sign": signed} if signed is not None else {}
    return await server.http.post(f"{server.url}/adapters/moka/{account}/webhooks", content=raw, params=params)


async def interview_of(server: LiveServer, account: str, arrangement: str, person: int) -> str | None:
    key = f"moka:{account}:{arrangement}:{person}"
    return await ordered_interview_id(server.services, TENANT, key)


async def test_a_video_arrangement_becomes_one_interview_per_interviewee_once_and_each_is_invited(tmp_path: Path) -> None:
    with mail_server() as (mailbox, smtp):
        settings = make_settings(tmp_path / "data", moka_accounts_file=accounts_file(tmp_path / "data"), **smtp)
        async with serving(settings) as server:
            body = interview_push("createInterviewsInfo")
            for _ in range(2):  # a redelivered push arranges nothing twice
                answer = await push(server, body)
                assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "success"}
            ids = [await interview_of(server, "acme", "ev-1", person) for person in (5000, 5001)]
            assert None not in ids and len(set(ids)) == 2
            first = await server.services.store.get_interview(str(ids[0]), TENANT)
            assert first is not None and first.candidate.name == "李雷" and first.candidate.phone == "+8613800138000"
            assert first.job.role == "backend_engineer" and first.language == "zh" and first.mode == "text"
            await wait_until(lambda: len(mailbox.messages) == 2, what="both invitations")
            assert sorted(to for to, _ in mailbox.messages) == [["candidate0@example.com"], ["candidate1@example.com"]]
            assert len(await server.services.store.recent_interviews(TENANT)) == 2

            # The arrangement withdrawn in Moka: both interviews cancelled.
            assert (await push(server, interview_push("deleteInterviewsInfo"))).status_code == 200
            for interview_id in ids:
                cancelled = await server.services.store.get_interview(str(interview_id), TENANT)
                assert cancelled is not None and cancelled.status == InterviewStatus.CANCELLED


async def test_pushes_not_signed_with_the_accounts_key_are_refused_and_create_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with serving(make_settings(data_dir, moka_accounts_file=accounts_file(data_dir))) as server:
        body = interview_push("createInterviewsInfo")
        refusals = [
            await push(server, body, sign=None),
            await push(server, body, sign="0" * 64),
            await push(server, body, sign=hmac.new(b"another key", json.dumps(body).encode(), hashlib.sha256).hexdigest()),
        ]
        raw = json.dumps(body, separators=(",", ":")).encode()
        good = hmac.new(SIGNING_KEY.encode(), raw, hashlib.sha256).hexdigest()
        tampered = raw.replace(b"5000", b"5009")
        refusals.append(await server.http.post(f"{server.url}/adapters/moka/acme/webhooks", content=tampered, params={"sign": good}))
        for refused in refusals:
            assert refused.status_code == 401 and refused.json()["code"] == "moka_push_refused", refused.text
        unknown = await push(server, body, account="nobody")
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_moka_account"
        assert await server.services.store.recent_interviews(TENANT) == []


async def test_encrypted_data_is_opened_and_the_tenants_own_job_is_the_interview(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, moka_accounts_file=accounts_file(data_dir), tenants={TENANT: ["acme-key-0123456789"]})
    async with serving(settings) as server:
        headers = {"x-api-key": "acme-key-0123456789"}
        job = {"title": "后端工程师", "language": "zh", "role": "backend_engineer"}
        assert (await server.http.put(f"{server.url}/api/v1/jobs/321", json=job, headers=headers)).status_code in (200, 201)

        body = interview_push("createInterviewsInfo", people=1)
        body["data"] = encrypted(body["data"])
        answer = await push(server, body, account="acme-encrypted")
        assert answer.status_code == 200, answer.text
        interview_id = await interview_of(server, "acme-encrypted", "ev-1", 5000)
        interview = await server.services.store.get_interview(str(interview_id), TENANT)
        assert interview is not None and interview.job_id == "321" and interview.job.title == "后端工程师"

        wrong_key = interview_push("createInterviewsInfo", arrangement="ev-2", people=1)
        wrong_key["data"] = encrypted(wrong_key["data"])[:-32] + "00" * 16
        refused = await push(server, wrong_key, account="acme-encrypted")
        assert refused.status_code == 401 and refused.json()["code"] == "moka_push_refused"


async def test_what_is_not_an_ai_interview_is_taken_and_an_unknown_job_is_refused_in_words_hr_can_act_on(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with serving(make_settings(data_dir, moka_accounts_file=accounts_file(data_dir))) as server:
        on_site = await push(server, interview_push("createInterviewsInfo", interview_type=1))
        assert on_site.status_code == 200 and on_site.json()["code"] == 0
        candidate = await push(server, {"id": "x", "event": "pushCandidate", "triggeredAt": 1, "data": {"name": "李雷"}})
        assert candidate.status_code == 200
        assert await server.services.store.recent_interviews(TENANT) == []

        body = interview_push("createInterviewsInfo", people=1)
        body["data"] = encrypted(body["data"])  # job 321 is not a job of this tenant
        unknown_job = await push(server, body, account="acme-encrypted")
        assert unknown_job.status_code == 404 and "后端工程师" in unknown_job.json()["detail"]
        assert await interview_of(server, "acme-encrypted", "ev-1", 5000) is None, "refused, so Moka's retry may try again"

        malformed = await push(server, {"id": "y", "event": "createInterviewsInfo", "data": {"interviews": "soon"}})
        assert malformed.status_code == 422 and malformed.json()["code"] == "invalid_moka_push"
