"""Embedded interview store on SQLite, so a node runs with nothing else installed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

from collections.abc import Callable
from typing import Any

import aiosqlite

from hrms_bridge.outbox import OUTBOX_SCHEMA, EventType, add_event
from server.schemas import Interview, InterviewSpec, InterviewStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS interviews (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    current_question INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    invite_expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    question_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_interview ON answers(interview_id, seq);
CREATE TABLE IF NOT EXISTS transcripts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    question_id TEXT NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    language TEXT NOT NULL,
    text TEXT NOT NULL,
    segments TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transcripts_by_interview ON transcripts(interview_id, seq);
CREATE TABLE IF NOT EXISTS observations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    question_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_by_interview ON observations(interview_id, kind, seq);
CREATE TABLE IF NOT EXISTS scored_answers (
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    question_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (interview_id, idx)
);
CREATE TABLE IF NOT EXISTS reports (
    interview_id TEXT PRIMARY KEY REFERENCES interviews(id) ON DELETE CASCADE,
    schema_version TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


STATUS_EVENTS = {
    InterviewStatus.IN_PROGRESS: EventType.INTERVIEW_STARTED,
    InterviewStatus.COMPLETED: EventType.INTERVIEW_COMPLETED,
}


def interview_event(interview: Interview) -> dict[str, Any]:
    """What interview.* events say about an interview."""
    return {
        "interview_id": interview.id,
        "status": interview.status.value,
        "job_title": interview.job.title,
        "candidate_name": interview.candidate.name,
        "candidate_email": interview.candidate.email,
        "mode": interview.mode,
        "language": interview.language,
        "answers": interview.current_question,
        "invite_expires_at": interview.invite_expires_at,
    }


class InterviewStore:
    """Interviews and their answers. Create with `open()`, release with `close()`."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        # Called after a commit that added outbox events, so the dispatcher need not wait for its next poll.
        self.on_event: Callable[[], None] | None = None

    @classmethod
    async def open(cls, path: Path) -> InterviewStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.executescript(SCHEMA + OUTBOX_SCHEMA)
        await db.commit()
        return cls(db)

    async def _write(
        self, sql: str, params: tuple[object, ...], events: list[tuple[EventType, dict[str, Any]]] | None = None
    ) -> None:
        """One statement and its outbox events as one transaction.

        Every write goes through here, under one lock: coroutines share the connection, and another's
        commit must never land between a change and its event.
        """
        async with self._lock:
            try:
                await self._db.execute(sql, params)
                for event_type, data in events or ():
                    await add_event(self._db, event_type, data)
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise
        if events and self.on_event is not None:
            self.on_event()

    async def close(self) -> None:
        await self._db.close()

    async def create_interview(
        self, spec: InterviewSpec, invite_expires_at: int, interview_id: str | None = None
    ) -> Interview:
        interview = Interview(
            **spec.model_dump(),
            id=interview_id or uuid.uuid4().hex,
            created_at=time.time(),
            invite_expires_at=invite_expires_at,
        )
        await self._write(
            "INSERT INTO interviews (id, spec, status, current_question, created_at, invite_expires_at)"
            " VALUES (?, ?, ?, 0, ?, ?)",
            (interview.id, spec.model_dump_json(), interview.status.value, interview.created_at, invite_expires_at),
            events=[(EventType.INTERVIEW_SCHEDULED, interview_event(interview))],
        )
        return interview

    async def get_interview(self, interview_id: str) -> Interview | None:
        async with self._db.execute("SELECT * FROM interviews WHERE id = ?", (interview_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return Interview(
            **json.loads(row["spec"]),
            id=row["id"],
            status=InterviewStatus(row["status"]),
            current_question=row["current_question"],
            created_at=row["created_at"],
            invite_expires_at=row["invite_expires_at"],
        )

    async def update_progress(
        self, interview_id: str, status: InterviewStatus, current_question: int, announce: Interview | None = None
    ) -> None:
        """Move the interview on; with `announce` (the interview as it now is) a status change is an outbox event too."""
        events = []
        if announce is not None and status in STATUS_EVENTS:
            events.append((STATUS_EVENTS[status], interview_event(announce)))
        await self._write(
            "UPDATE interviews SET status = ?, current_question = ? WHERE id = ?",
            (status.value, current_question, interview_id),
            events=events,
        )

    async def delete_interview(self, interview_id: str) -> None:
        """The interview and everything recorded for it (answers, transcripts, observations, report)."""
        await self._write("DELETE FROM interviews WHERE id = ?", (interview_id,))

    async def renew_invite(self, interview_id: str, invite_expires_at: int) -> None:
        await self._write(
            "UPDATE interviews SET invite_expires_at = ? WHERE id = ?", (invite_expires_at, interview_id)
        )

    async def record_answer(self, interview_id: str, question_id: str, kind: str, text: str) -> None:
        await self._write(
            "INSERT INTO answers (interview_id, question_id, kind, text, created_at) VALUES (?, ?, ?, ?, ?)",
            (interview_id, question_id, kind, text, time.time()),
        )

    async def record_transcript(
        self, interview_id: str, question_id: str, start_s: float, end_s: float, language: str, text: str,
        segments: list[dict[str, float | str]],
    ) -> None:
        await self._write(
            "INSERT INTO transcripts (interview_id, question_id, start_s, end_s, language, text, segments)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (interview_id, question_id, start_s, end_s, language, text, json.dumps(segments, ensure_ascii=False)),
        )

    async def transcripts(self, interview_id: str) -> list[dict[str, object]]:
        return await self._rows(
            "SELECT question_id, start_s, end_s, language, text, segments FROM transcripts"
            " WHERE interview_id = ? ORDER BY seq",
            (interview_id,),
            json_column="segments",
        )

    async def record_observation(
        self, interview_id: str, question_id: str, kind: str, start_s: float, end_s: float, data: dict[str, object]
    ) -> None:
        """One per-second summary of the video (face presence, emotion) for the report's evidence."""
        await self._write(
            "INSERT INTO observations (interview_id, question_id, kind, start_s, end_s, data) VALUES (?, ?, ?, ?, ?, ?)",
            (interview_id, question_id, kind, start_s, end_s, json.dumps(data)),
        )

    async def observations(self, interview_id: str, kind: str) -> list[dict[str, object]]:
        return await self._rows(
            "SELECT question_id, start_s, end_s, data FROM observations WHERE interview_id = ? AND kind = ? ORDER BY seq",
            (interview_id, kind),
            json_column="data",
        )

    async def record_scored_answer(self, interview_id: str, index: int, question_id: str, data: str) -> None:
        """One closed answer's per-question report (JSON), so the final report survives a restart of this node."""
        await self._write(
            "INSERT OR REPLACE INTO scored_answers (interview_id, idx, question_id, data) VALUES (?, ?, ?, ?)",
            (interview_id, index, question_id, data),
        )

    async def scored_answers(self, interview_id: str) -> list[dict[str, object]]:
        async with self._db.execute(
            "SELECT data FROM scored_answers WHERE interview_id = ? ORDER BY idx", (interview_id,)
        ) as cursor:
            return [json.loads(row["data"]) for row in await cursor.fetchall()]

    async def save_report(self, interview_id: str, schema_version: str, data: str, event: dict[str, Any]) -> None:
        """Store the report and, in the same transaction, the `report.ready` event carrying `event`."""
        await self._write(
            "INSERT OR REPLACE INTO reports (interview_id, schema_version, data, created_at) VALUES (?, ?, ?, ?)",
            (interview_id, schema_version, data, time.time()),
            events=[(EventType.REPORT_READY, event)],
        )

    async def report(self, interview_id: str) -> dict[str, object] | None:
        async with self._db.execute("SELECT data, created_at FROM reports WHERE interview_id = ?", (interview_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return {"created_at": row["created_at"], "report": json.loads(row["data"])}

    async def _rows(self, query: str, params: tuple[object, ...], json_column: str) -> list[dict[str, object]]:
        async with self._db.execute(query, params) as cursor:
            rows = [dict(row) for row in await cursor.fetchall()]
        for row in rows:
            row[json_column] = json.loads(row[json_column])
        return rows

    async def answers(self, interview_id: str) -> list[dict[str, str | float]]:
        async with self._db.execute(
            "SELECT question_id, kind, text, created_at FROM answers WHERE interview_id = ? ORDER BY seq",
            (interview_id,),
        ) as cursor:
            return [dict(row) for row in await cursor.fetchall()]
