"""A real redis-server for tests: started on a free loopback port, stopped (and restartable, for outages) by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from server.settings import Settings
from server.storage.redis_client import Keys, open_redis
from tests.helpers.waiting import eventually


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server process with no persistence (or, `persistent`, an append-only file and snapshots, both
    uncompressed so a test can search them); `stop()` and `start()` again simulate an outage on the same port."""

    def __init__(self, workdir: Path, port: int | None = None, persistent: bool = False) -> None:
        self.persistent = persistent
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: Redis tests need it (apt-get install redis-server; scripts/test.sh does)")
        self.binary = binary
        self.workdir = workdir
        self.port = port or _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                *(
                    ["--save", "3600 1", "--appendonly", "yes", "--aof-use-rdb-preamble", "no", "--rdbcompression", "no"]
                    if self.persistent
                    else ["--save", "", "--appendonly", "no"]
                ),
                "--dir",
                str(self.workdir),
                "--loglevel",
                "warning",
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: see {self.workdir / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("redis-server did not answer PING")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    """A client of the test's own redis-server."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


KEYS = Keys("test:")


async def subscribers(client: redis.Redis, topic: str, keys: Keys = KEYS) -> int:
    return dict(await client.pubsub_numsub(keys.channel(topic)))[keys.channel(topic).encode()]


async def until_subscribed(client: redis.Redis, topic: str, count: int = 1, keys: Keys = KEYS) -> None:
    async def check() -> bool:
        return await subscribers(client, topic, keys) == count

    await eventually(check)


def client_for(server: RedisServer) -> redis.Redis:
    return open_redis(Settings(redis_url=server.url, redis_timeout_s=1.0))
