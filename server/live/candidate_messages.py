"""Candidate websocket protocol, version 1: every message is a JSON object with `v` and `type`.

Page -> server: ready, answer.text, answer.done, chat, ping.
Server -> page: hello, media, levels, speech, caption, question, chat, completed, pong, error.
Unknown types, bad JSON and oversized frames get an `error` message, then the
socket is closed (1003 for bad messages, 1009 for oversized ones).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from media.levels import MediaLevels
from realtime_scoring.conductor import SilenceHint
from realtime_scoring.events import FinalTranscript, PartialTranscript, SpeechEnded, SpeechStarted
from server.domain.consent import CONSENT_TEXT_VERSION
from server.domain.interview import Interview, Question, status_for_candidate
from server.settings import Settings

PROTOCOL_VERSION: Literal[1] = 1


class ProtocolMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: Literal[1] = PROTOCOL_VERSION


# Page -> server


class Ready(ProtocolMessage):
    """The page is ready. `mode` asks for a lighter interview before it starts (a webview without camera access)."""

    type: Literal["ready"]
    mode: Literal["voice", "text"] | None = None


class AnswerText(ProtocolMessage):
    type: Literal["answer.text"]
    question_id: str = Field(max_length=64)
    text: str = Field(min_length=1, max_length=8000)


class AnswerDone(ProtocolMessage):
    type: Literal["answer.done"]
    question_id: str = Field(max_length=64)


class Chat(ProtocolMessage):
    type: Literal["chat"]
    text: str = Field(min_length=1, max_length=2000)


class Ping(ProtocolMessage):
    type: Literal["ping"]


class PageVisibility(ProtocolMessage):
    """The page went to the background (another tab, another app) or came back, as `visibilitychange` says."""

    type: Literal["page.visibility"]
    hidden: bool


class Captions(ProtocolMessage):
    """The candidate turned live captions on or off (the page says so on each connection too): partial captions are
    decoded only while someone reads them."""

    type: Literal["captions"]
    on: bool


ClientMessage = Annotated[Ready | AnswerText | AnswerDone | Chat | Ping | PageVisibility | Captions, Field(discriminator="type")]
client_message_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
CLIENT_MESSAGE_TYPES = frozenset({"ready", "answer.text", "answer.done", "chat", "ping", "page.visibility", "captions"})


# Server -> page


class InterviewInfo(BaseModel):
    id: str
    job_title: str
    candidate_name: str
    language: str | None
    mode: str
    total_questions: int  # at most; the policy may end sooner
    status: str
    show_result: bool = False  # the candidate may see their own result at the end
    emotion_analysis: bool = False  # facial emotion is analysed (the consent text says so)
    avatar_url: str | None = None  # the candidate's WeChat avatar, once they shared it
    wechat_login_url: str | None = None  # offer "use my WeChat name and photo" (inside WeChat, when configured)
    company_name: str | None = None
    privacy_policy_url: str | None = None
    retention_days: int = 180
    expected_minutes: int = 30  # the interview's time budget
    consent_version: str = CONSENT_TEXT_VERSION  # the consent texts the page must show (it sends this back)
    ask_self_identification: bool = False  # offer the voluntary self-identification (the company's policy)

    @classmethod
    def of(cls, interview: Interview, settings: Settings) -> InterviewInfo:
        """What the page shows of `interview`; emotion analysis is the node's policy (video interviews only)."""
        policy = settings.company_policy(interview.tenant)
        return cls(
            company_name=policy.company_name,
            privacy_policy_url=policy.privacy_policy_url,
            retention_days=policy.retention_days,
            ask_self_identification=policy.ask_self_identification,
            expected_minutes=max(1, round(interview.time_budget_minutes)),
            id=interview.id,
            job_title=interview.job.title,
            candidate_name=interview.candidate.name,
            language=interview.language,
            mode=interview.mode,
            total_questions=interview.max_questions,
            status=status_for_candidate(interview.status).value,
            show_result=interview.candidate_sees_result,
            emotion_analysis=settings.emotion_analysis and interview.mode == "video",
        )


class Hello(ProtocolMessage):
    type: Literal["hello"] = "hello"
    interview: InterviewInfo


MediaRefusal = Literal["video_too_large", "frame_rate_too_high", "bitrate_too_high"]


class MediaState(ProtocolMessage):
    type: Literal["media"] = "media"
    state: Literal["connecting", "connected", "disconnected", "failed", "closed", "refused"]
    reason: MediaRefusal | None = None  # why a `refused` session was ended (media over the node's limits)


class Levels(ProtocolMessage):
    type: Literal["levels"] = "levels"
    time_s: float
    audio_rms_dbfs: float
    audio_peak_dbfs: float
    video_fps: float
    video_width: int
    video_height: int

    @classmethod
    def of(cls, levels: MediaLevels) -> Levels:
        return cls(
            time_s=round(levels.time_s, 3),
            audio_rms_dbfs=levels.audio_rms_dbfs,
            audio_peak_dbfs=levels.audio_peak_dbfs,
            video_fps=levels.video_fps,
            video_width=levels.video_width,
            video_height=levels.video_height,
        )


class Speech(ProtocolMessage):
    """Voice activity on the media clock: the candidate started or stopped speaking."""

    type: Literal["speech"] = "speech"
    state: Literal["started", "ended"]
    time_s: float

    @classmethod
    def of(cls, event: SpeechStarted | SpeechEnded) -> Speech:
        if isinstance(event, SpeechStarted):
            return cls(state="started", time_s=round(event.time_s, 3))
        return cls(state="ended", time_s=round(event.end_s, 3))


class SilenceHintMessage(ProtocolMessage):
    """The candidate has been quiet a while in this answer: the page says "Still thinking? Take your time" (or, when
    nothing was heard yet, that nothing is heard), and when the silence would end the answer."""

    type: Literal["silence_hint"] = "silence_hint"
    index: int
    spoken: bool  # they said something in this answer already
    ends_in_s: float | None  # None: nothing ends it before the time limit

    @classmethod
    def of(cls, hint: SilenceHint, now_s: float) -> SilenceHintMessage:
        ends_in = None if hint.ends_s is None else round(max(0.0, hint.ends_s - now_s), 1)
        return cls(index=hint.question_index, spoken=hint.spoken, ends_in_s=ends_in)


class Caption(ProtocolMessage):
    """Live transcript of one utterance: partial ones (stable + unstable text) until the final one."""

    type: Literal["caption"] = "caption"
    utterance: int
    final: bool
    start_s: float
    end_s: float
    stable: str
    unstable: str = ""
    language: str | None = None

    @classmethod
    def of(cls, event: PartialTranscript | FinalTranscript) -> Caption:
        if isinstance(event, PartialTranscript):
            return cls(
                utterance=event.utterance,
                final=False,
                start_s=round(event.start_s, 3),
                end_s=round(event.until_s, 3),
                stable=event.stable,
                unstable=event.unstable,
            )
        return cls(
            utterance=event.utterance,
            final=True,
            start_s=round(event.start_s, 3),
            end_s=round(event.end_s, 3),
            stable=event.text,
            language=event.language,
        )


class QuestionMessage(ProtocolMessage):
    type: Literal["question"] = "question"
    index: int
    total: int
    question: Question
    elapsed_s: float = 0.0  # how long it has been open: a page that reloads resumes the countdown, not restarts it


class ChatReply(ProtocolMessage):
    """An answer to the candidate's chat: from the FAQ, from HR, or the notice that HR was asked."""

    type: Literal["chat"] = "chat"
    sender: Literal["faq", "hr", "system"]
    text: str
    escalated: bool = False  # True when no FAQ entry fitted and the question went to HR


class Completed(ProtocolMessage):
    type: Literal["completed"] = "completed"
    reason: Literal["finished", "cancelled", "abandoned"] = "finished"


class Pong(ProtocolMessage):
    type: Literal["pong"] = "pong"


class ErrorMessage(ProtocolMessage):
    type: Literal["error"] = "error"
    code: str
    message: str


ServerMessage = (
    Hello | MediaState | Levels | Speech | Caption | SilenceHintMessage | QuestionMessage | ChatReply | Completed | Pong | ErrorMessage
)
