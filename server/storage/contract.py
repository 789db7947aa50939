"""What every interview store offers (SQLite's `InterviewStore`, Redis's `RedisInterviewStore`), and which one a node opens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as redis

from realtime_scoring.report import QuestionReport
from server.domain.adverse_impact import SelfIdentification
from server.domain.interview import Interview, InterviewSpec, InterviewStatus
from server.domain.invites import Invite
from server.domain.shares import OwnerReview, Share
from server.settings import Settings
from server.storage.outbox import EventType
from server.storage.redis_client import Keys
from server.storage.redis_store import RedisInterviewStore
from server.storage.rows import (
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
from server.storage.sqlite_store import InterviewStore


class Store(Protocol):
    """Interviews, what they record, profiles, idempotent responses and the outbox events of every change."""

    on_event: Callable[[], None] | None  # called after a commit that added outbox events

    async def close(self) -> None: ...

    async def create_interview(
        self,
        spec: InterviewSpec,
        invite: Invite,
        interview_id: str,
        tenant: str = ...,
        job_id: str | None = None,
        candidate_id: str | None = None,
    ) -> Interview: ...

    async def get_interview(self, interview_id: str, tenant: str | None = None) -> Interview | None: ...

    async def update_progress(
        self,
        interview_id: str,
        status: InterviewStatus,
        current_question: int,
        announce: Interview | None = None,
        question_asked_at: float | None = None,
    ) -> None: ...

    async def set_mode(self, interview: Interview, mode: str) -> Interview: ...

    async def delete_interview(self, interview_id: str) -> None: ...

    async def renew_invite(self, interview: Interview, invite: Invite, reopen: bool = False) -> Interview:
        """A new invite (expiry and short link; interview.scheduled carries them); `reopen`: a missed interview is
        scheduled again."""
        ...

    async def mark_no_show(self, interview: Interview) -> Interview:
        """The candidate did not come in the booked time: `no_show` (the booking's change tells the HRMS)."""
        ...

    async def cancel_interview(self, interview: Interview) -> None: ...

    async def stale_interviews(self, active_before: float, limit: int = ...) -> list[Interview]:
        """In-progress interviews whose last question went out before `active_before` (epoch seconds), oldest first."""
        ...

    async def created_before(self, tenant: str, before: float, limit: int = ...) -> list[str]:
        """The tenant's interviews scheduled before `before` (epoch seconds), oldest first: what retention erases."""
        ...

    async def abandon_interview(self, interview: Interview) -> None:
        """The interview was left unfinished: `abandoned`, and the HRMS hears it (interview.abandoned)."""
        ...

    async def short_link(self, code: str) -> str | None: ...

    async def record_decision(
        self, interview: Interview, decision: str, note: str, decided_by: str | None, status: InterviewStatus | None = None
    ) -> dict[str, Any]:
        """HR's decision, kept in the interview's history and announced (decision.recorded); with `status`, the
        interview moves there in the same transaction."""
        ...

    async def decisions(self, interview_id: str) -> list[DecisionRow]: ...

    async def save_share(self, share: Share) -> None:
        """A new share (its interviews must be the tenant's), or a share changed (revoked, reminded)."""
        ...

    async def share(self, share_id: str, tenant: str | None = None) -> Share | None:
        """The share (with `tenant`, only that tenant's), listing the interviews it still has (erased ones leave it)."""
        ...

    async def shares_of(self, interview_id: str) -> list[Share]: ...

    async def record_owner_review(self, interview: Interview, review: OwnerReview) -> None:
        """A business owner's recommendation, kept with the interview and announced (owner_review.recorded)."""
        ...

    async def owner_reviews(self, interview_id: str) -> list[OwnerReview]: ...

    async def save_self_identification(self, interview_id: str, identity: SelfIdentification) -> None:
        """What the candidate chose to say about themselves: apart from the interview's records, erased with it,
        never shown to reviewers (only counted in the adverse-impact report)."""
        ...

    async def self_identifications(self, interview_ids: list[str]) -> dict[str, SelfIdentification]: ...

    async def record_audit(self, tenant: str, entry: AuditEntry) -> None:
        """One entry of who saw, fetched or decided what; kept after the interview is erased (ids only)."""
        ...

    async def audit_trail(self, tenant: str, interview_id: str) -> list[AuditEntry]:
        """The interview's trail, oldest first (the newest AUDIT_PER_INTERVIEW)."""
        ...

    async def idempotent_response(self, tenant: str, key: str, max_age_s: float = ...) -> StoredResponse | None: ...

    async def hold_idempotency_key(self, tenant: str, key: str, lease_s: float) -> str | None:
        """Hold the key while its first request runs, on every node that shares this store: a token to release it
        with, or None while another request holds it. The hold lapses after `lease_s` (a node that died)."""
        ...

    async def release_idempotency_key(self, tenant: str, key: str, token: str) -> None:
        """Let go of a hold (only the one `token` names: a lapsed hold taken over since is left alone)."""
        ...

    async def remember_response(
        self,
        tenant: str,
        key: str,
        fingerprint: str,
        status: int,
        body: bytes,
        media_type: str,
        headers: str,
        max_age_s: float = ...,
    ) -> None: ...

    async def put_profile(self, kind: str, tenant: str, profile_id: str, profile_json: str) -> bool: ...

    async def job_titles(self, tenant: str, limit: int = ...) -> dict[str, str]:
        """The tenant's stored jobs: id -> title (at most `limit`; the most recently written first, where known)."""
        ...

    async def put_profiles(self, kind: str, tenant: str, profiles: dict[str, str]) -> int:
        """Create or replace many profiles (id -> JSON) all at once, or none; how many are new."""
        ...

    async def profile(self, kind: str, tenant: str, profile_id: str) -> dict[str, Any] | None: ...

    async def interview_ids(self, tenant: str, candidate_id: str | None = None, job_id: str | None = None) -> list[InterviewRef]: ...

    async def recent_interviews(self, tenant: str, limit: int = ...) -> list[Interview]: ...

    async def interview_index(self, tenant: str, limit: int = ...) -> list[IndexRow]:
        """The tenant's newest `limit` interviews as HR's list, search and board see them, newest first."""
        ...

    async def erase(self, tenant: str, interview_ids: list[str], candidate_id: str | None = None) -> None:
        """Interviews with everything they recorded, and with `candidate_id` the candidate's profile too; the queued
        events that carry their data go with them. One transaction, announced by `candidate.deleted` (a candidate)
        or `interview.deleted` (an interview alone)."""
        ...

    async def record_answer(self, interview_id: str, question_id: str, kind: str, text: str) -> None: ...

    async def record_transcript(self, interview_id: str, transcript: TranscriptRow) -> None: ...

    async def transcripts(self, interview_id: str) -> list[TranscriptRow]: ...

    async def record_observation(self, interview_id: str, kind: str, observation: ObservationRow) -> None: ...

    async def observations(self, interview_id: str, kind: str) -> list[ObservationRow]: ...

    async def record_scored_answer(self, interview_id: str, answer: QuestionReport) -> None: ...

    async def scored_answers(self, interview_id: str) -> list[QuestionReport]: ...

    async def save_report(self, interview: Interview, schema_version: str, data: str, event: dict[str, Any]) -> None: ...

    async def add_recording(
        self,
        interview_id: str,
        name: str,
        starts_s: float,
        seconds: float,
        question_index: int | None = None,
        media_type: str = ...,
    ) -> None:
        """A recording's file, kept on this node's disk: the session's analysis audio (no question), or an answer's
        video and audio as received (`question_index`, 0-based)."""
        ...

    async def recordings(self, interview_id: str) -> list[RecordingRow]: ...

    async def report(self, interview_id: str) -> ReportRow | None: ...

    async def answers(self, interview_id: str) -> list[AnswerRow]: ...

    async def record_event(self, interview: Interview, event_type: EventType, data: dict[str, Any]) -> None:
        """An outbox event about the interview (with its id), on its own (interview.reminder_due)."""
        ...

    async def record_tenant_event(self, tenant: str, event_type: EventType, data: dict[str, Any]) -> None:
        """An outbox event about no interview (candidate.applied: about its `candidate_id`)."""
        ...

    async def save_wechat_profile(self, interview_id: str, openid: str, nickname: str, avatar_url: str) -> None: ...

    async def wechat_profile(self, interview_id: str) -> WechatProfile | None: ...


async def open_store(settings: Settings, client: redis.Redis | None) -> Store:
    """The Redis store when the settings choose it (INTERVIEW_STORE, by default whenever INTERVIEW_REDIS_URL is set), on
    `client`; else the SQLite file in the node's data directory."""
    if settings.store_backend == "redis":
        assert client is not None, "the Redis store needs the node's Redis client"
        return RedisInterviewStore(client, Keys(settings.redis_prefix))
    return await InterviewStore.open(settings.database_path, settings.sqlite_synchronous)
