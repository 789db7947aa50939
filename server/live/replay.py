"""Replay: the live interview pipeline run over a recording, faster than real time and deterministic.

    recording ─▶ chunks / frames ─▶ SessionPipeline ─▶ events ─▶ InterviewConductor ─▶ report

Finals are awaited one at a time and partials are off, so no transcription depends on what else
was in a batch; the same inputs give the same report. This is how HR audits a score. The conductor runs alongside
the analysis, as live: a spoken closing phrase or a time limit ends the candidate's turn where the audio is then.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from media.files import read_audio, read_video
from media.frames import AudioChunk
from media.recording import recorded_clock_start_s
from realtime_scoring.answer_scoring import AnswerScorer
from realtime_scoring.conductor import AnswerEnd, InterviewConductor
from realtime_scoring.events import EmotionSummary, FacePresence, ScoringEvent
from realtime_scoring.pipeline import ScoringEngine, SessionConfig, SessionPipeline
from realtime_scoring.report import InterviewReport, question_report
from server.domain.interview import Interview, InterviewSpec
from server.live.evidence import observation_row
from server.live.reporting import interview_match, interview_policy, interview_report
from server.settings import Settings

T = TypeVar("T")


class ReplayError(ValueError):
    """The inputs of a replay are not usable (bad interview file, unreadable media)."""


def load_interview(path: Path) -> tuple[str, InterviewSpec]:
    """An interview as the API returns it (`{"interview": ...}` or the interview itself) or a bare spec."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReplayError(f"{path}: not a readable JSON file: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("interview"), dict):
        data = data["interview"]
    try:
        if isinstance(data, dict) and "id" in data:
            interview = Interview.model_validate(data)
            return interview.id, InterviewSpec.model_validate(interview.model_dump(include=set(InterviewSpec.model_fields)))
        return path.stem, InterviewSpec.model_validate(data)
    except ValidationError as exc:
        raise ReplayError(f"{path}: not a valid interview: {exc}") from exc


def load_done_presses(path: Path) -> list[float]:
    """When the candidate pressed "done" live (media clock), from an interview as the API returns it with its scored
    answers: no recording holds a button, so a replay of the server's own recording ends those answers where the
    live interview did. Empty for a bare interview or spec."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReplayError(f"{path}: not a readable JSON file: {exc}") from exc
    answers = data.get("scored_answers") if isinstance(data, dict) else None
    if not isinstance(answers, list):
        return []
    presses = []
    for answer in answers:
        if isinstance(answer, dict) and answer.get("end_reason") == AnswerEnd.CANDIDATE_DONE:
            ended_s = answer.get("ended_s")
            if not isinstance(ended_s, int | float) or not math.isfinite(ended_s) or ended_s < 0:
                raise ReplayError(f"{path}: a scored answer ended by the candidate has no valid ended_s")
            presses.append(float(ended_s))
    return sorted(presses)


async def replay(
    interview_id: str,
    spec: InterviewSpec,
    engine: ScoringEngine,
    settings: Settings,
    audio: Path,
    video: Path | None = None,
    done_presses: list[float] | None = None,
    audio_starts_s: float | None = None,
) -> InterviewReport:
    """`done_presses`: when the candidate pressed "done" in the live interview (see `load_done_presses`);
    `audio_starts_s`: where the audio's first sample sits on the interview's clock, which the presses, the time limits
    and the report's times use (None: as the recording says, for one this server made, else 0)."""
    if audio_starts_s is None:
        audio_starts_s = await asyncio.to_thread(recorded_clock_start_s, audio) or 0.0
    match = interview_match(spec)
    presses = sorted(done_presses or [])
    conductor = InterviewConductor(
        interview_policy(spec, match),
        AnswerScorer(engine.embedder),
        spec.language,
        spec.mode,
        _in_thread,
        settings.closing_phrase_matcher(),
    )
    conductor.start(0.0)
    events: list[ScoringEvent] = []

    def emit(event: ScoringEvent) -> None:
        events.append(event)
        conductor.observe(event)

    async def after_chunk(pipeline: SessionPipeline, until_s: float) -> None:
        """What a live interview does as events come: close answers, and end the turn where the candidate did."""
        await conductor.advance()
        while presses and presses[0] <= until_s:
            conductor.request_end(AnswerEnd.CANDIDATE_DONE, presses.pop(0))
        if (deadline := conductor.deadline_s()) is not None and deadline <= until_s:
            conductor.request_end(AnswerEnd.TIME_LIMIT, deadline)
        for at_s in conductor.take_turn_ends():
            pipeline.end_turn(at_s)

    end_s = await analyse(engine, spec.language, settings, audio, video, emit, after_chunk, audio_starts_s)
    if presses:
        # Pressed in the recording's last moments, after its last chunk began (the live answer closed at once and
        # the session with it): the answer ended there, not with the media.
        conductor.request_end(AnswerEnd.CANDIDATE_DONE, min(presses[0], end_s))
    conductor.end_of_media(end_s)
    await conductor.advance()

    faces = [observation_row(e, "")[1] for e in events if isinstance(e, FacePresence)]
    emotions = [observation_row(e, "")[1] for e in events if isinstance(e, EmotionSummary)]
    return interview_report(
        interview_id,
        spec,
        match,
        [question_report(r) for r in conductor.records],
        faces,
        emotions if settings.emotion_analysis else None,
    )


async def analyse(
    engine: ScoringEngine,
    language: str,
    settings: Settings,
    audio: Path,
    video: Path | None,
    emit: Callable[[ScoringEvent], None],
    after_chunk: Callable[[SessionPipeline, float], Awaitable[None]],
    audio_starts_s: float = 0.0,
) -> float:
    """Run the recording through the pipeline; returns where the media ends. The audio is timed from
    `audio_starts_s`, the video from its own start.

    Segmented and decoded as the server's live sessions are (`Settings.transcription_config()`: the same pauses join an
    utterance, and an early final at a pause is what that segment's final is, live and here), so a replayed interview
    is the one HR saw; a joined utterance decoded at its last pause (speculatively, live) is decoded there here too,
    over the same audio. Left out: partials, which nobody watches. What is scored keeps the beam in both."""
    media = settings.media
    transcription = dataclasses.replace(settings.transcription_config(), language=language, min_partial_audio_s=math.inf)
    pipeline = engine.new_session(emit, SessionConfig(transcription=transcription))
    try:
        chunks = await asyncio.to_thread(
            lambda: [AudioChunk(c.samples, audio_starts_s + c.start_s) for c in read_audio(audio, media.audio_chunk_samples)]
        )
        frames = await asyncio.to_thread(lambda: list(read_video(video, media.video_sample_fps, media.video_max_side))) if video else []
        next_frame = 0
        for chunk in chunks:
            # Frames up to this chunk first, so events come in the order a live session would emit them.
            while next_frame < len(frames) and frames[next_frame].time_s < chunk.start_s + chunk.duration_s:
                await pipeline.process_frame(frames[next_frame])
                next_frame += 1
            await pipeline.process_audio(chunk)
            if pipeline.transcription is not None:
                await pipeline.transcription.drain()  # one decode at a time: no batch-mates, same text every run
            await after_chunk(pipeline, chunk.start_s + chunk.duration_s)
        for frame in frames[next_frame:]:
            await pipeline.process_frame(frame)
        end_s = max([c.start_s + c.duration_s for c in chunks] + [f.time_s for f in frames] + [0.0])
        await pipeline.finish(end_s)
    finally:
        await pipeline.close()
    return end_s


async def _in_thread(function: Callable[[], T]) -> T:
    return await asyncio.to_thread(function)
