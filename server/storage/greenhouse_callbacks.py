"""Greenhouse's callback URLs, kept until each interview's report is PATCHed to it: the `greenhouse_callbacks` table
in the interview database (a row goes with its interview, ON DELETE CASCADE, so an erased candidate is never
reported); `greenhouse_callbacks_redis.py` keeps the same in Redis. `hrms_bridge/adapters/greenhouse_notifier.py`
sends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosqlite

from server.storage.rows import CallbackRow
from server.storage.sealed import Sealer
from server.storage.sqlite_connection import SerialConnection, connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS greenhouse_callbacks (
    interview_id TEXT PRIMARY KEY REFERENCES interviews(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    api_key TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    notified_at REAL,
    last_status INTEGER,
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS greenhouse_callbacks_pending ON greenhouse_callbacks(next_attempt_at)
    WHERE notified_at IS NULL AND next_attempt_at IS NOT NULL;
"""


@dataclass(frozen=True)
class Callback:
    interview_id: str
    url: str
    api_key: str
    attempts: int


class Callbacks(Protocol):
    """What the notifier needs of a callback store: SQLite's `CallbackStore` or Redis's `RedisCallbackStore`."""

    async def close(self) -> None: ...

    async def add(self, interview_id: str, url: str, api_key: str) -> bool: ...

    async def due(self, now: float, limit: int = 50) -> list[Callback]: ...

    async def next_due_at(self) -> float | None: ...

    async def claim(self, callback: Callback, now: float, lease_s: float) -> bool: ...

    async def record(
        self, callback: Callback, status_code: int | None, error: str | None, *, notified: bool, next_attempt_at: float | None
    ) -> None: ...

    async def get(self, interview_id: str) -> CallbackRow | None: ...

    async def reseal_secrets(self) -> int:
        """Every stored credential sealed again with the newest key (after a key rotation); how many."""
        ...


class CallbackStore(SerialConnection):
    """The `greenhouse_callbacks` table. Create with `open(path)` on the interview database; release with `close()`.

    One connection, one statement at a time (as `DeliveryStore`): autocommit, BEGIN IMMEDIATE for writes.
    """

    def __init__(self, db: aiosqlite.Connection, sealer: Sealer) -> None:
        super().__init__(db)
        self._sealer = sealer  # the ATS credential is stored sealed (`sealed.py`)

    @classmethod
    async def open(cls, path: Path, sealer: Sealer) -> CallbackStore:
        return cls(await connect(path, SCHEMA), sealer)

    async def reseal_secrets(self) -> int:
        rows = await self._read("SELECT interview_id, api_key FROM greenhouse_callbacks")
        async with self._transaction() as db:
            for row in rows:
                await db.execute(
                    "UPDATE greenhouse_callbacks SET api_key = ? WHERE interview_id = ?",
                    (self._sealer.reseal(row["api_key"]), row["interview_id"]),
                )
        return len(rows)

    async def add(self, interview_id: str, url: str, api_key: str) -> bool:
        """Remember where to signal the interview's completion; False when the interview no longer exists."""
        now = time.time()
        async with self._transaction() as db:
            # INSERT ... SELECT: an interview erased a moment ago gets no row (rather than a foreign-key error).
            cursor = await db.execute(
                "INSERT INTO greenhouse_callbacks (interview_id, url, api_key, next_attempt_at, created_at)"
                " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM interviews WHERE id = ?)"
                " ON CONFLICT(interview_id) DO UPDATE SET url = excluded.url, api_key = excluded.api_key",
                (interview_id, url, self._sealer.seal(api_key), now, now, interview_id),
            )
            return cursor.rowcount == 1

    async def due(self, now: float, limit: int = 50) -> list[Callback]:
        """Callbacks whose interview has its report, not yet notified, whose next attempt is due; oldest first."""
        rows = await self._read(
            "SELECT c.interview_id, c.url, c.api_key, c.attempts FROM greenhouse_callbacks c"
            " JOIN reports r ON r.interview_id = c.interview_id"
            " WHERE c.notified_at IS NULL AND c.next_attempt_at IS NOT NULL AND c.next_attempt_at <= ?"
            " ORDER BY c.next_attempt_at LIMIT ?",
            (now, limit),
        )
        return [Callback(row["interview_id"], row["url"], self._sealer.open(row["api_key"]), row["attempts"]) for row in rows]

    async def next_due_at(self) -> float | None:
        rows = await self._read(
            "SELECT MIN(c.next_attempt_at) AS at FROM greenhouse_callbacks c JOIN reports r ON r.interview_id = c.interview_id"
            " WHERE c.notified_at IS NULL AND c.next_attempt_at IS NOT NULL"
        )
        return rows[0]["at"] if rows else None

    async def claim(self, callback: Callback, now: float, lease_s: float) -> bool:
        """Take a due callback for one attempt: its next attempt moves `lease_s` ahead (a crash mid-attempt retries
        it then); False when another pass or node took it, or it was notified or erased meanwhile."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE greenhouse_callbacks SET next_attempt_at = ? WHERE interview_id = ? AND notified_at IS NULL"
                " AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? AND attempts = ?",
                (now + lease_s, callback.interview_id, now, callback.attempts),
            )
            return cursor.rowcount == 1

    async def record(
        self, callback: Callback, status_code: int | None, error: str | None, *, notified: bool, next_attempt_at: float | None
    ) -> None:
        """One attempt's result. `next_attempt_at` None without `notified`: given up. A row erased meanwhile stays gone."""
        now = time.time()
        async with self._transaction() as db:
            await db.execute(
                "UPDATE greenhouse_callbacks SET attempts = ?, next_attempt_at = ?, notified_at = ?, last_status = ?,"
                " last_error = ? WHERE interview_id = ?",
                (
                    callback.attempts + 1,
                    None if notified else next_attempt_at,
                    now if notified else None,
                    status_code,
                    error,
                    callback.interview_id,
                ),
            )

    async def get(self, interview_id: str) -> CallbackRow | None:
        rows = await self._read("SELECT * FROM greenhouse_callbacks WHERE interview_id = ?", (interview_id,))
        if not rows:
            return None
        return CallbackRow.model_validate({**dict(rows[0]), "api_key": self._sealer.open(rows[0]["api_key"])})
