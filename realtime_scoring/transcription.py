"""Streaming transcription of one session: a buffer per speech segment, partials with a stable prefix, a final
per segment (the captions), and the segments joined into utterances for what is scored (`utterances`)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from media.frames import AudioChunk
from realtime_scoring.events import FinalTranscript, PartialTranscript, ScoringEvent, TranscriptSegment
from realtime_scoring.transcription_service import EARLY, FINAL, Job, Transcript, TranscriptionService
from realtime_scoring.utterances import UtteranceConfig, UtteranceJoiner

logger = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def _units(text: str) -> list[str]:
    """Words for space-separated languages, characters for Chinese (which has no spaces)."""
    if _CJK.search(text):
        return [c for c in text if not c.isspace()]
    return text.split()


def _join(units: list[str], like: str) -> str:
    return "".join(units) if _CJK.search(like) else " ".join(units)


def agreed_prefix(previous: str, current: str) -> int:
    """How many units the two hypotheses share from the start (local agreement)."""
    count = 0
    for a, b in zip(_units(previous), _units(current)):
        if a.strip(",.!?，。！？").lower() != b.strip(",.!?，。！？").lower():
            break
        count += 1
    return count


def extend_stable(stable: list[str], previous: str, current: str) -> list[str]:
    """The stable words after `current`: the old ones plus what `previous` and `current` now agree on.

    Stable words only ever grow. They are extended only while the current
    hypothesis still starts with them, so a decoder that changes its mind about
    an earlier word cannot rewrite what the candidate already saw as settled.
    """
    committed = len(stable)
    agreed = agreed_prefix(previous, current)
    if agreed <= committed or agreed_prefix(_join(stable, current), current) != committed:
        return stable
    return stable + _units(current)[committed:agreed]


@dataclass(frozen=True)
class TranscriptionConfig:
    language: str | None = None  # "zh", "en", or None to detect from the first utterance
    partial_interval_s: float = 1.0
    # Each partial re-decodes the utterance so far, so at a fixed interval their cost grows with the square of
    # its length. The interval grows with it instead (by this share of the speech so far): early words show as
    # often as ever, a long answer's captions update every few seconds, and the cost grows about linearly.
    partial_interval_growth: float = 0.5
    min_partial_audio_s: float = 0.5  # of speech, before the first partial
    # A pause this long starts decoding the utterance at once, in case the pause ends it (the VAD needs its whole
    # min_silence_s to be sure): a pause that does end it has its final this much sooner, one that does not gives
    # a partial instead, in place of the next one due. None turns early finals off.
    early_final_after_s: float | None = 0.15
    # Audio kept before speech is detected, counted back from where the VAD detects it: about 0.1 s before the start
    # it reports. Measured on 2026-12-06 (replay, bench_recognition's sets): a full 0.25 s before that start was worse
    # for English (WER 37.2 against 36.0 %) and clean Mandarin (CER 6.15 against 5.33 %), better only at 10 dB noise
    # (11.1 against 13.0 %).
    pre_roll_s: float = 0.25
    max_utterance_s: float = 28.0  # Whisper sees at most 30 s
    utterances: UtteranceConfig = UtteranceConfig()


@dataclass
class _EarlyFinal:
    """A decode started at a pause, while the pause lasts; it answers for the utterance if the pause ends it."""

    utterance: int
    pause_start_s: float
    until_s: float
    job: Job
    pause_held: bool = True  # still in the same pause (no speech since it started)


class SessionTranscription:
    """One session's speech segments ("utterances" of the VAD): audio between SpeechStarted and SpeechEnded,
    decoded as it grows, for the captions; and the segments joined into whole utterances for scoring (`utterances`).

    Partials re-decode the whole segment so far every `partial_interval_s` (longer as it grows, and as the
    recogniser fills: `TranscriptionService.partial_slowdown`);
    the words two successive hypotheses agree on become stable and never change
    (local agreement), so captions do not flicker.
    """

    def __init__(
        self, service: TranscriptionService, emit: Callable[[ScoringEvent], None], config: TranscriptionConfig = TranscriptionConfig()
    ) -> None:
        self._service = service
        self._emit = emit
        self.config = config
        # Read before each partial: whether anyone reads the live captions now (a live interview says; otherwise yes).
        self.partials_wanted: Callable[[], bool] = lambda: True
        self.language = config.language
        self._recent: list[AudioChunk] = []  # pre-roll before speech is detected
        self._turn_start_s = 0.0  # the candidate's last turn ended here: no pre-roll reaches back before it
        self._utterance: list[AudioChunk] | None = None
        self._utterance_id = 0
        self._utterance_start_s = 0.0
        self._speech_start_s = 0.0
        self._last_partial_s: float | None = None
        self._partial_task: asyncio.Task[None] | None = None
        self._previous_hypothesis = ""
        self._stable_units: list[str] = []
        self._shown_until_s = -1.0  # audio the newest partial shown covers
        self._tasks: set[asyncio.Task[None]] = set()
        self._finals_pending: dict[int, float] = {}  # utterance -> start_s, until its final is emitted
        self._early: _EarlyFinal | None = None
        self.utterances = UtteranceJoiner(service, emit, lambda: self.language, self._spawn, config.utterances)

    @property
    def in_utterance(self) -> bool:
        return self._utterance is not None

    def open_since_s(self) -> float | None:
        """Start of the earliest segment or utterance still open or waiting for its transcript, if any."""
        starts = list(self._finals_pending.values())
        if self._utterance is not None:
            starts.append(self._utterance_start_s)
        if (joined := self.utterances.open_since_s()) is not None:
            starts.append(joined)
        return min(starts, default=None)

    def observe(self, chunk: AudioChunk) -> None:
        self.utterances.observe(chunk)
        if self._utterance is None:
            self._recent.append(chunk)
            keep = max(1, int(self.config.pre_roll_s / max(chunk.duration_s, 1e-3)) + 1)
            del self._recent[:-keep]
            return
        self._utterance.append(chunk)
        duration = chunk.start_s + chunk.duration_s - self._utterance_start_s
        if duration >= self.config.max_utterance_s:
            self.end_utterance(chunk.start_s + chunk.duration_s)
            self.start_utterance(chunk.start_s + chunk.duration_s)
            return
        end_s = chunk.start_s + chunk.duration_s
        if self._last_partial_s is None:
            # The first partial goes out as soon as there is enough speech to decode.
            due = end_s - self._speech_start_s >= self.config.min_partial_audio_s
        else:
            interval = max(self.config.partial_interval_s, self.config.partial_interval_growth * (end_s - self._speech_start_s))
            due = end_s - self._last_partial_s >= interval * self._service.partial_slowdown()
        idle = self._partial_task is None or self._partial_task.done()
        # Partials only while someone reads them, and never on an overloaded node (finals always come).
        if due and idle and not self._service.shedding and self.partials_wanted():
            self._last_partial_s = end_s
            self._partial_task = self._spawn(self._partial(self._utterance_id, self._samples(), chunk.start_s + chunk.duration_s))

    def pause(self, pause_start_s: float | None, now_s: float) -> None:
        """The VAD's view after each chunk: when the current pause in speech started (None while speaking).

        A pause that has lasted `early_final_after_s` starts an early final over the utterance so far.
        """
        early = self._early
        if early is not None and early.pause_held and early.pause_start_s != pause_start_s:
            early.pause_held = False  # speech went on: that decode can only be a partial now
            self.utterances.pause_ended()
        after = self.config.early_final_after_s
        if not self._utterance or pause_start_s is None or after is None or now_s - pause_start_s < after:
            return  # no utterance, or none of its audio yet
        if early is not None and early.pause_held and early.utterance == self._utterance_id:
            return  # this pause's decode is already on its way
        job = self._service.submit(self._samples(), self.language, EARLY, key=self)
        self._early = _EarlyFinal(self._utterance_id, pause_start_s, now_s, job)
        self.utterances.pause_began(pause_start_s)
        self._last_partial_s = now_s  # it stands in for the next partial
        self._spawn(self._early_partial(self._early))

    async def _early_partial(self, early: _EarlyFinal) -> None:
        """An early final whose pause did not end the utterance shows as a partial."""
        result = await asyncio.shield(early.job.future)
        if result is not None and early.utterance == self._utterance_id and self._utterance is not None:
            self._show_partial(result, early.until_s)

    def start_utterance(self, time_s: float) -> None:
        if self._utterance is not None:
            return
        self._utterance_id += 1
        start = time_s - self.config.pre_roll_s
        self._utterance = [c for c in self._recent if c.start_s + c.duration_s > start and c.start_s >= self._turn_start_s]
        self.utterances.segment_started(self._utterance_id, time_s, self._utterance)
        self._utterance_start_s = self._utterance[0].start_s if self._utterance else time_s
        self._recent = []
        self._speech_start_s = time_s
        self._last_partial_s = None
        self._previous_hypothesis = ""
        self._stable_units = []
        self._shown_until_s = -1.0

    def end_utterance(self, end_s: float) -> None:
        if self._utterance is None:
            return
        chunks = [c for c in self._utterance if c.start_s < end_s + 0.2]
        self._utterance = None
        early, self._early = self._early, None
        if early is not None and not (early.pause_held and early.utterance == self._utterance_id and early.pause_start_s <= end_s):
            early = None
        self.utterances.segment_ended(self._utterance_id, end_s)
        if not chunks:
            self.utterances.segment_final(self._utterance_id, None)
        else:
            samples = np.concatenate([c.samples for c in chunks])
            self._finals_pending[self._utterance_id] = self._utterance_start_s
            self._spawn(
                self._final(self._utterance_id, samples, self._utterance_start_s, chunks[-1].start_s + chunks[-1].duration_s, early)
            )

    def _samples(self) -> np.ndarray:
        assert self._utterance is not None
        return np.concatenate([c.samples for c in self._utterance])

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("transcription failed", exc_info=exc)

    async def _partial(self, utterance: int, samples: np.ndarray, until_s: float) -> None:
        result = await self._service.transcribe(samples, self.language, final=False, key=self)
        if result is None or utterance != self._utterance_id or self._utterance is None:
            return  # superseded, or the final is already on its way
        self._show_partial(result, until_s)

    def _show_partial(self, result: Transcript, until_s: float) -> None:
        if until_s <= self._shown_until_s:
            return  # a decode of less audio that finished after a newer one (an early final and a partial side by side)
        self._shown_until_s = until_s
        utterance = self._utterance_id
        text = result.text.strip()
        units = _units(text)
        self._stable_units = extend_stable(self._stable_units, self._previous_hypothesis, text)
        self._previous_hypothesis = text
        stable = _join(self._stable_units, text)
        unstable = _join(units[len(self._stable_units) :], text)
        self._emit(PartialTranscript(utterance, self._utterance_start_s, until_s, stable, unstable))

    async def _final(self, utterance: int, samples: np.ndarray, start_s: float, end_s: float, early: _EarlyFinal | None) -> None:
        try:
            await self._final_transcript(utterance, samples, start_s, end_s, early)
        finally:
            self._finals_pending.pop(utterance, None)
            self.utterances.segment_final(utterance, None)  # a failed decode: the utterance decodes on its own

    async def _final_transcript(self, utterance: int, samples: np.ndarray, start_s: float, end_s: float, early: _EarlyFinal | None) -> None:
        """The utterance's transcript: the early final's, when the pause it started at is the one that ended the
        utterance (it holds the same speech, less some trailing silence), else a decode of its own."""
        started = time.perf_counter()
        result, job = None, None
        if early is not None:
            self._service.promote(early.job)
            result, job = await asyncio.shield(early.job.future), early.job
        if result is None:
            job = self._service.submit(samples, self.language, FINAL, key=self)
            result = await job.future
        assert result is not None and job is not None
        if self.language is None and result.language:
            self.language = result.language  # keep the first detection for the whole interview
        segments = tuple(TranscriptSegment(start_s + float(s[0]), start_s + float(s[1]), str(s[2])) for s in (result.segments or ()))
        final = FinalTranscript(
            utterance, start_s, end_s, result.text.strip(), result.language, segments, round(1000 * (time.perf_counter() - started), 1)
        )
        self._emit(final)
        # A caption decoded greedily (the recogniser was behind) is decoded again with the beam before it is scored.
        self.utterances.segment_final(utterance, final, job.samples if job.beam_size_used < self._service.beam_size else None)

    def cut(self, at_s: float) -> None:
        """The candidate's turn ended at `at_s`: the utterance with speech from before it is transcribed now
        (the segment under way, if any, was ended there first), and speech after it belongs to the next turn,
        its pre-roll too: a transcript that began before `at_s` would hold the ended turn open until it came."""
        self._turn_start_s = max(self._turn_start_s, at_s)
        if self._utterance is not None and self._utterance_start_s < at_s:
            # Speech of the next turn that began before the turn's end reached the audio: its pre-roll goes, and so
            # does an early final queued over it (it would place its words too early), unless it already runs.
            self._utterance = [c for c in self._utterance if c.start_s >= at_s]
            self._utterance_start_s = self._utterance[0].start_s if self._utterance else at_s
            if self._early is not None:
                self._service.withdraw(self._early.job)
                self._early = None
        self.utterances.cut(at_s)

    def finish(self) -> None:
        """End of the media (after the last segment ended): the open utterance is transcribed."""
        self.utterances.finish()

    async def drain(self) -> None:
        """Wait for every transcription in flight (end of a recording)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
