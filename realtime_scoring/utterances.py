"""Speech segments joined into whole utterances, decoded again as one clip for what is scored.

The voice-activity detector ends a segment at every pause of 0.4 s, which keeps captions quick (each segment's
final comes right after its pause). A sentence with a hesitation in it is two segments, though, and decoded apart
the recogniser loses the context that joins them. So segments whose pauses are shorter than
`join_pauses_below_s` are joined into one utterance, and when it ends (a longer pause, the end of the candidate's
turn, the length Whisper can take) it is decoded over its whole audio, pauses included. A single-segment utterance
reuses its segment's final; a joined one decodes speculatively as each pause begins (beside the segment's early
final), so a turn that ends right after a pause finds its transcript already there.

Whisper now and then ends a long decode with seconds of speech after its last words; the segments show where the
speech is, and the rest is decoded after them, as Whisper's own long-form transcription goes on from its last timestamp.

What is scored always keeps the recogniser's full beam: captions decode greedily while the recogniser is behind, and
a single segment's final decoded that way is decoded again (the same audio, with the beam) before it is scored. So the
same audio gives the same scored transcript at any load, live and in a replay (server/live/replay.py).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from media.frames import ANALYSIS_SAMPLE_RATE, AudioChunk
from realtime_scoring.events import FinalTranscript, ScoringEvent, TranscriptSegment, UtteranceTranscript
from realtime_scoring.text_forms import joined_text
from realtime_scoring.transcription_service import SCORED, SPECULATIVE, Job, Transcript, TranscriptionService


@dataclass(frozen=True)
class UtteranceConfig:
    # Pauses shorter than this stay inside one utterance: hesitations, a breath, looking for a word.
    join_pauses_below_s: float = 2.0
    max_span_s: float = 28.0  # Whisper sees 30 s at most; pre-roll and tail fit in the rest
    pre_roll_s: float = 0.25  # kept before a segment that an utterance is split at
    tail_s: float = 0.2
    # Decode the utterance so far at each pause (at low priority), so that a turn ended right after a pause has
    # its transcript at once. That decode is the utterance's transcript when no speech follows, so a replay keeps it
    # on too: the same audio is decoded at the same place, and the transcript is the same.
    speculative: bool = True
    # A decode whose last words end with at least this much of the utterance's speech still after them stopped early:
    # what follows them is decoded too (`_heard_to_the_end`). None: never.
    unheard_speech_s: float | None = 1.0


MAX_CONTINUATIONS = 2  # decodes after the first, for one utterance (each goes on from the last words heard)


@dataclass
class _Segment:
    id: int
    start_s: float
    final: asyncio.Future[FinalTranscript | None]
    end_s: float | None = None  # None while the segment goes on
    greedy_audio: np.ndarray | None = None  # the audio of its final, when that was decoded without the beam


@dataclass
class _Utterance:
    id: int
    start_s: float
    segments: list[_Segment]
    chunks: list[AudioChunk]
    speculative: Job | None = None  # a decode of the audio up to the pause under way, while no speech follows

    @property
    def in_segment(self) -> bool:
        return self.segments[-1].end_s is None

    @property
    def last_end_s(self) -> float:
        ends = [s.end_s for s in self.segments if s.end_s is not None]
        return max(ends) if ends else self.start_s

    def samples_until(self, end_s: float, tail_s: float) -> np.ndarray:
        chunks = [c for c in self.chunks if c.start_s < end_s + tail_s]
        return np.concatenate([c.samples for c in chunks]) if chunks else np.zeros(0, dtype=np.float32)


@dataclass(eq=False)  # identity: it keys its decodes in the shared queue
class UtteranceJoiner:
    """One session's utterances: fed the audio and the speech segments as the transcription sees them."""

    service: TranscriptionService
    emit: Callable[[ScoringEvent], None]
    language: Callable[[], str | None]
    spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]
    config: UtteranceConfig = UtteranceConfig()
    _open: _Utterance | None = None
    _segments: dict[int, _Segment] = field(default_factory=dict)  # segments whose final has not come yet
    _pending: dict[int, float] = field(default_factory=dict)  # closed utterances waiting for their transcript
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def open_since_s(self) -> float | None:
        """Start of the earliest utterance still open or waiting for its transcript."""
        starts = list(self._pending.values())
        if self._open is not None:
            starts.append(self._open.start_s)
        return min(starts, default=None)

    def observe(self, chunk: AudioChunk) -> None:
        """Audio while an utterance is open (pauses included); between utterances the segments bring their pre-roll."""
        current = self._open
        if current is None:
            return
        current.chunks.append(chunk)
        end_s = chunk.start_s + chunk.duration_s
        if not current.in_segment and end_s - current.last_end_s >= self.config.join_pauses_below_s:
            self._close()
        elif end_s - current.start_s >= self.config.max_span_s and len(current.segments) > 1:
            # Too long for one decode: it ends before the segment under way (or now, in a pause).
            self._split_before(current.segments[-1]) if current.in_segment else self._close()

    def segment_started(self, segment_id: int, time_s: float, pre_roll: list[AudioChunk]) -> None:
        """A segment began at `time_s`; `pre_roll` is its audio so far (the chunks just before the speech, too)."""
        current = self._open
        if current is not None and time_s - current.start_s >= self.config.max_span_s - 1.0:
            self._close()
        segment = _Segment(segment_id, time_s, asyncio.get_running_loop().create_future())
        self._segments[segment_id] = segment
        if self._open is None:
            self._open = _Utterance(next(self._ids), pre_roll[0].start_s if pre_roll else time_s, [segment], list(pre_roll))
            return
        self._open.segments.append(segment)
        self._withdraw_speculative(self._open)

    def pause_began(self, pause_start_s: float) -> None:
        """A pause began in the segment under way (the transcription decodes the segment early at this point):
        decode the whole utterance so far too, in case the pause, or the turn, ends it."""
        current = self._open
        if not self.config.speculative or current is None or len(current.segments) < 2 or current.speculative is not None:
            return
        samples = current.samples_until(pause_start_s, self.config.tail_s)
        current.speculative = self.service.submit(samples, self.language(), SPECULATIVE, key=self, beam=True)

    def pause_ended(self) -> None:
        """Speech went on before the pause ended the segment: what was decoded at the pause is not the utterance."""
        if self._open is not None:
            self._withdraw_speculative(self._open)

    def segment_ended(self, segment_id: int, end_s: float) -> None:
        current = self._open
        segment = self._segments.get(segment_id)
        if current is not None and segment is not None and segment in current.segments:
            segment.end_s = end_s

    def segment_final(self, segment_id: int, final: FinalTranscript | None, greedy_audio: np.ndarray | None = None) -> None:
        """A segment's caption final (None: it has none, or its decode failed); `greedy_audio`: what it was decoded from,
        when it was decoded without the beam (the recogniser was behind), to be decoded again before it is scored."""
        segment = self._segments.pop(segment_id, None)
        if segment is not None and not segment.final.done():
            segment.greedy_audio = greedy_audio
            segment.final.set_result(final)

    def cut(self, at_s: float) -> None:
        """The candidate's turn ended at `at_s`: the utterance holding speech from before it ends now."""
        current = self._open
        if current is None:
            return
        after = [s for s in current.segments if s.start_s >= at_s]
        if len(after) == len(current.segments):
            # All of it is speech of the next turn; its pre-roll from before the turn's end is not.
            if current.start_s < at_s:
                self._withdraw_speculative(current)
                current.chunks = [c for c in current.chunks if c.start_s >= at_s]
                current.start_s = current.chunks[0].start_s if current.chunks else at_s
            return
        if after:
            self._split_before(after[0], not_before_s=at_s)
        else:
            self._close()

    def finish(self) -> None:
        """End of the media: whatever is open ends."""
        if self._open is not None:
            self._close()

    def _withdraw_speculative(self, utterance: _Utterance) -> None:
        """Forget the speculative decode (and drop it from the queue if it has not started)."""
        if utterance.speculative is not None:
            self.service.withdraw(utterance.speculative)
            utterance.speculative = None

    def _split_before(self, segment: _Segment, not_before_s: float = -math.inf) -> None:
        """The open utterance ends before `segment`, which opens the next one with its pre-roll (none of it
        before `not_before_s`, where the candidate's turn ended)."""
        current = self._open
        assert current is not None
        k = current.segments.index(segment)
        head_end = current.segments[k - 1].end_s
        assert head_end is not None
        head = _Utterance(
            current.id,
            current.start_s,
            current.segments[:k],
            [c for c in current.chunks if c.start_s < head_end + self.config.tail_s],
            current.speculative,
        )
        start = segment.start_s - self.config.pre_roll_s
        chunks = [c for c in current.chunks if c.start_s + c.duration_s > start and c.start_s >= not_before_s]
        self._open = _Utterance(next(self._ids), chunks[0].start_s if chunks else segment.start_s, current.segments[k:], chunks)
        self._transcribe_closed(head)

    def _close(self) -> None:
        current = self._open
        assert current is not None
        self._open = None
        self._transcribe_closed(current)

    def _transcribe_closed(self, utterance: _Utterance) -> None:
        self._pending[utterance.id] = utterance.start_s
        self.spawn(self._transcribe(utterance))

    async def _transcribe(self, utterance: _Utterance) -> None:
        try:
            await self._emit_transcript(utterance)
        finally:
            self._pending.pop(utterance.id, None)

    async def _emit_transcript(self, utterance: _Utterance) -> None:
        end_s = utterance.last_end_s
        if len(utterance.segments) == 1:
            segment = utterance.segments[0]
            final = await segment.final
            if final is not None:
                audio = segment.greedy_audio
                if audio is None and self._unheard_s(utterance, final.segments[-1].end_s if final.segments else final.end_s) > 0:
                    audio = utterance.samples_until(end_s, self.config.tail_s)  # decoded again below, then continued
                if audio is None:
                    self.emit(
                        UtteranceTranscript(utterance.id, final.start_s, final.end_s, final.text, final.language, final.segments, 0.0, 1)
                    )
                else:
                    started = time.perf_counter()
                    decoded = await self._decode(audio)
                    await self._emit_result(utterance, final.start_s, final.end_s, audio, decoded, started)
                return
        started = time.perf_counter()
        result: Transcript | None = None
        if (speculative := utterance.speculative) is not None:  # no speech came after it: it holds the whole utterance
            self.service.promote(speculative, SCORED)
            result = await asyncio.shield(speculative.future)
        samples = utterance.samples_until(end_s, self.config.tail_s)
        if not samples.size:
            return
        if result is None:
            result = await self._decode(samples)
        start_s = utterance.start_s
        await self._emit_result(utterance, start_s, start_s + samples.size / ANALYSIS_SAMPLE_RATE, samples, result, started)

    async def _decode(self, samples: np.ndarray, prompt: str | None = None) -> Transcript:
        result = await self.service.transcribe(samples, self.language(), final=True, key=self, beam=True, priority=SCORED, prompt=prompt)
        assert result is not None
        return result

    async def _emit_result(
        self, utterance: _Utterance, start_s: float, end_s: float, samples: np.ndarray, result: Transcript, started: float
    ) -> None:
        text = result.text.strip()
        segments = tuple(TranscriptSegment(start_s + float(s[0]), start_s + float(s[1]), str(s[2])) for s in (result.segments or ()))
        text, segments = await self._heard_to_the_end(utterance, start_s, samples, text, segments)
        self.emit(
            UtteranceTranscript(
                utterance.id,
                start_s,
                round(end_s, 3),
                text,
                result.language,
                segments,
                round(1000 * (time.perf_counter() - started), 1),
                len(utterance.segments),
            )
        )

    async def _heard_to_the_end(
        self, utterance: _Utterance, start_s: float, samples: np.ndarray, text: str, segments: tuple[TranscriptSegment, ...]
    ) -> tuple[str, tuple[TranscriptSegment, ...]]:
        """Whisper now and then ends a long decode early: its last words close seconds before the speech does, and the
        rest is never written (beam 5 ended a 23 s answer at "and here's the long", 4 s of speech before its end; greedy
        read it all). As Whisper's own long-form transcription goes on from its last timestamp, the audio after the last
        words heard is decoded too, with the text so far as its prompt, while the voice-activity segments hold speech
        after them. Replay does the same with the same audio, so it gets the same transcript."""
        for _ in range(MAX_CONTINUATIONS):
            if not segments or self._unheard_s(utterance, segments[-1].end_s) <= 0:
                break
            heard_until = segments[-1].end_s
            offset = round((heard_until - start_s) * ANALYSIS_SAMPLE_RATE)
            if not 0 < offset < samples.size:
                break
            rest = await self._decode(samples[offset:], prompt=text)
            more = tuple(TranscriptSegment(heard_until + float(s[0]), heard_until + float(s[1]), str(s[2])) for s in (rest.segments or ()))
            if not more:
                break
            text, segments = joined_text(text, rest.text.strip()), segments + more
        return text, segments

    def _unheard_s(self, utterance: _Utterance, heard_until_s: float) -> float:
        """Seconds of the utterance's speech after `heard_until_s`, if that is at least `unheard_speech_s`; else 0."""
        least = self.config.unheard_speech_s
        spans = [(s.start_s, s.end_s) for s in utterance.segments if s.end_s is not None]
        unheard = sum(max(0.0, end - max(start, heard_until_s)) for start, end in spans)
        return unheard if least is not None and unheard >= least else 0.0
