"""Media building blocks on real PyAV frames: audio chunking, video sampling, drop-oldest queues, level metering."""

from __future__ import annotations

import asyncio
import fractions
import itertools

import av
import numpy as np
import pytest

from media.audio import MAX_AHEAD_S, AudioChunker
from media.frames import ANALYSIS_SAMPLE_RATE, AudioChunk
from media.ingest import MediaConfig, MediaIngest
from media.levels import SILENCE_DBFS, LevelMeter, MediaLevels
from media.queues import DropOldestQueue
from media.video import FrameSampler, analysis_size

CHUNK = 512


def audio_frame(
    index: int,
    *,
    pts: int | None = None,
    rate: int = 48_000,
    samples: int = 960,
    layout: str = "stereo",
    freq: float = 1000.0,
    amplitude: float = 0.5,
) -> av.AudioFrame:
    """Frame `index` of a continuous sine (s16), with RTP-like pts in 1/rate ticks."""
    t = (np.arange(samples) + index * samples) / rate
    mono = np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    channels = 2 if layout == "stereo" else 1
    data = np.repeat(mono, channels).reshape(1, -1)  # packed s16: L R L R ...
    frame = av.AudioFrame.from_ndarray(data, format="s16", layout=layout)
    frame.sample_rate = rate
    frame.pts = index * samples if pts is None else pts
    frame.time_base = fractions.Fraction(1, rate)
    return frame


def push_all(chunker: AudioChunker, frames: list[tuple[av.AudioFrame, float]]) -> list[AudioChunk]:
    chunks: list[AudioChunk] = []
    for frame, arrival in frames:
        chunks.extend(chunker.push(frame, arrival))
    return chunks


def samples_of(chunks: list[AudioChunk]) -> np.ndarray:
    return np.concatenate([c.samples for c in chunks])


def dominant_frequency(x: np.ndarray, rate: int = ANALYSIS_SAMPLE_RATE) -> float:
    window = x * np.hanning(x.size)
    spectrum = np.abs(np.fft.rfft(window))
    return float(np.argmax(spectrum)) * rate / x.size


# AudioChunker


def test_audio_chunker_emits_512_sample_16khz_mono_float32_chunks_with_contiguous_start_times() -> None:
    chunker = AudioChunker(CHUNK)
    chunks = push_all(chunker, [(audio_frame(i), 10.0 + i * 0.02) for i in range(100)])  # 2 s

    # 2 s at 16 kHz is 32000 samples = 62.5 chunks; the resampler may hold back a few samples.
    assert len(chunks) == 62
    for chunk in chunks:
        assert chunk.samples.dtype == np.float32
        assert chunk.samples.shape == (CHUNK,)
        assert chunk.sample_rate == ANALYSIS_SAMPLE_RATE == 16_000
        assert chunk.duration_s == pytest.approx(0.032)
    # The first frame's arrival anchors the clock; every chunk follows the previous one exactly.
    assert chunks[0].start_s == pytest.approx(10.0)
    for previous, current in itertools.pairwise(chunks):
        assert current.start_s - previous.start_s == pytest.approx(CHUNK / 16_000)
    assert chunker.gap_filled_s == 0.0


def test_audio_chunker_keeps_a_1khz_sine_at_1khz() -> None:
    chunks = push_all(AudioChunker(CHUNK), [(audio_frame(i), i * 0.02) for i in range(100)])
    x = samples_of(chunks)[1024:]  # skip the resampler's start-up transient
    assert dominant_frequency(x) == pytest.approx(1000.0, abs=5.0)
    # Nothing else of note: the 1 kHz bin holds almost all of the energy.
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    peak = int(np.argmax(spectrum))
    assert spectrum[peak - 3 : peak + 4].sum() > 0.99 * spectrum.sum()


def test_audio_chunker_keeps_the_amplitude_of_a_mono_8khz_sine() -> None:
    frames = [(audio_frame(i, rate=8000, samples=160, layout="mono", amplitude=0.5), i * 0.02) for i in range(100)]
    chunks = push_all(AudioChunker(CHUNK), frames)

    assert len(chunks) == 62  # 2 s, upsampled to 16 kHz
    x = samples_of(chunks)[1024:]
    assert dominant_frequency(x) == pytest.approx(1000.0, abs=5.0)
    assert float(np.max(np.abs(x))) == pytest.approx(0.5, rel=0.05)
    assert float(np.sqrt(np.mean(x**2))) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


def test_audio_chunker_downmixes_identical_stereo_channels_without_gain() -> None:
    frames = [(audio_frame(i, amplitude=0.5), i * 0.02) for i in range(50)]
    x = samples_of(push_all(AudioChunker(CHUNK), frames))[1024:]
    assert float(np.max(np.abs(x))) == pytest.approx(0.5, rel=0.05)

    loud = [(audio_frame(i, amplitude=0.99), i * 0.02) for i in range(50)]
    y = samples_of(push_all(AudioChunker(CHUNK), loud))
    assert float(np.max(np.abs(y))) <= 1.0


def test_audio_chunker_fills_a_100ms_rtp_gap_with_silence() -> None:
    gap_ticks = 4800  # 100 ms at 48 kHz
    frames = [(audio_frame(i), i * 0.02) for i in range(50)]
    frames += [(audio_frame(i, pts=i * 960 + gap_ticks), i * 0.02 + 0.1) for i in range(50, 100)]
    chunker = AudioChunker(CHUNK)
    chunks = push_all(chunker, frames)

    assert chunker.gap_filled_s == pytest.approx(0.1, abs=1e-3)
    # 2.1 s of timeline = 33600 samples = 65 whole chunks, against 62 without the gap.
    assert len(chunks) == 65
    x = samples_of(chunks)
    # The silence sits where the gap was: about 1600 zero samples starting near 1.0 s.
    silent = np.abs(x[15_900:17_700]) < 1e-4
    assert 1550 <= int(silent.sum()) <= 1700
    assert np.all(np.abs(x[16_050:17_550]) < 1e-4)
    # ... and the sine is back after it.
    assert float(np.max(np.abs(x[18_000:20_000]))) > 0.3
    for previous, current in itertools.pairwise(chunks):
        assert current.start_s - previous.start_s == pytest.approx(CHUNK / 16_000)


@pytest.mark.parametrize("jump", [2**32, -(2**31), 10 * 48_000], ids=["wrap-forward", "backwards", "ten-seconds"])
def test_audio_chunker_does_not_fill_a_timestamp_discontinuity(jump: int) -> None:
    base = 2**31  # so a backwards jump keeps pts positive
    frames = [(audio_frame(i, pts=base + i * 960), i * 0.02) for i in range(50)]
    frames += [(audio_frame(i, pts=base + i * 960 + jump), i * 0.02) for i in range(50, 100)]
    chunker = AudioChunker(CHUNK)
    chunks = push_all(chunker, frames)

    # 2 s of audio arrived, so about 2 s of chunks come out: no minutes (or hours) of zeros.
    assert chunker.gap_filled_s == 0.0
    assert len(chunks) == 62
    assert chunks[-1].start_s < 2.1
    for previous, current in itertools.pairwise(chunks):
        assert current.start_s > previous.start_s


def test_audio_chunker_follows_arrival_time_after_a_discontinuity_with_a_real_pause() -> None:
    # The sender stalls for 5 s and comes back with an unrelated timestamp: the chunk clock jumps
    # forward with arrival time instead of pretending the audio is contiguous.
    frames = [(audio_frame(i), i * 0.02) for i in range(50)]
    frames += [(audio_frame(i, pts=i * 960 + 2**32), 5.0 + i * 0.02) for i in range(50, 100)]
    chunks = push_all(AudioChunker(CHUNK), frames)

    assert len(chunks) == 62
    starts = [c.start_s for c in chunks]
    assert all(b > a for a, b in itertools.pairwise(starts))
    assert starts[-1] > 5.9
    assert max(b - a for a, b in itertools.pairwise(starts)) > 4.0


def test_audio_chunker_rejects_a_non_positive_chunk_size() -> None:
    with pytest.raises(ValueError):
        AudioChunker(0)


# FrameSampler and analysis_size


def video_frame(width: int, height: int, pts: int = 0) -> av.VideoFrame:
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[:, : width // 2] = (200, 30, 40)  # left half red, right half blue
    rgb[:, width // 2 :] = (20, 40, 220)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, 90_000)
    return frame


def test_frame_sampler_keeps_five_of_thirty_frames_per_second() -> None:
    sampler = FrameSampler(fps=5.0, max_side=640)
    kept = [i / 30 for i in range(300) if sampler.should_sample(i / 30)]  # 10 s at 30 fps

    assert len(kept) == 50
    gaps = np.diff(kept)
    assert np.allclose(gaps, 0.2, atol=1 / 30 + 1e-9)
    assert kept[0] == 0.0


def test_frame_sampler_counts_presentation_time_not_calls() -> None:
    # 60 frames delivered in a burst but spanning only 1 s of presentation time: ~5 kept, not 60.
    sampler = FrameSampler(fps=5.0, max_side=640)
    kept = sum(sampler.should_sample(i / 60) for i in range(60))
    assert kept == 5
    # A long pause does not cause a burst of catch-up samples afterwards.
    after_pause = [sampler.should_sample(30.0 + i / 30) for i in range(30)]
    assert sum(after_pause) == 5 and after_pause[0]


def test_frame_sampler_converts_to_rgb_at_analysis_size() -> None:
    sampler = FrameSampler(fps=5.0, max_side=640)
    sampled = sampler.convert(video_frame(1280, 720), time_s=1.25)

    assert sampled.rgb.shape == (360, 640, 3)
    assert sampled.rgb.dtype == np.uint8
    assert (sampled.source_width, sampled.source_height) == (1280, 720)
    assert sampled.time_s == 1.25
    # The colours survive the YUV round trip: red on the left, blue on the right.
    left, right = sampled.rgb[180, 100].astype(int), sampled.rgb[180, 540].astype(int)
    assert left[0] > 150 and left[2] < 100
    assert right[2] > 150 and right[0] < 100


def test_frame_sampler_adds_a_thumbnail_of_the_same_picture_for_detectors() -> None:
    sampled = FrameSampler(fps=5.0, max_side=640).convert(video_frame(1280, 720), time_s=0.0)

    assert sampled.thumbnail is not None and sampled.thumbnail.shape == (108, 192, 3) and sampled.thumbnail.dtype == np.uint8
    # The same picture: the analysis frame shrunk by 10/3 (each pixel made 3x3, then 10x10 blocks averaged) matches
    # it to within rounding and chroma filtering.
    shrunk = sampled.rgb.repeat(3, axis=0).repeat(3, axis=1).reshape(108, 10, 192, 10, 3).mean(axis=(1, 3))
    assert np.abs(sampled.thumbnail[2:-2, 2:-2].astype(float) - shrunk[2:-2, 2:-2]).mean() < 4


def test_frame_sampler_leaves_small_frames_at_their_own_size() -> None:
    sampled = FrameSampler(fps=5.0, max_side=640).convert(video_frame(320, 240), time_s=0.0)
    assert sampled.rgb.shape == (240, 320, 3)


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((1280, 720), 640, (640, 360)),
        ((1920, 1080), 640, (640, 360)),
        ((720, 1280), 640, (360, 640)),  # portrait phone
        ((640, 480), 640, (640, 480)),
        ((1000, 750), 640, (640, 480)),
    ],
)
def test_analysis_size_scales_the_longer_side_down(size: tuple[int, int], max_side: int, expected: tuple[int, int]) -> None:
    assert analysis_size(*size, max_side) == expected


@pytest.mark.parametrize("size", [(641, 361), (1279, 719), (333, 777), (1921, 1081), (3, 3), (999, 1)])
def test_analysis_size_is_always_even_and_within_bounds(size: tuple[int, int]) -> None:
    width, height = analysis_size(*size, 640)
    assert width % 2 == 0 and height % 2 == 0
    assert width >= 2 and height >= 2
    assert max(width, height) <= 640
    # Aspect ratio is kept to within the rounding to even numbers.
    if min(size) > 10:
        assert width / height == pytest.approx(size[0] / size[1], rel=0.02)


def test_frame_sampler_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ValueError):
        FrameSampler(fps=0, max_side=640)


# DropOldestQueue


async def test_drop_oldest_queue_discards_the_oldest_item_and_counts_it() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(3)
    for item in range(5):
        queue.put_nowait(item)

    assert queue.dropped == 2
    assert queue.put_count == 5
    assert queue.qsize() == 3
    assert [await queue.get() for _ in range(3)] == [2, 3, 4]
    assert queue.qsize() == 0


async def test_drop_oldest_queue_get_returns_none_once_closed_and_drained() -> None:
    queue: DropOldestQueue[str] = DropOldestQueue(4)
    queue.put_nowait("a")
    queue.put_nowait("b")
    queue.close()

    assert queue.closed
    assert queue.qsize() == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"
    assert await queue.get() is None
    assert await queue.get() is None  # stays closed for every later call
    assert queue.qsize() == 0


async def test_drop_oldest_queue_hands_over_what_is_ready_up_to_a_limit_and_keeps_the_end() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(10)
    assert queue.get_ready(5) == []
    for item in range(4):
        queue.put_nowait(item)
    queue.close()

    assert queue.get_ready(3) == [0, 1, 2]
    assert queue.get_ready(3) == [3]
    assert queue.get_ready(3) == []
    assert await queue.get() is None  # the end is still there for the consumer's next wait


async def test_drop_oldest_queue_close_wakes_a_waiting_consumer() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(2)
    waiters = [asyncio.create_task(queue.get()) for _ in range(2)]
    await asyncio.sleep(0)
    queue.close()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1.0) == [None, None]


async def test_drop_oldest_queue_ignores_puts_after_close() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(2)
    queue.put_nowait(1)
    queue.close()
    queue.put_nowait(2)
    queue.put_nowait(3)

    assert queue.put_count == 1
    assert queue.dropped == 0
    assert await queue.get() == 1
    assert await queue.get() is None


async def test_drop_oldest_queue_can_close_while_full() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(2)
    for item in range(3):
        queue.put_nowait(item)
    queue.close()  # must not raise QueueFull
    assert [await queue.get() for _ in range(3)] == [1, 2, None]


def test_drop_oldest_queue_needs_room_for_one_item() -> None:
    with pytest.raises(ValueError):
        DropOldestQueue(0)


# LevelMeter


def tone_chunk(amplitude: float, start_s: float) -> AudioChunk:
    t = (np.arange(CHUNK) + start_s * ANALYSIS_SAMPLE_RATE) / ANALYSIS_SAMPLE_RATE
    return AudioChunk(samples=(amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32), start_s=start_s)


async def first_levels(chunks: list[AudioChunk]) -> MediaLevels:
    """Feed `chunks` through a real MediaIngest's queues into a LevelMeter and return its first report."""
    ingest = MediaIngest(MediaConfig())
    reports: list[MediaLevels] = []
    arrived = asyncio.Event()

    def emit(levels: MediaLevels) -> None:
        reports.append(levels)
        arrived.set()

    for chunk in chunks:
        ingest.audio.put_nowait(chunk)
    meter = asyncio.create_task(LevelMeter(ingest, emit, interval_s=0.05).run())
    try:
        await asyncio.wait_for(arrived.wait(), 2.0)
    finally:
        await ingest.close()
        await asyncio.wait_for(meter, 2.0)  # closing the queues ends the meter
    return reports[0]


async def test_level_meter_reports_a_loud_chunk_louder_than_silence() -> None:
    loud = await first_levels([tone_chunk(0.5, i * 0.032) for i in range(10)])
    silent = await first_levels([AudioChunk(samples=np.zeros(CHUNK, np.float32), start_s=i * 0.032) for i in range(10)])

    # A 0.5 sine: peak -6 dBFS, RMS -9 dBFS.
    assert loud.audio_peak_dbfs == pytest.approx(-6.0, abs=0.3)
    assert loud.audio_rms_dbfs == pytest.approx(-9.0, abs=0.3)
    assert silent.audio_peak_dbfs == SILENCE_DBFS
    assert silent.audio_rms_dbfs == SILENCE_DBFS
    assert loud.audio_rms_dbfs > silent.audio_rms_dbfs + 80
    # No video went through this ingest.
    assert (loud.video_fps, loud.video_width, loud.video_height) == (0.0, 0, 0)


async def test_level_meter_stops_when_the_ingest_closes() -> None:
    ingest = MediaIngest(MediaConfig())
    reports: list[MediaLevels] = []
    meter = asyncio.create_task(LevelMeter(ingest, reports.append, interval_s=0.05).run())
    await asyncio.sleep(0.12)
    await ingest.close()
    await asyncio.wait_for(meter, 1.0)
    assert meter.done() and meter.exception() is None
    count = len(reports)
    assert count >= 1
    await asyncio.sleep(0.12)
    assert len(reports) == count  # no reports after the meter ended


def test_audio_sent_faster_than_real_time_is_dropped_so_its_times_never_run_ahead_of_arrival() -> None:
    chunker = AudioChunker(CHUNK)
    # Ten seconds of audio arriving within a tenth of a second: a sender ignoring real time.
    chunks = push_all(chunker, [(audio_frame(i), 5.0 + i * 0.0002) for i in range(500)])
    last_arrival = 5.0 + 499 * 0.0002
    assert chunks and chunks[0].start_s == pytest.approx(5.0)
    assert max(c.start_s + c.duration_s for c in chunks) <= last_arrival + MAX_AHEAD_S
    assert chunker.ahead_dropped_s == pytest.approx(10.0 - MAX_AHEAD_S, abs=0.2)
    # Sent at real time again, it is stamped at real time again: contiguous with what was kept, nothing dropped.
    before = chunker.ahead_dropped_s
    later = push_all(chunker, [(audio_frame(i), 20.0 + (i - 500) * 0.02) for i in range(500, 550)])
    assert later and chunker.ahead_dropped_s == before
    assert later[0].start_s == pytest.approx(chunks[-1].start_s + CHUNK / 16_000)


def test_a_forged_run_of_timestamp_gaps_cannot_fill_the_clock_with_silence_ahead_of_time() -> None:
    chunker = AudioChunker(CHUNK)
    # Each 20 ms frame claims to come 1.9 s after the previous one: 95 times real time, all of it "lost packets".
    chunks = push_all(chunker, [(audio_frame(i, pts=i * 91_200), i * 0.02) for i in range(100)])
    assert max(c.start_s + c.duration_s for c in chunks) <= 99 * 0.02 + MAX_AHEAD_S
    assert chunker.ahead_dropped_s > 100


def test_a_file_is_read_at_its_own_pace() -> None:
    chunker = AudioChunker(CHUNK, max_ahead_s=None)
    chunks = push_all(chunker, [(audio_frame(i), 0.0) for i in range(100)])
    assert len(chunks) == 62 and chunker.ahead_dropped_s == 0.0
