"""Embedded interview store on SQLite, so a node runs with nothing else installed."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite

from realtime_scoring.report import QuestionReport
from server.domain.adverse_impact import SelfIdentification
from server.domain.interview import DEFAULT_TENANT, Interview, InterviewSpec, InterviewStatus
from server.domain.invites import Invite
from server.domain.shares import OwnerReview, Share
from server.storage.outbox import OUTBOX_SCHEMA, EventType, event_insert
from server.storage.records import (
    Events,
    abandoned,
    cancelled,
    decision_data,
    erased,
    interview_event,
    new_interview,
    owner_review_event,
    profile_kind,
    progress_events,
    renewed,
    with_mode,
)
from server.storage.rows import (
    AUDIO_RECORDING_TYPE,
    AUDIT_PER_INTERVIEW,
    INDEX_LIMIT,
    OPUS_AUDIO_RECORDING_TYPE,
    AnswerRow,
    AuditEntry,
    DecisionRow,
    IndexRow,
    InterviewRef,
    ObservationRow,
    RecordingRow,
    ReportRow,
    StoredResponse,
    TranscriptRow,
    WechatProfile,
)
from server.storage.sqlite_connection import SerialConnection, Synchronous, connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS interviews (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL DEFAULT 'default',
    job_id TEXT,
    candidate_id TEXT,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    current_question INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    invite_expires_at INTEGER NOT NULL,
    question_asked_at REAL
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
CREATE INDEX IF NOT EXISTS interviews_by_status ON interviews(status);
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
CREATE TABLE IF NOT EXISTS jobs (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    profile TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE IF NOT EXISTS candidates (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    profile TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    decision TEXT NOT NULL,
    note TEXT NOT NULL,
    decided_by TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS short_links (
    code TEXT PRIMARY KEY,
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    token TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotent_responses (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    media_type TEXT NOT NULL,
    headers TEXT NOT NULL,
    created_at REAL NOT NULL,
    kept_until REAL,
    PRIMARY KEY (tenant, key)
);
CREATE TABLE IF NOT EXISTS idempotency_holds (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    token TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE TABLE IF NOT EXISTS recordings (
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    starts_s REAL NOT NULL,
    seconds REAL NOT NULL,
    created_at REAL NOT NULL,
    question_index INTEGER,
    media_type TEXT NOT NULL DEFAULT 'audio/ogg',
    PRIMARY KEY (interview_id, name)
);
CREATE TABLE IF NOT EXISTS reports (
    interview_id TEXT PRIMARY KEY REFERENCES interviews(id) ON DELETE CASCADE,
    schema_version TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shares (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shared_interviews (
    share_id TEXT NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    PRIMARY KEY (share_id, interview_id)
);
CREATE INDEX IF NOT EXISTS shares_by_interview ON shared_interviews(interview_id);
CREATE TABLE IF NOT EXISTS owner_reviews (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    interview_id TEXT NOT NULL REFERENCES interviews(id) ON DELETE CASCADE,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS self_identifications (
    interview_id TEXT PRIMARY KEY REFERENCES interviews(id) ON DELETE CASCADE,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_trail (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    interview_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_interview ON audit_trail(tenant, interview_id, seq);
CREATE TABLE IF NOT EXISTS wechat_profiles (
    interview_id TEXT PRIMARY KEY REFERENCES interviews(id) ON DELETE CASCADE,
    openid TEXT,
    nickname TEXT,
    avatar_url TEXT,
    created_at REAL
);
"""


# Columns added after the first release, for stores created before them (old interviews: the default tenant's).
ADDED_COLUMNS = [
    ("interviews", "tenant", "TEXT NOT NULL DEFAULT 'default'"),
    ("interviews", "job_id", "TEXT"),
    ("interviews", "candidate_id", "TEXT"),
    ("outbox_events", "subject", "TEXT"),
    ("interviews", "question_asked_at", "REAL"),
    ("recordings", "question_index", "INTEGER"),
    ("recordings", "media_type", f"TEXT NOT NULL DEFAULT '{OPUS_AUDIO_RECORDING_TYPE}'"),  # rows then were all Opus audio
    ("idempotent_responses", "kept_until", "REAL"),  # rows before it are kept a day
]


OBSERVATIONS_PER_STATEMENT = 500  # 6 values each, well inside SQLite's 32,766 bound variables


def _short_link_insert(invite: Invite, interview_id: str) -> tuple[str, tuple[object, ...]]:
    return (
        "INSERT INTO short_links (code, interview_id, token, expires_at) VALUES (?, ?, ?, ?)",
        (invite.code, interview_id, invite.token, invite.expires_at),
    )


def _interview_of(row: aiosqlite.Row) -> Interview:
    return Interview(
        **json.loads(row["spec"]),
        id=row["id"],
        tenant=row["tenant"],
        job_id=row["job_id"],
        candidate_id=row["candidate_id"],
        status=InterviewStatus(row["status"]),
        current_question=row["current_question"],
        created_at=row["created_at"],
        invite_expires_at=row["invite_expires_at"],
        question_asked_at=row["question_asked_at"],
    )


class InterviewStore(SerialConnection):
    """Interviews and their answers. Create with `open()`, release with `close()`."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        super().__init__(db)
        # Called after a commit that added outbox events, so the dispatcher need not wait for its next poll.
        self.on_event: Callable[[], None] | None = None
        self._observations: list[tuple[tuple[object, ...], asyncio.Future[None]]] = []
        self._observation_writer: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._observation_writer is not None:
            await asyncio.gather(self._observation_writer, return_exceptions=True)
        await super().close()

    @classmethod
    async def open(cls, path: Path, synchronous: Synchronous = "full") -> InterviewStore:
        # The webhook dispatcher writes the same file: server/storage/sqlite_connection.py says how both share it safely.
        db = await connect(path, schema="", synchronous=synchronous)
        for table, column, definition in ADDED_COLUMNS:
            async with db.execute(f"SELECT name FROM pragma_table_info('{table}')") as cursor:
                columns = {row["name"] for row in await cursor.fetchall()}
            if columns and column not in columns:  # a store made before the column existed
                await db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        await db.executescript(SCHEMA + OUTBOX_SCHEMA)
        return cls(db)

    async def _write(
        self,
        sql: str,
        params: tuple[object, ...],
        events: Events | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> None:
        await self._commit([(sql, params)], events, tenant)

    async def _commit(
        self,
        statements: list[tuple[str, tuple[object, ...]]],
        events: Events | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> None:
        """Statements and their outbox events as one transaction, committed together with those other coroutines
        write meanwhile (`_commit_together`): a change and its event always land together."""
        await self._commit_together([*statements, *(event_insert(event_type, data, tenant) for event_type, data in events or ())])
        if events and self.on_event is not None:
            self.on_event()

    async def create_interview(
        self,
        spec: InterviewSpec,
        invite: Invite,
        interview_id: str,
        tenant: str = DEFAULT_TENANT,
        job_id: str | None = None,
        candidate_id: str | None = None,
    ) -> Interview:
        """The interview, its short link and the interview.scheduled event (with the links) in one transaction."""
        interview = new_interview(spec, invite, interview_id, tenant, job_id, candidate_id)
        await self._commit(
            [
                (
                    "INSERT INTO interviews (id, tenant, job_id, candidate_id, spec, status, current_question, created_at,"
                    " invite_expires_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    (
                        interview.id,
                        tenant,
                        job_id,
                        candidate_id,
                        spec.model_dump_json(),
                        interview.status.value,
                        interview.created_at,
                        invite.expires_at,
                    ),
                ),
                _short_link_insert(invite, interview.id),
            ],
            events=[(EventType.INTERVIEW_SCHEDULED, interview_event(interview, invite))],
            tenant=tenant,
        )
        return interview

    async def get_interview(self, interview_id: str, tenant: str | None = None) -> Interview | None:
        """The interview, or None when there is none (or it belongs to another tenant than `tenant`)."""
        row = await self._read_one("SELECT * FROM interviews WHERE id = ?", (interview_id,))
        if row is None or (tenant is not None and row["tenant"] != tenant):
            return None
        return _interview_of(row)

    async def update_progress(
        self,
        interview_id: str,
        status: InterviewStatus,
        current_question: int,
        announce: Interview | None = None,
        question_asked_at: float | None = None,
    ) -> None:
        """Move the interview on; with `announce` (the interview as it now is) a status change is an outbox event too.
        `question_asked_at` (epoch seconds) when a new question went out, so a reloaded page does not get its time back."""
        await self._write(
            "UPDATE interviews SET status = ?, current_question = ?, question_asked_at = COALESCE(?, question_asked_at) WHERE id = ?",
            (status.value, current_question, question_asked_at, interview_id),
            events=progress_events(status, announce),
            tenant=announce.tenant if announce is not None else DEFAULT_TENANT,
        )

    async def set_mode(self, interview: Interview, mode: str) -> Interview:
        """Change how an interview not yet started is held (the candidate's device cannot do video, say)."""
        changed, spec = with_mode(interview, mode)
        await self._write("UPDATE interviews SET spec = ? WHERE id = ?", (spec.model_dump_json(), interview.id))
        return changed

    async def delete_interview(self, interview_id: str) -> None:
        """The interview and everything recorded for it (answers, transcripts, observations, report)."""
        await self._write("DELETE FROM interviews WHERE id = ?", (interview_id,))

    async def renew_invite(self, interview: Interview, invite: Invite, reopen: bool = False) -> Interview:
        changed, events = renewed(interview, invite, reopen)
        await self._commit(
            [
                (
                    # the status only when reopening: a start racing this renewal keeps its in_progress
                    "UPDATE interviews SET invite_expires_at = ?, status = CASE WHEN ? THEN ? ELSE status END WHERE id = ?",
                    (invite.expires_at, reopen, changed.status.value, interview.id),
                ),
                _short_link_insert(invite, interview.id),
            ],
            events=events,
            tenant=interview.tenant,
        )
        return changed

    async def mark_no_show(self, interview: Interview) -> Interview:
        changed = interview.model_copy(update={"status": InterviewStatus.NO_SHOW})
        await self._write("UPDATE interviews SET status = ? WHERE id = ?", (changed.status.value, interview.id))
        return changed

    async def cancel_interview(self, interview: Interview) -> None:
        changed, events = cancelled(interview)
        await self._write(
            "UPDATE interviews SET status = ? WHERE id = ?", (changed.status.value, interview.id), events=events, tenant=interview.tenant
        )

    async def stale_interviews(self, active_before: float, limit: int = 100) -> list[Interview]:
        rows = await self._read(
            "SELECT * FROM interviews WHERE status = ? AND COALESCE(question_asked_at, created_at) < ? "
            "ORDER BY COALESCE(question_asked_at, created_at) LIMIT ?",
            (InterviewStatus.IN_PROGRESS.value, active_before, limit),
        )
        return [_interview_of(row) for row in rows]

    async def created_before(self, tenant: str, before: float, limit: int = 100) -> list[str]:
        rows = await self._read(
            "SELECT id FROM interviews WHERE tenant = ? AND created_at < ? ORDER BY created_at LIMIT ?", (tenant, before, limit)
        )
        return [row["id"] for row in rows]

    async def abandon_interview(self, interview: Interview) -> None:
        changed, events = abandoned(interview)
        await self._write(
            "UPDATE interviews SET status = ? WHERE id = ?", (changed.status.value, interview.id), events=events, tenant=interview.tenant
        )

    async def short_link(self, code: str) -> str | None:
        """The invite token behind a short code, while it has not expired."""
        row = await self._read_one("SELECT token FROM short_links WHERE code = ? AND expires_at > ?", (code, int(time.time())))
        return row["token"] if row else None

    async def record_decision(
        self, interview: Interview, decision: str, note: str, decided_by: str | None, status: InterviewStatus | None = None
    ) -> dict[str, Any]:
        data = decision_data(interview, decision, note, decided_by)
        statements: list[tuple[str, tuple[object, ...]]] = [
            (
                "INSERT INTO decisions (interview_id, decision, note, decided_by, created_at) VALUES (?, ?, ?, ?, ?)",
                (interview.id, decision, note, decided_by, data["decided_at"]),
            )
        ]
        if status is not None:
            statements.append(("UPDATE interviews SET status = ? WHERE id = ?", (status.value, interview.id)))
        await self._commit(statements, [(EventType.DECISION_RECORDED, data)], interview.tenant)
        return data

    async def save_share(self, share: Share) -> None:
        """A new share, or a share changed (revoked, reminded); its interviews are fixed when it is made."""
        stored = share.model_dump_json(exclude={"interview_ids"})
        statements: list[tuple[str, tuple[object, ...]]] = [
            (
                "INSERT INTO shares (id, tenant, data, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                (share.id, share.tenant, stored, share.created_at),
            ),
        ]
        statements += [
            (
                "INSERT OR IGNORE INTO shared_interviews (share_id, interview_id) SELECT ?, id FROM interviews WHERE id = ? AND tenant = ?",
                (share.id, interview_id, share.tenant),
            )
            for interview_id in share.interview_ids
        ]
        await self._commit(statements)

    async def share(self, share_id: str, tenant: str | None = None) -> Share | None:
        row = await self._read_one("SELECT tenant, data FROM shares WHERE id = ?", (share_id,))
        if row is None or (tenant is not None and row["tenant"] != tenant):
            return None
        ids = [
            r["interview_id"]
            for r in await self._read("SELECT interview_id FROM shared_interviews WHERE share_id = ? ORDER BY rowid", (share_id,))
        ]
        return Share.model_validate({**json.loads(row["data"]), "interview_ids": ids})

    async def shares_of(self, interview_id: str) -> list[Share]:
        rows = await self._read("SELECT share_id FROM shared_interviews WHERE interview_id = ?", (interview_id,))
        found = [await self.share(row["share_id"]) for row in rows]
        return sorted((s for s in found if s is not None), key=lambda s: s.created_at)

    async def record_owner_review(self, interview: Interview, review: OwnerReview) -> None:
        await self._commit(
            [("INSERT INTO owner_reviews (interview_id, data) VALUES (?, ?)", (interview.id, review.model_dump_json()))],
            [(EventType.OWNER_REVIEW_RECORDED, owner_review_event(interview, review))],
            interview.tenant,
        )

    async def owner_reviews(self, interview_id: str) -> list[OwnerReview]:
        rows = await self._read("SELECT data FROM owner_reviews WHERE interview_id = ? ORDER BY seq", (interview_id,))
        return [OwnerReview.model_validate_json(row["data"]) for row in rows]

    async def save_self_identification(self, interview_id: str, identity: SelfIdentification) -> None:
        await self._write(
            "INSERT OR REPLACE INTO self_identifications (interview_id, data) SELECT id, ? FROM interviews WHERE id = ?",
            (identity.model_dump_json(), interview_id),
        )

    async def self_identifications(self, interview_ids: list[str]) -> dict[str, SelfIdentification]:
        found: dict[str, SelfIdentification] = {}
        for start in range(0, len(interview_ids), 500):
            chunk = interview_ids[start : start + 500]
            rows = await self._read(
                f"SELECT interview_id, data FROM self_identifications WHERE interview_id IN ({','.join('?' * len(chunk))})", tuple(chunk)
            )
            found.update({row["interview_id"]: SelfIdentification.model_validate_json(row["data"]) for row in rows})
        return found

    async def record_audit(self, tenant: str, entry: AuditEntry) -> None:
        """Kept apart from the interview's tables (no cascade): the trail outlives its erasure."""
        await self._write(
            "INSERT INTO audit_trail (tenant, interview_id, data) VALUES (?, ?, ?)", (tenant, entry.interview_id, entry.model_dump_json())
        )

    async def audit_trail(self, tenant: str, interview_id: str) -> list[AuditEntry]:
        rows = await self._read(
            "SELECT data FROM (SELECT seq, data FROM audit_trail WHERE tenant = ? AND interview_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (tenant, interview_id, AUDIT_PER_INTERVIEW),
        )
        return [AuditEntry.model_validate_json(row["data"]) for row in rows]

    async def decisions(self, interview_id: str) -> list[DecisionRow]:
        return [
            DecisionRow.model_validate(dict(row))
            for row in await self._read(
                "SELECT decision, note, decided_by, created_at FROM decisions WHERE interview_id = ? ORDER BY seq",
                (interview_id,),
            )
        ]

    # Idempotency keys

    async def idempotent_response(self, tenant: str, key: str, max_age_s: float = 24 * 3600) -> StoredResponse | None:
        row = await self._read_one(
            "SELECT fingerprint, status, body, media_type, headers FROM idempotent_responses WHERE tenant = ? AND key = ? AND created_at > ?",
            (tenant, key, time.time() - max_age_s),
        )
        return StoredResponse.model_validate(dict(row)) if row else None

    async def hold_idempotency_key(self, tenant: str, key: str, lease_s: float) -> str | None:
        token, now = secrets.token_hex(16), time.time()
        async with self._transaction() as db:
            await db.execute("DELETE FROM idempotency_holds WHERE tenant = ? AND key = ? AND until <= ?", (tenant, key, now))
            cursor = await db.execute(
                "INSERT OR IGNORE INTO idempotency_holds (tenant, key, token, until) VALUES (?, ?, ?, ?)",
                (tenant, key, token, now + lease_s),
            )
            return token if cursor.rowcount == 1 else None

    async def release_idempotency_key(self, tenant: str, key: str, token: str) -> None:
        await self._write("DELETE FROM idempotency_holds WHERE tenant = ? AND key = ? AND token = ?", (tenant, key, token))

    async def remember_response(
        self,
        tenant: str,
        key: str,
        fingerprint: str,
        status: int,
        body: bytes,
        media_type: str,
        headers: str,
        max_age_s: float = 24 * 3600,
    ) -> None:
        await self._commit(
            [
                # Each row lives as long as its own caller asked (an ATS order a month, a retried create a day).
                ("DELETE FROM idempotent_responses WHERE COALESCE(kept_until, created_at + 86400) <= ?", (time.time(),)),
                (
                    "INSERT OR REPLACE INTO idempotent_responses (tenant, key, fingerprint, status, body, media_type, headers,"
                    " created_at, kept_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (tenant, key, fingerprint, status, body, media_type, headers, time.time(), time.time() + max_age_s),
                ),
            ]
        )

    # Jobs and candidates, as the HRMS keeps them

    async def put_profile(self, kind: str, tenant: str, profile_id: str, profile_json: str) -> bool:
        """Create or replace a job or candidate profile; True when it is new."""
        table = profile_kind(kind)
        existed = await self._read_one(f"SELECT 1 FROM {table} WHERE tenant = ? AND id = ?", (tenant, profile_id)) is not None
        await self._write(
            f"INSERT INTO {table} (tenant, id, profile, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(tenant, id) DO UPDATE SET profile = excluded.profile, updated_at = excluded.updated_at",
            (tenant, profile_id, profile_json, time.time()),
        )
        return not existed

    async def job_titles(self, tenant: str, limit: int = 500) -> dict[str, str]:
        rows = await self._read(
            "SELECT id, json_extract(profile, '$.title') AS title FROM jobs WHERE tenant = ? ORDER BY updated_at DESC LIMIT ?",
            (tenant, limit),
        )
        return {row["id"]: str(row["title"]) for row in rows}

    async def put_profiles(self, kind: str, tenant: str, profiles: dict[str, str]) -> int:
        table = profile_kind(kind)
        ids = list(profiles)
        existing = await self._read(f"SELECT id FROM {table} WHERE tenant = ? AND id IN ({', '.join('?' * len(ids))})", (tenant, *ids))
        now = time.time()
        upsert = (
            f"INSERT INTO {table} (tenant, id, profile, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(tenant, id) DO UPDATE SET profile = excluded.profile, updated_at = excluded.updated_at"
        )
        await self._commit([(upsert, (tenant, profile_id, profile, now)) for profile_id, profile in profiles.items()])
        return len(ids) - len(existing)

    async def profile(self, kind: str, tenant: str, profile_id: str) -> dict[str, Any] | None:
        row = await self._read_one(f"SELECT profile FROM {profile_kind(kind)} WHERE tenant = ? AND id = ?", (tenant, profile_id))
        return json.loads(row["profile"]) if row else None

    async def interview_ids(self, tenant: str, candidate_id: str | None = None, job_id: str | None = None) -> list[InterviewRef]:
        query, params = "SELECT id, status FROM interviews WHERE tenant = ?", [tenant]
        if candidate_id is not None:
            query += " AND candidate_id = ?"
            params.append(candidate_id)
        if job_id is not None:
            query += " AND job_id = ?"
            params.append(job_id)
        return [InterviewRef.model_validate(dict(row)) for row in await self._read(query + " ORDER BY created_at", params)]

    async def interview_index(self, tenant: str, limit: int = INDEX_LIMIT) -> list[IndexRow]:
        """The tenant's newest `limit` interviews as HR's list sees them, newest first."""
        rows = await self._read(
            """SELECT i.id, i.job_id, i.status, i.created_at, i.current_question AS answered,
                      json_extract(i.spec, '$.job.title') AS job_title, json_extract(i.spec, '$.candidate.name') AS candidate_name,
                      json_extract(i.spec, '$.candidate.email') AS candidate_email, json_extract(i.spec, '$.mode') AS mode,
                      json_extract(i.spec, '$.max_questions') AS max_questions,
                      json_extract(r.data, '$.recommendation.overall') AS overall, json_extract(r.data, '$.flags') AS flags,
                      (SELECT d.decision FROM decisions d WHERE d.interview_id = i.id ORDER BY d.seq DESC LIMIT 1) AS decision,
                      (SELECT COUNT(*) FROM answers a WHERE a.interview_id = i.id AND a.kind = 'chat') AS chat_count,
                      (SELECT a.text FROM answers a WHERE a.interview_id = i.id AND a.kind = 'chat' ORDER BY a.seq DESC LIMIT 1) AS last_chat,
                      (SELECT MAX(a.created_at) FROM answers a WHERE a.interview_id = i.id AND a.kind = 'chat') AS last_chat_at,
                      COALESCE((SELECT MAX(a.seq) FROM answers a WHERE a.interview_id = i.id AND a.kind = 'chat.system'), 0) >
                      COALESCE((SELECT MAX(a.seq) FROM answers a WHERE a.interview_id = i.id AND a.kind = 'chat.hr'), 0) AS needs_reply
               FROM interviews i LEFT JOIN reports r ON r.interview_id = i.id
               WHERE i.tenant = ? ORDER BY i.created_at DESC LIMIT ?""",
            (tenant, limit),
        )
        # Validating tens of thousands of rows takes tens of milliseconds: not on the event loop.
        return await asyncio.to_thread(
            lambda: [IndexRow.model_validate({**dict(row), "flags": json.loads(row["flags"] or "[]")}) for row in rows]
        )

    async def recent_interviews(self, tenant: str, limit: int = 500) -> list[Interview]:
        """The tenant's newest interviews, newest first (the HR dashboard's list)."""
        rows = await self._read("SELECT * FROM interviews WHERE tenant = ? ORDER BY created_at DESC LIMIT ?", (tenant, limit))
        return [_interview_of(row) for row in rows]

    async def erase(self, tenant: str, interview_ids: list[str], candidate_id: str | None = None) -> None:
        """See `Store.erase`. Deleted rows are overwritten (secure_delete) and the WAL is truncated after."""
        marks = ",".join("?" * len(interview_ids))
        statements: list[tuple[str, tuple[object, ...]]] = [
            (f"DELETE FROM outbox_events WHERE tenant = ? AND subject IN ({marks})", (tenant, *interview_ids)),
            (f"DELETE FROM interviews WHERE tenant = ? AND id IN ({marks})", (tenant, *interview_ids)),
        ]
        subjects = list(interview_ids)
        if candidate_id is not None:
            subjects.append(candidate_id)
            statements += [
                ("DELETE FROM outbox_events WHERE tenant = ? AND subject = ?", (tenant, candidate_id)),
                ("DELETE FROM candidates WHERE tenant = ? AND id = ?", (tenant, candidate_id)),
            ]
        # Cached responses to retried creates carry the candidate's name, e-mail and invite: any that names them goes.
        statements.extend(
            ("DELETE FROM idempotent_responses WHERE tenant = ? AND instr(body, ?) > 0", (tenant, json.dumps(subject).encode()))
            for subject in subjects
        )
        await self._commit(statements, erased(candidate_id, interview_ids), tenant)
        await self.checkpoint()

    async def record_answer(self, interview_id: str, question_id: str, kind: str, text: str) -> None:
        await self._write(
            "INSERT INTO answers (interview_id, question_id, kind, text, created_at) VALUES (?, ?, ?, ?, ?)",
            (interview_id, question_id, kind, text, time.time()),
        )

    async def record_transcript(self, interview_id: str, transcript: TranscriptRow) -> None:
        t = transcript
        segments = json.dumps([s.model_dump() for s in t.segments], ensure_ascii=False)
        await self._write(
            "INSERT INTO transcripts (interview_id, question_id, start_s, end_s, language, text, segments) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (interview_id, t.question_id, t.start_s, t.end_s, t.language, t.text, segments),
        )

    async def transcripts(self, interview_id: str) -> list[TranscriptRow]:
        rows = await self._read(
            "SELECT question_id, start_s, end_s, language, text, segments FROM transcripts WHERE interview_id = ? ORDER BY seq",
            (interview_id,),
        )
        return [TranscriptRow.model_validate({**dict(row), "segments": json.loads(row["segments"])}) for row in rows]

    async def record_observation(self, interview_id: str, kind: str, observation: ObservationRow) -> None:
        """One per-second summary of the video (face presence, emotion) for the report's evidence.

        Every live interview writes two a second, so they are written together (group commit): one goes at once,
        those that come while it waits for the connection go with the next statement. Returns once stored.
        """
        stored = asyncio.get_running_loop().create_future()
        o = observation
        self._observations.append(((interview_id, o.question_id, kind, o.start_s, o.end_s, json.dumps(o.data)), stored))
        if self._observation_writer is None or self._observation_writer.done():
            self._observation_writer = asyncio.ensure_future(self._write_observations())
        await stored

    async def _write_observations(self) -> None:
        while self._observations:
            batch, self._observations = self._observations[:OBSERVATIONS_PER_STATEMENT], self._observations[OBSERVATIONS_PER_STATEMENT:]
            try:
                await self._insert_observations(batch)
            except Exception as exc:  # noqa: BLE001 - each writer hears of it
                for _, stored in batch:
                    if not stored.done():
                        stored.set_exception(exc)
            else:
                for _, stored in batch:
                    if not stored.done():
                        stored.set_result(None)

    async def _insert_observations(self, batch: list[tuple[tuple[object, ...], asyncio.Future[None]]]) -> None:
        """One statement for the batch. A row of an interview deleted meanwhile fails alone (LookupError, as a write
        of one would fail its foreign key), not everyone else's; one deleted between the check and the insert is
        dropped there."""
        ids = sorted({str(row[0]) for row, _ in batch})
        existing = {r["id"] for r in await self._read(f"SELECT id FROM interviews WHERE id IN ({', '.join('?' * len(ids))})", ids)}
        for row, stored in batch:
            if row[0] not in existing and not stored.done():
                stored.set_exception(LookupError(f"no interview {row[0]!r}"))
        rows = [row for row, _ in batch if row[0] in existing]
        if rows:
            await self._write_one(
                "INSERT INTO observations (interview_id, question_id, kind, start_s, end_s, data)"
                " SELECT column1, column2, column3, column4, column5, column6 FROM (VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(rows))
                + ") WHERE column1 IN (SELECT id FROM interviews)",
                tuple(value for row in rows for value in row),
            )

    async def observations(self, interview_id: str, kind: str) -> list[ObservationRow]:
        rows = await self._read(
            "SELECT question_id, start_s, end_s, data FROM observations WHERE interview_id = ? AND kind = ? ORDER BY seq",
            (interview_id, kind),
        )
        return [ObservationRow.model_validate({**dict(row), "data": json.loads(row["data"])}) for row in rows]

    async def record_scored_answer(self, interview_id: str, answer: QuestionReport) -> None:
        """One closed answer's per-question report, so the final report survives a restart of this node."""
        await self._write(
            "INSERT OR REPLACE INTO scored_answers (interview_id, idx, question_id, data) VALUES (?, ?, ?, ?)",
            (interview_id, answer.index, answer.question_id, answer.model_dump_json()),
        )

    async def scored_answers(self, interview_id: str) -> list[QuestionReport]:
        return [
            QuestionReport.model_validate_json(row["data"])
            for row in await self._read("SELECT data FROM scored_answers WHERE interview_id = ? ORDER BY idx", (interview_id,))
        ]

    async def save_report(self, interview: Interview, schema_version: str, data: str, event: dict[str, Any]) -> None:
        """Store the report and, in the same transaction, the `report.ready` event carrying `event`."""
        await self._write(
            "INSERT OR REPLACE INTO reports (interview_id, schema_version, data, created_at) VALUES (?, ?, ?, ?)",
            (interview.id, schema_version, data, time.time()),
            events=[(EventType.REPORT_READY, event)],
            tenant=interview.tenant,
        )

    async def add_recording(
        self,
        interview_id: str,
        name: str,
        starts_s: float,
        seconds: float,
        question_index: int | None = None,
        media_type: str = AUDIO_RECORDING_TYPE,
    ) -> None:
        await self._write(
            "INSERT OR REPLACE INTO recordings (interview_id, name, starts_s, seconds, created_at, question_index, media_type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (interview_id, name, starts_s, seconds, time.time(), question_index, media_type),
        )

    async def recordings(self, interview_id: str) -> list[RecordingRow]:
        """The interview's recordings (the session's analysis audio, each answer's video), in order of their start."""
        rows = await self._read(
            "SELECT name, starts_s, seconds, question_index, media_type FROM recordings WHERE interview_id = ? ORDER BY starts_s",
            (interview_id,),
        )
        return [RecordingRow.model_validate(dict(row)) for row in rows]

    async def report(self, interview_id: str) -> ReportRow | None:
        row = await self._read_one("SELECT data, created_at FROM reports WHERE interview_id = ?", (interview_id,))
        if row is None:
            return None
        return ReportRow(created_at=row["created_at"], report=json.loads(row["data"]))

    async def answers(self, interview_id: str) -> list[AnswerRow]:
        return [
            AnswerRow.model_validate(dict(row))
            for row in await self._read(
                "SELECT question_id, kind, text, created_at FROM answers WHERE interview_id = ? ORDER BY seq",
                (interview_id,),
            )
        ]

    async def record_event(self, interview: Interview, event_type: EventType, data: dict[str, Any]) -> None:
        await self._commit([], [(event_type, {"interview_id": interview.id, **data})], interview.tenant)

    async def record_tenant_event(self, tenant: str, event_type: EventType, data: dict[str, Any]) -> None:
        await self._commit([], [(event_type, data)], tenant)

    # The candidate's WeChat nickname and avatar (server/integrations/wechat_oauth.py); erased with the interview

    async def save_wechat_profile(self, interview_id: str, openid: str, nickname: str, avatar_url: str) -> None:
        await self._write(
            "INSERT INTO wechat_profiles (interview_id, openid, nickname, avatar_url, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(interview_id) DO UPDATE SET openid = excluded.openid, nickname = excluded.nickname,"
            " avatar_url = excluded.avatar_url, created_at = excluded.created_at",
            (interview_id, openid, nickname, avatar_url, time.time()),
        )

    async def wechat_profile(self, interview_id: str) -> WechatProfile | None:
        row = await self._read_one(
            "SELECT openid, nickname, avatar_url, created_at FROM wechat_profiles WHERE interview_id = ?", (interview_id,)
        )
        return WechatProfile.model_validate(dict(row)) if row else None
