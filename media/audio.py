"""Resampling of decoded audio frames into fixed 16 kHz mono chunks of 16-bit PCM values (as float32)."""

from __future__ import annotations

import av
import numpy as np

from media.frames import ANALYSIS_SAMPLE_RATE, AudioChunk, on_pcm16_grid

# Gaps longer than this are not filled with silence: the clock follows arrival
# time instead, so a stalled or restarted sender cannot make us allocate minutes of zeros.
MAX_GAP_FILL_S = 2.0
# Audio may be stamped at most this far ahead of its arrival (network jitter: the first frame, which anchors the clock,
# can arrive later than those after it). What a sender sends faster than real time beyond that is dropped, so the
# interview clock, which answer time limits run on, never runs ahead of the wall clock.
MAX_AHEAD_S = 1.0


class AudioChunker:
    """Turns decoded audio frames of any rate and layout into fixed-size 16 kHz mono chunks.

    Browsers send 48 kHz stereo in 20 ms frames; the models want 16 kHz mono in
    blocks of their own size. Lost packets leave gaps in the RTP timestamps; they
    are filled with silence so that chunk times stay on the sender's clock.
    """

    def __init__(self, chunk_samples: int, max_ahead_s: float | None = MAX_AHEAD_S) -> None:
        """`max_ahead_s`: how far ahead of arrival audio may be stamped (None: no limit, for a file read at its own pace)."""
        if chunk_samples < 1:
            raise ValueError("chunk_samples must be positive")
        self.chunk_samples = chunk_samples
        self.max_ahead_s = max_ahead_s
        self._resampler: av.AudioResampler | None = None
        self._input_signature: tuple[str, str, int] | None = None
        self._pending = np.zeros(0, dtype=np.float32)
        self._emitted_samples = 0
        self._clock_origin_s: float | None = None
        self._next_pts_s: float | None = None
        self.gap_filled_s = 0.0
        self.ahead_dropped_s = 0.0

    def push(self, frame: av.AudioFrame, arrival_s: float) -> list[AudioChunk]:
        """Add one decoded frame; return the chunks it completes.

        `arrival_s` is when the frame reached us on the session clock; only the
        first frame's arrival anchors the chunk clock, later ones follow RTP time.
        """
        if self._clock_origin_s is None:
            self._clock_origin_s = arrival_s
        self._fill_gap_before(frame, arrival_s)
        samples = self._resample(frame)
        if samples.size:
            self._pending = np.concatenate((self._pending, samples)) if self._pending.size else samples
        return self._drain(arrival_s)

    def _fill_gap_before(self, frame: av.AudioFrame, arrival_s: float) -> None:
        if frame.pts is None or frame.time_base is None or frame.sample_rate == 0:
            return
        start_s = float(frame.pts * frame.time_base)
        if self._next_pts_s is not None:
            gap_s = start_s - self._next_pts_s
            if 0.005 < gap_s <= MAX_GAP_FILL_S:
                silence = np.zeros(round(gap_s * ANALYSIS_SAMPLE_RATE), dtype=np.float32)
                self._pending = np.concatenate((self._pending, silence))
                self.gap_filled_s += gap_s
            elif gap_s > MAX_GAP_FILL_S or gap_s < -MAX_GAP_FILL_S:
                # A timestamp discontinuity (sender restart, wrap): trust the arrival
                # time instead, without letting the chunk clock go backwards.
                buffered_s = (self._emitted_samples + self._pending.size) / ANALYSIS_SAMPLE_RATE
                self._clock_origin_s = max(self._clock_origin_s or 0.0, arrival_s - buffered_s)
        self._next_pts_s = start_s + frame.samples / frame.sample_rate

    def _resample(self, frame: av.AudioFrame) -> np.ndarray:
        signature = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or signature != self._input_signature:
            # Keep the channels and average them ourselves: libswresample's own
            # downmix adds channels at -3 dB each, which makes identical stereo
            # channels 41% louder than either and can leave [-1, 1].
            self._resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=ANALYSIS_SAMPLE_RATE)
            self._input_signature = signature
        frame.pts = None  # the resampler would otherwise insist on monotonic pts
        parts = [out.to_ndarray().mean(axis=0) for out in self._resampler.resample(frame)]
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return on_pcm16_grid(np.concatenate(parts))

    def _drain(self, arrival_s: float) -> list[AudioChunk]:
        chunks: list[AudioChunk] = []
        n = self.chunk_samples
        while self._pending.size >= n:
            start_s = (self._clock_origin_s or 0.0) + self._emitted_samples / ANALYSIS_SAMPLE_RATE
            if self.max_ahead_s is not None and start_s + n / ANALYSIS_SAMPLE_RATE > arrival_s + self.max_ahead_s:
                # More audio than time has passed: sent faster than real time (or a forged timestamp gap). Dropped.
                self.ahead_dropped_s += self._pending.size / ANALYSIS_SAMPLE_RATE
                self._pending = np.zeros(0, dtype=np.float32)
                break
            block, self._pending = self._pending[:n].copy(), self._pending[n:]
            chunks.append(AudioChunk(samples=block, start_s=start_s))
            self._emitted_samples += n
        return chunks
