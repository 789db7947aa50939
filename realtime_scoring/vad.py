"""Voice activity with Silero VAD: a shared, batched model and per-session streaming state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from media.frames import ANALYSIS_SAMPLE_RATE, AudioChunk
from realtime_scoring.batching import MicroBatcher
from realtime_scoring.events import ScoringEvent, SpeechEnded, SpeechStarted

WINDOW = 512  # samples per model step at 16 kHz (32 ms)
CONTEXT = 64  # samples carried over from the previous window
STATE_SHAPE = (2, 128)


@dataclass(frozen=True)
class StreamState:
    """What one stream carries from a model request to the next: Silero's recurrent state, and how many windows in a
    row the model has heard as quiet."""

    recurrent: np.ndarray  # [2, 128]
    quiet_windows: int = 0

    @classmethod
    def fresh(cls) -> StreamState:
        return cls(np.zeros(STATE_SHAPE, dtype=np.float32))


@dataclass(frozen=True)
class VadRequest:
    """A run of consecutive 32 ms windows of one stream, and when that stream's state is to be forgotten."""

    windows: np.ndarray  # [n, WINDOW + CONTEXT] float32
    state: StreamState
    quiet_below: float  # a window whose speech probability is below this is quiet
    forget_after_quiet: int  # windows: after this many quiet in a row the recurrent state starts afresh (0: never)


class SileroVadModel:
    """Silero VAD v6 over onnxruntime; each request is a run of consecutive 32 ms windows of one stream."""

    def __init__(self, session: ort.InferenceSession) -> None:
        names = {i.name for i in session.get_inputs()}
        if names != {"input", "state", "sr"}:
            raise ValueError(f"not a Silero VAD v5/v6 graph: inputs {sorted(names)}")
        self._session = session
        self._sr = np.array(ANALYSIS_SAMPLE_RATE, dtype=np.int64)

    def run_batch(self, requests: Sequence[VadRequest]) -> list[tuple[np.ndarray, StreamState]]:
        """The speech probability of each request's windows, and its stream's state after them.

        Step t runs window t of every request that has one, as one batch: the model is recurrent, so a
        stream's windows go in order, while different streams share each step. A stream quiet for
        `forget_after_quiet` windows in a row starts afresh at the next: carried through long silences, Silero's
        state drifts until speech after them reads as unlikely (measured: a spontaneous 20 s answer after another
        answer and 3 to 40 s of silence went unheard from its first word to its last). The windows where that
        happens depend only on the stream's own audio, so batching changes nothing.
        """
        order = sorted(range(len(requests)), key=lambda i: -len(requests[i].windows))
        inputs = [np.asarray(requests[i].windows, dtype=np.float32) for i in order]
        state = np.stack([requests[i].state.recurrent for i in order], axis=1).astype(np.float32)
        quiet = [requests[i].state.quiet_windows for i in order]
        quiet_below = [requests[i].quiet_below for i in order]
        forget_after = [requests[i].forget_after_quiet for i in order]
        probabilities = [np.empty(len(x), dtype=np.float32) for x in inputs]
        for step in range(len(inputs[0]) if inputs else 0):
            active = sum(1 for x in inputs if len(x) > step)  # longest first: the active ones lead
            batch = np.stack([x[step] for x in inputs[:active]])
            probs, state[:, :active] = self._session.run(
                None, {"input": batch, "state": np.ascontiguousarray(state[:, :active]), "sr": self._sr}
            )
            for row in range(active):
                probability = probabilities[row][step] = probs[row, 0]
                quiet[row] = quiet[row] + 1 if probability < quiet_below[row] else 0
                if forget_after[row] and quiet[row] >= forget_after[row]:
                    state[:, row] = 0.0
                    quiet[row] = 0
        results: list[tuple[np.ndarray, StreamState]] = [(np.empty(0), StreamState.fresh())] * len(requests)
        for row, i in enumerate(order):
            results[i] = (probabilities[row], StreamState(state[:, row].copy(), quiet[row]))
        return results


@dataclass(frozen=True)
class ChunkActivity:
    """What one chunk of audio completed: its speech events, and the pause under way after it."""

    events: list[ScoringEvent] = field(default_factory=list)
    pause_start_s: float | None = None  # as `VadStream.pause_start_s` reads once the chunk is in


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5
    # Hysteresis, as Silero's own iterator: speech continues until the probability drops this far below.
    negative_offset: float = 0.15
    min_speech_s: float = 0.1
    # A pause shorter than this stays inside one speech segment (a caption). Where an answer ends is not decided
    # here: the conductor does, from these segments, with the question's own silence limit.
    min_silence_s: float = 0.4
    speech_pad_s: float = 0.03
    # Quiet this long (below threshold - negative_offset), the model's recurrent state starts afresh (0: never), so
    # that speech after a silence meets the model as the start of a stream does. Shorter than the pauses an utterance
    # joins (2 s) it would also reset in a speaker's hesitations: 1 s lost more speech than it saved.
    forget_after_quiet_s: float = 2.0


class VadStream:
    """One session's voice activity: feeds 32 ms windows to the shared model, emits speech events.

    Events carry media-clock times (AudioChunk.start_s), so they are the same
    whether audio comes from WebRTC or from a file.
    """

    def __init__(self, batcher: MicroBatcher[VadRequest, tuple[np.ndarray, StreamState]], config: VadConfig = VadConfig()) -> None:
        self._batcher = batcher
        self.config = config
        self._quiet_below = config.threshold - config.negative_offset
        self._forget_after_quiet = round(config.forget_after_quiet_s * ANALYSIS_SAMPLE_RATE / WINDOW)  # in windows
        self.reset()

    def reset(self) -> None:
        self._state = StreamState.fresh()
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start_s: float | None = None
        self._in_speech = False
        self._candidate_start_s: float | None = None
        self._speech_start_s = 0.0
        self._silence_start_s: float | None = None
        self._turn_start_s = 0.0  # no segment starts before the last cut, pre-roll padding included
        self.last_probability = 0.0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def pause_start_s(self) -> float | None:
        """When the current pause inside an utterance began (None while speaking or outside speech)."""
        return self._silence_start_s if self._in_speech else None

    def settled_s(self) -> float | None:
        """Media time before which no speech event can still come (None before any audio)."""
        if self._buffer_start_s is None:
            return None
        if self._in_speech:
            return self._speech_start_s
        if self._candidate_start_s is not None:
            return max(0.0, self._candidate_start_s - self.config.speech_pad_s)
        return max(0.0, self._buffer_start_s - self.config.speech_pad_s)

    async def process(self, chunk: AudioChunk) -> list[ScoringEvent]:
        (activity,) = await self.process_many((chunk,))
        return activity.events

    async def process_many(self, chunks: Sequence[AudioChunk]) -> list[ChunkActivity]:
        """Each chunk's activity, in order, from one model request for all the windows they complete.

        A consumer that fell behind hands over everything queued at once: one trip to the model's thread
        per group instead of one per 32 ms window, so under load it catches up instead of dropping audio.
        """
        inputs: list[np.ndarray] = []
        window_starts: list[list[float]] = []  # per chunk, the start of each window it completes
        for chunk in chunks:
            if self._buffer_start_s is None or not self._buffer.size:
                self._buffer_start_s = chunk.start_s
            self._buffer = np.concatenate((self._buffer, chunk.samples)) if self._buffer.size else chunk.samples
            starts = []
            while self._buffer.size >= WINDOW:
                window, self._buffer = self._buffer[:WINDOW], self._buffer[WINDOW:]
                starts.append(self._buffer_start_s)
                self._buffer_start_s += WINDOW / ANALYSIS_SAMPLE_RATE
                inputs.append(np.concatenate((self._context, window)))
                self._context = window[-CONTEXT:]
            window_starts.append(starts)
        probabilities = np.empty(0, dtype=np.float32)
        if inputs:
            request = VadRequest(np.stack(inputs), self._state, self._quiet_below, self._forget_after_quiet)
            probabilities, self._state = await self._batcher.submit(request)
        activities, index = [], 0
        for starts in window_starts:
            events: list[ScoringEvent] = []
            for start_s in starts:
                self.last_probability = float(probabilities[index])
                index += 1
                events.extend(self._step(self.last_probability, start_s, start_s + WINDOW / ANALYSIS_SAMPLE_RATE))
            activities.append(ChunkActivity(events, self.pause_start_s))
        return activities

    def cut(self, at_s: float) -> list[ScoringEvent]:
        """The turn ends at `at_s` (the candidate said so): a segment under way since before it ends there, and
        speech that goes on starts a new segment. A segment that began at or after `at_s` is left alone."""
        self._turn_start_s = max(self._turn_start_s, at_s)
        if not self._in_speech or self._speech_start_s >= at_s:
            return []
        self._in_speech = False
        self._candidate_start_s = None
        self._silence_start_s = None
        return [SpeechEnded(start_s=self._speech_start_s, end_s=at_s)]

    def _step(self, probability: float, start_s: float, end_s: float) -> list[ScoringEvent]:
        c = self.config
        events: list[ScoringEvent] = []
        if not self._in_speech:
            if probability >= c.threshold:
                if self._candidate_start_s is None:
                    self._candidate_start_s = start_s
                if end_s - self._candidate_start_s >= c.min_speech_s:
                    self._in_speech = True
                    self._speech_start_s = max(self._turn_start_s, self._candidate_start_s - c.speech_pad_s)
                    self._silence_start_s = None
                    events.append(SpeechStarted(time_s=self._speech_start_s))
            else:
                self._candidate_start_s = None
            return events
        if probability < c.threshold - c.negative_offset:
            if self._silence_start_s is None:
                self._silence_start_s = start_s
            if end_s - self._silence_start_s >= c.min_silence_s:
                self._in_speech = False
                self._candidate_start_s = None
                events.append(SpeechEnded(start_s=self._speech_start_s, end_s=self._silence_start_s + c.speech_pad_s))
        else:
            self._silence_start_s = None
        return events


def check_model(files: dict[str, Path]) -> str:
    """Smoke test for `models verify`: one window of silence through the graph."""
    from realtime_scoring.engine import EngineConfig, create_session

    model = SileroVadModel(create_session(files["silero_vad.onnx"], EngineConfig(device="cpu", intra_op_threads=1)))
    silence = np.zeros((1, WINDOW + CONTEXT), dtype=np.float32)
    ((probabilities, _),) = model.run_batch([VadRequest(silence, StreamState.fresh(), 0.35, 0)])
    return f"silence -> speech probability {probabilities[0]:.3f}"
