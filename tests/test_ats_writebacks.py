"""ATS write-backs: what earlier versions kept as Greenhouse callbacks is adopted, in both stores, without loss; what
is owed an ATS account (not about any interview) is kept and sent like the rest."""

from __future__ import annotations

import time
from pathlib import Path

import aiosqlite
import redis.asyncio as redis

from server.storage.ats_writebacks import LINK, PAPERS, RESULT, WriteBacks, WriteBackStore
from server.storage.ats_writebacks_redis import RedisWriteBackStore
from server.storage.redis_client import Keys
from server.storage.sealed import Sealer
from server.storage.sqlite_store import InterviewStore
from tests.helpers.interviews import invite
from tests.test_store_migration import SPEC

SEALER = Sealer.generate()
KEYS = Keys("writeback-test:")

# The table as versions up to 2026-12-05 made it.
LEGACY_TABLE = """
CREATE TABLE greenhouse_callbacks (
    interview_id TEXT PRIMARY KEY REFERENCES interviews(id) ON DELETE CASCADE,
    url TEXT NOT NULL, api_key TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL,
    notified_at REAL, last_status INTEGER, last_error TEXT, created_at REAL NOT NULL
)"""


async def test_an_earlier_versions_greenhouse_callbacks_become_result_writebacks_in_sqlite(tmp_path: Path) -> None:
    database = tmp_path / "interviews.sqlite3"
    store = await InterviewStore.open(database)
    for interview_id in ("iv-pending", "iv-done"):
        await store.create_interview(SPEC, invite(interview_id), interview_id, tenant="acme")
    await store.close()
    async with aiosqlite.connect(database) as db:
        await db.execute(LEGACY_TABLE)
        now = time.time()
        await db.execute(
            "INSERT INTO greenhouse_callbacks VALUES ('iv-pending', 'https://gh.example/a', ?, 2, ?, NULL, 503, 'HTTP 503', ?)",
            (SEALER.seal("key-a"), now + 60, now),
        )
        await db.execute(
            "INSERT INTO greenhouse_callbacks VALUES ('iv-done', 'https://gh.example/b', ?, 1, NULL, ?, 200, NULL, ?)",
            (SEALER.seal("key-b"), now, now),
        )
        await db.commit()

    writebacks = await WriteBackStore.open(database, SEALER)
    try:
        pending = await writebacks.get("iv-pending", RESULT)
        assert pending is not None and pending.connector == "greenhouse"
        assert pending.target == {"url": "https://gh.example/a", "api_key": "key-a"}
        assert (pending.attempts, pending.last_status, pending.done_at) == (2, 503, None)
        assert pending.next_attempt_at == now + 60, "the retry schedule goes on where it was"
        done = await writebacks.get("iv-done", RESULT)
        assert done is not None and done.done_at == now and done.next_attempt_at is None
        assert await writebacks.get("iv-pending", LINK) is None
    finally:
        await writebacks.close()
    async with aiosqlite.connect(database) as db:
        cursor = await db.execute("SELECT name FROM sqlite_master WHERE name = 'greenhouse_callbacks'")
        assert await cursor.fetchall() == [], "adopted once: the old table is gone"


async def test_an_earlier_versions_greenhouse_callbacks_become_result_writebacks_in_redis(redis_client: redis.Redis) -> None:
    now = time.time()
    await redis_client.hset(KEYS.interview("iv-1"), "tenant", "acme")
    await redis_client.hset(
        KEYS.greenhouse_callback("iv-1"),
        mapping={"url": "https://gh.example/a", "api_key": SEALER.seal("key-a"), "attempts": 1, "next_attempt_at": now, "created_at": now},
    )
    await redis_client.zadd(KEYS.greenhouse_pending(), {"iv-1": now})
    store = RedisWriteBackStore(redis_client, KEYS, SEALER)

    assert await store.adopt_greenhouse_callbacks() == 1
    assert await store.adopt_greenhouse_callbacks() == 0, "adopted once"
    adopted = await store.get("iv-1", RESULT)
    assert adopted is not None and adopted.connector == "greenhouse" and adopted.attempts == 1
    assert adopted.target == {"url": "https://gh.example/a", "api_key": "key-a"}
    assert await redis_client.exists(KEYS.greenhouse_callback("iv-1"), KEYS.greenhouse_pending()) == 0
    await redis_client.hset(KEYS.interview_part("iv-1", "report"), "x", "1")  # what `due` waits for
    [due] = await store.due(now + 1)
    assert (due.interview_id, due.action, due.attempts) == ("iv-1", RESULT, 1)


async def owed_an_account_then_sent(store: WriteBacks) -> None:
    """An account's papers: due at once with no interview behind them, taken once, and due again when owed again."""
    target = {"app_id": "cli_a", "account_id": "6995", "papers": '[{"id": "backend_engineer:zh", "name": "后端"}]'}
    assert await store.add("cli_a:6995", PAPERS, "feishu_hire", target)
    assert not await store.add("iv-gone", LINK, "feishu_hire", {"app_id": "cli_a"}), "an interview's needs the interview"
    [due] = await store.due(time.time() + 1)
    assert (due.subject, due.action, due.interview_id, due.target) == ("cli_a:6995", PAPERS, None, target)
    now = time.time()
    assert await store.claim(due, now, 30.0) and not await store.claim(due, now, 30.0), "taken once"
    await store.record(due, 200, None, done=True, next_attempt_at=None)
    assert await store.due(time.time() + 60) == [] and await store.next_due_at() is None
    row = await store.get("cli_a:6995", PAPERS)
    assert row is not None and row.done_at is not None and row.attempts == 1 and row.target == target

    assert await store.add("cli_a:6995", PAPERS, "feishu_hire", {**target, "papers": "[]"})  # Feishu bound it again
    [again] = await store.due(time.time() + 1)
    assert (again.attempts, again.target["papers"]) == (0, "[]")


async def test_what_is_owed_an_ats_account_is_kept_and_taken_once_in_sqlite(tmp_path: Path) -> None:
    database = tmp_path / "interviews.sqlite3"
    await (await InterviewStore.open(database)).close()
    store = await WriteBackStore.open(database, SEALER)
    try:
        await owed_an_account_then_sent(store)
    finally:
        await store.close()


async def test_what_is_owed_an_ats_account_is_kept_and_taken_once_in_redis(redis_client: redis.Redis) -> None:
    await owed_an_account_then_sent(RedisWriteBackStore(redis_client, KEYS, SEALER))
