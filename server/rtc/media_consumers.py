"""Media consumers: what reads a media session's queues. The scoring pipeline (with the level meter alongside), or
the level meter alone when scoring is off; each emits typed events to the interview the session belongs to."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from media.ingest import MediaIngest
from media.levels import LevelMeter, MediaLevels
from realtime_scoring.events import ScoringEvent
from realtime_scoring.pipeline import ScoringEngine, SessionConfig
from realtime_scoring.transcription import TranscriptionConfig
from server.domain.interview import DEFAULT_TENANT

logger = logging.getLogger(__name__)

# What a session's analysis reports, on the interview's clock (its ingest was created on it).
MediaEvent = ScoringEvent | MediaLevels
Emit = Callable[[MediaEvent], None]


class TurnEnds:
    """Where the candidate's turns end, from the interview to the session's analysis (which may not run yet)."""

    def __init__(self) -> None:
        self._sink: Callable[[float], None] | None = None
        self._waiting: list[float] = []

    def end_turn(self, at_s: float) -> None:
        if self._sink is not None:
            self._sink(at_s)
        elif len(self._waiting) < 64:  # bounded: nothing reads them before the analysis starts
            self._waiting.append(at_s)

    def connect(self, sink: Callable[[float], None]) -> None:
        self._sink = sink
        for at_s in self._waiting:
            sink(at_s)
        self._waiting.clear()


@dataclass(frozen=True)
class SessionContext:
    """What a media consumer may know about the interview it analyses."""

    interview_id: str
    language: str | None  # the job's language; None lets the recogniser detect it
    emotion: bool = False  # facial emotion may be analysed: the node's policy allows it and the candidate agreed
    turn_ends: TurnEnds = field(default_factory=TurnEnds)
    tenant: str = DEFAULT_TENANT  # whose dashboards hear about the session's recordings
    # Someone reads the live captions now (the candidate, or HR watching): partial captions are decoded only then.
    captions_watched: Callable[[], bool] = lambda: True


MediaConsumer = Callable[[MediaIngest, Emit, SessionContext], Awaitable[None]]


# At most this many queued audio chunks (32 ms each) go through the analysis together.
AUDIO_GROUP_CHUNKS = 32
# And at most this many sampled video frames (a second's worth at the default 5 a second).
VIDEO_GROUP_FRAMES = 5


def level_meter_consumer(ingest: MediaIngest, emit: Emit, context: SessionContext) -> Awaitable[None]:
    """Media-only consumer (scoring off): reports what the server hears and sees."""
    return LevelMeter(ingest, emit).run()


def scoring_consumer(engine: ScoringEngine, transcription: TranscriptionConfig = TranscriptionConfig()) -> MediaConsumer:
    """Feeds each session's media through the scoring pipeline, and the level meter alongside; each session
    transcribes as `transcription` says, in its interview's language."""

    async def consume(ingest: MediaIngest, emit: Emit, context: SessionContext) -> None:
        meter = LevelMeter(ingest, emit)
        config = SessionConfig(transcription=dataclasses.replace(transcription, language=context.language), emotion=context.emotion)
        pipeline = engine.new_session(emit, config)
        context.turn_ends.connect(pipeline.end_turn)
        if pipeline.transcription is not None:
            pipeline.transcription.partials_wanted = context.captions_watched

        failures = {"audio": 0, "video": 0}

        def failed(kind: str, count: int = 1) -> None:
            # One bad chunk or frame (or a model error) must not end the session's analysis.
            before = failures[kind]
            failures[kind] += count
            if before == 0 or before // 100 != failures[kind] // 100:
                logger.exception("interview %s: %s analysis failed (%d so far)", context.interview_id, kind, failures[kind])

        async def audio() -> None:
            while (chunk := await ingest.audio.get()) is not None:
                # Whatever else is queued goes with it: behind by a second, the analysis catches up in one step.
                chunks = [chunk, *ingest.audio.get_ready(AUDIO_GROUP_CHUNKS - 1)]
                for queued in chunks:
                    meter.observe_audio(queued)
                try:
                    await pipeline.process_audio_chunks(chunks)
                except Exception:  # noqa: BLE001 - see failed(): one bad chunk or frame never ends the analysis
                    failed("audio")

        async def video() -> None:
            while (frame := await ingest.video.get()) is not None:
                try:
                    await pipeline.process_frames([frame, *ingest.video.get_ready(VIDEO_GROUP_FRAMES - 1)])
                except ExceptionGroup as errors:  # the group's other frames were analysed
                    failed("video", len(errors.exceptions))
                except Exception:  # noqa: BLE001 - see failed(): one bad chunk or frame never ends the analysis
                    failed("video")

        reporter = asyncio.create_task(meter.report_forever())
        try:
            await asyncio.gather(audio(), video())
            await pipeline.finish(ingest.now_s())
        finally:
            reporter.cancel()
            await pipeline.close()
            await asyncio.gather(reporter, return_exceptions=True)

    return consume
