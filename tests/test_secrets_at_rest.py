"""Webhook signing secrets and ATS credentials are stored encrypted, with a key in a file only the service user
reads; `secrets rotate` moves every stored secret to a new key and webhooks keep being signed as before."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from server.cli import main
from server.storage.ats_writebacks import RESULT, WriteBackStore
from server.storage.ats_writebacks_redis import RedisWriteBackStore
from server.storage.redis_client import Keys
from server.storage.redis_webhook_deliveries import RedisDeliveryStore
from server.storage.sealed import PREFIX, Sealer, SealError
from server.storage.webhook_deliveries import new_secret
from tests.conftest import API_KEY, LiveServer, free_port, make_settings, serving
from tests.helpers.redis_server import RedisServer, client_for
from tests.helpers.webhook_receiver import Receiver, receiving

HR = {"X-API-Key": API_KEY}
ATS_KEY = "greenhouse-api-key-MARKER-0123456789"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving(Receiver(free_port())) as running:
        yield running


def files_holding(directory: Path, needle: bytes) -> list[str]:
    return sorted(str(f.relative_to(directory)) for f in directory.rglob("*") if f.is_file() and needle in f.read_bytes())


async def signed_event(server: LiveServer, receiver: Receiver, secret: str) -> str:
    receiver.requests.clear()
    await server.schedule()
    (request,) = await receiver.wait_for(lambda r: len(r) >= 1)
    event: dict[str, str] = Webhook(secret).verify(request.body, request.headers)
    return event["type"]


async def test_secrets_are_sealed_on_disk_and_a_key_rotation_keeps_webhooks_signed(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    settings = make_settings(data, webhook_allow_http=True, webhook_allow_private_addresses=True)
    secret = new_secret()
    async with serving(settings) as server:
        registered = await server.http.post(
            f"{server.url}/api/v1/webhooks/endpoints", json={"url": receiver.url, "secret": secret}, headers=HR
        )
        assert registered.status_code == 201
        assert await signed_event(server, receiver, secret) == "interview.scheduled"
        interview, _ = await server.schedule()
        callbacks = await WriteBackStore.open(settings.database_path, Sealer.from_file(settings.secrets_key_path))
        try:
            assert await callbacks.add(interview.id, RESULT, "greenhouse", {"url": "https://ats.example.com/callback", "api_key": ATS_KEY})
        finally:
            await callbacks.close()
    key_file = settings.secrets_key_path
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    for needle in (secret.encode(), ATS_KEY.encode()):
        assert files_holding(data, needle) == [], "stored sealed, never as plain text"
    old_keys = key_file.read_text()

    monkeypatch.setenv("INTERVIEW_DATA_DIR", str(data))
    await asyncio.to_thread(main, ["secrets", "rotate"])  # the command runs an event loop of its own
    assert key_file.read_text() != old_keys and len(key_file.read_text().split()) == 1, "the old key is dropped"
    with pytest.raises(SealError):  # the old key opens nothing stored any more
        callbacks = await WriteBackStore.open(settings.database_path, Sealer([old_keys.split()[0].encode()]))
        try:
            await callbacks.get(interview.id, RESULT)
        finally:
            await callbacks.close()

    async with serving(settings) as server:
        assert await signed_event(server, receiver, secret) == "interview.scheduled", "the same secret signs after the rotation"
        callbacks = await WriteBackStore.open(settings.database_path, Sealer.from_file(key_file))
        try:
            stored = await callbacks.get(interview.id, RESULT)
            assert stored is not None and stored.target["api_key"] == ATS_KEY
        finally:
            await callbacks.close()


async def test_the_redis_stores_seal_secrets_and_reseal_them_with_a_new_key(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    client = client_for(redis_server)
    try:
        keys = Keys("sealed-test:")
        old = Sealer.generate()
        endpoint, secret = await RedisDeliveryStore(client, keys, old).add_endpoint("acme", "https://hr.example.com", [], "", None)
        stored = (await client.hget(keys.endpoint(endpoint.id), "secrets")).decode()
        assert stored.startswith(PREFIX) and secret not in stored
        await client.hset(keys.interview("iv-1"), "tenant", "acme")  # the callback's interview exists
        target = {"url": "https://ats.example.com/cb", "api_key": ATS_KEY}
        assert await RedisWriteBackStore(client, keys, old).add("iv-1", RESULT, "greenhouse", target)
        assert ATS_KEY.encode() not in (await client.hget(keys.writeback("iv-1", RESULT), "target") or b"")
        rotated = Sealer([Sealer.generate().keys[0], *old.keys])
        assert await RedisDeliveryStore(client, keys, rotated).reseal_secrets() == 1
        assert await RedisWriteBackStore(client, keys, rotated).reseal_secrets() == 1, "the pending set beside it is left alone"
        newest_only = Sealer(rotated.keys[:1])
        reread = await RedisDeliveryStore(client, keys, newest_only).endpoint("acme", endpoint.id)
        assert reread is not None and reread.secrets == (secret,)
        callback = await RedisWriteBackStore(client, keys, newest_only).get("iv-1", RESULT)
        assert callback is not None and callback.target == target
    finally:
        await client.aclose()
        redis_server.stop()


def test_values_written_before_sealing_existed_are_still_read_and_sealed_on_rotation() -> None:
    sealer = Sealer.generate()
    assert sealer.open("whsec_plain") == "whsec_plain"
    assert sealer.open(sealer.reseal("whsec_plain")) == "whsec_plain"
    with pytest.raises(SealError):
        Sealer.generate().open(sealer.seal("whsec_x"))
