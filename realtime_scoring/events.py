"""Typed events the scoring pipeline emits, on the session's media clock (seconds)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    time_s: float


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """One utterance: speech from start_s to end_s, followed by at least the VAD's min silence."""

    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class AnalysisProgress:
    """Every event about media before `settled_s` has been emitted (no utterance before it is still open or in
    transcription), so whoever splits the media into answers can draw a line there and know what falls on each side."""

    settled_s: float


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class PartialTranscript:
    """The utterance so far: `stable` text will not change any more, `unstable` may."""

    utterance: int
    start_s: float
    until_s: float
    stable: str
    unstable: str


@dataclass(frozen=True, slots=True)
class FinalTranscript:
    utterance: int
    start_s: float
    end_s: float
    text: str
    language: str
    segments: tuple[TranscriptSegment, ...]
    decode_ms: float


@dataclass(frozen=True, slots=True)
class UtteranceTranscript:
    """What is scored and reported: consecutive speech segments (FinalTranscript, the captions) whose pauses were
    short enough to be one utterance, decoded again as one clip so that no sentence is cut at a pause."""

    utterance: int
    start_s: float
    end_s: float
    text: str
    language: str
    segments: tuple[TranscriptSegment, ...]
    decode_ms: float
    parts: int  # how many speech segments it joins


@dataclass(frozen=True, slots=True)
class FacePresence:
    """One second of video: how often a face was seen, and how many people were on camera."""

    start_s: float
    end_s: float
    frames: int
    frames_with_face: int
    max_faces: int  # the most faces any one frame of the second had
    faces: int  # the people on camera: the count the second's frames (and the half second before) agree on

    @property
    def face_present(self) -> bool:
        return self.frames_with_face * 2 >= self.frames and self.frames > 0

    @property
    def multiple_faces(self) -> bool:
        return self.faces > 1


@dataclass(frozen=True, slots=True)
class EmotionSummary:
    """One second of the candidate's (largest) face: smoothed probabilities and the dominant emotion."""

    start_s: float
    end_s: float
    dominant: str
    probabilities: tuple[tuple[str, float], ...]


ScoringEvent = (
    SpeechStarted
    | SpeechEnded
    | AnalysisProgress
    | PartialTranscript
    | FinalTranscript
    | UtteranceTranscript
    | FacePresence
    | EmotionSummary
)
