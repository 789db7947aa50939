"""`interview-server secrets rotate`: a new key for the secrets at rest, every stored secret re-encrypted with it.

Run it with the node stopped (every node of a cluster: they share the key file and read each other's secrets).
The key file first gets the new key in front of the old ones, so a rotation cut short leaves every value readable;
once every webhook secret and ATS credential is sealed with the new key, the old keys are dropped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cryptography.fernet import Fernet

from server.settings import Settings
from server.storage.ats_writebacks import WriteBackStore
from server.storage.ats_writebacks_redis import RedisWriteBackStore
from server.storage.redis_client import Keys, open_redis
from server.storage.redis_webhook_deliveries import RedisDeliveryStore
from server.storage.sealed import Sealer
from server.storage.sqlite_store import InterviewStore
from server.storage.webhook_deliveries import DeliveryStore


@dataclass(frozen=True)
class Rotated:
    endpoints: int
    ats_credentials: int
    old_keys: int


async def rotate_secrets_key(settings: Settings) -> Rotated:
    path = settings.secrets_key_path
    current = await asyncio.to_thread(Sealer.from_file, path)
    both = Sealer([Fernet.generate_key(), *current.keys])
    await asyncio.to_thread(both.write, path)
    if settings.store_backend == "redis":
        client = open_redis(settings)
        try:
            keys = Keys(settings.redis_prefix)
            endpoints = await RedisDeliveryStore(client, keys, both).reseal_secrets()
            writebacks = RedisWriteBackStore(client, keys, both)
            await writebacks.adopt_greenhouse_callbacks()  # an earlier version's, sealed in a form the reseal would miss
            credentials = await writebacks.reseal_secrets()
        finally:
            await client.aclose()
    else:
        interviews = await InterviewStore.open(settings.database_path)  # makes the tables the others refer to
        deliveries = await DeliveryStore.open(settings.database_path, both)
        callbacks = await WriteBackStore.open(settings.database_path, both)
        try:
            endpoints = await deliveries.reseal_secrets()
            credentials = await callbacks.reseal_secrets()
        finally:
            for store in (callbacks, deliveries, interviews):
                await store.close()
    await asyncio.to_thread(Sealer(both.keys[:1]).write, path)
    return Rotated(endpoints, credentials, len(current.keys))
