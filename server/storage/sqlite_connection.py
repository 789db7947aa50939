"""One SQLite connection shared by many coroutines, used safely: one statement at a time, writes that wait for the lock.

Two things go wrong otherwise, both seen under load: a read still stepping on the connection pins an old
snapshot, so another coroutine's write on it fails at once with "database is locked"; and a deferred
transaction that read first cannot wait for the write lock another connection (the interview store) holds.
So every read runs under one asyncio lock, and writes start with BEGIN IMMEDIATE on an autocommit connection.
Every write also waits for its turn among all the connections to the file (`sqlite_writer.py`) rather than in
SQLite's busy handler, which sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import weakref
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Literal

import aiosqlite

from server.storage.private_files import private_file
from server.storage.sqlite_writer import WriterTurn, writer_turn

BUSY_TIMEOUT_S = 30.0
# How each commit reaches the disk (settings.sqlite_synchronous): "full" syncs the WAL on every commit, so a commit
# survives the machine losing power; "normal" syncs it at checkpoints, so a commit survives the process being killed
# (kill -9) but the last ones before a power loss or kernel crash may roll back. The database is never corrupted either way.
Synchronous = Literal["full", "normal"]
GROUP_COMMIT_MAX = 64  # transactions committed together at most
Statement = tuple[str, Sequence[object]]

_turn_of: weakref.WeakKeyDictionary[aiosqlite.Connection, WriterTurn] = weakref.WeakKeyDictionary()


async def connect(path: Path, schema: str, synchronous: Synchronous = "full") -> aiosqlite.Connection:
    """An autocommit connection in WAL mode with foreign keys on, commits synced as `synchronous` says, and `schema`
    (idempotent DDL) applied. The file (and with it the WAL) is the service user's alone: it holds personal data and
    webhook secrets."""
    await asyncio.to_thread(private_file, path)
    db = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA synchronous=" + {"full": "FULL", "normal": "NORMAL"}[synchronous])
        # Deleted rows are overwritten, not left in free pages: erasure must leave nothing readable in the file.
        await db.execute("PRAGMA secure_delete=ON")
        _turn_of[db] = turn = writer_turn(path)
        async with turn:
            await db.executescript(schema)
    except BaseException:
        await db.close()
        raise
    return db


class SerialConnection:
    """Base for the bridge's stores: `_read`, `_read_one` and `_transaction` on one connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._turn = _turn_of[db]  # the file's, shared with the other connections to it
        self._commits: list[tuple[list[Statement], asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._committer is not None:
            await asyncio.gather(self._committer, return_exceptions=True)
        await self._db.close()

    async def _read(self, sql: str, params: Sequence[object] = ()) -> list[aiosqlite.Row]:
        # One trip to the connection's thread (execute, fetch and close there), not three: each trip waits for that
        # thread and for the GIL, which is what a read costs when the CPU is busy.
        async with self._lock:
            return list(await self._db.execute_fetchall(sql, params))

    async def _write_one(self, sql: str, params: Sequence[object] = ()) -> None:
        """One statement on its own. SQLite makes a statement atomic by itself, so it needs no BEGIN and COMMIT:
        one trip to the connection's thread instead of three, which is what a write costs when the CPU is busy
        (at 8 live interviews on 2 cores, writes queued for seconds behind each other's round trips)."""
        async with self._turn, self._lock:
            await self._db.execute(sql, params)

    async def _write_fetch(self, sql: str, params: Sequence[object] = ()) -> list[aiosqlite.Row]:
        """One statement that writes and returns rows (`... RETURNING`), on its own like `_write_one`."""
        async with self._turn, self._lock:
            return list(await self._db.execute_fetchall(sql, params))

    async def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it: the WAL still holds deleted rows' old pages until then."""
        async with self._turn, self._lock:
            await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def _read_one(self, sql: str, params: Sequence[object] = ()) -> aiosqlite.Row | None:
        rows = await self._read(sql, params)
        return rows[0] if rows else None

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Statements in the block commit together, or roll back on any error (never leaving the write lock held)."""
        async with self._turn, self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise

    async def _commit_together(self, statements: list[Statement]) -> None:
        """`statements` as one transaction, committed with the transactions other coroutines ask for meanwhile (group
        commit): one turn, one BEGIN and one COMMIT (one sync of the WAL) for all of them, and a statement that several
        run in a row executed for all in one trip (`executemany`). Requests that each write an event on a busy node
        had waited in line for three trips to the connection's thread apiece. Returns once committed; if any of the
        batch fails, each is tried again on its own, so only that one fails (with its own error). A caller cancelled
        while it waits does not take its transaction back: it commits or fails with the others."""
        done = asyncio.get_running_loop().create_future()
        self._commits.append((statements, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.ensure_future(self._write_commits())
        await done

    async def _write_commits(self) -> None:
        batch: list[tuple[list[Statement], asyncio.Future[None]]] = []
        try:
            while self._commits:
                batch, self._commits = self._commits[:GROUP_COMMIT_MAX], self._commits[GROUP_COMMIT_MAX:]
                outcomes = [await self._written([statement for statements, _ in batch for statement in statements])]
                if outcomes[0] is None:
                    outcomes *= len(batch)
                elif len(batch) > 1:  # one of them failed: each on its own, so only that one fails
                    outcomes = [await self._written(statements) for statements, _ in batch]
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    _settle(done, outcome)
        finally:  # cancelled (the loop is closing): nobody waits for ever
            for _, done in [*batch, *self._commits]:
                if not done.done():
                    done.cancel()

    async def _written(self, statements: list[Statement]) -> Exception | None:
        """`_write_statements`, with what went wrong (each caller hears of its own failure) instead of raising it."""
        try:
            await self._write_statements(statements)
        except Exception as error:  # noqa: BLE001 - handed to the caller whose transaction it was
            return error
        return None

    async def _write_statements(self, statements: list[Statement]) -> None:
        if len(statements) == 1:
            await self._write_one(*statements[0])
            return
        async with self._transaction() as db:
            for sql, same in itertools.groupby(statements, key=lambda statement: statement[0]):
                params = [p for _, p in same]
                if len(params) == 1:
                    await db.execute(sql, params[0])
                else:
                    await db.executemany(sql, params)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # its caller was cancelled
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
