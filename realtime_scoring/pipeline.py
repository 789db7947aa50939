"""The scoring pipeline: shared models for the process, and one analysis session per interview.

    audio chunk ─▶ VAD ─▶ speech events ─┐
              └──────▶ segment buffer ─▶ transcription ─▶ partial / final transcripts (captions) ─▶ emit
                                    └──▶ joined utterances ─▶ utterance transcripts (scored) ─────▶ emit
    video frame ─▶ faces ─▶ emotion ─▶ per-second summaries ─────────────────────────────▶ emit

The same object runs whether media comes from WebRTC or from a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from media.frames import AudioChunk, VideoFrame
from realtime_scoring.batching import BatcherStats, MicroBatcher
from realtime_scoring.embeddings import MODEL_FILE as EMBEDDING_FILE
from realtime_scoring.embeddings import SentenceEmbedder, create_embedding_session
from realtime_scoring.engine import CUDA, EngineConfig, available_providers, create_session, limit_blas_threads
from realtime_scoring.events import AnalysisProgress, ScoringEvent, SpeechEnded, SpeechStarted
from realtime_scoring.models.manifest import load_manifest, verified_files
from realtime_scoring.text_match import load_dictionaries
from realtime_scoring.transcription import SessionTranscription, TranscriptionConfig
from realtime_scoring.transcription_service import Transcriber, TranscriptionService
from realtime_scoring.vad import SileroVadModel, StreamState, VadConfig, VadRequest, VadStream
from realtime_scoring.vision.emotion import EmotionClassifier
from realtime_scoring.vision.faces import FaceDetector
from realtime_scoring.vision.session import SessionVision, VisionConfig, emotion_batcher, face_batcher

if TYPE_CHECKING:
    from realtime_scoring.whisper.transcriber import WhisperTranscriber

logger = logging.getLogger(__name__)

Emit = Callable[[ScoringEvent], None]


@dataclass(frozen=True)
class SessionConfig:
    vad: VadConfig = VadConfig()
    transcription: TranscriptionConfig = TranscriptionConfig()
    vision: VisionConfig = VisionConfig()
    emotion: bool = True  # False: this session runs no emotion model (the candidate declined, or the policy is off)


class ScoringEngine:
    """Every model loaded once per process, with one batcher or scheduler each, shared by all sessions."""

    def __init__(
        self,
        vad: SileroVadModel,
        transcriber: Transcriber | None = None,
        faces: FaceDetector | None = None,
        emotion: EmotionClassifier | None = None,
        *,
        embedder: SentenceEmbedder | None = None,
        transcription_workers: int = 1,
        final_beam_size: int = 1,
    ) -> None:
        self.embedder = embedder  # stateless and thread-safe: answer scoring calls it from executor threads
        self.vad_batcher: MicroBatcher[VadRequest, tuple[np.ndarray, StreamState]] = MicroBatcher(
            "vad", vad.run_batch, max_batch=256, max_wait_s=0.001
        )
        self.transcription = (
            TranscriptionService(transcriber, workers=transcription_workers, beam_size=final_beam_size) if transcriber is not None else None
        )
        self.face_batcher = face_batcher(faces) if faces is not None else None
        self.emotion_batcher = emotion_batcher(emotion) if emotion is not None and faces is not None else None

    @classmethod
    def load(
        cls,
        model_dir: Path,
        config: EngineConfig = EngineConfig(),
        *,
        transcribe: bool = True,
        faces: bool = True,
        emotion: bool = True,
        embeddings: bool = True,
        whisper_encoder: str = "float32",
        final_beam_size: int = 1,
        recogniser_socket: Path | None = None,
    ) -> ScoringEngine:
        """Hash-check and load the models (blocking: call it from a thread at start-up).

        With `emotion` off the emotion model is not even loaded (some jurisdictions
        forbid emotion inference at work). `whisper_encoder` "int8" trades a little accuracy for
        about a quarter less recogniser time on a CPU (its integer MatMuls fall back to the CPU under CUDA);
        "auto" picks int8 on a CPU and float32 on CUDA. `final_beam_size`: hypotheses a final keeps (1: greedy).
        `recogniser_socket`: decode on the node's shared recogniser there (`shared_recogniser`) instead of loading one.
        """
        manifest = load_manifest(model_dir)
        limit_blas_threads()
        load_dictionaries()  # answer scoring's, for Mandarin

        def session(name: str, file: str, engine_config: EngineConfig = config) -> ort.InferenceSession:
            return create_session(verified_files(manifest[name], model_dir)[file], engine_config)

        # Small models get one thread each, so they never contend with the recogniser.
        small = EngineConfig(config.device, 1, config.cuda_device_id)
        vad = SileroVadModel(session("silero-vad", "silero_vad.onnx", small))
        detector = FaceDetector(session("face-detector", "face_detector.onnx", small)) if faces else None
        classifier = EmotionClassifier(session("face-emotion", "emotion.onnx", small)) if faces and emotion else None
        transcriber: Transcriber | None = None
        workers = 1
        if transcribe and recogniser_socket is not None:
            from realtime_scoring.shared_recogniser.client import RemoteTranscriber

            # Each decode thread of this process holds a request at the shared recogniser, which merges them.
            transcriber, workers = RemoteTranscriber(recogniser_socket), decode_threads(config)
        elif transcribe:
            transcriber, workers = load_whisper(model_dir, config, whisper_encoder)
        embedder = None
        if embeddings:
            files = verified_files(manifest["sentence-embedding"], model_dir)
            embedder = SentenceEmbedder(create_embedding_session(files[EMBEDDING_FILE], small))
        return cls(
            vad, transcriber, detector, classifier, embedder=embedder, transcription_workers=workers, final_beam_size=final_beam_size
        )

    def new_session(self, emit: Emit, config: SessionConfig = SessionConfig()) -> SessionPipeline:
        return SessionPipeline(self, emit, config)

    def batcher_stats(self) -> dict[str, BatcherStats]:
        """Each batched model's live counters (metrics read them at scrape time)."""
        return {b.name: b.stats for b in (self.vad_batcher, self.face_batcher, self.emotion_batcher) if b is not None}

    def stats(self) -> dict[str, object]:
        out: dict[str, object] = {"vad": self.vad_batcher.stats.as_dict()}
        for batcher in (self.face_batcher, self.emotion_batcher):
            if batcher is not None:
                out[batcher.name] = batcher.stats.as_dict()
        if self.transcription is not None:
            out["transcription"] = vars(self.transcription.stats).copy()
        return out

    async def close(self) -> None:
        await self.vad_batcher.close()
        for batcher in (self.face_batcher, self.emotion_batcher):
            if batcher is not None:
                await batcher.close()
        if self.transcription is not None:
            await self.transcription.close()
            close_connections = getattr(self.transcription.transcriber, "close", None)  # a shared recogniser's client
            if close_connections is not None:
                close_connections()


class SessionPipeline:
    """One interview's analysis state; events go to `emit` as soon as they are known."""

    def __init__(self, engine: ScoringEngine, emit: Emit, config: SessionConfig) -> None:
        self._emit = emit
        self.vad = VadStream(engine.vad_batcher, config.vad)
        self.transcription = SessionTranscription(engine.transcription, emit, config.transcription) if engine.transcription else None
        emotion = engine.emotion_batcher if config.emotion else None
        self.vision = SessionVision(engine.face_batcher, emotion, emit, config.vision) if engine.face_batcher else None
        self._settled_s = -1.0
        self._turn_ends: list[float] = []  # where the candidate's turn ends, until the audio gets there
        self._last_turn_end_s = -1.0  # the last one applied: the line reports reaching it at once

    def end_turn(self, at_s: float) -> None:
        """The candidate's turn ends at `at_s` (media time): speech before it is transcribed as it stands, without
        waiting for a pause, and speech after it belongs to the next turn. Applied when the audio reaches `at_s`
        (at once if it already has)."""
        self._turn_ends.append(at_s)

    def _apply_turn_ends(self, audio_until_s: float) -> None:
        if not self._turn_ends:
            return  # nearly always: this runs for every group of audio
        due = [t for t in self._turn_ends if t <= audio_until_s]
        if not due:
            return
        self._turn_ends = [t for t in self._turn_ends if t > audio_until_s]
        self._last_turn_end_s = max(self._last_turn_end_s, *due)
        for at_s in sorted(due):
            for event in self.vad.cut(at_s):
                if self.transcription is not None and isinstance(event, SpeechEnded):
                    self.transcription.end_utterance(event.end_s)
                self._emit(event)
            if self.transcription is not None:
                self.transcription.cut(at_s)

    async def process_audio(self, chunk: AudioChunk) -> None:
        await self.process_audio_chunks((chunk,))

    async def process_audio_chunks(self, chunks: Sequence[AudioChunk]) -> None:
        """Consecutive chunks, their voice activity found in one model request.

        The transcriber then sees each chunk followed by the speech events and pause it completed, exactly
        as if the chunks had come one at a time: only the trips to the VAD's thread are shared.
        """
        if not chunks:
            return
        # A turn that ended before these chunks ends before they are analysed (the VAD's windows run ahead in one
        # request, so a turn's end falls on the boundary of a group: the next one, live; exactly, in a replay).
        self._apply_turn_ends(chunks[0].start_s)
        activities = await self.vad.process_many(chunks)
        for chunk, activity in zip(chunks, activities, strict=True):
            if self.transcription is not None:
                self.transcription.observe(chunk)
            for event in activity.events:
                if self.transcription is not None:
                    if isinstance(event, SpeechStarted):
                        self.transcription.start_utterance(event.time_s)
                    elif isinstance(event, SpeechEnded):
                        self.transcription.end_utterance(event.end_s)
                self._emit(event)
            if self.transcription is not None:
                self.transcription.pause(activity.pause_start_s, chunk.start_s + chunk.duration_s)
        self._report_progress()

    def _report_progress(self, final: float | None = None) -> None:
        settled = final if final is not None else self.vad.settled_s()
        if settled is None:
            return
        if self.transcription is not None and (open_since := self.transcription.open_since_s()) is not None:
            settled = min(settled, open_since)
        # Every 0.1 s of media is enough for answer boundaries, and keeps the event stream light; but an answer the
        # candidate ended closes as soon as the line reaches its end, even while speech after it holds the line there.
        reached_turn_end = self._settled_s < self._last_turn_end_s <= settled
        if settled >= self._settled_s + 0.1 or reached_turn_end or (final is not None and settled > self._settled_s):
            self._settled_s = settled
            self._emit(AnalysisProgress(round(settled, 3)))

    async def process_frame(self, frame: VideoFrame) -> None:
        await self.process_frames((frame,))

    async def process_frames(self, frames: Sequence[VideoFrame]) -> None:
        """Consecutive sampled frames, analysed together (see `SessionVision.process_many`)."""
        if self.vision is not None and frames:
            await self.vision.process_many(frames)

    async def finish(self, end_s: float) -> None:
        """End of media: close an open utterance and wait for its final transcript; close the last second."""
        if self.vision is not None:
            self.vision.flush()
        if self.transcription is not None:
            if self.vad.in_speech:
                self.transcription.end_utterance(end_s)
            self.transcription.finish()
            await self.transcription.drain()
        self._report_progress(final=end_s)

    async def close(self) -> None:
        if self.transcription is not None:
            await self.transcription.close()


def decode_threads(config: EngineConfig, most: int = 4) -> int:
    """Decodes run side by side: on a CPU, one per `intra_op_threads` cores (single-threaded decodes side by side beat
    one multi-threaded one), at most `most` (a worker shares the cores with its siblings); on CUDA one, batched."""
    if CUDA in available_providers() and config.device != "cpu":
        return 1
    cores = len(os.sched_getaffinity(0))
    return max(1, min(most, cores // (config.intra_op_threads or 1)))


def load_whisper(
    model_dir: Path, config: EngineConfig, whisper_encoder: str = "float32", most_threads: int = 4
) -> tuple[WhisperTranscriber, int]:
    """The recogniser, hash-checked and loaded (blocking), and how many decodes it runs side by side (`decode_threads`)."""
    from realtime_scoring.whisper.transcriber import WhisperTranscriber

    files = verified_files(load_manifest(model_dir)["whisper-base"], model_dir)
    on_cpu = CUDA not in available_providers() or config.device == "cpu"
    whisper_config = EngineConfig(config.device, config.intra_op_threads or 1, config.cuda_device_id) if on_cpu else config
    int8 = whisper_encoder == "int8" or (whisper_encoder == "auto" and on_cpu)
    transcriber = WhisperTranscriber(
        create_session(files["encoder-int8.onnx" if int8 else "encoder.onnx"], whisper_config),
        create_session(files["decoder.onnx"], whisper_config),
        files["tokenizer.json"],
        files["config.json"],
        encode_one_by_one=int8,
    )
    return transcriber, decode_threads(config, most_threads)
