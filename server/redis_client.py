"""The one Redis client a node shares between its bus, node registry, rate limit and webhook stream, and its key names."""

from __future__ import annotations

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from server.settings import Settings


def open_redis(settings: Settings) -> redis.Redis:
    """A client for INTERVIEW_REDIS_URL; it connects on first use, so a node starts even while Redis is down.

    No retries inside the client: each user decides what an outage means for it (drop a live event,
    fall back to the local bucket, keep a webhook in SQLite), and a call fails within the timeout.
    """
    assert settings.redis_url is not None
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
    )


class Keys:
    """Every Redis name this server uses, under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def channel(self, topic: str) -> str:
        return f"{self.prefix}bus:{topic}"

    def topic(self, channel: bytes | str) -> str:
        name = channel.decode() if isinstance(channel, bytes) else channel
        return name.removeprefix(f"{self.prefix}bus:")

    def node(self, node_id: str) -> str:
        return f"{self.prefix}nodes:{node_id}"

    def nodes_pattern(self) -> str:
        return f"{self.prefix}nodes:*"

    def live(self, interview_id: str) -> str:
        return f"{self.prefix}live:{interview_id}"

    def rate(self, tenant: str) -> str:
        return f"{self.prefix}rate:{tenant}"

    def webhook_stream(self) -> str:
        return f"{self.prefix}webhooks"
