"""The rows an interview store returns, the same from every backend: typed, so no caller guesses a dict's keys.

Each is also what the HTTP API and HR's dashboard show of it (`model_dump(mode="json")`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class AnswerRow(Row):
    """Something the candidate or the system wrote during the interview: a typed answer, a chat line, a reply."""

    question_id: str  # "" between questions
    kind: str  # text, chat, chat.faq, chat.system
    text: str
    created_at: float


class TranscriptSegment(Row):
    start_s: float
    end_s: float
    text: str


class TranscriptRow(Row):
    """One final transcript (an utterance), on the interview's clock."""

    question_id: str
    start_s: float
    end_s: float
    language: str
    text: str
    segments: list[TranscriptSegment]


class ObservationRow(Row):
    """One second of video analysis (face presence, emotion): `data` as the analysis gives it (`observation_data`)."""

    question_id: str
    start_s: float
    end_s: float
    data: dict[str, Any]


class DecisionRow(Row):
    decision: str
    note: str
    decided_by: str | None
    created_at: float


INDEX_LIMIT = 20_000  # interviews HR's search looks through, newest first (a tenant's older ones: by date filters later)


class IndexRow(Row):
    """What HR's list, search and board need of one interview, without its profiles or answers."""

    id: str
    job_id: str | None
    job_title: str
    candidate_name: str
    candidate_email: str | None
    status: str
    mode: str
    created_at: float
    answered: int
    max_questions: int
    overall: float | None  # the report's overall score, once there is one
    flags: list[str]  # the report's flags
    decision: str | None  # HR's latest decision
    chat_count: int = 0  # the candidate's chat messages
    last_chat: str | None = None  # the newest of them (the inbox shows it)
    last_chat_at: float | None = None
    needs_reply: bool = False  # a question the FAQ could not answer has had no HR reply since


class AuditEntry(Row):
    """Who saw, fetched or decided what about one interview. Ids only, never a candidate's personal data: the trail
    outlives the interview's erasure, as its tombstone."""

    at: float
    actor: str  # "hr:<name given at sign-in>", "hr-api:<key digest>", "owner:<share id>:<owner name>", "system"
    action: str
    interview_id: str
    detail: dict[str, Any] = Field(default_factory=dict)


AUDIT_PER_INTERVIEW = 10_000  # the newest entries kept per interview


AUDIO_RECORDING_TYPE = "audio/flac"  # a media session's analysis audio, as the models heard it (media/recording.py)
OPUS_AUDIO_RECORDING_TYPE = "audio/ogg"  # the same in recordings made before it was kept losslessly (Opus in Ogg)
SESSION_AUDIO_TYPES = frozenset({AUDIO_RECORDING_TYPE, OPUS_AUDIO_RECORDING_TYPE})


class RecordingRow(Row):
    """A recording and where it starts on the interview's clock: a media session's analysis audio, or one
    answer's video and audio as received (`question_index`, 0-based; a reconnect mid-answer makes a second one)."""

    name: str
    starts_s: float
    seconds: float
    question_index: int | None = None
    media_type: str = OPUS_AUDIO_RECORDING_TYPE  # rows stored without one are from before answer videos: Opus audio


class ReportRow(Row):
    created_at: float
    report: dict[str, Any]  # the `InterviewReport` schema, as HR systems read it


class StoredResponse(Row):
    """A response kept under an idempotency key, replayed byte for byte."""

    fingerprint: str
    status: int
    body: bytes
    media_type: str
    headers: str  # JSON object of the headers replayed with it


class InterviewRef(Row):
    id: str
    status: str


class WechatProfile(Row):
    """The name and photo a candidate chose to share from WeChat (erased with the interview)."""

    openid: str
    nickname: str
    avatar_url: str
    created_at: float


class AttemptRow(Row):
    """One try at delivering a webhook."""

    attempt: int
    at: float
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryRow(Row):
    """A webhook delivery (one event to one endpoint) with every attempt so far; `status` pending, delivered or dead."""

    id: str
    event_id: str
    event_type: str | None  # None once its event was pruned or erased
    endpoint_id: str
    status: str
    attempts: int
    next_attempt_at: float | None
    last_status: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None
    history: list[AttemptRow]


class WriteBackRow(Row):
    """What the server owes an ATS about an interview (its entry link, its result) or one of its accounts (the papers),
    and how sending it has gone."""

    subject: str  # the interview's id, or the account's
    action: str
    connector: str
    target: dict[str, str]
    attempts: int
    next_attempt_at: float | None
    done_at: float | None
    last_status: int | None
    last_error: str | None
    created_at: float | None
