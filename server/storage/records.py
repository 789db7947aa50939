"""What a change writes, whichever backend stores it: new interviews, the events a change announces and their
payloads, profile kinds. Both stores (`sqlite_store.py`, `redis_store.py`) build on these, so they agree by
construction rather than by copying."""

from __future__ import annotations

import time
from typing import Any

from server.domain.interview import Interview, InterviewSpec, InterviewStatus
from server.domain.invites import Invite
from server.domain.shares import OwnerReview
from server.storage.outbox import EventType

# The outbox events a change writes with it, in order.
Events = list[tuple[EventType, dict[str, Any]]]


def profile_kind(kind: str) -> str:
    """`kind` when it names a kind of profile (its table here, its hash in the Redis store)."""
    if kind not in ("jobs", "candidates"):
        raise ValueError(f"no profile kind {kind!r}")
    return kind


STATUS_EVENTS = {
    InterviewStatus.IN_PROGRESS: EventType.INTERVIEW_STARTED,
    InterviewStatus.COMPLETED: EventType.INTERVIEW_COMPLETED,
}


def new_interview(
    spec: InterviewSpec, invite: Invite, interview_id: str, tenant: str, job_id: str | None, candidate_id: str | None
) -> Interview:
    """A just-scheduled interview, as both stores create it."""
    return Interview(
        **spec.model_dump(),
        id=interview_id,
        tenant=tenant,
        job_id=job_id,
        candidate_id=candidate_id,
        created_at=time.time(),
        invite_expires_at=invite.expires_at,
    )


def progress_events(status: InterviewStatus, announce: Interview | None) -> Events:
    """The event a progress update announces: a status change to one that has an event, when the caller announces it."""
    if announce is not None and status in STATUS_EVENTS:
        return [(STATUS_EVENTS[status], interview_event(announce))]
    return []


def decision_data(interview: Interview, decision: str, note: str, decided_by: str | None) -> dict[str, Any]:
    """What decision.recorded carries (and the API answers)."""
    return {
        "interview_id": interview.id,
        "candidate_id": interview.candidate_id,
        "decision": decision,
        "note": note,
        "decided_by": decided_by,
        "decided_at": time.time(),
    }


def owner_review_event(interview: Interview, review: OwnerReview) -> dict[str, Any]:
    """What owner_review.recorded carries: the business owner's recommendation on one candidate, and why."""
    return {
        "interview_id": interview.id,
        "candidate_id": interview.candidate_id,
        "job_id": interview.job_id,
        "owner_name": review.owner_name,
        "recommendation": review.recommendation,
        "comment": review.comment,
        "share_id": review.share_id,
        "recorded_at": review.created_at,
    }


def interview_event(interview: Interview, invite: Invite | None = None) -> dict[str, Any]:
    """What interview.* events say about an interview (with the candidate's links when it is (re)scheduled)."""
    links = {"invite_url": invite.invite_url, "short_url": invite.short_url} if invite is not None else {}
    return {
        **links,
        "interview_id": interview.id,
        "job_id": interview.job_id,
        "candidate_id": interview.candidate_id,
        "status": interview.status.value,
        "job_title": interview.job.title,
        "candidate_name": interview.candidate.name,
        "candidate_email": interview.candidate.email,
        "mode": interview.mode,
        "language": interview.language,
        "answers": interview.current_question,
        "invite_expires_at": interview.invite_expires_at,
    }


def with_mode(interview: Interview, mode: str) -> tuple[Interview, InterviewSpec]:
    """An interview not yet started, held in a lighter mode: the interview as it now is, and the spec to store."""
    changed = interview.model_copy(update={"mode": mode})
    return changed, InterviewSpec.model_validate(changed.model_dump(include=set(InterviewSpec.model_fields)))


def renewed(interview: Interview, invite: Invite, reopen: bool = False) -> tuple[Interview, Events]:
    """A new invite (expiry and short link); interview.scheduled tells the HRMS the new links. `reopen`: scheduled
    again after the candidate missed the booked time."""
    update: dict[str, Any] = {"invite_expires_at": invite.expires_at}
    if reopen:
        update["status"] = InterviewStatus.SCHEDULED
    changed = interview.model_copy(update=update)
    return changed, [(EventType.INTERVIEW_SCHEDULED, interview_event(changed, invite))]


def cancelled(interview: Interview) -> tuple[Interview, Events]:
    changed = interview.model_copy(update={"status": InterviewStatus.CANCELLED})
    return changed, [(EventType.INTERVIEW_CANCELLED, interview_event(changed))]


def abandoned(interview: Interview) -> tuple[Interview, Events]:
    changed = interview.model_copy(update={"status": InterviewStatus.ABANDONED})
    return changed, [(EventType.INTERVIEW_ABANDONED, interview_event(changed))]


def erased(candidate_id: str | None, interview_ids: list[str]) -> Events:
    """What the HRMS hears of an erasure: that it happened, and nothing about the candidate but ids."""
    if candidate_id is None:
        return [(EventType.INTERVIEW_DELETED, {"interview_id": interview_id}) for interview_id in interview_ids]
    return [(EventType.CANDIDATE_DELETED, {"candidate_id": candidate_id, "interviews_deleted": interview_ids})]
