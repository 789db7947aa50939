"""A node's SQLite store moved into Redis, for a node that joins a cluster: `interview-server store migrate`.

The SQLite database is read, never written. Each interview with all it recorded (answers, transcripts, observations,
scored answers, decisions, the recordings' list, report, WeChat profile, short links still valid, what is owed ATSs
about it, business owners' recommendations, the candidate's self-identification, the shares it is in)
goes in one MULTI/EXEC, in the Redis store's layout (server/storage/redis_store.py); then the job and candidate profiles,
the shares and every audit trail (erased interviews' too), idempotent responses still valid, webhook endpoints, what is
owed ATS accounts, and each event with its deliveries and their attempts (redis_webhook_deliveries.py), keeping every
id, so an HRMS that knows an event or delivery id still finds it.

Nothing is announced again: no event is made. An event SQLite had not fanned out, or with a delivery still pending,
is put in the webhook stream, where the cluster's nodes deliver it. What Redis already holds under the same id is left
as it is, so the command can run again after an interruption, and a second run copies nothing twice. Once copied,
the SQLite file is set aside under a new name (`set_aside`), for the operator to delete.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from server.storage.redis_client import Keys
from server.storage.redis_store import inbox_fields, index_scores
from server.storage.redis_webhook_deliveries import new_version
from server.storage.webhook_deliveries import PENDING

IDEMPOTENCY_MAX_AGE_S = 24 * 3600  # as long as a stored response is replayed (server/web/idempotency.py)


@dataclass
class MigrationCounts:
    """What one run copied, and the interviews and events it left because Redis had them already."""

    interviews: int = 0
    interviews_already_in_redis: int = 0
    profiles: int = 0
    idempotent_responses: int = 0
    endpoints: int = 0
    events: int = 0
    events_already_in_redis: int = 0
    deliveries: int = 0
    events_queued_for_delivery: int = 0

    def summary(self) -> str:
        return ", ".join(f"{f.name.replace('_', ' ')}: {getattr(self, f.name)}" for f in fields(self))


def open_read_only(database: Path) -> sqlite3.Connection:
    """The SQLite store, read-only (a missing file is an error, not a new empty database)."""
    if not database.is_file():
        raise FileNotFoundError(f"no SQLite store at {database}")
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _rows(
    db: sqlite3.Connection, tables: set[str], table: str, where: str = "", params: tuple[Any, ...] = (), order: str = ""
) -> list[dict[str, Any]]:
    """Rows as dicts (a table an older or partial store lacks has none)."""
    if table not in tables:
        return []
    query = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "") + (f" ORDER BY {order}" if order else "")
    return [dict(row) for row in db.execute(query, params)]


def _present(values: dict[str, Any]) -> dict[FieldT, EncodableT]:
    """A hash's fields: SQLite's NULLs are fields Redis does not set."""
    return {k: v for k, v in values.items() if v is not None}


def set_aside(database: Path) -> Path:
    """Rename the migrated SQLite store (with its WAL and shared-memory files, which SQLite finds by the database's
    name) so no node opens or checks it again; returns the new name. It still holds every candidate's data, erased
    ones included once erasures happen in Redis: the operator deletes it when the cluster serves its interviews."""
    moved = database.with_name(f"{database.name}.migrated-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("-wal", "-shm"):
        side = database.with_name(database.name + suffix)
        if side.exists():
            side.rename(moved.with_name(moved.name + suffix))
    database.rename(moved)
    return moved


def _interview_ids(database: Path, skip: Collection[str]) -> list[str]:
    if not database.is_file():
        return []
    db = open_read_only(database)
    try:
        return [row[0] for row in db.execute("SELECT id FROM interviews") if row[0] not in skip] if "interviews" in _tables(db) else []
    finally:
        db.close()


async def unmigrated_interviews(database: Path, client: redis.Redis, keys: Keys, skip: Collection[str] = ()) -> int:
    """How many of the SQLite store's interviews (but those in `skip`) Redis does not hold; 0 when there is no store."""
    ids = await asyncio.to_thread(_interview_ids, database, skip)
    if not ids:
        return 0
    async with client.pipeline(transaction=False) as pipe:
        for interview_id in ids:
            pipe.exists(keys.interview(interview_id))
        return sum(1 for found in await pipe.execute() if not found)


async def migrate_sqlite_to_redis(database: Path, client: redis.Redis, keys: Keys, skip: Collection[str] = ()) -> MigrationCounts:
    """Copy the SQLite store at `database` into Redis under `keys` (interviews in `skip`, such as the demo, stay behind)."""
    db = open_read_only(database)
    try:
        return await _Migration(db, client, keys).run(skip)
    finally:
        db.close()


class _Migration:
    def __init__(self, db: sqlite3.Connection, client: redis.Redis, keys: Keys) -> None:
        self.db = db
        self.tables = _tables(db)
        self.redis = client
        self.keys = keys
        self.counts = MigrationCounts()
        self.now = time.time()
        cursor = self.rows("webhook_cursor", "name = 'fan_out'")
        self.fanned_out_up_to = cursor[0]["seq"] if cursor else 0  # events past it were never fanned out

    def rows(self, table: str, where: str = "", params: tuple[Any, ...] = (), order: str = "") -> list[dict[str, Any]]:
        return _rows(self.db, self.tables, table, where, params, order)

    async def run(self, skip: Collection[str]) -> MigrationCounts:
        for interview in self.rows("interviews", order="created_at"):
            if interview["id"] in skip:
                continue
            if await self.redis.exists(self.keys.interview(interview["id"])):
                self.counts.interviews_already_in_redis += 1
                continue
            async with self.redis.pipeline(transaction=True) as pipe:
                self.queue_interview(pipe, interview)
                await pipe.execute()
            self.counts.interviews += 1
        await self.copy_profiles_and_responses()
        await self.copy_shares_and_audit()
        await self.copy_endpoints()
        await self.copy_account_writebacks()
        for event in self.rows("outbox_events", order="seq"):
            if event.get("subject") not in skip:
                await self.copy_event(event)
        return self.counts

    def queue_interview(self, pipe: Pipeline, row: dict[str, Any]) -> None:
        interview_id, tenant = row["id"], row.get("tenant") or "default"
        part = functools.partial(self.keys.interview_part, interview_id)
        pipe.hset(
            self.keys.interview(interview_id),
            mapping=_present(
                {
                    "tenant": tenant,
                    "spec": row["spec"],
                    "status": row["status"],
                    "current_question": row["current_question"],
                    "created_at": row["created_at"],
                    "invite_expires_at": row["invite_expires_at"],
                    "job_id": row.get("job_id"),
                    "candidate_id": row.get("candidate_id"),
                    "question_asked_at": row.get("question_asked_at"),
                }
            ),
        )
        pipe.zadd(self.keys.tenant_interviews(tenant), {interview_id: row["created_at"]})
        for kind, profile_id in (("jobs", row.get("job_id")), ("candidates", row.get("candidate_id"))):
            if profile_id:
                pipe.zadd(self.keys.profile_interviews(tenant, kind, profile_id), {interview_id: row["created_at"]})
        mine = ("interview_id = ?", (interview_id,))
        answers = self.rows("answers", *mine, order="seq")
        for answer in answers:
            pipe.rpush(part("answers"), json.dumps({k: answer[k] for k in ("question_id", "kind", "text", "created_at")}))
        pipe.hset(self.keys.interview(interview_id), mapping=inbox_fields(answers))
        for t in self.rows("transcripts", *mine, order="seq"):
            pipe.rpush(
                part("transcripts"),
                json.dumps(
                    {
                        "question_id": t["question_id"],
                        "start_s": t["start_s"],
                        "end_s": t["end_s"],
                        "language": t["language"],
                        "text": t["text"],
                        "segments": json.loads(t["segments"]),
                    },
                    ensure_ascii=False,
                ),
            )
        for o in self.rows("observations", *mine, order="seq"):
            pipe.sadd(part("observation_kinds"), o["kind"])
            pipe.rpush(
                part(f"observations:{o['kind']}"),
                json.dumps(
                    {
                        "question_id": o["question_id"],
                        "start_s": o["start_s"],
                        "end_s": o["end_s"],
                        "data": json.loads(o["data"]),
                    }
                ),
            )
        for s in self.rows("scored_answers", *mine):
            pipe.hset(part("scored"), str(s["idx"]), s["data"])
        for d in self.rows("decisions", *mine, order="seq"):
            pipe.rpush(part("decisions"), json.dumps({k: d[k] for k in ("decision", "note", "decided_by", "created_at")}))
        for r in self.rows("recordings", *mine):
            pipe.hset(
                part("recordings"),
                r["name"],
                json.dumps({k: r[k] for k in ("name", "starts_s", "seconds", "created_at", "question_index", "media_type")}),
            )
        for report in self.rows("reports", *mine):
            pipe.set(part("report"), json.dumps({k: report[k] for k in ("schema_version", "data", "created_at")}))
            pipe.hset(self.keys.interview(interview_id), "scores", index_scores(report["data"]))
        for review in self.rows("owner_reviews", *mine, order="seq"):
            pipe.rpush(part("owner_reviews"), review["data"])
        for said in self.rows("self_identifications", *mine):
            pipe.set(part("self_identification"), said["data"])
        for shared in self.rows("shared_interviews", *mine):
            pipe.sadd(part("shares"), shared["share_id"])
        for w in self.rows("wechat_profiles", *mine):
            pipe.set(part("wechat"), json.dumps({k: w[k] for k in ("openid", "nickname", "avatar_url", "created_at")}))
        for link in self.rows("short_links", "interview_id = ? AND expires_at > ?", (interview_id, self.now)):
            value = json.dumps({"interview_id": interview_id, "token": link["token"], "expires_at": link["expires_at"]})
            pipe.set(self.keys.short_link(link["code"]), value, exat=int(link["expires_at"]))
            pipe.sadd(part("short_links"), link["code"])
        # A database of an earlier version that no newer node opened still has Greenhouse's callbacks in a table of their
        # own: they go where that version kept them in Redis, and the first node to start adopts them as write-backs.
        for c in self.rows("greenhouse_callbacks", *mine):
            pipe.hset(
                self.keys.greenhouse_callback(interview_id),
                mapping=_present(
                    {
                        k: c[k]
                        for k in ("url", "api_key", "attempts", "next_attempt_at", "notified_at", "last_status", "last_error", "created_at")
                    }
                ),
            )
            if c["notified_at"] is None and c["next_attempt_at"] is not None:
                pipe.zadd(self.keys.greenhouse_pending(), {interview_id: c["next_attempt_at"]})
        for w in self.rows("ats_writebacks", *mine):
            self.queue_writeback(pipe, interview_id, w)

    _WRITEBACK_FIELDS = ("connector", "target", "attempts", "next_attempt_at", "done_at", "last_status", "last_error", "created_at")

    def queue_writeback(self, pipe: Pipeline, subject: str, w: dict[str, Any]) -> None:
        """A row of `ats_writebacks` (subject: its interview) or `ats_account_writebacks` (its account), as its hash."""
        pipe.hset(self.keys.writeback(subject, w["action"]), mapping=_present({k: w[k] for k in self._WRITEBACK_FIELDS}))
        if w["done_at"] is None and w["next_attempt_at"] is not None:
            pipe.zadd(self.keys.writebacks_pending(), {f"{subject}:{w['action']}": w["next_attempt_at"]})

    async def copy_account_writebacks(self) -> None:
        """What is owed ATS accounts (not about any interview); one already in Redis stays as it is."""
        for w in self.rows("ats_account_writebacks"):
            if await self.redis.exists(self.keys.writeback(w["account"], w["action"])):
                continue
            async with self.redis.pipeline(transaction=True) as pipe:
                self.queue_writeback(pipe, w["account"], w)
                await pipe.execute()

    async def copy_shares_and_audit(self) -> None:
        """Shares (with the interviews still in them) and every audit trail, erased interviews' tombstones too."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for share in self.rows("shares"):
                ids = [r["interview_id"] for r in self.rows("shared_interviews", "share_id = ?", (share["id"],))]
                stored = {**json.loads(share["data"]), "interview_ids": ids}
                pipe.set(self.keys.share(share["id"]), json.dumps(stored), nx=True)
            trails: dict[tuple[str, str], list[str]] = {}
            for entry in self.rows("audit_trail", order="seq"):
                trails.setdefault((entry["tenant"], entry["interview_id"]), []).append(entry["data"])
            await pipe.execute()
        for (tenant, interview_id), entries in trails.items():
            key = self.keys.audit(tenant, interview_id)
            if not await self.redis.exists(key):  # what Redis holds stays; a second run copies nothing twice
                await self.redis.rpush(key, *entries)

    async def copy_profiles_and_responses(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind in ("jobs", "candidates"):
                for p in self.rows(kind):
                    pipe.hsetnx(self.keys.profiles(p["tenant"], kind), p["id"], p["profile"])
            created = list(await pipe.execute())
        self.counts.profiles = sum(created)
        for r in self.rows("idempotent_responses"):
            kept_until = r.get("kept_until") or r["created_at"] + IDEMPOTENCY_MAX_AGE_S
            if kept_until <= self.now:
                continue
            name = self.keys.idempotent(r["tenant"], r["key"])
            if await self.redis.exists(name):
                continue
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(name, mapping={k: r[k] for k in ("fingerprint", "status", "body", "media_type", "headers", "created_at")})
                pipe.expire(name, max(1, math.ceil(kept_until - self.now)))
                await pipe.execute()
            self.counts.idempotent_responses += 1

    async def copy_endpoints(self) -> None:
        for e in self.rows("webhook_endpoints", order="created_at"):
            if await self.redis.exists(self.keys.endpoint(e["id"])):
                continue
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    self.keys.endpoint(e["id"]),
                    mapping=_present(
                        {
                            "tenant": e["tenant"],
                            "url": e["url"],
                            "description": e["description"],
                            "event_types": e["event_types"],
                            "secrets": e["secrets"],
                            "enabled": "1" if e["enabled"] else "0",
                            "disabled_reason": e["disabled_reason"],
                            "created_at": e["created_at"],
                        }
                    ),
                )
                pipe.zadd(self.keys.tenant_endpoints(e["tenant"]), {e["id"]: e["created_at"]})
                pipe.set(self.keys.endpoints_version(), new_version())  # a node already running reads them afresh
                await pipe.execute()
            self.counts.endpoints += 1

    async def copy_event(self, event: dict[str, Any]) -> None:
        event_id, tenant = event["id"], event["tenant"]
        if await self.redis.exists(self.keys.event(event_id)):
            self.counts.events_already_in_redis += 1
            return
        fanned_out = event["seq"] <= self.fanned_out_up_to
        deliveries = self.rows("webhook_deliveries", "event_id = ?", (event_id,), order="created_at")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.event(event_id),
                mapping=_present(
                    {
                        "tenant": tenant,
                        "type": event["type"],
                        "payload": event["payload"],
                        "created_at": event["created_at"],
                        "subject": event.get("subject"),
                        "fanned_out": self.now if fanned_out else None,
                    }
                ),
            )
            if event.get("subject"):
                pipe.sadd(self.keys.subject_events(tenant, event["subject"]), event_id)
            pipe.zadd(self.keys.events_by_time(), {event_id: event["created_at"]})
            for d in deliveries:
                self.queue_delivery(pipe, tenant, d)
            if not fanned_out:  # a pending delivery goes into the due index (`queue_delivery`): only fan-out needs the stream
                pipe.xadd(self.keys.webhook_stream(), {"event_id": event_id})
                self.counts.events_queued_for_delivery += 1
            await pipe.execute()
        self.counts.events += 1
        self.counts.deliveries += len(deliveries)

    def queue_delivery(self, pipe: Pipeline, tenant: str, d: dict[str, Any]) -> None:
        delivery_id = d["id"]
        pipe.hset(
            self.keys.delivery(delivery_id),
            mapping=_present(
                {
                    "event_id": d["event_id"],
                    "endpoint_id": d["endpoint_id"],
                    "tenant": tenant,
                    "status": d["status"],
                    "attempts": d["attempts"],
                    "next_attempt_at": d["next_attempt_at"],
                    "created_at": d["created_at"],
                    "last_status": d["last_status"],
                    "last_error": d["last_error"],
                    "delivered_at": d["delivered_at"],
                }
            ),
        )
        for attempt in self.rows("webhook_attempts", "delivery_id = ?", (delivery_id,), order="seq"):
            pipe.rpush(
                self.keys.delivery_attempts(delivery_id),
                json.dumps({k: attempt[k] for k in ("attempt", "at", "status_code", "error", "duration_ms")}),
            )
        pipe.sadd(self.keys.event_deliveries(d["event_id"]), delivery_id)
        pipe.sadd(self.keys.endpoint_deliveries(d["endpoint_id"]), delivery_id)
        pipe.zadd(self.keys.tenant_deliveries(tenant, d["status"]), {delivery_id: d["created_at"]})
        if d["status"] == PENDING and d["next_attempt_at"] is not None:
            pipe.zadd(self.keys.deliveries_due(), {delivery_id: d["next_attempt_at"]})
