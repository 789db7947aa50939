"""Runs one interview's question flow: decides where each answer ends, scores it, and picks the next question.

Driven by the pipeline's events on the session's media clock, so a live interview and a replay of
its recording split the answers at the same instants and ask the same questions. The candidate decides when an
answer ends:

    answer k ends at the earliest of
      - the candidate saying so: the page's "done", or a spoken closing phrase ending a segment of speech,
      - a long silence (the question's `end_silence_seconds`, 8 s by default) after the candidate has spoken,
        counted from the end of the think time at the earliest: thinking is never cut short,
      - the question's think + answer time limit,
      - the end of the recording,
    and is decided only once the pipeline has settled past that instant (every transcript before it is in).

Pauses shorter than the silence limit, hesitations and backchannels stay inside the answer. A "still thinking?"
hint is due `HINT_BEFORE_END_S` before a silence would end the answer. Each end the candidate asks for is also a
turn end for the pipeline (`take_turn_ends`), which transcribes the speech before it without waiting for a pause.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeVar

from realtime_scoring.answer_scoring import AnswerPiece, AnswerScore, AnswerScorer
from realtime_scoring.closing_phrases import ClosingPhrases
from realtime_scoring.events import AnalysisProgress, FinalTranscript, ScoringEvent, SpeechEnded, SpeechStarted, UtteranceTranscript
from realtime_scoring.policy import AnsweredQuestion, PlannedQuestion, QuestionPolicy
from realtime_scoring.profiles import Language

T = TypeVar("T")
RunBlocking = Callable[[Callable[[], T]], Awaitable[T]]
Mode = Literal["video", "voice", "text"]

# Finals are placed by their midpoint, which can sit a little before the settled line: speech that starts just
# after it brings some pre-roll from before it. Not so at an end the candidate asked for: the media analysis ends
# their turn there, and nothing after it, pre-roll included, is transcribed with what came before.
SETTLE_MARGIN_S = 0.2
PROGRESS_PRECISION_S = 0.001  # AnalysisProgress is rounded to the millisecond
# A recording that ends this soon after an answer has no room for another one.
MIN_ANSWER_S = 1.0
# The "still thinking?" hint comes this long before a silence would end the answer (sooner for short limits).
HINT_BEFORE_END_S = 3.0
ECHO_MARGIN_S = 0.3


class AnswerEnd(StrEnum):
    SILENCE = "silence"
    TIME_LIMIT = "time_limit"
    CANDIDATE_DONE = "candidate_done"
    CLOSING_PHRASE = "closing_phrase"
    MEDIA_ENDED = "media_ended"


@dataclass(frozen=True)
class SilenceHint:
    """The candidate has been quiet a while: `ends_s` is when the silence would end the answer; `spoken` whether
    they said anything in this answer yet (if not, nothing ends it before the time limit)."""

    question_index: int
    since_s: float
    ends_s: float | None
    spoken: bool


@dataclass(frozen=True)
class AnswerRecord:
    """One question as asked and answered: the window on the media clock, what was said or typed, the score."""

    index: int
    question: PlannedQuestion
    asked_s: float
    ended_s: float
    end_reason: AnswerEnd
    transcripts: tuple[UtteranceTranscript, ...]
    typed: tuple[str, ...]
    score: AnswerScore


@dataclass(frozen=True)
class RestoredAnswer:
    index: int
    question_id: str
    asked_s: float
    ended_s: float
    score: float
    missed_key_points: tuple[str, ...]
    answered: bool


@dataclass
class _Current:
    index: int
    question: PlannedQuestion
    asked_s: float
    typed: list[str] = field(default_factory=list)
    request: tuple[float, AnswerEnd] | None = None
    hinted_since_s: float | None = None  # the silence the last hint was about

    @property
    def think_end_s(self) -> float:
        return self.asked_s + self.question.think_seconds

    @property
    def deadline_s(self) -> float:
        return self.asked_s + self.question.think_seconds + self.question.answer_seconds


class InterviewConductor:
    """One interview's flow. Feed it events with `observe`; `advance` returns the answers it closed."""

    def __init__(
        self,
        policy: QuestionPolicy,
        scorer: AnswerScorer,
        language: Language,
        mode: Mode,
        run_blocking: RunBlocking[Any],
        closing_phrases: ClosingPhrases | None = None,
    ) -> None:
        self.policy = policy
        self.closing_phrases = closing_phrases or ClosingPhrases()
        self.scorer = scorer
        self.language = language
        self.mode = mode
        self._run_blocking = run_blocking
        self.records: list[AnswerRecord] = []  # closed by this conductor
        self.history: list[AnsweredQuestion] = []  # every closed answer, restored ones included
        self.resume_s = 0.0
        self.current: _Current | None = None
        self.started_s: float | None = None
        self.finished = False
        # Without a media clock (text interviews, or scoring off) requests are decided at once.
        self.settled_s = -math.inf
        self.media_clock = False
        self._transcripts: list[UtteranceTranscript] = []
        # Speech segments as (start, end); end None while the segment goes on. Pruned as answers close.
        self._speech: list[tuple[float, float | None]] = []
        self._turn_ends: list[float] = []  # for the pipeline, until taken
        # Where the page spoke a prompt out loud: a microphone without echo cancellation hears it, and speech that
        # lies wholly inside such a window is the prompt, not the candidate (it neither breaks a silence nor is scored).
        self._echo_windows: list[tuple[float, float]] = []
        self.media_end_s: float | None = None

    def start(self, now_s: float) -> PlannedQuestion | None:
        """Ask the first question (idempotent)."""
        if self.started_s is None:
            self.started_s = now_s
            self._ask(self.policy.next([], 0.0), now_s)
        return self.current.question if self.current else None

    def observe(self, event: ScoringEvent) -> None:
        match event:
            case UtteranceTranscript() if event.text:
                self._transcripts.append(event)
                self._closing_phrase(event)
            case FinalTranscript() if event.text:
                self._closing_phrase(event)
            case SpeechStarted(time_s=t):
                self._speech.append((t, None))
            case SpeechEnded(start_s=start, end_s=end):
                # Segments do not overlap: the one that ends is the last one started.
                if self._speech and self._speech[-1][1] is None:
                    self._speech[-1] = (self._speech[-1][0], end)
                else:
                    self._speech.append((start, end))
            case AnalysisProgress(settled_s=t):
                self.media_clock = True
                self.settled_s = max(self.settled_s, t)

    def _closing_phrase(self, transcript: FinalTranscript | UtteranceTranscript) -> None:
        """A transcript that ends with a closing phrase ends the answer it belongs to: a segment's caption final
        (at once), or the whole utterance, decoded a little later but more accurately (a short final segment's
        caption can lose its last syllable: "以上就是我的回")."""
        current = self.current
        if current is None or (transcript.start_s + transcript.end_s) / 2 < current.asked_s:
            return
        if self.closing_phrases.ends_turn(transcript.text):
            self.request_end(AnswerEnd.CLOSING_PHRASE, transcript.end_s)

    def ignore_echo(self, from_s: float, to_s: float) -> None:
        """The page speaks a prompt between these instants (media clock)."""
        self._echo_windows.append((from_s, to_s))
        del self._echo_windows[:-8]  # only recent prompts can still matter

    def _is_echo(self, start_s: float, end_s: float) -> bool:
        # Transcripts carry a little pre-roll and tail around the speech itself.
        return any(a - ECHO_MARGIN_S <= start_s and end_s <= b + ECHO_MARGIN_S for a, b in self._echo_windows)

    def take_turn_ends(self) -> list[float]:
        """Where the candidate ended their turn since the last call: the pipeline transcribes up to there at once."""
        ends, self._turn_ends = self._turn_ends, []
        return ends

    def _silence(self, current: _Current) -> tuple[float, bool] | None:
        """Since when the candidate has been silent in this answer (never before the think time ends), and whether
        they spoke in it; None while they speak."""
        spoken = False
        last_end = current.asked_s
        for start, end in self._speech:
            if end is None:
                return None
            if self._is_echo(start, end):
                continue
            if end > current.asked_s:
                spoken = True
                last_end = max(last_end, end)
        return max(last_end, current.think_end_s), spoken

    def silence_end_s(self) -> float | None:
        """When silence ends the current answer, as far as speech so far says (None: it cannot yet)."""
        current = self.current
        if current is None or (silence := self._silence(current)) is None or not silence[1]:
            return None
        return silence[0] + current.question.source.end_silence_seconds

    def silence_hint(self) -> SilenceHint | None:
        """A hint that is due now (on the settled media clock), once per stretch of silence."""
        current = self.current
        if current is None or not self.media_clock or (silence := self._silence(current)) is None:
            return None
        since_s, spoken = silence
        limit = current.question.source.end_silence_seconds
        hint_s = since_s + max(limit - HINT_BEFORE_END_S, limit / 2)
        if current.hinted_since_s == since_s or self.settled_s < hint_s or hint_s >= current.deadline_s:
            return None
        current.hinted_since_s = since_s
        return SilenceHint(current.index, since_s, since_s + limit if spoken else None, spoken)

    def add_text(self, text: str) -> None:
        if self.current is not None:
            self.current.typed.append(text)

    def request_end(self, reason: AnswerEnd, at_s: float) -> None:
        """End the current answer at `at_s` (media clock) unless something ends it earlier."""
        if self.current is not None and self.current.request is None:
            self.current.request = (max(at_s, self.current.asked_s), reason)
            self._turn_ends.append(self.current.request[0])

    def deadline_s(self) -> float | None:
        """The current question's time limit (think + answer time) on the media clock."""
        return self.current.deadline_s if self.current is not None else None

    def end_of_media(self, at_s: float) -> None:
        """A recording ends at `at_s`: the answer in progress ends there, and no question follows it."""
        self.media_end_s = at_s

    def pending_end(self) -> tuple[float, AnswerEnd] | None:
        """Where the current answer ends, once that is certain."""
        current = self.current
        if current is None:
            return None
        ends = [(current.deadline_s, AnswerEnd.TIME_LIMIT)]
        if current.request is not None:
            ends.append(current.request)
        if self.media_end_s is not None:
            ends.append((max(self.media_end_s, current.asked_s), AnswerEnd.MEDIA_ENDED))
        if (silence_end := self.silence_end_s()) is not None:
            ends.append((silence_end, AnswerEnd.SILENCE))
        end_s, reason = min(ends, key=lambda e: e[0])
        if not self.media_clock:
            # No media clock (text interviews, scoring off): the caller's timer and requests decide.
            return current.request
        # Once a recording is over and all of it settled, nothing later can come: an end within the margin of it
        # (the candidate pressed "done" just before the recording stopped) is as certain as the end of the media.
        # (Progress comes to the millisecond: a recording's end is settled once progress reaches it to within one.)
        media_settled = self.media_end_s is not None and self.settled_s >= self.media_end_s - PROGRESS_PRECISION_S
        # A candidate who goes on speaking right after pressing "done" must not hold their answer open.
        turn_end = (end_s, reason) == current.request
        if self.settled_s >= end_s + SETTLE_MARGIN_S or ((media_settled or turn_end) and self.settled_s >= end_s - PROGRESS_PRECISION_S):
            return end_s, reason
        return None

    def planned_next(self, assumed_score: float = 55.0) -> PlannedQuestion | None:
        """The question that follows the current one if its answer scores `assumed_score` and misses nothing."""
        current = self.current
        if current is None or self.started_s is None:
            return None
        return self.policy.next([*self.history, AnsweredQuestion(current.question, assumed_score)], current.deadline_s - self.started_s)

    async def advance(self) -> list[AnswerRecord]:
        """Close every answer whose end is certain, score it, and ask the next question."""
        closed = []
        while (end := self.pending_end()) is not None:
            closed.append(await self._close(*end))
        return closed

    async def _close(self, end_s: float, reason: AnswerEnd) -> AnswerRecord:
        current = self.current
        assert current is not None
        finals = [f for f in self._transcripts if (f.start_s + f.end_s) / 2 < end_s]
        self._transcripts = [f for f in self._transcripts if (f.start_s + f.end_s) / 2 >= end_s]
        mine = tuple(f for f in finals if (f.start_s + f.end_s) / 2 >= current.asked_s and not self._is_echo(f.start_s, f.end_s))
        # Speech that ended before this answer's end cannot bear on the next answer's silence.
        self._speech = [(start, end) for start, end in self._speech if end is None or end > end_s]
        pieces = [AnswerPiece(f.text, f.start_s, f.end_s) for f in mine] + [AnswerPiece(t) for t in current.typed]
        spoken = bool(mine) or self.mode != "text"
        question = current.question
        score = await self._run_blocking(lambda: self.scorer.score(question, pieces, self.language, spoken))
        record = AnswerRecord(current.index, question, current.asked_s, end_s, reason, mine, tuple(current.typed), score)
        self.records.append(record)
        # An unanswered question gets no follow-up: there is nothing to follow up on.
        self.history.append(AnsweredQuestion(question, score.score, score.missed_key_points if score.text else ()))
        history = self.history
        self.current = None
        if self.media_end_s is not None and end_s >= self.media_end_s - MIN_ANSWER_S:
            self.finished = True  # the recording is over: nothing more can be answered
        else:
            assert self.started_s is not None
            self._ask(self.policy.next(history, end_s - self.started_s), end_s)
        return record

    def restore(self, answered: Sequence[RestoredAnswer]) -> None:
        """Continue an interview a previous process ran: re-plan its questions (the policy is deterministic) and
        resume after the last answer. Raises ValueError when the stored answers do not follow from the policy."""
        if self.started_s is not None:
            raise RuntimeError("restore() must come before start()")
        self.started_s = answered[0].asked_s if answered else 0.0
        for entry in answered:
            question = self.policy.next(self.history, entry.asked_s - self.started_s)
            if question is None or question.id != entry.question_id:
                raise ValueError(f"stored answer {entry.index} ({entry.question_id}) is not what the policy asks there")
            self.history.append(AnsweredQuestion(question, entry.score, entry.missed_key_points if entry.answered else ()))
        self.resume_s = answered[-1].ended_s if answered else 0.0
        self._ask(self.policy.next(self.history, self.resume_s - self.started_s), self.resume_s)

    def _ask(self, question: PlannedQuestion | None, at_s: float) -> None:
        if question is None:
            self.finished = True
            return
        self.current = _Current(len(self.history), question, at_s)
