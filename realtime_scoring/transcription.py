"""Streaming transcription: utterance buffers per session, partials with a stable prefix, finals first."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from media.frames import AudioChunk
from realtime_scoring.events import FinalTranscript, PartialTranscript, ScoringEvent, TranscriptSegment

logger = logging.getLogger(__name__)


class Transcript(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def language(self) -> str: ...

    @property
    def segments(self) -> Any: ...


class Transcriber(Protocol):
    def transcribe_batch(
        self, clips: Sequence[np.ndarray], language: str | None = None, prompt: str | None = None
    ) -> Sequence[Transcript]: ...


# Priorities, most urgent first. An early final decodes an utterance at the start of a pause, in case the pause
# ends it: it becomes the final if it does, a partial if speech goes on.
FINAL, EARLY, PARTIAL = 0, 1, 2


@dataclass
class TranscriptionStats:
    finals: int = 0
    partials: int = 0
    partials_superseded: int = 0
    early: int = 0  # early finals that ran before their utterance ended (the rest were promoted to finals first)
    batches: int = 0
    busy_s: float = 0.0
    max_queue_wait_s: float = 0.0


@dataclass(order=True)
class _Job:
    priority: int
    deadline: float
    seq: int
    samples: np.ndarray = field(compare=False)
    language: str | None = field(compare=False)
    future: asyncio.Future[Transcript | None] = field(compare=False)
    key: object = field(compare=False)
    queued_at: float = field(compare=False)
    started: bool = field(default=False, compare=False)


class TranscriptionService:
    """One recogniser for the whole process: finals before partials, oldest first, batched.

    Every session's finals go first, then early finals, then partials; a session's
    queued partial (or early final) is replaced by its newer one rather than run
    stale; whatever is waiting of the same kind runs as one batch, finals on one of
    `workers` threads sharing the model, partials one batch at a time (on a lower-priority
    thread of their own when there are several workers).
    """

    def __init__(
        self,
        transcriber: Transcriber,
        *,
        workers: int = 1,
        max_batch: int = 8,
        max_partial_batch: int = 4,
        partial_lane: bool | None = None,
    ) -> None:
        self._transcriber = transcriber
        # On a CPU, two single-threaded decodes side by side get through 40% more
        # audio than one decode on two threads (small matrices scale poorly).
        self._workers = workers
        self._running = 0  # batches of finals (and partials, without a lane of their own) on the workers now
        self._partial_running = False
        self._max_batch = max_batch
        # A running decode cannot be interrupted, so partial batches stay small:
        # that bounds how long a final can wait behind one.
        self._max_partial_batch = max_partial_batch
        self._queued: list[_Job] = []  # each batch takes the most urgent (jobs sort by priority, deadline)
        self._newest: dict[tuple[object, int], _Job] = {}  # (key, priority) -> the queued job a newer one replaces
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transcribe")
        # With several workers, partials get a thread of their own at a lower OS priority, so they use what CPU
        # the finals, the media and the event loop leave: a busy node shows captions less often, never finals later.
        if partial_lane is None:
            partial_lane = workers > 1
        self._partial_executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcribe-partial", initializer=_lower_thread_priority)
            if partial_lane
            else None
        )
        self._worker: asyncio.Task[None] | None = None
        self.stats = TranscriptionStats()

    async def transcribe(self, samples: np.ndarray, language: str | None, *, final: bool, key: object) -> Transcript | None:
        """Transcribe; a partial returns None when a newer partial of the same `key` replaced it."""
        return await self.submit(samples, language, FINAL if final else PARTIAL, key).future

    def submit(self, samples: np.ndarray, language: str | None, priority: int, key: object) -> _Job:
        """Queue a decode; its future gets the transcript (None if a newer job of the same key and priority replaced it)."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="transcription-worker")
        now = time.perf_counter()
        job = _Job(priority, now, next(self._seq), samples, language, asyncio.get_running_loop().create_future(), key, now)
        if priority != FINAL:
            previous = self._newest.pop((key, priority), None)
            if previous is not None and not previous.future.done():
                previous.future.set_result(None)
                self.stats.partials_superseded += 1
            self._newest[(key, priority)] = job
        self._queued.append(job)
        self._wakeup.set()
        return job

    def promote(self, job: _Job) -> None:
        """Make a queued job a final: it goes before everything not final, and nothing newer replaces it."""
        if job.priority == FINAL or job.started or job.future.done():
            return
        if self._newest.get((job.key, job.priority)) is job:
            del self._newest[(job.key, job.priority)]
        job.priority = FINAL
        self._wakeup.set()

    async def _work(self) -> None:
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._wakeup.clear()
                self._start_ready(running)
                await self._wakeup.wait()
        finally:
            for task in running:
                task.cancel()

    def _start_ready(self, running: set[asyncio.Task[None]]) -> None:
        """Start what can run now: finals on idle workers, then one batch of partials at a time."""
        while self._running < self._workers and (batch := self._next_batch(self._workers - self._running)):
            self._start(batch, self._executor, running)
        if self._partial_running:
            return
        if self._partial_executor is not None:
            if batch := self._next_batch(partial=True):
                self._start(batch, self._partial_executor, running)
        elif self._running < self._workers and (batch := self._next_batch(partial=True)):
            self._start(batch, self._executor, running)

    def _start(self, batch: list[_Job], executor: ThreadPoolExecutor, running: set[asyncio.Task[None]]) -> None:
        partial = batch[0].priority == PARTIAL
        own_lane = partial and executor is self._partial_executor
        self._partial_running = self._partial_running or partial
        self._running += not own_lane
        task = asyncio.create_task(self._run(batch, executor))
        running.add(task)

        def finished(task: asyncio.Task[None]) -> None:
            running.discard(task)
            if partial:
                self._partial_running = False
            self._running -= not own_lane
            self._wakeup.set()

        task.add_done_callback(finished)

    async def _run(self, batch: list[_Job], executor: ThreadPoolExecutor) -> None:
        started = time.perf_counter()
        for job in batch:
            self.stats.max_queue_wait_s = max(self.stats.max_queue_wait_s, started - job.queued_at)
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                executor, self._transcriber.transcribe_batch, [j.samples for j in batch], batch[0].language
            )
        except Exception as exc:  # noqa: BLE001 - the sessions get the error, others go on
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        finally:
            self.stats.busy_s += time.perf_counter() - started
        self.stats.batches += 1
        for job, result in zip(batch, results, strict=True):
            if job.priority == FINAL:
                self.stats.finals += 1
            elif job.priority == EARLY:
                self.stats.early += 1
            else:
                self.stats.partials += 1
            if not job.future.done():
                job.future.set_result(result)

    def _next_batch(self, idle_workers: int = 1, *, partial: bool = False) -> list[_Job]:
        """The most urgent queued job of its kind (finals and early finals are one kind, partials the other), with
        every queued job of the same kind and language (up to max_batch); empty when none is queued.

        Decoding several utterances together streams the decoder's weights once
        per step for all of them, which is what makes it cheaper even on a CPU. But a burst of finals (every
        candidate pausing at once) is shared out over the `idle_workers`, so the last of them does not wait
        for all the others' encodings on one thread while another thread idles.
        """
        self._queued = [j for j in self._queued if not j.future.done()]
        kind = sorted(j for j in self._queued if (j.priority == PARTIAL) == partial)
        if not kind:
            return []
        first = kind[0]
        alike = [j for j in kind[1:] if j.language == first.language]
        limit = self._max_partial_batch if partial else min(self._max_batch, math.ceil((1 + len(alike)) / max(1, idle_workers)))
        batch = [first, *alike[: limit - 1]]
        chosen = {id(j) for j in batch}
        self._queued = [j for j in self._queued if id(j) not in chosen]
        for job in batch:
            job.started = True
            if self._newest.get((job.key, job.priority)) is job:
                del self._newest[(job.key, job.priority)]
        return batch

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for job in self._queued:
            if not job.future.done():
                job.future.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._partial_executor is not None:
            self._partial_executor.shutdown(wait=False, cancel_futures=True)


# Nice value of the partials' thread: under contention Linux gives it about a tenth of a normal thread's share.
PARTIAL_NICENESS = 10


def _lower_thread_priority() -> None:
    """Run the calling thread at PARTIAL_NICENESS (Linux schedules threads apart; elsewhere, or if refused, as is)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PARTIAL_NICENESS)
    except (AttributeError, OSError) as exc:
        logger.info("partial transcriptions keep normal priority: %s", exc)


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
    pre_roll_s: float = 0.25
    max_utterance_s: float = 28.0  # Whisper sees at most 30 s


@dataclass
class _EarlyFinal:
    """A decode started at a pause, while the pause lasts; it answers for the utterance if the pause ends it."""

    utterance: int
    pause_start_s: float
    until_s: float
    job: _Job
    pause_held: bool = True  # still in the same pause (no speech since it started)


class SessionTranscription:
    """One session's utterances: audio between SpeechStarted and SpeechEnded, decoded as it grows.

    Partials re-decode the whole utterance so far every `partial_interval_s` (longer as it grows);
    the words two successive hypotheses agree on become stable and never change
    (local agreement), so captions do not flicker.
    """

    def __init__(
        self, service: TranscriptionService, emit: Callable[[ScoringEvent], None], config: TranscriptionConfig = TranscriptionConfig()
    ) -> None:
        self._service = service
        self._emit = emit
        self.config = config
        self.language = config.language
        self._recent: list[AudioChunk] = []  # pre-roll before speech is detected
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

    @property
    def in_utterance(self) -> bool:
        return self._utterance is not None

    def open_since_s(self) -> float | None:
        """Start of the earliest utterance still open or waiting for its final transcript, if any."""
        starts = list(self._finals_pending.values())
        if self._utterance is not None:
            starts.append(self._utterance_start_s)
        return min(starts, default=None)

    def observe(self, chunk: AudioChunk) -> None:
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
            due = end_s - self._last_partial_s >= interval
        idle = self._partial_task is None or self._partial_task.done()
        if due and idle:
            self._last_partial_s = end_s
            self._partial_task = self._spawn(self._partial(self._utterance_id, self._samples(), chunk.start_s + chunk.duration_s))

    def pause(self, pause_start_s: float | None, now_s: float) -> None:
        """The VAD's view after each chunk: when the current pause in speech started (None while speaking).

        A pause that has lasted `early_final_after_s` starts an early final over the utterance so far.
        """
        early = self._early
        if early is not None and early.pause_start_s != pause_start_s:
            early.pause_held = False  # speech went on: that decode can only be a partial now
        after = self.config.early_final_after_s
        if self._utterance is None or pause_start_s is None or after is None or now_s - pause_start_s < after:
            return
        if early is not None and early.pause_held and early.utterance == self._utterance_id:
            return  # this pause's decode is already on its way
        job = self._service.submit(self._samples(), self.language, EARLY, key=self)
        self._early = _EarlyFinal(self._utterance_id, pause_start_s, now_s, job)
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
        self._utterance = [c for c in self._recent if c.start_s + c.duration_s > start]
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
        if chunks:
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

    async def _final_transcript(self, utterance: int, samples: np.ndarray, start_s: float, end_s: float, early: _EarlyFinal | None) -> None:
        """The utterance's transcript: the early final's, when the pause it started at is the one that ended the
        utterance (it holds the same speech, less some trailing silence), else a decode of its own."""
        started = time.perf_counter()
        result = None
        if early is not None:
            self._service.promote(early.job)
            result = await asyncio.shield(early.job.future)
        if result is None:
            result = await self._service.transcribe(samples, self.language, final=True, key=self)
        assert result is not None
        if self.language is None and result.language:
            self.language = result.language  # keep the first detection for the whole interview
        segments = tuple(TranscriptSegment(start_s + float(s[0]), start_s + float(s[1]), str(s[2])) for s in (result.segments or ()))
        self._emit(
            FinalTranscript(
                utterance, start_s, end_s, result.text.strip(), result.language, segments, round(1000 * (time.perf_counter() - started), 1)
            )
        )

    async def drain(self) -> None:
        """Wait for every transcription in flight (end of a recording)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
