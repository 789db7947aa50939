"""The interview store on Redis, so nodes on separate hosts run the same interviews: the contract in server/storage/contract.py.

    interview:{id}                      hash: tenant, job_id, candidate_id, spec, status, current_question, times
    interview:{id}:answers              list of JSON, in order; likewise transcripts, decisions, observations:{kind}
    interview:{id}:scored, :recordings  hash: answer index / file name -> JSON
    interview:{id}:report, :wechat      JSON
    tenant:{t}:interviews               sorted set by created_at (one per job and candidate too): listings, erasure
    tenant:{t}:jobs, :candidates        hash: profile id -> JSON
    short:{code}                        JSON, expiring with the invite
    idempotency:{t}:{key}               hash, expiring after 24 h
    event:{id} + an entry in the webhook stream   the outbox (redis_webhook_deliveries.py)

Every change and its outbox events are one MULTI/EXEC, so an event is never without its change nor a change
without its event. A write that adds to an interview WATCHes its hash and checks that it exists first: nothing
is recorded for an interview deleted or erased meanwhile (SQLite's foreign keys), and such a write raises
`LookupError` as SQLite's foreign-key error would. Redis errors are not caught here: the caller gets them.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from realtime_scoring.report import QuestionReport
from server.domain.adverse_impact import SelfIdentification
from server.domain.interview import DEFAULT_TENANT, Interview, InterviewSpec, InterviewStatus
from server.domain.invites import Invite
from server.domain.shares import OwnerReview, Share
from server.storage.ats_writebacks import INTERVIEW_ACTIONS
from server.storage.outbox import EventType, new_event
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
from server.storage.redis_client import Keys, PersistenceRewriter, begin, glob_escape, text, text_hash, texts, watched_transaction
from server.storage.redis_webhook_deliveries import EventWriter, delivery_refs, queue_delivery_removal, queue_event
from server.storage.rows import (
    AUDIO_RECORDING_TYPE,
    AUDIT_PER_INTERVIEW,
    INDEX_LIMIT,
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

# What SQLite keeps in tables that cascade from `interviews`, besides observations (one list a kind).
PARTS = (
    "answers",
    "transcripts",
    "decisions",
    "scored",
    "recordings",
    "report",
    "wechat",
    "short_links",
    "observation_kinds",
    "shares",
    "owner_reviews",
    "self_identification",
)


# A queued write: what it returns is the pipeline (queued commands answer at EXEC).
Write = Callable[[Pipeline], object]


def _interview_of(interview_id: str, f: dict[str, str]) -> Interview:
    return Interview(
        **json.loads(f["spec"]),
        id=interview_id,
        tenant=f["tenant"],
        job_id=f.get("job_id"),
        candidate_id=f.get("candidate_id"),
        status=InterviewStatus(f["status"]),
        current_question=int(f["current_question"]),
        created_at=float(f["created_at"]),
        invite_expires_at=int(f["invite_expires_at"]),
        question_asked_at=float(f["question_asked_at"]) if "question_asked_at" in f else None,
    )


def _index_summary(spec: InterviewSpec) -> str:
    """What HR's list shows of an interview's spec, kept beside it so the list never parses every spec."""
    return json.dumps(
        {
            "job_title": spec.job.title,
            "candidate_name": spec.candidate.name,
            "candidate_email": spec.candidate.email,
            "mode": spec.mode,
            "max_questions": spec.max_questions,
        }
    )


def index_scores(report_json: str) -> str:
    """What HR's list needs of a report (its overall score and flags), kept beside the interview as "scores"."""
    report = json.loads(report_json)
    return json.dumps({"overall": (report.get("recommendation") or {}).get("overall"), "flags": report.get("flags", [])})


def inbox_fields(answers: Sequence[dict[str, Any]]) -> dict[FieldT, EncodableT]:
    """HR's inbox fields beside an interview, from all its answers at once (`record_answer` keeps them one by one)."""
    chats = [a for a in answers if a["kind"] == "chat"]
    replies = [a["kind"] for a in answers if a["kind"] in ("chat.system", "chat.hr")]
    fields: dict[FieldT, EncodableT] = {"chat_count": len(chats), "needs_reply": int(bool(replies) and replies[-1] == "chat.system")}
    if chats:
        fields |= {"last_chat": chats[-1]["text"][:500], "last_chat_at": chats[-1]["created_at"]}
    return fields


# KEYS: a hold; ARGV: the token that took it. Deleted only if still that token's (a lapsed hold may be another's now).
RELEASE_HOLD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisInterviewStore:
    """Interviews and their answers on the node's Redis client (`close()` leaves the client to its owner)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys
        # Called after a commit that added outbox events, so the dispatcher need not wait for its next poll.
        self.on_event: Callable[[], None] | None = None
        self.persistence = PersistenceRewriter(client)  # erased data out of Redis's files too
        self._release_hold = client.register_script(RELEASE_HOLD)
        self._events = EventWriter(client)

    async def close(self) -> None:
        """Finish asking Redis to rewrite its files after an erasure; the client is the node's (composition.py closes it)."""
        await self.persistence.close()

    async def _commit(
        self, write: Write, events: Events | None = None, tenant: str = DEFAULT_TENANT, *, interview_id: str | None = None
    ) -> bool:
        """`write`'s commands and the outbox events as one MULTI/EXEC. With `interview_id`, only while that interview exists
        (WATCHed, so a deletion between the check and EXEC retries the check); False when it does not."""
        key = self._keys.interview(interview_id) if interview_id is not None else None

        async def build(pipe: Pipeline) -> bool:
            if key is not None and not await pipe.exists(key):
                return False
            begin(pipe)
            write(pipe)
            for event_type, data in events or ():
                queue_event(pipe, self._keys, new_event(event_type, data, tenant))
            return True

        done = await watched_transaction(self._redis, [key] if key else [], build)
        if done and events and self.on_event is not None:
            self.on_event()
        return done

    async def _add(self, interview_id: str, write: Write, events: Events | None = None, tenant: str = DEFAULT_TENANT) -> None:
        """A record added to an interview, which must exist (SQLite: a foreign-key error)."""
        if not await self._commit(write, events, tenant, interview_id=interview_id):
            raise LookupError(f"no interview {interview_id!r}: it was deleted or erased")

    def _queue_short_link(self, pipe: Pipeline, invite: Invite, interview_id: str) -> None:
        link = json.dumps({"interview_id": interview_id, "token": invite.token, "expires_at": invite.expires_at})
        pipe.set(self._keys.short_link(invite.code), link, exat=max(invite.expires_at, int(time.time()) + 1))
        pipe.sadd(self._keys.interview_part(interview_id, "short_links"), invite.code)

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
        fields: dict[FieldT, EncodableT] = {
            "tenant": tenant,
            "spec": spec.model_dump_json(),
            "status": interview.status.value,
            "current_question": 0,
            "created_at": interview.created_at,
            "invite_expires_at": invite.expires_at,
            "summary": _index_summary(spec),
        }
        if job_id:
            fields["job_id"] = job_id
        if candidate_id:
            fields["candidate_id"] = candidate_id
        key = self._keys.interview(interview_id)

        async def build(pipe: Pipeline) -> None:
            if await pipe.exists(key):
                raise ValueError(f"interview {interview_id!r} exists")
            begin(pipe)
            pipe.hset(key, mapping=fields)
            pipe.zadd(self._keys.tenant_interviews(tenant), {interview_id: interview.created_at})
            for kind, profile_id in (("jobs", job_id), ("candidates", candidate_id)):
                if profile_id is not None:
                    pipe.zadd(self._keys.profile_interviews(tenant, kind, profile_id), {interview_id: interview.created_at})
            self._queue_short_link(pipe, invite, interview_id)
            queue_event(pipe, self._keys, new_event(EventType.INTERVIEW_SCHEDULED, interview_event(interview, invite), tenant))

        await watched_transaction(self._redis, [key], build)
        if self.on_event is not None:
            self.on_event()
        return interview

    async def get_interview(self, interview_id: str, tenant: str | None = None) -> Interview | None:
        """The interview, or None when there is none (or it belongs to another tenant than `tenant`)."""
        fields = text_hash(await self._redis.hgetall(self._keys.interview(interview_id)))
        if not fields or (tenant is not None and fields["tenant"] != tenant):
            return None
        return _interview_of(interview_id, fields)

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
        fields: dict[FieldT, EncodableT] = {"status": status.value, "current_question": current_question}
        if question_asked_at is not None:
            fields["question_asked_at"] = question_asked_at

        def write(pipe: Pipeline) -> None:
            pipe.hset(self._keys.interview(interview_id), mapping=fields)
            # In-progress interviews by their last question, for the abandonment sweep.
            if status != InterviewStatus.IN_PROGRESS:
                pipe.zrem(self._keys.in_progress(), interview_id)
            elif question_asked_at is not None:
                pipe.zadd(self._keys.in_progress(), {interview_id: question_asked_at})
            else:
                pipe.zadd(self._keys.in_progress(), {interview_id: time.time()}, nx=True)

        await self._commit(
            write,
            progress_events(status, announce),
            announce.tenant if announce is not None else DEFAULT_TENANT,
            interview_id=interview_id,
        )

    async def set_mode(self, interview: Interview, mode: str) -> Interview:
        """Change how an interview not yet started is held (the candidate's device cannot do video, say)."""
        changed, spec = with_mode(interview, mode)
        await self._commit(
            lambda pipe: pipe.hset(
                self._keys.interview(interview.id), mapping={"spec": spec.model_dump_json(), "summary": _index_summary(spec)}
            ),
            interview_id=interview.id,
        )
        return changed

    async def _read_for_deletion(self, pipe: Pipeline, interview_id: str) -> tuple[dict[str, str], list[str], list[str]] | None:
        """What deleting an interview needs to know (its indexes, short links, observation kinds), read under WATCH."""
        fields = await pipe.hmget(self._keys.interview(interview_id), ["tenant", "job_id", "candidate_id"])
        if fields[0] is None:
            return None
        named = {k: text(v) for k, v in zip(("tenant", "job_id", "candidate_id"), fields, strict=True) if v is not None}
        codes = texts(await pipe.smembers(self._keys.interview_part(interview_id, "short_links")))
        kinds = texts(await pipe.smembers(self._keys.interview_part(interview_id, "observation_kinds")))
        return named, codes, kinds

    def _queue_deletion(self, pipe: Pipeline, interview_id: str, fields: dict[str, str], codes: list[str], kinds: list[str]) -> None:
        tenant = fields["tenant"]
        pipe.delete(
            self._keys.interview(interview_id),
            *(self._keys.interview_part(interview_id, part) for part in PARTS),
            *(self._keys.interview_part(interview_id, f"observations:{kind}") for kind in kinds),
            *(self._keys.short_link(code) for code in codes),
            *(self._keys.writeback(interview_id, action) for action in INTERVIEW_ACTIONS),
        )
        pipe.zrem(self._keys.writebacks_pending(), *(f"{interview_id}:{action}" for action in INTERVIEW_ACTIONS))
        pipe.zrem(self._keys.in_progress(), interview_id)
        pipe.zrem(self._keys.tenant_interviews(tenant), interview_id)
        for kind, field in (("jobs", "job_id"), ("candidates", "candidate_id")):
            if field in fields:
                pipe.zrem(self._keys.profile_interviews(tenant, kind, fields[field]), interview_id)

    def _deletion_watch(self, interview_id: str) -> list[str]:
        return [
            self._keys.interview(interview_id),
            self._keys.interview_part(interview_id, "short_links"),
            self._keys.interview_part(interview_id, "observation_kinds"),
        ]

    async def delete_interview(self, interview_id: str) -> None:
        """The interview and everything recorded for it (answers, transcripts, observations, report)."""

        async def build(pipe: Pipeline) -> None:
            found = await self._read_for_deletion(pipe, interview_id)
            if found is not None:
                begin(pipe)
                self._queue_deletion(pipe, interview_id, *found)

        await watched_transaction(self._redis, self._deletion_watch(interview_id), build)

    async def renew_invite(self, interview: Interview, invite: Invite, reopen: bool = False) -> Interview:
        changed, events = renewed(interview, invite, reopen)

        def write(pipe: Pipeline) -> None:
            fields: dict[FieldT, EncodableT] = {"invite_expires_at": invite.expires_at}
            if reopen:  # only then: a start racing this renewal keeps its in_progress
                fields["status"] = changed.status.value
            pipe.hset(self._keys.interview(interview.id), mapping=fields)
            self._queue_short_link(pipe, invite, interview.id)

        await self._commit(write, events, interview.tenant, interview_id=interview.id)
        return changed

    async def mark_no_show(self, interview: Interview) -> Interview:
        changed = interview.model_copy(update={"status": InterviewStatus.NO_SHOW})
        await self._close_interview(interview, changed, [])
        return changed

    async def cancel_interview(self, interview: Interview) -> None:
        await self._close_interview(interview, *cancelled(interview))

    async def abandon_interview(self, interview: Interview) -> None:
        # Every node sweeps: the one that takes the interview off the in-progress index abandons it, once.
        if not await self._redis.zrem(self._keys.in_progress(), interview.id):
            return
        await self._close_interview(interview, *abandoned(interview))

    async def _close_interview(self, interview: Interview, changed: Interview, events: Events) -> None:
        status = changed.status.value

        def write(pipe: Pipeline) -> None:
            pipe.hset(self._keys.interview(interview.id), "status", status)
            pipe.zrem(self._keys.in_progress(), interview.id)

        await self._commit(write, events, interview.tenant, interview_id=interview.id)

    async def stale_interviews(self, active_before: float, limit: int = 100) -> list[Interview]:
        ids = texts(await self._redis.zrangebyscore(self._keys.in_progress(), "-inf", active_before, start=0, num=limit))
        found = [await self.get_interview(interview_id) for interview_id in ids]
        return [i for i in found if i is not None and i.status == InterviewStatus.IN_PROGRESS]

    async def created_before(self, tenant: str, before: float, limit: int = 100) -> list[str]:
        return texts(await self._redis.zrangebyscore(self._keys.tenant_interviews(tenant), "-inf", f"({before}", start=0, num=limit))

    async def short_link(self, code: str) -> str | None:
        """The invite token behind a short code, while it has not expired."""
        raw = await self._redis.get(self._keys.short_link(code))
        link = json.loads(raw) if raw else None
        return link["token"] if link and link["expires_at"] > time.time() else None

    async def record_decision(
        self, interview: Interview, decision: str, note: str, decided_by: str | None, status: InterviewStatus | None = None
    ) -> dict[str, Any]:
        data = decision_data(interview, decision, note, decided_by)
        row = DecisionRow(decision=decision, note=note, decided_by=decided_by, created_at=data["decided_at"])

        def write(pipe: Pipeline) -> None:
            pipe.rpush(self._keys.interview_part(interview.id, "decisions"), row.model_dump_json())
            if status is not None:
                pipe.hset(self._keys.interview(interview.id), "status", status.value)

        await self._add(interview.id, write, [(EventType.DECISION_RECORDED, data)], interview.tenant)
        return data

    async def save_share(self, share: Share) -> None:
        """A new share, or a share changed (revoked, reminded); each interview lists the shares it is in (erased with it)."""
        stored = share.model_dump_json()

        def write(pipe: Pipeline) -> None:
            pipe.set(self._keys.share(share.id), stored)
            for interview_id in share.interview_ids:
                pipe.sadd(self._keys.interview_part(interview_id, "shares"), share.id)

        await self._commit(write)

    async def share(self, share_id: str, tenant: str | None = None) -> Share | None:
        raw = await self._redis.get(self._keys.share(share_id))
        if raw is None:
            return None
        share = Share.model_validate_json(raw)
        if tenant is not None and share.tenant != tenant:
            return None
        # An erased interview leaves every share it was in.
        kept = [i for i in share.interview_ids if await self._redis.sismember(self._keys.interview_part(i, "shares"), share_id)]
        return share.model_copy(update={"interview_ids": kept})

    async def shares_of(self, interview_id: str) -> list[Share]:
        ids = sorted(text(i) for i in await self._redis.smembers(self._keys.interview_part(interview_id, "shares")))
        found = [await self.share(share_id) for share_id in ids]
        return sorted((s for s in found if s is not None), key=lambda s: s.created_at)

    async def record_owner_review(self, interview: Interview, review: OwnerReview) -> None:
        await self._add(
            interview.id,
            lambda pipe: pipe.rpush(self._keys.interview_part(interview.id, "owner_reviews"), review.model_dump_json()),
            [(EventType.OWNER_REVIEW_RECORDED, owner_review_event(interview, review))],
            interview.tenant,
        )

    async def owner_reviews(self, interview_id: str) -> list[OwnerReview]:
        return [OwnerReview.model_validate_json(item) for item in await self._list(interview_id, "owner_reviews")]

    async def save_self_identification(self, interview_id: str, identity: SelfIdentification) -> None:
        """Beside the interview, erased with it, read only for the adverse-impact report."""
        await self._add(
            interview_id, lambda pipe: pipe.set(self._keys.interview_part(interview_id, "self_identification"), identity.model_dump_json())
        )

    async def self_identifications(self, interview_ids: list[str]) -> dict[str, SelfIdentification]:
        found: dict[str, SelfIdentification] = {}
        for start in range(0, len(interview_ids), 500):
            chunk = interview_ids[start : start + 500]
            values = await self._redis.mget([self._keys.interview_part(i, "self_identification") for i in chunk])
            found.update({i: SelfIdentification.model_validate_json(v) for i, v in zip(chunk, values, strict=True) if v is not None})
        return found

    async def record_audit(self, tenant: str, entry: AuditEntry) -> None:
        """A list per interview outside its parts (erasure leaves it: the tombstone), trimmed to the newest entries."""
        key = self._keys.audit(tenant, entry.interview_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, entry.model_dump_json())
            pipe.ltrim(key, -AUDIT_PER_INTERVIEW, -1)
            await pipe.execute()

    async def audit_trail(self, tenant: str, interview_id: str) -> list[AuditEntry]:
        return [AuditEntry.model_validate_json(item) for item in await self._redis.lrange(self._keys.audit(tenant, interview_id), 0, -1)]

    async def decisions(self, interview_id: str) -> list[DecisionRow]:
        return [DecisionRow.model_validate_json(item) for item in await self._list(interview_id, "decisions")]

    async def _list(self, interview_id: str, part: str) -> list[bytes | str]:
        return list(await self._redis.lrange(self._keys.interview_part(interview_id, part), 0, -1))

    # Idempotency keys

    async def idempotent_response(self, tenant: str, key: str, max_age_s: float = 24 * 3600) -> StoredResponse | None:
        raw: dict[bytes | str, bytes | str] = await self._redis.hgetall(self._keys.idempotent(tenant, key))
        if not raw or float(raw[b"created_at"]) <= time.time() - max_age_s:
            return None
        body = raw[b"body"]  # bytes as given, never decoded
        fields = text_hash({k: v for k, v in raw.items() if k != b"body"})
        return StoredResponse(
            fingerprint=fields["fingerprint"],
            status=int(fields["status"]),
            body=body if isinstance(body, bytes) else body.encode(),
            media_type=fields["media_type"],
            headers=fields["headers"],
        )

    async def hold_idempotency_key(self, tenant: str, key: str, lease_s: float) -> str | None:
        token = secrets.token_hex(16)
        held = await self._redis.set(self._keys.idempotency_hold(tenant, key), token, nx=True, px=max(1, int(lease_s * 1000)))
        return token if held else None

    async def release_idempotency_key(self, tenant: str, key: str, token: str) -> None:
        await self._release_hold(keys=[self._keys.idempotency_hold(tenant, key)], args=[token])

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
        name = self._keys.idempotent(tenant, key)
        fields: dict[FieldT, EncodableT] = {
            "fingerprint": fingerprint,
            "status": status,
            "body": body,
            "media_type": media_type,
            "headers": headers,
            "created_at": time.time(),
        }

        def write(pipe: Pipeline) -> None:
            pipe.delete(name)
            pipe.hset(name, mapping=fields)
            pipe.expire(name, math.ceil(max_age_s))

        await self._commit(write)

    # Jobs and candidates, as the HRMS keeps them

    async def put_profile(self, kind: str, tenant: str, profile_id: str, profile_json: str) -> bool:
        """Create or replace a job or candidate profile; True when it is new."""
        return bool(await self._redis.hset(self._keys.profiles(tenant, profile_kind(kind)), profile_id, profile_json))

    async def job_titles(self, tenant: str, limit: int = 500) -> dict[str, str]:
        titles: dict[str, str] = {}
        async for job_id, raw in self._redis.hscan_iter(self._keys.profiles(tenant, "jobs"), count=100):
            if len(titles) >= limit:
                break
            titles[texts([job_id])[0]] = str(json.loads(raw).get("title", ""))
        return titles

    async def put_profiles(self, kind: str, tenant: str, profiles: dict[str, str]) -> int:
        mapping: dict[FieldT, EncodableT] = dict(profiles.items())
        return int(await self._redis.hset(self._keys.profiles(tenant, profile_kind(kind)), mapping=mapping))  # one command: all or none

    async def profile(self, kind: str, tenant: str, profile_id: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(self._keys.profiles(tenant, profile_kind(kind)), profile_id)
        profile: dict[str, Any] | None = json.loads(raw) if raw else None
        return profile

    async def interview_ids(self, tenant: str, candidate_id: str | None = None, job_id: str | None = None) -> list[InterviewRef]:
        if candidate_id is not None:
            index = self._keys.profile_interviews(tenant, "candidates", candidate_id)
        elif job_id is not None:
            index = self._keys.profile_interviews(tenant, "jobs", job_id)
        else:
            index = self._keys.tenant_interviews(tenant)
        ids = texts(await self._redis.zrange(index, 0, -1))
        async with self._redis.pipeline(transaction=False) as pipe:
            for interview_id in ids:
                pipe.hmget(self._keys.interview(interview_id), ["status", "job_id"])
            rows = await pipe.execute()
        return [
            InterviewRef(id=interview_id, status=text(status))
            for interview_id, (status, job) in zip(ids, rows, strict=True)
            if status is not None and (job_id is None or (job is not None and text(job) == job_id))
        ]

    async def interview_index(self, tenant: str, limit: int = INDEX_LIMIT) -> list[IndexRow]:
        """The tenant's newest `limit` interviews as HR's list sees them, newest first: a few small fields of each
        (its summary and scores, written when it is created and reported), never the report itself."""
        ids = texts(await self._redis.zrevrange(self._keys.tenant_interviews(tenant), 0, limit - 1))
        fields = (
            "status",
            "created_at",
            "current_question",
            "job_id",
            "summary",
            "scores",
            "chat_count",
            "last_chat",
            "last_chat_at",
            "needs_reply",
        )
        rows: list[IndexRow] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            async with self._redis.pipeline(transaction=False) as pipe:
                for interview_id in chunk:
                    pipe.hmget(self._keys.interview(interview_id), fields)
                    pipe.lindex(self._keys.interview_part(interview_id, "decisions"), -1)
                replies = await pipe.execute()
            for interview_id, values, decision in zip(chunk, replies[::2], replies[1::2], strict=True):
                found = dict(zip(fields, (text(v) if v is not None else None for v in values), strict=True))
                if found["status"] is None:
                    continue  # erased meanwhile
                if found["summary"] is None:  # written before the summary existed
                    found["summary"] = await self._summary_from_spec(interview_id)
                summary, scores = json.loads(found["summary"] or "{}"), json.loads(found["scores"] or "{}")
                rows.append(
                    IndexRow(
                        id=interview_id,
                        job_id=found["job_id"],
                        status=str(found["status"]),
                        created_at=float(found["created_at"] or 0),
                        answered=int(found["current_question"] or 0),
                        overall=scores.get("overall"),
                        flags=scores.get("flags", []),
                        decision=json.loads(text(decision))["decision"] if decision is not None else None,
                        chat_count=int(found["chat_count"] or 0),
                        last_chat=found["last_chat"],
                        last_chat_at=float(found["last_chat_at"]) if found["last_chat_at"] else None,
                        needs_reply=found["needs_reply"] == "1",
                        **summary,
                    )
                )
        return rows

    async def _summary_from_spec(self, interview_id: str) -> str | None:
        spec = await self._redis.hget(self._keys.interview(interview_id), "spec")
        return _index_summary(InterviewSpec.model_validate_json(spec)) if spec is not None else None

    async def recent_interviews(self, tenant: str, limit: int = 500) -> list[Interview]:
        """The tenant's newest interviews, newest first (the HR dashboard's list)."""
        ids = texts(await self._redis.zrevrange(self._keys.tenant_interviews(tenant), 0, limit - 1))
        async with self._redis.pipeline(transaction=False) as pipe:
            for interview_id in ids:
                pipe.hgetall(self._keys.interview(interview_id))
            rows = await pipe.execute()
        return [_interview_of(interview_id, text_hash(row)) for interview_id, row in zip(ids, rows, strict=True) if row]

    async def erase(self, tenant: str, interview_ids: list[str], candidate_id: str | None = None) -> None:
        """See `Store.erase`: one watched transaction, then the cached responses that name them, then (where Redis
        keeps files) a rewrite of its append-only file and a new snapshot, which still held the erased data."""
        named = [*interview_ids, *([candidate_id] if candidate_id is not None else [])]
        subjects = [self._keys.subject_events(tenant, s) for s in named]
        watch = [key for interview_id in interview_ids for key in self._deletion_watch(interview_id)] + subjects

        async def build(pipe: Pipeline) -> None:
            found = {interview_id: await self._read_for_deletion(pipe, interview_id) for interview_id in interview_ids}
            event_ids = sorted({text(e) for subject in subjects for e in await pipe.smembers(subject)})
            by_event = [self._keys.event_deliveries(e) for e in event_ids]
            if by_event:
                await pipe.watch(*by_event)  # a node fanning one of them out now makes this run again
            delivery_ids = {text(d) for key in by_event for d in await pipe.smembers(key)}
            refs = await delivery_refs(pipe, self._keys, delivery_ids)
            begin(pipe)
            for interview_id, deletion in found.items():
                if deletion is not None:
                    self._queue_deletion(pipe, interview_id, *deletion)
            for ref in refs:
                queue_delivery_removal(pipe, self._keys, *ref)
            if event_ids:
                pipe.delete(*(self._keys.event(e) for e in event_ids), *by_event)
                pipe.zrem(self._keys.events_by_time(), *event_ids)
            pipe.delete(*subjects)
            if candidate_id is not None:
                pipe.hdel(self._keys.profiles(tenant, "candidates"), candidate_id)
            for event_type, data in erased(candidate_id, interview_ids):
                queue_event(pipe, self._keys, new_event(event_type, data, tenant))

        await watched_transaction(self._redis, watch, build)
        if self.on_event is not None:
            self.on_event()
        await self._forget_responses_naming(tenant, named)
        self.persistence.request()

    async def _forget_responses_naming(self, tenant: str, subjects: list[str]) -> None:
        """Cached responses to retried creates carry the candidate's name, e-mail and invite: any that names them goes."""
        needles = [json.dumps(subject).encode() for subject in subjects]
        pattern = glob_escape(self._keys.idempotent(tenant, "")) + "*"
        async for name in self._redis.scan_iter(match=pattern, count=500):
            body = await self._redis.hget(name, "body")
            if isinstance(body, str):
                body = body.encode()
            if body is not None and any(needle in body for needle in needles):
                await self._redis.delete(name)

    async def record_answer(self, interview_id: str, question_id: str, kind: str, text: str) -> None:
        row = AnswerRow(question_id=question_id, kind=kind, text=text, created_at=time.time())
        key = self._keys.interview(interview_id)

        def write(pipe: Pipeline) -> None:
            pipe.rpush(self._keys.interview_part(interview_id, "answers"), row.model_dump_json())
            # The chat as HR's inbox lists it, beside the interview, so the list never reads every answer.
            if kind == "chat":
                pipe.hincrby(key, "chat_count", 1)
                pipe.hset(key, mapping={"last_chat": text[:500], "last_chat_at": row.created_at})
            elif kind in ("chat.system", "chat.hr"):
                pipe.hset(key, "needs_reply", 1 if kind == "chat.system" else 0)

        await self._add(interview_id, write)

    async def record_transcript(self, interview_id: str, transcript: TranscriptRow) -> None:
        row = transcript.model_dump_json()
        await self._add(interview_id, lambda pipe: pipe.rpush(self._keys.interview_part(interview_id, "transcripts"), row))

    async def transcripts(self, interview_id: str) -> list[TranscriptRow]:
        return [TranscriptRow.model_validate_json(item) for item in await self._list(interview_id, "transcripts")]

    async def record_observation(self, interview_id: str, kind: str, observation: ObservationRow) -> None:
        """One per-second summary of the video (face presence, emotion) for the report's evidence."""
        row = observation.model_dump_json()

        def write(pipe: Pipeline) -> None:
            pipe.sadd(self._keys.interview_part(interview_id, "observation_kinds"), kind)
            pipe.rpush(self._keys.interview_part(interview_id, f"observations:{kind}"), row)

        await self._add(interview_id, write)

    async def observations(self, interview_id: str, kind: str) -> list[ObservationRow]:
        return [ObservationRow.model_validate_json(item) for item in await self._list(interview_id, f"observations:{kind}")]

    async def record_scored_answer(self, interview_id: str, answer: QuestionReport) -> None:
        """One closed answer's per-question report, so the final report survives a restart of this node."""
        key, data = self._keys.interview_part(interview_id, "scored"), answer.model_dump_json()
        await self._add(interview_id, lambda pipe: pipe.hset(key, str(answer.index), data))

    async def scored_answers(self, interview_id: str) -> list[QuestionReport]:
        raw = text_hash(await self._redis.hgetall(self._keys.interview_part(interview_id, "scored")))
        return [QuestionReport.model_validate_json(raw[index]) for index in sorted(raw, key=int)]

    async def save_report(self, interview: Interview, schema_version: str, data: str, event: dict[str, Any]) -> None:
        """Store the report and, in the same transaction, the `report.ready` event carrying `event`."""
        stored = json.dumps({"schema_version": schema_version, "data": data, "created_at": time.time()})
        scores = index_scores(data)

        def write(pipe: Pipeline) -> None:
            pipe.set(self._keys.interview_part(interview.id, "report"), stored)
            pipe.hset(self._keys.interview(interview.id), "scores", scores)  # for HR's list, without reading the report

        await self._add(interview.id, write, [(EventType.REPORT_READY, event)], interview.tenant)

    async def add_recording(
        self,
        interview_id: str,
        name: str,
        starts_s: float,
        seconds: float,
        question_index: int | None = None,
        media_type: str = AUDIO_RECORDING_TYPE,
    ) -> None:
        row = json.dumps(
            {
                "name": name,
                "starts_s": starts_s,
                "seconds": seconds,
                "created_at": time.time(),
                "question_index": question_index,
                "media_type": media_type,
            }
        )
        await self._add(interview_id, lambda pipe: pipe.hset(self._keys.interview_part(interview_id, "recordings"), name, row))

    async def recordings(self, interview_id: str) -> list[RecordingRow]:
        """The interview's recordings (the session's analysis audio, each answer's video), in order of their start.
        The files themselves stay on the node that recorded them (server/web/recordings_api.py)."""
        raw = text_hash(await self._redis.hgetall(self._keys.interview_part(interview_id, "recordings")))
        return sorted((RecordingRow.model_validate_json(v) for v in raw.values()), key=lambda r: r.starts_s)

    async def report(self, interview_id: str) -> ReportRow | None:
        raw = await self._redis.get(self._keys.interview_part(interview_id, "report"))
        if raw is None:
            return None
        stored = json.loads(raw)
        return ReportRow(created_at=stored["created_at"], report=json.loads(stored["data"]))

    async def answers(self, interview_id: str) -> list[AnswerRow]:
        return [AnswerRow.model_validate_json(item) for item in await self._list(interview_id, "answers")]

    async def record_event(self, interview: Interview, event_type: EventType, data: dict[str, Any]) -> None:
        await self._add(interview.id, lambda pipe: None, [(event_type, {"interview_id": interview.id, **data})], interview.tenant)

    async def record_tenant_event(self, tenant: str, event_type: EventType, data: dict[str, Any]) -> None:
        # Nothing else to write with it: no transaction, and with the other events asked meanwhile (EventWriter).
        await self._events.write(self._keys, new_event(event_type, data, tenant))
        if self.on_event is not None:
            self.on_event()

    # The candidate's WeChat nickname and avatar (server/integrations/wechat_oauth.py); erased with the interview

    async def save_wechat_profile(self, interview_id: str, openid: str, nickname: str, avatar_url: str) -> None:
        row = WechatProfile(openid=openid, nickname=nickname, avatar_url=avatar_url, created_at=time.time()).model_dump_json()
        await self._add(interview_id, lambda pipe: pipe.set(self._keys.interview_part(interview_id, "wechat"), row))

    async def wechat_profile(self, interview_id: str) -> WechatProfile | None:
        raw = await self._redis.get(self._keys.interview_part(interview_id, "wechat"))
        return WechatProfile.model_validate_json(raw) if raw else None
