"""Embedded interview store on SQLite, so a node runs with nothing else installed."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import aiosqlite

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


class InterviewStore:
    """Interviews and their answers. Create with `open()`, release with `close()`."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> InterviewStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.executescript(SCHEMA)
        await db.commit()
        return cls(db)

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
        await self._db.execute(
            "INSERT INTO interviews (id, spec, status, current_question, created_at, invite_expires_at)"
            " VALUES (?, ?, ?, 0, ?, ?)",
            (interview.id, spec.model_dump_json(), interview.status.value, interview.created_at, invite_expires_at),
        )
        await self._db.commit()
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

    async def update_progress(self, interview_id: str, status: InterviewStatus, current_question: int) -> None:
        await self._db.execute(
            "UPDATE interviews SET status = ?, current_question = ? WHERE id = ?",
            (status.value, current_question, interview_id),
        )
        await self._db.commit()

    async def delete_interview(self, interview_id: str) -> None:
        """The interview and everything recorded for it (answers, transcripts, observations, report)."""
        await self._db.execute("DELETE FROM interviews WHERE id = ?", (interview_id,))
        await self._db.commit()

    async def renew_invite(self, interview_id: str, invite_expires_at: int) -> None:
        await self._db.execute(
            "UPDATE interviews SET invite_expires_at = ? WHERE id = ?", (invite_expires_at, interview_id)
        )
        await self._db.commit()

    async def record_answer(self, interview_id: str, question_id: str, kind: str, text: str) -> None:
        await self._db.execute(
            "INSERT INTO answers (interview_id, question_id, kind, text, created_at) VALUES (?, ?, ?, ?, ?)",
            (interview_id, question_id, kind, text, time.time()),
        )
        await self._db.commit()

    async def record_transcript(
        self, interview_id: str, question_id: str, start_s: float, end_s: float, language: str, text: str,
        segments: list[dict[str, float | str]],
    ) -> None:
        await self._db.execute(
            "INSERT INTO transcripts (interview_id, question_id, start_s, end_s, language, text, segments)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (interview_id, question_id, start_s, end_s, language, text, json.dumps(segments, ensure_ascii=False)),
        )
        await self._db.commit()

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
        await self._db.execute(
            "INSERT INTO observations (interview_id, question_id, kind, start_s, end_s, data) VALUES (?, ?, ?, ?, ?, ?)",
            (interview_id, question_id, kind, start_s, end_s, json.dumps(data)),
        )
        await self._db.commit()

    async def observations(self, interview_id: str, kind: str) -> list[dict[str, object]]:
        return await self._rows(
            "SELECT question_id, start_s, end_s, data FROM observations WHERE interview_id = ? AND kind = ? ORDER BY seq",
            (interview_id, kind),
            json_column="data",
        )

    async def record_scored_answer(self, interview_id: str, index: int, question_id: str, data: str) -> None:
        """One closed answer's per-question report (JSON), so the final report survives a restart of this node."""
        await self._db.execute(
            "INSERT OR REPLACE INTO scored_answers (interview_id, idx, question_id, data) VALUES (?, ?, ?, ?)",
            (interview_id, index, question_id, data),
        )
        await self._db.commit()

    async def scored_answers(self, interview_id: str) -> list[dict[str, object]]:
        async with self._db.execute(
            "SELECT data FROM scored_answers WHERE interview_id = ? ORDER BY idx", (interview_id,)
        ) as cursor:
            return [json.loads(row["data"]) for row in await cursor.fetchall()]

    async def save_report(self, interview_id: str, schema_version: str, data: str) -> None:
        await self._db.execute(
            "INSERT OR REPLACE INTO reports (interview_id, schema_version, data, created_at) VALUES (?, ?, ?, ?)",
            (interview_id, schema_version, data, time.time()),
        )
        await self._db.commit()

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
