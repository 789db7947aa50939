"""Voice activity with Silero VAD: a shared, batched model and per-session streaming state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from media.frames import ANALYSIS_SAMPLE_RATE, AudioChunk
from realtime_scoring.batching import MicroBatcher
from realtime_scoring.events import AnswerEnded, ScoringEvent, SpeechEnded, SpeechStarted

WINDOW = 512  # samples per model step at 16 kHz (32 ms)
CONTEXT = 64  # samples carried over from the previous window
STATE_SHAPE = (2, 128)


class SileroVadModel:
    """Silero VAD v6 over onnxruntime; each request is one 32 ms window of one stream."""

    def __init__(self, session: ort.InferenceSession) -> None:
        names = {i.name for i in session.get_inputs()}
        if names != {"input", "state", "sr"}:
            raise ValueError(f"not a Silero VAD v5/v6 graph: inputs {sorted(names)}")
        self._session = session
        self._sr = np.array(ANALYSIS_SAMPLE_RATE, dtype=np.int64)

    def run_batch(self, requests: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[tuple[float, np.ndarray]]:
        """requests: (input [576] float32, state [2,128]) -> (speech probability, new state)."""
        inputs = np.stack([r[0] for r in requests]).astype(np.float32, copy=False)
        state = np.stack([r[1] for r in requests], axis=1).astype(np.float32, copy=False)
        probs, new_state = self._session.run(None, {"input": inputs, "state": state, "sr": self._sr})
        return [(float(probs[i, 0]), new_state[:, i, :].copy()) for i in range(len(requests))]


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5
    # Hysteresis, as Silero's own iterator: speech continues until the probability drops this far below.
    negative_offset: float = 0.15
    min_speech_s: float = 0.1
    min_silence_s: float = 0.4  # a pause shorter than this stays inside one utterance
    end_of_answer_silence_s: float = 2.5
    speech_pad_s: float = 0.03


class VadStream:
    """One session's voice activity: feeds 32 ms windows to the shared model, emits speech events.

    Events carry media-clock times (AudioChunk.start_s), so they are the same
    whether audio comes from WebRTC or from a file.
    """

    def __init__(self, batcher: MicroBatcher[tuple[np.ndarray, np.ndarray], tuple[float, np.ndarray]], config: VadConfig = VadConfig()) -> None:
        self._batcher = batcher
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start_s: float | None = None
        self._in_speech = False
        self._candidate_start_s: float | None = None
        self._speech_start_s = 0.0
        self._silence_start_s: float | None = None
        self._answer_open = False
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
        if self._buffer_start_s is None or not self._buffer.size:
            self._buffer_start_s = chunk.start_s
        self._buffer = np.concatenate((self._buffer, chunk.samples)) if self._buffer.size else chunk.samples
        events: list[ScoringEvent] = []
        while self._buffer.size >= WINDOW:
            window, self._buffer = self._buffer[:WINDOW], self._buffer[WINDOW:]
            start_s = self._buffer_start_s
            self._buffer_start_s = start_s + WINDOW / ANALYSIS_SAMPLE_RATE
            model_input = np.concatenate((self._context, window))
            self._context = window[-CONTEXT:]
            probability, self._state = await self._batcher.submit((model_input, self._state))
            self.last_probability = probability
            events.extend(self._step(probability, start_s, start_s + WINDOW / ANALYSIS_SAMPLE_RATE))
        return events

    def _step(self, probability: float, start_s: float, end_s: float) -> list[ScoringEvent]:
        c = self.config
        events: list[ScoringEvent] = []
        if not self._in_speech:
            if probability >= c.threshold:
                if self._candidate_start_s is None:
                    self._candidate_start_s = start_s
                if end_s - self._candidate_start_s >= c.min_speech_s:
                    self._in_speech = True
                    self._speech_start_s = max(0.0, self._candidate_start_s - c.speech_pad_s)
                    self._silence_start_s = None
                    self._answer_open = True
                    events.append(SpeechStarted(time_s=self._speech_start_s))
            else:
                self._candidate_start_s = None
                if self._answer_open and self._silence_start_s is not None and end_s - self._silence_start_s >= c.end_of_answer_silence_s:
                    self._answer_open = False
                    events.append(AnswerEnded(time_s=end_s, silence_s=end_s - self._silence_start_s))
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
    state = np.zeros(STATE_SHAPE, dtype=np.float32)
    silence = np.zeros(WINDOW + CONTEXT, dtype=np.float32)
    (probability, state), = model.run_batch([(silence, state)])
    return f"silence -> speech probability {probability:.3f}"
