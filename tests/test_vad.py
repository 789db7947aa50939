"""Silero VAD through the shared batcher: speech spans, end of answer, and odd input."""

from __future__ import annotations

import asyncio
import functools
import subprocess
from pathlib import Path

import numpy as np
import pytest

from media.frames import AudioChunk
from realtime_scoring.batching import MicroBatcher
from realtime_scoring.engine import EngineConfig, create_session
from realtime_scoring.events import SpeechEnded, SpeechStarted
from realtime_scoring.vad import SileroVadModel, StreamState, VadConfig, VadRequest, VadStream
from tests.conftest import prepared_model_files
from tests.helpers.media_files import read_wav_mono
from tests.helpers.speech import ENGLISH_SPEECH

needs_english_speech = pytest.mark.skipif(
    not (ENGLISH_SPEECH / "06.wav").is_file(),
    reason=f"no real English speech in {ENGLISH_SPEECH}: run python -m tests.tools.prepare_english_speech",
)


@pytest.fixture(scope="session")
def vad_model() -> SileroVadModel:
    files = prepared_model_files("silero-vad")["silero-vad"]
    return SileroVadModel(create_session(files["silero_vad.onnx"], EngineConfig(device="cpu", intra_op_threads=1)))


def speech_with_silence(path: Path, text: str, before_s: float, after_s: float) -> np.ndarray:
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(path), "pad", str(before_s), str(after_s)], check=True)
    samples, rate = read_wav_mono(path)
    assert rate == 16_000
    return samples


def energy_span(samples: np.ndarray, rate: int = 16_000, window_s: float = 0.01, threshold: float = 0.01) -> tuple[float, float]:
    n = int(rate * window_s)
    rms = np.sqrt((samples[: len(samples) // n * n].reshape(-1, n) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > threshold)
    return loud[0] * window_s, (loud[-1] + 1) * window_s


def chunks_of(samples: np.ndarray, size: int = 512, start_s: float = 0.0) -> list[AudioChunk]:
    return [
        AudioChunk(samples=samples[i : i + size].astype(np.float32), start_s=start_s + i / 16_000)
        for i in range(0, len(samples) - size + 1, size)
    ]


async def run_stream(model: SileroVadModel, chunks: list[AudioChunk], config: VadConfig = VadConfig()) -> list:
    batcher = MicroBatcher("vad", model.run_batch, max_wait_s=0)
    stream = VadStream(batcher, config)
    events = []
    try:
        for chunk in chunks:
            events.extend(await stream.process(chunk))
    finally:
        await batcher.close()
    return events


async def test_speech_span_of_a_wav_is_found_within_150_ms(vad_model: SileroVadModel, tmp_path: Path) -> None:
    samples = speech_with_silence(tmp_path / "one.wav", "I designed the payment service for our online shop.", 1.0, 3.0)
    truth_start, truth_end = energy_span(samples)
    events = await run_stream(vad_model, chunks_of(samples))
    started = [e for e in events if isinstance(e, SpeechStarted)]
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    assert started and ended, events
    assert abs(started[0].time_s - truth_start) <= 0.15, (started[0], truth_start)
    assert abs(ended[-1].end_s - truth_end) <= 0.15, (ended[-1], truth_end)


async def test_a_turn_cut_mid_speech_ends_the_segment_there_and_speech_after_it_starts_a_new_one(
    vad_model: SileroVadModel, tmp_path: Path
) -> None:
    samples = speech_with_silence(tmp_path / "one.wav", "I designed the payment service for our online shop.", 1.0, 1.0)
    truth_start, truth_end = energy_span(samples)
    cut_at = (truth_start + truth_end) / 2
    batcher = MicroBatcher("vad", vad_model.run_batch, max_batch=8, max_wait_s=0.001)
    stream = VadStream(batcher)
    events: list = []
    try:
        for chunk in chunks_of(samples):
            if chunk.start_s >= cut_at and not any(isinstance(e, SpeechEnded) for e in events):
                events.extend(stream.cut(cut_at))
            events.extend(await stream.process(chunk))
    finally:
        await batcher.close()
    spans = [(e.start_s, e.end_s) for e in events if isinstance(e, SpeechEnded)]
    assert len(spans) == 2 and spans[0][1] == cut_at, spans
    assert cut_at <= spans[1][0] <= cut_at + 0.3 and abs(spans[1][1] - truth_end) <= 0.15, spans


async def test_chunk_sizes_other_than_the_model_window_are_reblocked(vad_model: SileroVadModel, tmp_path: Path) -> None:
    samples = speech_with_silence(tmp_path / "two.wav", "Thank you for the question.", 0.8, 1.0)
    by_512 = await run_stream(vad_model, chunks_of(samples, 512))
    by_320 = await run_stream(vad_model, chunks_of(samples, 320))
    assert [type(e) for e in by_512] == [type(e) for e in by_320]
    assert by_320[0].time_s == pytest.approx(by_512[0].time_s, abs=0.04)


async def test_silence_clipping_and_noise_do_not_count_as_speech(vad_model: SileroVadModel) -> None:
    rng = np.random.default_rng(7)
    silence = np.zeros(16_000 * 3, dtype=np.float32)
    hum = (0.3 * np.sin(2 * np.pi * 50 * np.arange(16_000 * 3) / 16_000)).astype(np.float32)
    clipped_noise = np.clip(rng.normal(0, 2.0, 16_000 * 3), -1, 1).astype(np.float32)
    for signal in (silence, hum):
        assert await run_stream(vad_model, chunks_of(signal)) == []
    # Full-scale clipped noise may or may not read as speech, but must be processed without error.
    await run_stream(vad_model, chunks_of(clipped_noise))


async def test_sessions_batched_together_get_the_same_answers_as_alone(vad_model: SileroVadModel, tmp_path: Path) -> None:
    samples = speech_with_silence(tmp_path / "three.wav", "My strongest skill is debugging distributed systems.", 0.5, 3.0)
    alone = await run_stream(vad_model, chunks_of(samples))
    batcher = MicroBatcher("vad", vad_model.run_batch, max_wait_s=0.002)
    streams = [VadStream(batcher) for _ in range(6)]
    results: list[list] = [[] for _ in streams]

    async def feed(i: int) -> None:
        # Streams start at different offsets, as sessions do.
        for chunk in chunks_of(samples, start_s=0.0):
            results[i].extend(await streams[i].process(chunk))

    try:
        await asyncio.gather(*(feed(i) for i in range(len(streams))))
    finally:
        await batcher.close()
    assert batcher.stats.max_batch > 1, batcher.stats.as_dict()
    for events in results:
        assert [type(e) for e in events] == [type(e) for e in alone]
        assert all(
            abs(getattr(a, "time_s", getattr(a, "start_s", 0)) - getattr(b, "time_s", getattr(b, "start_s", 0))) < 1e-6
            for a, b in zip(events, alone)
        )


async def test_chunks_analysed_as_one_group_give_the_same_events_as_one_by_one(vad_model: SileroVadModel, tmp_path: Path) -> None:
    samples = speech_with_silence(tmp_path / "four.wav", "I led the migration. It took a year.", 0.6, 3.0)
    chunks = chunks_of(samples, 320)  # windows straddle chunks
    alone = await run_stream(vad_model, chunks)
    batcher = MicroBatcher("vad", vad_model.run_batch, max_wait_s=0)
    stream = VadStream(batcher)
    grouped = []
    try:
        for start in range(0, len(chunks), 37):
            activities = await stream.process_many(chunks[start : start + 37])
            assert len(activities) == len(chunks[start : start + 37])
            grouped.extend(e for a in activities for e in a.events)
    finally:
        await batcher.close()
    assert batcher.stats.requests == -(-len(chunks) // 37)  # one trip to the model per group
    assert alone and grouped == alone


async def test_each_chunk_of_a_group_reports_the_pause_under_way_after_it(vad_model: SileroVadModel, tmp_path: Path) -> None:
    samples = speech_with_silence(tmp_path / "five.wav", "Yes, I have.", 0.5, 1.5)
    chunks = chunks_of(samples)
    batcher = MicroBatcher("vad", vad_model.run_batch, max_wait_s=0)
    one_by_one, together = VadStream(batcher), VadStream(batcher)
    try:
        expected = []
        for chunk in chunks:
            await one_by_one.process(chunk)
            expected.append(one_by_one.pause_start_s)
        activities = await together.process_many(chunks)
    finally:
        await batcher.close()
    assert [a.pause_start_s for a in activities] == expected
    assert any(p is not None for p in expected)


def test_streams_of_different_lengths_share_each_model_step(vad_model: SileroVadModel) -> None:
    rng = np.random.default_rng(3)
    runs = [rng.normal(0, 0.1, (n, 576)).astype(np.float32) for n in (5, 1, 3)]
    request = functools.partial(VadRequest, quiet_below=0.35, forget_after_quiet=2)  # forgets inside the runs too
    together = vad_model.run_batch([request(run, StreamState.fresh()) for run in runs])
    for run, (probabilities, final_state) in zip(runs, together):
        alone = StreamState.fresh()
        expected = []
        for window in run:
            ((p, alone),) = vad_model.run_batch([request(window[None], alone)])
            expected.append(p[0])
        np.testing.assert_allclose(probabilities, expected, atol=1e-5)
        np.testing.assert_allclose(final_state.recurrent, alone.recurrent, atol=1e-5)
        assert final_state.quiet_windows == alone.quiet_windows


@needs_english_speech
async def test_an_answer_after_a_long_silence_is_heard_from_its_first_word(vad_model: SileroVadModel) -> None:
    """Real spontaneous speech (a speaker with a cold, starting softly): the second answer, after the first and a
    silence as long as a question and a think, is found as it is at the start of a stream. Carried through the silence,
    the model's state had drifted until the whole second answer read as quiet."""
    first, second = (read_wav_mono(ENGLISH_SPEECH / f"{name}.wav")[0] for name in ("05", "06"))
    alone = speech_spans(await run_stream(vad_model, chunks_of(np.concatenate((np.zeros(16_000, np.float32), second)))), 1.0)
    floor = np.random.default_rng(5).normal(0, 0.0003, 16_000 * 20).astype(np.float32)  # 20 s of a quiet room
    head = np.concatenate((first, floor))
    after = speech_spans(await run_stream(vad_model, chunks_of(np.concatenate((head, second)))), len(head) / 16_000)
    assert alone and after, (alone, after)
    assert abs(after[0][0] - alone[0][0]) < 0.3, (after[:2], alone[:2])
    assert spoken_s(after) >= 0.95 * spoken_s(alone), (after, alone)


def speech_spans(events: list, since_s: float) -> list[tuple[float, float]]:
    """(start, end) of each speech segment that began after `since_s`, on a clock starting there."""
    return [(e.start_s - since_s, e.end_s - since_s) for e in events if isinstance(e, SpeechEnded) and e.start_s >= since_s - 0.1]


def spoken_s(spans: list[tuple[float, float]]) -> float:
    return sum(end - start for start, end in spans)
