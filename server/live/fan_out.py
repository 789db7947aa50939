"""The live fan-out: each fact of a running interview, as it happens, to the candidate's sockets on this node and to
HR's dashboards on any node (through the tenant's bus topic)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from media.levels import MediaLevels
from realtime_scoring.events import (
    EmotionSummary,
    FacePresence,
    FinalTranscript,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
)
from realtime_scoring.report import QuestionReport
from server.cluster.event_bus import EventBus, hr_topic
from server.live.candidate_messages import Caption, ChatReply, Levels, MediaState, QuestionMessage, ServerMessage, Speech
from server.live.hr_messages import AskedQuestion, EmotionSecond, FaceSecond, HrCaption, HrChat, HrMedia, HrSpeech, ScoredAnswer

Subscriber = Callable[[ServerMessage], None]


class LiveFanOut:
    """One interview's audiences. Each fact comes in typed (a pipeline event, a scored answer, a question) and is
    rendered once for the candidate and once for HR; the candidate never sees what is meant for HR."""

    def __init__(self, interview_id: str, tenant: str, bus: EventBus) -> None:
        self._interview_id = interview_id
        self._bus = bus
        self._hr_topic = hr_topic(tenant)
        self._subscribers: list[Subscriber] = []

    @property
    def candidate_subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def subscribe(self, subscriber: Subscriber, on_unsubscribed: Callable[[], None]) -> Callable[[], None]:
        """Send the candidate's messages to `subscriber` (one socket) until the returned function is called."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            on_unsubscribed()

        return unsubscribe

    def to_candidate(self, message: ServerMessage) -> None:
        for subscriber in list(self._subscribers):
            subscriber(message)

    def to_hr(self, message: BaseModel) -> None:
        self._bus.publish(self._hr_topic, message.model_dump(mode="json"))

    def speech(self, event: SpeechStarted | SpeechEnded) -> None:
        speech = Speech.of(event)
        self.to_candidate(speech)
        self.to_hr(HrSpeech.of(self._interview_id, speech))

    def caption(self, event: PartialTranscript | FinalTranscript) -> None:
        caption = Caption.of(event)
        self.to_candidate(caption)
        self.to_hr(HrCaption.of(self._interview_id, caption))

    def levels(self, event: MediaLevels) -> None:
        """What the server hears and sees, for the candidate's own meter."""
        self.to_candidate(Levels.of(event))

    def face(self, event: FacePresence) -> None:
        self.to_hr(FaceSecond.of(self._interview_id, event))

    def emotion(self, event: EmotionSummary) -> None:
        self.to_hr(EmotionSecond.of(self._interview_id, event))

    def media_state(self, state: str, reason: str | None = None) -> None:
        self.to_candidate(MediaState(state=state, reason=reason))
        self.to_hr(HrMedia(interview_id=self._interview_id, state=state, reason=reason))

    def question(self, question: QuestionMessage, asked: AskedQuestion | None) -> None:
        """The question as the candidate sees it, and as HR does (with why it was chosen and what may follow)."""
        self.to_candidate(question)
        if asked is not None:
            self.to_hr(asked)

    def answer(self, answer: QuestionReport) -> None:
        self.to_hr(ScoredAnswer.of(self._interview_id, answer))

    def candidate_asked(self, text: str, escalated: bool) -> None:
        self.to_hr(HrChat(interview_id=self._interview_id, sender="candidate", text=text, escalated=escalated))

    def chat_reply(self, reply: ChatReply) -> None:
        self.to_candidate(reply)
        self.to_hr(HrChat(interview_id=self._interview_id, sender=reply.sender, text=reply.text, escalated=reply.escalated))
