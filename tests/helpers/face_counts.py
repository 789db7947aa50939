"""People on camera, as an interview counts them: photographs of groups with their counts, and a video's seconds."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from media.files import read_video
from media.video import FrameSampler
from realtime_scoring.events import FacePresence
from realtime_scoring.pipeline import ScoringEngine, SessionConfig

COUNTS_FILE = "counts.json"  # {photo file name: people whose face shows}, beside the photos


def group_photo_counts(folder: Path) -> dict[str, int]:
    """The photographs in `folder` (tests/tools/prepare_group_photos.py, or any held-out set) and their counts."""
    return {name: int(people) for name, people in json.loads((folder / COUNTS_FILE).read_text(encoding="utf-8")).items()}


def sampled_thumbnail(photo: Path) -> np.ndarray:
    """The thumbnail the face detector sees of `photo` when a camera sends it: decoded to YUV, then sampled."""
    with av.open(str(photo)) as container:
        decoded = next(container.decode(video=0)).reformat(format="yuv420p")
    thumbnail = FrameSampler(fps=2.0, max_side=640).convert(decoded, time_s=0.0).thumbnail
    assert thumbnail is not None
    return thumbnail


async def face_seconds(engine: ScoringEngine, video: Path, fps: float = 2.0) -> list[FacePresence]:
    """Each second's face presence for `video`, its frames sampled as an interview samples them (`fps` a second)."""
    events: list[object] = []
    session = engine.new_session(events.append, SessionConfig())
    try:
        frames = list(read_video(video, fps=fps, max_side=640))
        for frame in frames:
            await session.process_frame(frame)
        await session.finish(frames[-1].time_s if frames else 0.0)
    finally:
        await session.close()
    return [e for e in events if isinstance(e, FacePresence)]
