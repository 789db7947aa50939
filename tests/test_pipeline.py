"""The scoring pipeline driven by files: speech, faces and emotion events from real models."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from media.frames import AudioChunk, VideoFrame
from media.video import FrameSampler
from realtime_scoring.engine import EngineConfig, create_session
from realtime_scoring.events import AnalysisProgress, EmotionSummary, FacePresence, SpeechEnded, SpeechStarted
from realtime_scoring.pipeline import ScoringEngine, SessionConfig
from realtime_scoring.vad import SileroVadModel
from realtime_scoring.vision.emotion import EmotionClassifier
from realtime_scoring.vision.faces import FaceDetector
from tests.conftest import prepared_model_files
from tests.helpers.media_files import astronaut_png, read_wav_mono

CPU = EngineConfig(device="cpu", intra_op_threads=1)


@pytest.fixture(scope="session")
def model_files() -> dict[str, dict[str, Path]]:
    return prepared_model_files("silero-vad", "face-detector", "face-emotion")


def engine_without_transcription(files: dict[str, dict[str, Path]], emotion: bool = True) -> ScoringEngine:
    return ScoringEngine(
        SileroVadModel(create_session(files["silero-vad"]["silero_vad.onnx"], CPU)),
        None,
        FaceDetector(create_session(files["face-detector"]["face_detector.onnx"], CPU)),
        EmotionClassifier(create_session(files["face-emotion"]["emotion.onnx"], CPU)) if emotion else None,
    )


def astronaut_frame(width: int = 640, height: int = 480) -> np.ndarray:
    with av.open(str(astronaut_png())) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    if width < rgb.shape[1]:  # keep the face (centred near x=225) when the canvas is narrow
        left = max(0, 225 - width // 2)
        rgb = rgb[:, left : left + width]
    canvas = np.full((height, width, 3), 40, dtype=np.uint8)
    x = (width - rgb.shape[1]) // 2
    canvas[:, x : x + rgb.shape[1]] = rgb[:height]
    return canvas


def speech_chunks(tmp_path: Path) -> list[AudioChunk]:
    raw, wav = tmp_path / "raw.wav", tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), "I enjoy building reliable systems."], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav), "pad", "0.5", "1.0"], check=True)
    samples, _ = read_wav_mono(wav)
    return [AudioChunk(samples[i : i + 512].astype(np.float32), i / 16_000) for i in range(0, len(samples) - 511, 512)]


async def run(engine: ScoringEngine, chunks: list[AudioChunk], frames: list[VideoFrame]) -> list:
    events: list = []
    pipeline = engine.new_session(events.append, SessionConfig())
    try:
        for chunk in chunks:
            await pipeline.process_audio(chunk)
        for frame in frames:
            await pipeline.process_frame(frame)
        await pipeline.finish(max([c.start_s for c in chunks] + [f.time_s for f in frames] + [0.0]))
    finally:
        await pipeline.close()
        await engine.close()
    return events


def frames_of(rgb: np.ndarray, seconds: float, fps: float = 5.0) -> list[VideoFrame]:
    """`rgb` as the ingest samples it from a decoder (with its thumbnail), `fps` times a second."""
    decoded = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    sampler = FrameSampler(fps, max_side=640)
    return [sampler.convert(decoded, i / fps) for i in range(int(seconds * fps))]


async def test_a_file_yields_speech_face_and_emotion_events(model_files, tmp_path: Path) -> None:
    events = await run(engine_without_transcription(model_files), speech_chunks(tmp_path), frames_of(astronaut_frame(), 3))
    kinds = [type(e) for e in events]
    assert kinds.count(SpeechStarted) == 1 and kinds.count(SpeechEnded) == 1
    presence = [e for e in events if isinstance(e, FacePresence)]
    assert [round(p.start_s, 3) for p in presence] == [0.0, 1.0, 2.0]
    assert all(p.face_present and not p.multiple_faces and p.frames == 5 for p in presence)
    emotions = [e for e in events if isinstance(e, EmotionSummary)]
    assert len(emotions) == 3 and all(e.dominant == "happy" for e in emotions)
    assert abs(sum(p for _, p in emotions[0].probabilities) - 1.0) < 1e-3


async def test_two_faces_raise_the_multiple_faces_flag_and_black_frames_none(model_files) -> None:
    face = astronaut_frame(320, 480)
    pair = np.concatenate([face, face], axis=1)
    black = np.zeros((480, 640, 3), dtype=np.uint8)
    frames = frames_of(pair, 1) + [VideoFrame(black, 1.0 + i / 5, 640, 480) for i in range(5)]
    events = await run(engine_without_transcription(model_files), [], frames)
    presence = [e for e in events if isinstance(e, FacePresence)]
    assert presence[0].multiple_faces and presence[0].max_faces == 2
    assert not presence[1].face_present and presence[1].frames_with_face == 0
    assert sum(isinstance(e, EmotionSummary) for e in events) == 1  # no face, no emotion


async def test_emotion_switched_off_runs_no_emotion_model(model_files) -> None:
    engine = engine_without_transcription(model_files, emotion=False)
    assert engine.emotion_batcher is None
    events = await run(engine, [], frames_of(astronaut_frame(), 2))
    assert [type(e) for e in events] == [FacePresence, FacePresence, AnalysisProgress]


async def test_a_malformed_frame_is_skipped_and_analysis_goes_on(model_files, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from media.ingest import MediaConfig, MediaIngest
    from server.rtc.media_consumers import SessionContext, scoring_consumer

    engine = engine_without_transcription(model_files)
    events: list = []
    ingest = MediaIngest(MediaConfig(queue_seconds=30))
    face = astronaut_frame()
    ingest.video.put_nowait(VideoFrame(np.zeros((10, 10), dtype=np.float64), 0.0, 10, 10))  # not RGB uint8
    for frame in frames_of(face, 2)[1:]:
        ingest.video.put_nowait(frame)
    for chunk in speech_chunks(tmp_path):
        ingest.audio.put_nowait(chunk)
    ingest.audio.close()
    ingest.video.close()
    try:
        await scoring_consumer(engine)(ingest, events.append, SessionContext("x", "en"))
    finally:
        await engine.close()
    assert "interview x: video analysis failed (1 so far)" in caplog.text
    presence = [e for e in events if isinstance(e, FacePresence)]
    assert presence and presence[0].frames_with_face == 4
    assert any(isinstance(e, SpeechEnded) for e in events)


async def test_frames_analysed_as_one_group_give_the_same_summaries_as_one_by_one(model_files) -> None:
    frames = frames_of(astronaut_frame(), 3)
    one_by_one = await run(engine_without_transcription(model_files), [], frames)
    engine = engine_without_transcription(model_files)
    grouped: list = []
    pipeline = engine.new_session(grouped.append, SessionConfig())
    try:
        for start in range(0, len(frames), 4):
            await pipeline.process_frames(frames[start : start + 4])
        await pipeline.finish(max(f.time_s for f in frames))
    finally:
        await pipeline.close()
        await engine.close()
    assert engine.face_batcher is not None and engine.face_batcher.stats.max_batch == 4  # a group shares one batch
    assert grouped == one_by_one and any(isinstance(e, EmotionSummary) for e in grouped)
