"""What the server still owes an ATS: about an interview it created there (the candidate's entry link, the result),
or about one of its accounts (the tests it may order, published as the account's papers).

The `ats_writebacks` table in the interview database, one row per interview and action, kept until the call
succeeded or was given up; a row goes with its interview (ON DELETE CASCADE), so an erased candidate is never reported.
What is owed an ATS account holds no personal data and no interview: the `ats_account_writebacks` table, one row per
account and action, kept the same way.
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
from server.storage.sqlite_connection import SerialConnection, Synchronous, connect

Action = Literal["link", "result", "papers"]
LINK: Action = "link"  # hand the candidate's entry link to the ATS: due as soon as the interview exists
RESULT: Action = "result"  # the interview's outcome: due once its report exists
PAPERS: Action = "papers"  # the tests an ATS account may order (its "papers"): due at once; owed the account
INTERVIEW_ACTIONS: tuple[Action, ...] = (LINK, RESULT)
ACCOUNT_ACTIONS: tuple[Action, ...] = (PAPERS,)
ACTIONS: tuple[Action, ...] = INTERVIEW_ACTIONS + ACCOUNT_ACTIONS


def as_action(name: str) -> Action | None:
    for action in ACTIONS:
        if name == action:
            return action
    return None


# What both tables keep of a write-back besides its subject (an interview, an ATS account) and action.
_STATE = """
    connector TEXT NOT NULL,
    target TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    done_at REAL,
    last_status INTEGER,
    last_error TEXT,
    created_at REAL NOT NULL,"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS ats_writebacks (
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    action TEXT NOT NULL,{_STATE}
    PRIMARY KEY (interview_id, action)
);
CREATE INDEX IF NOT EXISTS ats_writebacks_pending ON ats_writebacks(next_attempt_at)
    WHERE done_at IS NULL AND next_attempt_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS ats_account_writebacks (
    account TEXT NOT NULL,
    action TEXT NOT NULL,{_STATE}
    PRIMARY KEY (account, action)
);
"""


@dataclass(frozen=True)
class WriteBack:
    subject: str  # the interview's id; for an account action, the ATS account's (as its connector names it)
    action: Action
    connector: str  # which connector sends it: "greenhouse", "feishu_hire", "moka"
    target: Mapping[str, str]  # what that connector needs to address the ATS
    attempts: int

    @property
    def key(self) -> str:
        return f"{self.subject}:{self.action}"

    @property
    def interview_id(self) -> str | None:
        """The interview it is about; None for what is owed an ATS account."""
        return None if self.action in ACCOUNT_ACTIONS else self.subject


def _table(action: Action) -> tuple[str, str]:
    """The SQLite table that keeps `action`, and its subject column."""
    return ("ats_account_writebacks", "account") if action in ACCOUNT_ACTIONS else ("ats_writebacks", "interview_id")


class WriteBacks(Protocol):
    """What the sender needs of a write-back store: SQLite's `WriteBackStore` or Redis's `RedisWriteBackStore`."""

    async def close(self) -> None: ...

    async def add(self, subject: str, action: Action, connector: str, target: Mapping[str, str]) -> bool: ...

    async def due(self, now: float, limit: int = 50) -> list[WriteBack]: ...

    async def next_due_at(self) -> float | None: ...

    async def claim(self, item: WriteBack, now: float, lease_s: float) -> bool: ...

    async def record(
        self, item: WriteBack, status_code: int | None, error: str | None, *, done: bool, next_attempt_at: float | None
    ) -> None: ...

    async def get(self, subject: str, action: Action) -> WriteBackRow | None: ...

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
    async def open(cls, path: Path, sealer: Sealer, synchronous: Synchronous = "full") -> WriteBackStore:
        store = cls(await connect(path, SCHEMA, synchronous), sealer)
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
        resealed = 0
        for table, subject in (_table(LINK), _table(PAPERS)):
            rows = await self._read(f"SELECT {subject} AS subject, action, target FROM {table}")
            async with self._transaction() as db:
                for row in rows:
                    await db.execute(
                        f"UPDATE {table} SET target = ? WHERE {subject} = ? AND action = ?",
                        (self._sealer.reseal(row["target"]), row["subject"], row["action"]),
                    )
            resealed += len(rows)
        return resealed

    async def add(self, subject: str, action: Action, connector: str, target: Mapping[str, str]) -> bool:
        """Owe the ATS `action` for the interview, or the account, `subject` (a second add replaces the target); False
        when the interview is gone."""
        now = time.time()
        sealed = seal_target(self._sealer, target)
        async with self._transaction() as db:
            if action in ACCOUNT_ACTIONS:
                cursor = await db.execute(
                    "INSERT INTO ats_account_writebacks (account, action, connector, target, next_attempt_at, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(account, action) DO UPDATE SET connector = excluded.connector,"
                    " target = excluded.target, next_attempt_at = excluded.next_attempt_at, attempts = 0, done_at = NULL",
                    (subject, action, connector, sealed, now, now),
                )
                return cursor.rowcount == 1
            # INSERT ... SELECT: an interview erased a moment ago gets no row (rather than a foreign-key error).
            cursor = await db.execute(
                "INSERT INTO ats_writebacks (interview_id, action, connector, target, next_attempt_at, created_at)"
                " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM interviews WHERE id = ?)"
                " ON CONFLICT(interview_id, action) DO UPDATE SET connector = excluded.connector, target = excluded.target",
                (subject, action, connector, sealed, now, now, subject),
            )
            return cursor.rowcount == 1

    # Pending rows of both tables (an interview's result only once its report exists), as one relation.
    _PENDING = (
        "SELECT w.interview_id AS subject, w.action, w.connector, w.target, w.attempts, w.next_attempt_at"
        " FROM ats_writebacks w WHERE w.done_at IS NULL AND w.next_attempt_at IS NOT NULL"
        " AND (w.action != 'result' OR EXISTS (SELECT 1 FROM reports r WHERE r.interview_id = w.interview_id))"
        " UNION ALL SELECT account, action, connector, target, attempts, next_attempt_at FROM ats_account_writebacks"
        " WHERE done_at IS NULL AND next_attempt_at IS NOT NULL"
    )

    async def due(self, now: float, limit: int = 50) -> list[WriteBack]:
        """Write-backs not yet done whose next attempt is due (a result's only once the report exists); oldest first."""
        rows = await self._read(
            f"SELECT * FROM ({self._PENDING}) WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?", (now, limit)
        )
        return [
            WriteBack(row["subject"], row["action"], row["connector"], open_target(self._sealer, row["target"]), row["attempts"])
            for row in rows
        ]

    async def next_due_at(self) -> float | None:
        rows = await self._read(f"SELECT MIN(next_attempt_at) AS at FROM ({self._PENDING})")
        return rows[0]["at"] if rows else None

    async def claim(self, item: WriteBack, now: float, lease_s: float) -> bool:
        """Take a due write-back for one attempt: its next attempt moves `lease_s` ahead (a crash mid-attempt retries it
        then); False when another pass or node took it, or it was done or erased meanwhile."""
        table, subject = _table(item.action)
        async with self._transaction() as db:
            cursor = await db.execute(
                f"UPDATE {table} SET next_attempt_at = ? WHERE {subject} = ? AND action = ? AND done_at IS NULL"
                " AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? AND attempts = ?",
                (now + lease_s, item.subject, item.action, now, item.attempts),
            )
            return cursor.rowcount == 1

    async def record(
        self, item: WriteBack, status_code: int | None, error: str | None, *, done: bool, next_attempt_at: float | None
    ) -> None:
        """One attempt's result. `next_attempt_at` None without `done`: given up. A row erased meanwhile stays gone."""
        now = time.time()
        table, subject = _table(item.action)
        async with self._transaction() as db:
            await db.execute(
                f"UPDATE {table} SET attempts = ?, next_attempt_at = ?, done_at = ?, last_status = ?, last_error = ?"
                f" WHERE {subject} = ? AND action = ?",
                (
                    item.attempts + 1,
                    None if done else next_attempt_at,
                    now if done else None,
                    status_code,
                    error,
                    item.subject,
                    item.action,
                ),
            )

    async def get(self, subject: str, action: Action) -> WriteBackRow | None:
        table, column = _table(action)
        rows = await self._read(f"SELECT *, {column} AS subject FROM {table} WHERE {column} = ? AND action = ?", (subject, action))
        if not rows:
            return None
        return WriteBackRow.model_validate({**dict(rows[0]), "target": open_target(self._sealer, rows[0]["target"])})
