"""The process's one recogniser queue: finals before partials, oldest first, batched."""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

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
        self, clips: Sequence[np.ndarray], language: str | None = None, prompt: str | None = None, beam_size: int = 1
    ) -> Sequence[Transcript]: ...


@runtime_checkable
class OrderedTranscriber(Transcriber, Protocol):
    """A recogniser that other processes share (`shared_recogniser`): told each batch's priority, it serves the most
    urgent of all its clients' batches first."""

    def transcribe_batch_ordered(
        self, clips: Sequence[np.ndarray], language: str | None, prompt: str | None, beam_size: int, priority: int
    ) -> Sequence[Transcript]: ...


BUSY_WINDOW_S = 10.0
BEAM_BELOW_BUSY = 0.5  # a final keeps its beam while the recogniser's threads were busy less than this share of the window
# Partial captions wait 1 / (1 - busy) times their usual interval, busy being the final-decoding threads' share over
# the window (twice as long at half busy), at most this many times: the first work a filling node gives up, before it
# sheds them outright once strained. Read again at most this often (every session asks at every chunk).
MAX_PARTIAL_SLOWDOWN = 4.0
PARTIAL_SLOWDOWN_EVERY_S = 0.5

# Priorities, most urgent first. An early final decodes an utterance at the start of a pause, in case the pause
# ends it: it becomes the final if it does, a partial if speech goes on.
# A scored decode is a whole utterance's, with the full beam, for the answer's transcript (`utterances`): it goes
# after the captions, which a person is watching, and before decodes nobody has asked for yet.
# A speculative decode is a joined utterance's at a pause: it runs apart from early finals, which are short and show
# captions, so that a long one never holds a caption back; it becomes a scored decode if the pause ends the utterance.
FINAL, EARLY, SCORED, SPECULATIVE, PARTIAL = 0, 1, 2, 3, 4


@dataclass
class TranscriptionStats:
    finals: int = 0
    partials: int = 0
    partials_superseded: int = 0
    partials_shed: int = 0  # asked for while the node sheds work (overloaded): never queued
    early: int = 0  # early finals that ran before their utterance ended (the rest were promoted to finals first)
    scored: int = 0  # whole utterances decoded for the answer's transcript (speculative ones promoted included)
    speculative: int = 0  # joined utterances decoded at a pause before anything asked for them
    beam_searched: int = 0  # non-partial decodes that kept a beam (the rest ran greedily, the recogniser being behind)
    batches: int = 0
    busy_s: float = 0.0
    max_queue_wait_s: float = 0.0


@dataclass(order=True)
class Job:
    priority: int
    deadline: float
    seq: int
    samples: np.ndarray = field(compare=False)
    language: str | None = field(compare=False)
    future: asyncio.Future[Transcript | None] = field(compare=False)
    key: object = field(compare=False)
    queued_at: float = field(compare=False)
    started: bool = field(default=False, compare=False)
    # What is scored keeps the full beam whatever the load (`beam`): the same audio then gives the same transcript live
    # and in a replay. `beam_size_used`: what the decode kept, once it ran.
    beam: bool = field(default=False, compare=False)
    beam_size_used: int = field(default=0, compare=False)
    prompt: str | None = field(default=None, compare=False)  # text said just before, for the decoder's context


class TranscriptionService:
    """One recogniser for the whole process: finals before partials, oldest first, batched.

    Finals (and early finals and speculative decodes, which may become finals) keep `beam_size` hypotheses while the
    recogniser has room: its threads busy less than BEAM_BELOW_BUSY of the last BUSY_WINDOW_S, one such decode at a
    time and none waiting behind it. Otherwise they decode greedily (about half the time on a CPU), so that a busy node
    shows captions as soon as ever rather than better ones seconds late; partials, which a newer one soon replaces,
    always decode greedily. Every session's finals go first, then early finals, then partials; a session's
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
        beam_size: int = 1,
    ) -> None:
        self._transcriber = transcriber
        self._beam_size = beam_size
        # On a CPU, two single-threaded decodes side by side get through 40% more
        # audio than one decode on two threads (small matrices scale poorly).
        self._workers = workers
        self._running = 0  # batches of finals (and partials, without a lane of their own) on the workers now
        self._partial_running = False
        self._max_batch = max_batch
        # A running decode cannot be interrupted, so partial batches stay small:
        # that bounds how long a final can wait behind one.
        self._max_partial_batch = max_partial_batch
        self._queued: list[Job] = []  # each batch takes the most urgent (jobs sort by priority, deadline)
        self._newest: dict[tuple[object, int], Job] = {}  # (key, priority) -> the queued job a newer one replaces
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transcribe")
        # With several workers, partials get a thread of their own at a lower OS priority, so they use what CPU
        # the finals, the media and the event loop leave: a busy node shows captions less often, never finals later.
        if partial_lane is None:
            partial_lane = workers > 1
        self._partial_executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcribe-partial", initializer=lower_thread_priority)
            if partial_lane
            else None
        )
        self._worker: asyncio.Task[None] | None = None
        self._threads = workers + (self._partial_executor is not None)
        # Batches under way (id -> when each started, whether it is needed work: finals and the like on the workers,
        # not partials, see busy_share), and recent ones as (start, end, needed).
        self._decoding: dict[int, tuple[float, bool]] = {}
        self._decoded: collections.deque[tuple[float, float, bool]] = collections.deque(maxlen=256)
        self._shedding = False
        self._partial_slowdown = (1.0, -math.inf)  # the factor, and when it was worked out
        self.stats = TranscriptionStats()

    @property
    def shedding(self) -> bool:
        """True while the node is overloaded: partial captions are not decoded at all (what is asked for resolves to
        None at once, as a superseded partial does) and caption finals keep the beam, so that each serves its score
        too (see `_beam_for`). Finals, early finals, scored and speculative decodes are never dropped."""
        return self._shedding

    @shedding.setter
    def shedding(self, shed: bool) -> None:
        self._shedding = shed
        if shed:
            for job in self._queued:
                if job.priority == PARTIAL and not job.future.done():
                    self._not_replaceable(job)
                    job.future.set_result(None)
                    self.stats.partials_shed += 1

    def oldest_wait_s(self, now: float | None = None) -> float:
        """How long the oldest queued caption final (or early final) has waited to start: 0 with none queued. A node
        whose captions wait is behind, whatever its CPU says; scored and speculative decodes wait behind them by design."""
        now = time.perf_counter() if now is None else now
        waits = [now - j.queued_at for j in self._queued if j.priority <= EARLY and not j.started and not j.future.done()]
        return max(waits, default=0.0)

    async def transcribe(
        self,
        samples: np.ndarray,
        language: str | None,
        *,
        final: bool,
        key: object,
        beam: bool = False,
        priority: int | None = None,
        prompt: str | None = None,
    ) -> Transcript | None:
        """Transcribe; a partial returns None when a newer partial of the same `key` replaced it. `beam`: with the full
        beam whatever the load (what is scored). `priority`: other than a final's or a partial's (SCORED). `prompt`: what
        was said just before this audio (it decodes in a batch only with clips of the same prompt)."""
        if priority is None:
            priority = FINAL if final else PARTIAL
        return await self.submit(samples, language, priority, key, beam=beam, prompt=prompt).future

    @property
    def beam_size(self) -> int:
        """Hypotheses a final keeps while the recogniser has room, and a scored decode always."""
        return self._beam_size

    @property
    def transcriber(self) -> Transcriber:
        """The recogniser itself, for a caller that decodes a clip outside the queue (a benchmark's reference decode)."""
        return self._transcriber

    def submit(
        self, samples: np.ndarray, language: str | None, priority: int, key: object, *, beam: bool = False, prompt: str | None = None
    ) -> Job:
        """Queue a decode; its future gets the transcript (None if a newer job of the same key and priority replaced it).
        `beam`: with the full beam whatever the load."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="transcription-worker")
        now = time.perf_counter()
        future = asyncio.get_running_loop().create_future()
        job = Job(priority, now, next(self._seq), samples, language, future, key, now, beam=beam, prompt=prompt)
        if priority == PARTIAL and self._shedding:
            job.future.set_result(None)
            self.stats.partials_shed += 1
            return job
        if priority not in (FINAL, SCORED):  # each of these is wanted: a newer one of its key never replaces it
            previous = self._newest.pop((key, priority), None)
            if previous is not None and not previous.future.done():
                previous.future.set_result(None)
                self.stats.partials_superseded += 1
            self._newest[(key, priority)] = job
        self._queued.append(job)
        self._wakeup.set()
        return job

    def promote(self, job: Job, priority: int = FINAL) -> None:
        """Raise a queued job to `priority` (a final by default: it goes before everything not final); nothing newer
        replaces it after."""
        if job.priority <= priority or job.started or job.future.done():
            return
        self._not_replaceable(job)
        job.priority = priority
        self._wakeup.set()

    def _not_replaceable(self, job: Job) -> None:
        """`job` is no longer the one a newer job of its key and priority would replace."""
        if self._newest.get((job.key, job.priority)) is job:
            del self._newest[(job.key, job.priority)]

    def withdraw(self, job: Job) -> None:
        """Drop a queued job nobody needs any more (its future gets None); one already running finishes."""
        if job.started or job.future.done():
            return
        self._not_replaceable(job)
        job.future.set_result(None)
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

    def _start(self, batch: list[Job], executor: ThreadPoolExecutor, running: set[asyncio.Task[None]]) -> None:
        partial = batch[0].priority == PARTIAL
        own_lane = partial and executor is self._partial_executor
        self._partial_running = self._partial_running or partial
        self._running += not own_lane
        task = asyncio.create_task(self._run(batch, executor, self._beam_for(batch)))
        running.add(task)

        def finished(task: asyncio.Task[None]) -> None:
            running.discard(task)
            if partial:
                self._partial_running = False
            self._running -= not own_lane
            self._wakeup.set()

        task.add_done_callback(finished)

    def _beam_for(self, batch: list[Job]) -> int:
        """`beam_size` for what is scored, and for a lone final while the recogniser has room; greedy for partials, and
        for other finals when it has not (busy, several finals at once, or more queued). While the node sheds work, a
        caption final keeps the beam too: most utterances are one segment, whose final is scored as it is, and one
        greedy would be decoded again with the beam for the score (half as much work again, measured as a node
        that stayed strained)."""
        if batch[0].beam:
            return self._beam_size
        if batch[0].priority == PARTIAL or self._beam_size == 1:
            return 1
        if self._shedding:
            return self._beam_size
        if len(batch) > 1:
            return 1
        if any(j.priority != PARTIAL and not j.future.done() for j in self._queued):
            return 1
        return self._beam_size if self.busy_share() < BEAM_BELOW_BUSY else 1

    def partial_slowdown(self, now: float | None = None) -> float:
        """How many times their usual interval partial captions wait now: 1 while the threads that decode finals are
        idle, rising as they fill (see MAX_PARTIAL_SLOWDOWN)."""
        now = time.perf_counter() if now is None else now
        factor, at = self._partial_slowdown
        if now - at >= PARTIAL_SLOWDOWN_EVERY_S:
            busy = self.busy_share(now, workers_only=True)
            factor = MAX_PARTIAL_SLOWDOWN if busy >= 1.0 else min(MAX_PARTIAL_SLOWDOWN, 1.0 / (1.0 - busy))
            self._partial_slowdown = (factor, now)
        return factor

    def busy_share(self, now: float | None = None, *, workers_only: bool = False) -> float:
        """Share of the recogniser's threads busy decoding over the last BUSY_WINDOW_S (wall clock: a decode waiting
        for a core counts). `workers_only`: of the threads that decode finals, with what they decode but partials,
        leaving out the partials' own lane, which runs at a low priority on whatever is left (it measures what the
        node needs, not what it spares: partials back off and are shed, so they neither strain a node nor slow
        themselves down)."""
        now = time.perf_counter() if now is None else now
        since = now - BUSY_WINDOW_S
        spans = [*self._decoded, *((started, now, workers) for started, workers in self._decoding.values())]
        busy = sum(max(0.0, min(end, now) - max(start, since)) for start, end, workers in spans if workers or not workers_only)
        return busy / (BUSY_WINDOW_S * (self._workers if workers_only else self._threads))

    async def _run(self, batch: list[Job], executor: ThreadPoolExecutor, beam_size: int) -> None:
        started = time.perf_counter()
        needed = executor is self._executor and batch[0].priority != PARTIAL  # see busy_share
        self._decoding[id(batch)] = (started, needed)
        for job in batch:
            self.stats.max_queue_wait_s = max(self.stats.max_queue_wait_s, started - job.queued_at)
        self.stats.beam_searched += len(batch) if beam_size > 1 else 0
        clips = [j.samples for j in batch]
        call = (
            functools.partial(
                self._transcriber.transcribe_batch_ordered, clips, batch[0].language, batch[0].prompt, beam_size, batch[0].priority
            )
            if isinstance(self._transcriber, OrderedTranscriber)
            else functools.partial(self._transcriber.transcribe_batch, clips, batch[0].language, batch[0].prompt, beam_size)
        )
        try:
            results = await asyncio.get_running_loop().run_in_executor(executor, call)
        except Exception as exc:  # noqa: BLE001 - the sessions get the error, others go on
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        finally:
            ended = time.perf_counter()
            self.stats.busy_s += ended - started
            del self._decoding[id(batch)]
            self._decoded.append((started, ended, needed))
        self.stats.batches += 1
        for job, result in zip(batch, results, strict=True):
            job.beam_size_used = beam_size
            if job.priority == FINAL:
                self.stats.finals += 1
            elif job.priority == EARLY:
                self.stats.early += 1
            elif job.priority == SCORED:
                self.stats.scored += 1
            elif job.priority == SPECULATIVE:
                self.stats.speculative += 1
            else:
                self.stats.partials += 1
            if not job.future.done():
                job.future.set_result(result)

    def _next_batch(self, idle_workers: int = 1, *, partial: bool = False) -> list[Job]:
        """The most urgent queued job of its kind (finals and early finals are one kind, partials the other), with
        every queued job of the same kind, language and prompt (up to max_batch); empty when none is queued.

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
        alike = [
            j
            for j in kind[1:]
            if (j.language, j.beam, j.prompt) == (first.language, first.beam, first.prompt)
            and (j.priority == SPECULATIVE) == (first.priority == SPECULATIVE)
        ]
        limit = self._max_partial_batch if partial else min(self._max_batch, math.ceil((1 + len(alike)) / max(1, idle_workers)))
        batch = [first, *alike[: limit - 1]]
        chosen = {id(j) for j in batch}
        self._queued = [j for j in self._queued if id(j) not in chosen]
        for job in batch:
            job.started = True
            self._not_replaceable(job)
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


def lower_thread_priority() -> None:
    """Run the calling thread at PARTIAL_NICENESS (Linux schedules threads apart; elsewhere, or if refused, as is)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PARTIAL_NICENESS)
    except (AttributeError, OSError) as exc:
        logger.info("partial transcriptions keep normal priority: %s", exc)
