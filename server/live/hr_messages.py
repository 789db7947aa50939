"""HR dashboard websocket protocol, version 1: every message is a JSON object with `v` and `type`.

Dashboard -> server: watch (one interview's detail and snapshots), chat.reply, ping.
Server -> dashboard: interviews (the tenant's list, on connect), interview (one changed), detail (answer to
watch), question, caption, speech, media, answer (a scored answer, with its evidence), face, emotion,
snapshot, chat, report, decision, pong, error. Live messages carry `interview_id`; the same names as the candidate's
protocol and the report schema, so a dashboard reads them the same way.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from realtime_scoring.events import EmotionSummary, FacePresence
from realtime_scoring.report import QuestionReport
from server.domain.interview import Interview, Question
from server.live.candidate_messages import Caption, ErrorMessage, Ping, Pong, ProtocolMessage, Speech
from server.storage.rows import DecisionRow, ObservationRow, RecordingRow, TranscriptRow

# Version 1 like the candidate's protocol, whose base message, ping, pong and error it shares.


# Dashboard -> server


class Watch(ProtocolMessage):
    """Send the interview's detail now, and its live snapshots while watched (renew every few seconds)."""

    type: Literal["watch"]
    interview_id: str = Field(max_length=64)
    detail: bool = True  # False for a renewal: stills keep coming, the detail is not sent again


class ChatReplyFromHr(ProtocolMessage):
    type: Literal["chat.reply"]
    interview_id: str = Field(max_length=64)
    text: str = Field(min_length=1, max_length=2000)


HrClientMessage = Annotated[Watch | ChatReplyFromHr | Ping, Field(discriminator="type")]
hr_client_message_adapter: TypeAdapter[HrClientMessage] = TypeAdapter(HrClientMessage)
HR_CLIENT_MESSAGE_TYPES = frozenset({"watch", "chat.reply", "ping"})


# Server -> dashboard


class InterviewSummary(BaseModel):
    """One row of the dashboard's job list."""

    id: str
    job_id: str | None
    job_title: str
    candidate_id: str | None
    candidate_name: str
    mode: str
    language: str
    status: str
    answered: int  # questions closed so far
    max_questions: int
    created_at: float
    emotion_analysis: bool

    @classmethod
    def of(cls, interview: Interview, emotion_analysis: bool) -> InterviewSummary:
        return cls(
            id=interview.id,
            job_id=interview.job_id,
            job_title=interview.job.title,
            candidate_id=interview.candidate_id,
            candidate_name=interview.candidate.name,
            mode=interview.mode,
            language=interview.language,
            status=interview.status.value,
            answered=interview.current_question,
            max_questions=interview.max_questions,
            created_at=interview.created_at,
            emotion_analysis=emotion_analysis and interview.mode == "video",
        )


class InterviewList(ProtocolMessage):
    type: Literal["interviews"] = "interviews"
    interviews: list[InterviewSummary]


class InterviewChanged(ProtocolMessage):
    type: Literal["interview"] = "interview"
    interview: InterviewSummary


class _Live(ProtocolMessage):
    interview_id: str


class AskedQuestion(_Live):
    """The question the candidate now sees, why it was chosen, and what comes next if this answer is middling."""

    type: Literal["question"] = "question"
    index: int
    total: int
    question: Question
    reason: str
    next_planned: Question | None


class HrCaption(_Live):
    type: Literal["caption"] = "caption"
    utterance: int
    final: bool
    start_s: float
    end_s: float
    stable: str
    unstable: str = ""

    @classmethod
    def of(cls, interview_id: str, caption: Caption) -> HrCaption:
        return cls(
            interview_id=interview_id, **caption.model_dump(include={"utterance", "final", "start_s", "end_s", "stable", "unstable"})
        )


class HrSpeech(_Live):
    type: Literal["speech"] = "speech"
    state: Literal["started", "ended"]
    time_s: float

    @classmethod
    def of(cls, interview_id: str, speech: Speech) -> HrSpeech:
        return cls(interview_id=interview_id, state=speech.state, time_s=speech.time_s)


class HrMedia(_Live):
    type: Literal["media"] = "media"
    state: str
    reason: str | None = None  # why a `refused` session was ended


class ScoredAnswer(_Live):
    """An answer closed and scored: the report's per-question entry (score, key points with evidence)."""

    type: Literal["answer"] = "answer"
    answer: dict[str, Any]

    @classmethod
    def of(cls, interview_id: str, answer: QuestionReport) -> ScoredAnswer:
        return cls(interview_id=interview_id, answer=answer.model_dump(mode="json"))


class FaceSecond(_Live):
    type: Literal["face"] = "face"
    start_s: float
    end_s: float
    face_present: bool
    multiple_faces: bool
    max_faces: int
    faces: int

    @classmethod
    def of(cls, interview_id: str, face: FacePresence) -> FaceSecond:
        return cls(
            interview_id=interview_id,
            start_s=round(face.start_s, 3),
            end_s=round(face.end_s, 3),
            face_present=face.face_present,
            multiple_faces=face.multiple_faces,
            max_faces=face.max_faces,
            faces=face.faces,
        )


class EmotionSecond(_Live):
    type: Literal["emotion"] = "emotion"
    start_s: float
    end_s: float
    dominant: str
    probabilities: dict[str, float]

    @classmethod
    def of(cls, interview_id: str, emotion: EmotionSummary) -> EmotionSecond:
        return cls(
            interview_id=interview_id,
            start_s=round(emotion.start_s, 3),
            end_s=round(emotion.end_s, 3),
            dominant=emotion.dominant,
            probabilities=dict(emotion.probabilities),
        )


class Snapshot(_Live):
    """A still of the candidate's video (JPEG, base64), sent about once a second while someone watches."""

    type: Literal["snapshot"] = "snapshot"
    time_s: float
    jpeg_base64: str


class HrChat(_Live):
    type: Literal["chat"] = "chat"
    sender: Literal["candidate", "faq", "hr", "system"]
    text: str
    escalated: bool = False


class ChatLine(BaseModel):
    """One line of the candidate's chat as HR reviews it."""

    sender: Literal["candidate", "faq", "hr", "system"]
    text: str
    at: float
    escalated: bool = False  # a candidate's question the FAQ could not answer: HR is asked


class InterviewDetail(_Live):
    """Everything so far about one interview, for a dashboard that starts watching it mid-way."""

    type: Literal["detail"] = "detail"
    interview: InterviewSummary
    match: dict[str, Any]
    answers: list[QuestionReport]
    transcripts: list[TranscriptRow]
    faces: list[ObservationRow]
    emotions: list[ObservationRow] | None
    chat: list[ChatLine]
    current: AskedQuestion | None
    report: dict[str, Any] | None
    decisions: list[DecisionRow]
    recordings: list[RecordingRow] = Field(default_factory=list)  # GET .../recordings/{name} with the API key
    needs_reply: bool = False  # an escalated question has had no HR reply since (kept in the store: any node, any reload)


class ReportReady(_Live):
    type: Literal["report"] = "report"
    report: dict[str, Any]


class DecisionRecorded(_Live):
    """HR's decision (advance, reject, hold, send to the business owner), from the dashboard or the HRMS."""

    type: Literal["decision"] = "decision"
    decision: dict[str, Any]


class RecordingsReady(_Live):
    """A media session's answer videos are kept and listed: a review page reloads them."""

    type: Literal["recordings"] = "recordings"


class OwnerReviewRecorded(_Live):
    """A business owner recommended a shared candidate, or not, with a comment (through their review link)."""

    type: Literal["owner_review"] = "owner_review"
    review: dict[str, Any]


HrServerMessage = (
    InterviewList
    | InterviewChanged
    | AskedQuestion
    | HrCaption
    | HrSpeech
    | HrMedia
    | ScoredAnswer
    | FaceSecond
    | EmotionSecond
    | Snapshot
    | HrChat
    | InterviewDetail
    | ReportReady
    | DecisionRecorded
    | OwnerReviewRecorded
    | RecordingsReady
    | Pong
    | ErrorMessage
)
