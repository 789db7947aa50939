"""One session's face and emotion analysis: frames in, per-second presence and emotion summaries out."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from media.frames import VideoFrame
from realtime_scoring.batching import MicroBatcher
from realtime_scoring.events import EmotionSummary, FacePresence, ScoringEvent
from realtime_scoring.vision.emotion import LABELS, EmotionClassifier, EmotionScores
from realtime_scoring.vision.faces import Face, FaceDetector

FaceBatcher = MicroBatcher[np.ndarray, list[Face]]
EmotionBatcher = MicroBatcher[tuple[np.ndarray, Face], EmotionScores]


def face_batcher(detector: FaceDetector) -> FaceBatcher:
    return MicroBatcher("faces", detector.detect_batch, max_batch=64, max_wait_s=0.003)


def emotion_batcher(classifier: EmotionClassifier) -> EmotionBatcher:
    def run(requests: Sequence[tuple[np.ndarray, Face]]) -> list[EmotionScores]:
        return [classifier.classify(rgb, [face])[0] for rgb, face in requests]

    return MicroBatcher("emotion", run, max_batch=64, max_wait_s=0.003)


@dataclass(frozen=True)
class VisionConfig:
    summary_s: float = 1.0
    # Weight of the newest second in the emotion average: one odd frame should not flip the label.
    emotion_smoothing: float = 0.5
    # A second's count of people is what most frames of it and of the half second before it saw (three
    # frames at 2 a second), so one frame that misses a face or sees one in a shadow does not flip the flag.
    count_window_s: float = 1.5


def agreed_count(counts: Sequence[int], previous: int | None) -> int:
    """The face count most of `counts` agree on; a tie keeps the previous second's count if it is among the
    tied ones, and otherwise takes the lowest (a second face is flagged only once frames agree on it). No frames:
    the previous count stands (none before: 0)."""
    if not counts:
        return previous or 0
    tally = Counter(counts).most_common()
    top = tally[0][1]
    tied = sorted(count for count, times in tally if times == top)
    return previous if previous in tied else tied[0]


def _failures(outcomes: Sequence[object]) -> list[Exception]:
    """The errors among gathered outcomes; a cancellation (the engine closing) is raised, not collected."""
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
    return [o for o in outcomes if isinstance(o, Exception)]


def largest(faces: Sequence[Face]) -> Face:
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


class SessionVision:
    """Batches this session's frames with everyone else's and summarises each second of video.

    With no emotion batcher (emotion analysis switched off), no emotion model
    runs and no emotion event exists.
    """

    def __init__(
        self,
        faces: FaceBatcher,
        emotion: EmotionBatcher | None,
        emit: Callable[[ScoringEvent], None],
        config: VisionConfig = VisionConfig(),
    ) -> None:
        self._faces = faces
        self._emotion = emotion
        self._emit = emit
        self.config = config
        self._window_start: float | None = None
        self._frames = 0
        self._with_face = 0
        self._max_faces = 0
        # (time, faces) of recent frames, for each second's agreed count; at 30 frames a second that is 45.
        self._recent: deque[tuple[float, int]] = deque(maxlen=64)
        self._agreed: int | None = None
        self._emotion_sum: np.ndarray | None = None
        self._emotion_frames = 0
        self._smoothed: np.ndarray | None = None

    async def process(self, frame: VideoFrame) -> None:
        await self.process_many((frame,))

    async def process_many(self, frames: Sequence[VideoFrame]) -> None:
        """Frames in order, all in the models' batches at once: a session that fell behind catches up in one
        round trip per model instead of two per frame.

        A frame the detector fails on is left out (and one whose emotion fails counts without it); the others
        are counted all the same, and the failures are raised together afterwards.
        """
        # The detector sees its own input size whatever it is given: the thumbnail, when there is one, spares it the shrinking.
        images = [frame.thumbnail if frame.thumbnail is not None else frame.rgb for frame in frames]
        found = await asyncio.gather(*(self._faces.submit(image) for image in images), return_exceptions=True)
        errors = _failures(found)
        emotions: dict[int, EmotionScores | BaseException] = {}
        if self._emotion is not None:
            # The emotion model looks closely at one face: crop it from the full-size frame.
            wanted = [
                (i, (frame.rgb, largest(faces).scaled(frame.rgb.shape[1] / image.shape[1])))
                for i, (frame, image, faces) in enumerate(zip(frames, images, found))
                if faces and not isinstance(faces, BaseException)
            ]
            scores = await asyncio.gather(*(self._emotion.submit(request) for _, request in wanted), return_exceptions=True)
            emotions = {i: score for (i, _), score in zip(wanted, scores)}
            errors += _failures(scores)
        for i, (frame, faces) in enumerate(zip(frames, found)):
            self._advance(frame.time_s)  # a failed frame's time passes too
            if not isinstance(faces, BaseException):
                emotion = emotions.get(i)
                self._count(frame.time_s, faces, emotion if isinstance(emotion, EmotionScores) else None)
        if errors:
            raise ExceptionGroup(f"{len(errors)} of {len(frames)} frames failed analysis", errors)

    def _advance(self, time_s: float) -> None:
        if self._window_start is None:
            self._window_start = time_s
        while time_s >= self._window_start + self.config.summary_s:
            self._close_window(self._window_start + self.config.summary_s)

    def _count(self, time_s: float, faces: Sequence[Face], emotion: EmotionScores | None) -> None:
        self._recent.append((time_s, len(faces)))
        self._frames += 1
        self._with_face += bool(faces)
        self._max_faces = max(self._max_faces, len(faces))
        if emotion is not None:
            vector = np.array([emotion.probabilities[label] for label in LABELS])
            self._emotion_sum = vector if self._emotion_sum is None else self._emotion_sum + vector
            self._emotion_frames += 1

    def flush(self) -> None:
        if self._window_start is not None and self._frames:
            self._close_window(self._window_start + self.config.summary_s)

    def _close_window(self, end_s: float) -> None:
        start = self._window_start if self._window_start is not None else end_s - self.config.summary_s
        if self._frames:
            window = [faces for time_s, faces in self._recent if end_s - self.config.count_window_s <= time_s < end_s]
            self._agreed = agreed_count(window, self._agreed)
            self._emit(FacePresence(start, end_s, self._frames, self._with_face, self._max_faces, self._agreed))
        if self._emotion_sum is not None and self._emotion_frames:
            mean = self._emotion_sum / self._emotion_frames
            a = self.config.emotion_smoothing
            self._smoothed = mean if self._smoothed is None else a * mean + (1 - a) * self._smoothed
            probabilities = tuple((label, round(float(p), 4)) for label, p in zip(LABELS, self._smoothed))
            self._emit(EmotionSummary(start, end_s, LABELS[int(np.argmax(self._smoothed))], probabilities))
        self._window_start = end_s
        self._frames = self._with_face = self._max_faces = self._emotion_frames = 0
        self._emotion_sum = None
