"""Each question's evidence video: the candidate's encoded frames as they arrived, remuxed into one file a question.

Nothing is decoded or encoded again: VP8 video with Opus audio goes into WebM, H.264 with Opus into fragmented MP4
(browsers play both, and either survives the process being killed mid-file). The size is what the candidate's
page sent, so the page is asked for a rate fit for evidence rather than for the models.

Frames come from the receivers' encoded-frame tap (`server/rtc/encoded_frames.py`) on the event loop; their RTP
timestamps are put on the interview's clock (`media/sender_clock.py`, as the decoded frames' are), so a transcript's
times point into the file. A file
starts where a question is asked, at the first video key frame from then on (one is asked for at once), so every
file plays from its first frame. The muxing runs on a worker thread behind a bounded queue: a slow disk loses
frames (counted), never the event loop. An interview's files are capped in bytes; past the cap nothing more is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from media.bitstream import h264_sps_size, vp8_keyframe_size

logger = logging.getLogger(__name__)

MediaKind = Literal["audio", "video"]
TIME_BASE = Fraction(1, 1000)  # the files' timestamps, in milliseconds
BATCH_S = 0.1
QUEUE_FRAMES = 1500  # about 15 s of 30 fps video and 20 ms audio waiting for the disk
AUDIO_WITHOUT_VIDEO_S = 5.0  # audio held back this long waiting for a key frame; then the file starts without video
KEY_FRAME_ASK_EVERY_S = 1.0  # while waiting, a key frame is asked for again (an RTCP packet may be lost)
H264_IDR, H264_SPS, H264_PPS = 5, 7, 8
CONTAINERS = {"vp8": ("webm", ".webm", "video/webm"), "h264": ("mp4", ".mp4", "video/mp4"), None: ("webm", ".webm", "audio/webm")}
MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


@dataclass(frozen=True, slots=True)
class EncodedMedia:
    """One encoded frame as received, on the interview's clock."""

    kind: MediaKind
    codec: str  # lower case, as in SDP: "opus", "vp8", "h264"
    data: bytes
    time_s: float
    key_frame: bool = False


@dataclass
class RecordedAnswer:
    """A finished file: the question it belongs to and where it lies on the interview's clock."""

    path: Path
    question_index: int
    starts_s: float
    ends_s: float
    media_type: str
    size_bytes: int

    @property
    def seconds(self) -> float:
        return max(0.0, self.ends_s - self.starts_s)


def is_key_frame(codec: str, data: bytes) -> bool:
    """A frame a file may start with: a VP8 key frame, or an H.264 access unit with an IDR slice and its parameters."""
    if codec == "vp8":
        return vp8_keyframe_size(data) is not None
    if codec == "h264":
        return _h264_nal_types(data) >= {H264_IDR, H264_SPS, H264_PPS}
    return False


def _h264_nal_types(data: bytes) -> set[int]:
    types = set()
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        types.add(data[start + 3] & 0x1F)
        start = data.find(b"\x00\x00\x01", start + 3)
    return types


def _h264_parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS NAL units of an Annex B access unit, as Annex B (what the MP4 muxer turns into its avcC)."""
    units = [unit for unit in data.split(b"\x00\x00\x01") if unit and unit[0] & 0x1F in (H264_SPS, H264_PPS)]
    return b"".join(b"\x00\x00\x00\x01" + unit.rstrip(b"\x00") for unit in units)


def _in_directory(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@functools.cache
def _templates(video_codec: str | None) -> tuple[av.container.InputContainer, dict[MediaKind, av.stream.Stream]]:
    """Streams to copy codec parameters from, so that no encoder is opened per file (libvpx's takes ~24 MB):
    one tiny file made once per process with each codec, read back."""
    container_format = CONTAINERS[video_codec][0]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format, options=MP4_OPTIONS if container_format == "mp4" else {}) as out:
        video = out.add_stream("libvpx" if video_codec == "vp8" else "libx264", rate=15) if video_codec is not None else None
        audio = out.add_stream("libopus", rate=48_000)  # every stream before the first packet: that writes the header
        audio.layout = "mono"
        if video is not None:
            video.width = video.height = 64
            video.pix_fmt = "yuv420p"
            picture = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
            picture.pts = 0
            out.mux(video.encode(picture))
            out.mux(video.encode(None))
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.float32), format="flt", layout="mono")
        sound.sample_rate, sound.pts = 48_000, 0
        out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
    container = av.open(io.BytesIO(buffer.getvalue()), "r")
    streams: dict[MediaKind, av.stream.Stream] = {"audio": container.streams.audio[0]}
    if video_codec is not None:
        streams["video"] = container.streams.video[0]
    return container, streams


class _OpenFile:
    """One question's file being written (worker thread only)."""

    def __init__(self, path: Path, question_index: int, first: EncodedMedia | None) -> None:
        video_codec = first.codec if first is not None else None
        container_format, _, self.media_type = CONTAINERS[video_codec]
        _, templates = _templates(video_codec)
        self.path, self.question_index = path, question_index
        self.container = av.open(str(path), "w", format=container_format, options=MP4_OPTIONS if container_format == "mp4" else {})
        self.streams: dict[MediaKind, av.stream.Stream] = {}
        if first is not None:
            video = self.container.add_stream_from_template(templates["video"], opaque=True)
            size = vp8_keyframe_size(first.data) if first.codec == "vp8" else h264_sps_size(first.data)
            context = video.codec_context
            assert isinstance(context, av.VideoCodecContext)
            context.width, context.height = size or (0, 0)
            if first.codec == "h264":
                context.extradata = _h264_parameter_sets(first.data)
            self.streams["video"] = video
        self.streams["audio"] = self.container.add_stream_from_template(templates["audio"])
        self.video_codec = video_codec
        self.starts_s: float | None = None
        self.ends_s = 0.0
        self._last_pts: dict[MediaKind, int] = {}

    def write(self, media: EncodedMedia) -> None:
        stream = self.streams.get(media.kind)
        if stream is None or (media.kind == "video" and media.codec != self.video_codec):
            return
        if self.starts_s is None:
            self.starts_s = media.time_s
        # Each stream's timestamps must rise; a frame that arrives late is stamped just after the one before it.
        pts = max(round((media.time_s - self.starts_s) * 1000), self._last_pts.get(media.kind, -1) + 1)
        self._last_pts[media.kind] = pts
        packet = av.Packet(media.data)
        packet.pts = packet.dts = pts
        packet.time_base = TIME_BASE
        packet.stream = stream
        packet.is_keyframe = media.key_frame or media.kind == "audio"
        self.container.mux(packet)
        self.ends_s = max(self.ends_s, self.starts_s + pts / 1000)

    def close(self) -> RecordedAnswer | None:
        self.container.close()
        if self.starts_s is None:
            self.path.unlink(missing_ok=True)
            return None
        return RecordedAnswer(self.path, self.question_index, self.starts_s, self.ends_s, self.media_type, self.path.stat().st_size)


Command = EncodedMedia | tuple[Literal["question"], int, float] | None


@dataclass
class AnswerFiles:
    """Decides, frame by frame, which question's file a frame goes to, and writes it (worker thread only).

    `name(question_index, n)` is the stem of the n-th file of a question (after a file over the cap, none)."""

    directory: Path
    name: Callable[[int, int], str]
    expects_video: bool
    max_bytes: int
    create_file: Callable[[Path], Path] = _in_directory  # e.g. made private before it is written
    finished: list[RecordedAnswer] = field(default_factory=list)
    failed: bool = False
    over_cap: bool = False
    _question: tuple[int, float] | None = None  # the question whose file frames should go to, and when it was asked
    _file: _OpenFile | None = None
    _held_audio: deque[EncodedMedia] = field(default_factory=lambda: deque(maxlen=int(AUDIO_WITHOUT_VIDEO_S * 50)))
    _files_of: dict[int, int] = field(default_factory=dict)
    _written_bytes: int = 0

    def handle(self, command: Command) -> None:
        if self.failed:
            return
        try:
            if command is None:
                self._finish()
            elif isinstance(command, EncodedMedia):
                self._frame(command)
            else:
                _, index, at_s = command
                if self._question is None or self._question[0] != index:
                    self._question = (index, at_s)
        except (av.FFmpegError, OSError, ValueError) as exc:
            self.failed = True
            logger.error("answer recording in %s stopped: %s", self.directory.name, exc)
            self._abandon()

    def _frame(self, media: EncodedMedia) -> None:
        if self._question is None or self.over_cap:
            return  # nothing is kept before the first question
        index, asked_s = self._question
        current = self._file
        # A file that started without video (the camera was silent) gives way to one with it at the next key frame.
        late_video = media.kind == "video" and media.key_frame and current is not None and "video" not in current.streams
        if current is not None and current.question_index == index and not late_video:
            current.write(media)
            self._written_bytes += len(media.data)
            if self._written_bytes > self.max_bytes:
                logger.warning(
                    "answer recording in %s reached its cap of %d bytes; nothing more is kept", self.directory.name, self.max_bytes
                )
                self.over_cap = True
                self._finish()
            return
        # A new question: its file starts at a video key frame (or, without video, at once).
        starts_here = media.kind == "video" and media.key_frame and media.time_s >= asked_s - 0.1
        if media.kind == "audio" and self.expects_video and media.time_s - asked_s < AUDIO_WITHOUT_VIDEO_S:
            if current is not None:
                current.write(media)  # until the new file's key frame comes, the old file keeps the sound
                self._written_bytes += len(media.data)
            else:
                self._held_audio.append(media)
            return
        if media.kind == "video" and not starts_here:
            if current is not None:
                current.write(media)
                self._written_bytes += len(media.data)
            return
        self._finish()
        self._open(index, media if starts_here else None)
        assert self._file is not None
        for held in self._held_audio:
            if held.time_s >= media.time_s - AUDIO_WITHOUT_VIDEO_S:
                self._file.write(held)
        self._held_audio.clear()
        self._file.write(media)
        self._written_bytes += len(media.data)

    @property
    def awaiting_key_frame(self) -> bool:
        """A question's file waits for a video key frame to start with."""
        if not self.expects_video or self._question is None or self.failed or self.over_cap:
            return False
        return self._file is None or self._file.question_index != self._question[0] or "video" not in self._file.streams

    def _open(self, index: int, first_video: EncodedMedia | None) -> None:
        n = self._files_of.get(index, 0)
        self._files_of[index] = n + 1
        suffix = CONTAINERS[first_video.codec if first_video is not None else None][1]
        path = self.create_file(self.directory / f"{self.name(index, n)}{suffix}")
        self._file = _OpenFile(path, index, first_video)

    def _finish(self) -> None:
        if self._file is not None:
            current, self._file = self._file, None
            if (recorded := current.close()) is not None:
                self.finished.append(recorded)

    def _abandon(self) -> None:
        if self._file is not None:
            current, self._file = self._file, None
            with contextlib.suppress(av.FFmpegError, OSError):
                current.container.close()
            current.path.unlink(missing_ok=True)


class AnswerRecorder:
    """One media session's answer files. `write` and `question_asked` are called on the event loop; the files are
    written on a worker thread. `close()` finishes the last file and returns every file it finished."""

    def __init__(
        self,
        files: AnswerFiles,
        ask_for_key_frame: Callable[[], None] = lambda: None,
        queue_frames: int = QUEUE_FRAMES,
    ) -> None:
        self._files = files
        self._ask_for_key_frame = ask_for_key_frame
        self._queue: deque[Command] = deque()
        self._queue_frames = queue_frames
        self._wake = asyncio.Event()
        self._closing = False
        self._key_frame_asked_at = float("-inf")
        self.dropped = 0
        self._writer = asyncio.create_task(self._write_forever(), name=f"answer-recorder-{files.directory.name}")

    @property
    def failed(self) -> bool:
        return self._files.failed

    def write(self, media: EncodedMedia) -> None:
        if self._closing or self._files.failed or self._files.over_cap:
            return
        if len(self._queue) >= self._queue_frames:
            self.dropped += 1  # the disk is behind: this frame is lost to the file, never to the interview
            return
        self._queue.append(media)
        self._wake.set()

    def question_asked(self, index: int, at_s: float) -> None:
        """Frames from `at_s` on belong to question `index` (a repeat for the current question changes nothing)."""
        if self._closing:
            return
        self._queue.append(("question", index, at_s))
        self._wake.set()
        if self._files.expects_video:
            self._ask_again_for_key_frame(force=True)

    def _ask_again_for_key_frame(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._key_frame_asked_at >= KEY_FRAME_ASK_EVERY_S:
            self._key_frame_asked_at = now
            self._ask_for_key_frame()

    async def close(self) -> list[RecordedAnswer]:
        if not self._closing:
            self._closing = True
            self._queue.append(None)
            self._wake.set()
        await asyncio.gather(self._writer, return_exceptions=True)
        return list(self._files.finished)

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            if not self._closing:
                await asyncio.sleep(BATCH_S)  # a tenth of a second's frames per trip to the worker thread, not one each
            self._wake.clear()
            batch = list(self._queue)
            self._queue.clear()
            await loop.run_in_executor(None, self._handle, batch)
            if batch and batch[-1] is None:
                return
            if self._files.awaiting_key_frame:
                self._ask_again_for_key_frame()

    def _handle(self, batch: list[Command]) -> None:
        for command in batch:
            self._files.handle(command)
