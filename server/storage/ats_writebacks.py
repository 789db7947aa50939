"""What the server still owes an ATS about an interview it created there: the candidate's entry link, the result.

The `ats_writebacks` table in the interview database, one row per interview and action, kept until the call
succeeded or was given up; a row goes with its interview (ON DELETE CASCADE), so an erased candidate is never reported.
`ats_writebacks_redis.py` keeps the same in Redis; `hrms_bridge/writeback_sender.py` sends, through the connector
the row names (`hrms_bridge/connectors/`). The target (the ATS's ids for the interview, a callback URL, a credential)
is stored sealed (`sealed.py`).

Rows of the `greenhouse_callbacks` table of earlier versions are adopted, as Greenhouse result write-backs, when the
store opens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import aiosqlite

from server.storage.rows import WriteBackRow
from server.storage.sealed import Sealer
from server.storage.sqlite_connection import SerialConnection, connect

Action = Literal["link", "result"]
LINK: Action = "link"  # hand the candidate's entry link to the ATS: due as soon as the interview exists
RESULT: Action = "result"  # the interview's outcome: due once its report exists
ACTIONS: tuple[Action, ...] = (LINK, RESULT)


def as_action(name: str) -> Action | None:
    for action in ACTIONS:
        if name == action:
            return action
    return None


SCHEMA = """
CREATE TABLE IF NOT EXISTS ats_writebacks (
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    connector TEXT NOT NULL,
    target TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    done_at REAL,
    last_status INTEGER,
    last_error TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (interview_id, action)
);
CREATE INDEX IF NOT EXISTS ats_writebacks_pending ON ats_writebacks(next_attempt_at)
    WHERE done_at IS NULL AND next_attempt_at IS NOT NULL;
"""


@dataclass(frozen=True)
class WriteBack:
    interview_id: str
    action: Action
    connector: str  # which connector sends it: "greenhouse", "feishu_hire", "moka"
    target: Mapping[str, str]  # what that connector needs to address the ATS
    attempts: int

    @property
    def key(self) -> str:
        return f"{self.interview_id}:{self.action}"


class WriteBacks(Protocol):
    """What the sender needs of a write-back store: SQLite's `WriteBackStore` or Redis's `RedisWriteBackStore`."""

    async def close(self) -> None: ...

    async def add(self, interview_id: str, action: Action, connector: str, target: Mapping[str, str]) -> bool: ...

    async def due(self, now: float, limit: int = 50) -> list[WriteBack]: ...

    async def next_due_at(self) -> float | None: ...

    async def claim(self, item: WriteBack, now: float, lease_s: float) -> bool: ...

    async def record(
        self, item: WriteBack, status_code: int | None, error: str | None, *, done: bool, next_attempt_at: float | None
    ) -> None: ...

    async def get(self, interview_id: str, action: Action) -> WriteBackRow | None: ...

    async def reseal_secrets(self) -> int:
        """Every stored target sealed again with the newest key (after a key rotation); how many."""
        ...


def seal_target(sealer: Sealer, target: Mapping[str, str]) -> str:
    return sealer.seal(json.dumps(dict(target), sort_keys=True))


def open_target(sealer: Sealer, stored: str) -> dict[str, str]:
    opened = json.loads(sealer.open(stored))
    return {str(k): str(v) for k, v in opened.items()}


class WriteBackStore(SerialConnection):
    """The `ats_writebacks` table. Create with `open(path)` on the interview database; release with `close()`.

    One connection, one statement at a time (as `DeliveryStore`): autocommit, BEGIN IMMEDIATE for writes.
    """

    def __init__(self, db: aiosqlite.Connection, sealer: Sealer) -> None:
        super().__init__(db)
        self._sealer = sealer

    @classmethod
    async def open(cls, path: Path, sealer: Sealer) -> WriteBackStore:
        store = cls(await connect(path, SCHEMA), sealer)
        await store._adopt_greenhouse_callbacks()
        return store

    async def _adopt_greenhouse_callbacks(self) -> None:
        """Earlier versions kept Greenhouse's callbacks in a table of their own: move them here, once."""
        if not await self._read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'greenhouse_callbacks'"):
            return
        rows = await self._read("SELECT * FROM greenhouse_callbacks")
        async with self._transaction() as db:
            for row in rows:
                target = {"url": row["url"], "api_key": self._sealer.open(row["api_key"])}
                await db.execute(
                    "INSERT OR IGNORE INTO ats_writebacks (interview_id, action, connector, target, attempts, next_attempt_at,"
                    " done_at, last_status, last_error, created_at) VALUES (?, 'result', 'greenhouse', ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row["interview_id"],
                        seal_target(self._sealer, target),
                        row["attempts"],
                        row["next_attempt_at"],
                        row["notified_at"],
                        row["last_status"],
                        row["last_error"],
                        row["created_at"],
                    ),
                )
            await db.execute("DROP TABLE greenhouse_callbacks")

    async def reseal_secrets(self) -> int:
        rows = await self._read("SELECT interview_id, action, target FROM ats_writebacks")
        async with self._transaction() as db:
            for row in rows:
                await db.execute(
                    "UPDATE ats_writebacks SET target = ? WHERE interview_id = ? AND action = ?",
                    (self._sealer.reseal(row["target"]), row["interview_id"], row["action"]),
                )
        return len(rows)

    async def add(self, interview_id: str, action: Action, connector: str, target: Mapping[str, str]) -> bool:
        """Owe the ATS `action` for the interview (a second add replaces the target); False when the interview is gone."""
        now = time.time()
        async with self._transaction() as db:
            # INSERT ... SELECT: an interview erased a moment ago gets no row (rather than a foreign-key error).
            cursor = await db.execute(
                "INSERT INTO ats_writebacks (interview_id, action, connector, target, next_attempt_at, created_at)"
                " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM interviews WHERE id = ?)"
                " ON CONFLICT(interview_id, action) DO UPDATE SET connector = excluded.connector, target = excluded.target",
                (interview_id, action, connector, seal_target(self._sealer, target), now, now, interview_id),
            )
            return cursor.rowcount == 1

    _DUE = (
        " FROM ats_writebacks w WHERE w.done_at IS NULL AND w.next_attempt_at IS NOT NULL"
        " AND (w.action != 'result' OR EXISTS (SELECT 1 FROM reports r WHERE r.interview_id = w.interview_id))"
    )

    async def due(self, now: float, limit: int = 50) -> list[WriteBack]:
        """Write-backs not yet done whose next attempt is due (a result's only once the report exists); oldest first."""
        rows = await self._read(
            f"SELECT w.interview_id, w.action, w.connector, w.target, w.attempts{self._DUE} AND w.next_attempt_at <= ?"
            " ORDER BY w.next_attempt_at LIMIT ?",
            (now, limit),
        )
        return [
            WriteBack(row["interview_id"], row["action"], row["connector"], open_target(self._sealer, row["target"]), row["attempts"])
            for row in rows
        ]

    async def next_due_at(self) -> float | None:
        rows = await self._read(f"SELECT MIN(w.next_attempt_at) AS at{self._DUE}")
        return rows[0]["at"] if rows else None

    async def claim(self, item: WriteBack, now: float, lease_s: float) -> bool:
        """Take a due write-back for one attempt: its next attempt moves `lease_s` ahead (a crash mid-attempt retries it
        then); False when another pass or node took it, or it was done or erased meanwhile."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE ats_writebacks SET next_attempt_at = ? WHERE interview_id = ? AND action = ? AND done_at IS NULL"
                " AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? AND attempts = ?",
                (now + lease_s, item.interview_id, item.action, now, item.attempts),
            )
            return cursor.rowcount == 1

    async def record(
        self, item: WriteBack, status_code: int | None, error: str | None, *, done: bool, next_attempt_at: float | None
    ) -> None:
        """One attempt's result. `next_attempt_at` None without `done`: given up. A row erased meanwhile stays gone."""
        now = time.time()
        async with self._transaction() as db:
            await db.execute(
                "UPDATE ats_writebacks SET attempts = ?, next_attempt_at = ?, done_at = ?, last_status = ?, last_error = ?"
                " WHERE interview_id = ? AND action = ?",
                (
                    item.attempts + 1,
                    None if done else next_attempt_at,
                    now if done else None,
                    status_code,
                    error,
                    item.interview_id,
                    item.action,
                ),
            )

    async def get(self, interview_id: str, action: Action) -> WriteBackRow | None:
        rows = await self._read("SELECT * FROM ats_writebacks WHERE interview_id = ? AND action = ?", (interview_id, action))
        if not rows:
            return None
        return WriteBackRow.model_validate({**dict(rows[0]), "target": open_target(self._sealer, rows[0]["target"])})
