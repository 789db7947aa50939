"""The SQLite store's connections: commits synced to disk as the settings say, and writers across processes taking turns."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from server.storage.contract import open_store
from server.storage.outbox import EventType
from server.storage.sqlite_store import InterviewStore
from server.storage.sqlite_writer import LOCK_SUFFIX
from tests.conftest import make_settings

FULL, NORMAL = 2, 1  # what PRAGMA synchronous reads back


async def _synchronous(store: InterviewStore) -> int:
    rows = await store._db.execute_fetchall("PRAGMA synchronous")
    return int(next(iter(rows))[0])


async def test_commits_are_synced_to_disk_each_time_unless_the_operator_chooses_checkpoints(tmp_path: Path) -> None:
    default = await open_store(make_settings(tmp_path / "a", store="sqlite"), None)
    chosen = await open_store(make_settings(tmp_path / "b", store="sqlite", sqlite_synchronous="normal"), None)
    try:
        assert isinstance(default, InterviewStore) and isinstance(chosen, InterviewStore)
        assert await _synchronous(default) == FULL
        assert await _synchronous(chosen) == NORMAL
    finally:
        await default.close()
        await chosen.close()


HOLD_THE_FILE = """
import fcntl, sys
with open(sys.argv[1], "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    print("held", flush=True)
    sys.stdin.readline()
"""
TAKE_THE_FILE = """
import fcntl, signal, sys
signal.alarm(20)  # still held by then: the test fails on the exit code
with open(sys.argv[1], "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
"""


async def _another_process_writing(database: Path) -> asyncio.subprocess.Process:
    """A process that holds `database`'s writer turn until a line reaches its stdin."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_THE_FILE, str(database) + LOCK_SUFFIX, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert await holder.stdout.readline() == b"held\n"
    return holder


async def _let_go(holder: asyncio.subprocess.Process) -> None:
    assert holder.stdin is not None
    holder.stdin.write(b"\n")
    await holder.stdin.drain()
    assert await holder.wait() == 0


async def test_a_write_waits_while_another_process_writes_the_file_and_goes_once_it_is_done(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    store = await InterviewStore.open(database)
    try:
        holder = await _another_process_writing(database)
        write = asyncio.ensure_future(store.record_tenant_event("t", EventType.CANDIDATE_APPLIED, {"n": 1}))
        done, _ = await asyncio.wait({write}, timeout=0.5)
        assert not done  # its turn has not come: the other process still writes
        await _let_go(holder)
        await asyncio.wait_for(write, 10)
        assert len(await store._read("SELECT id FROM outbox_events")) == 1
    finally:
        await store.close()


async def test_a_write_given_up_while_waiting_for_its_turn_does_not_keep_the_file_from_other_processes(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    store = await InterviewStore.open(database)
    try:
        holder = await _another_process_writing(database)
        write = asyncio.ensure_future(store.hold_idempotency_key("t", "key", 60.0))  # a transaction of its own
        done, _ = await asyncio.wait({write}, timeout=0.5)
        assert not done
        write.cancel()
        await _let_go(holder)  # the cancelled write's waiting thread gets the turn now, and must hand it back
        taker = await asyncio.create_subprocess_exec(sys.executable, "-c", TAKE_THE_FILE, str(database) + LOCK_SUFFIX)
        assert await taker.wait() == 0
        await asyncio.wait_for(store.record_tenant_event("t", EventType.CANDIDATE_APPLIED, {"n": 2}), 10)
    finally:
        await store.close()
