"""The shared recogniser's messages on its Unix socket: a frame is two lengths (big-endian uint32: the JSON header's,
then the binary payload's), the header, and the payload.

    request: {"language", "prompt", "beam_size", "priority", "clips": [samples per clip]} + the clips' float32 samples
    reply:   {"results": [{"text", "language", "segments": [[start_s, end_s, text]], "avg_logprob", "no_speech_prob"}]}
             or {"error": what went wrong, "invalid": true when the request itself was at fault}
    stats:   {"stats": true} -> {"stats": {...}}

Every length is checked before anything is read into memory: a client (a worker of this node) that sends garbage
gets an error reply and its connection closed, and nobody else notices.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from realtime_scoring.whisper.transcriber import Segment, Transcript

FRAME = struct.Struct(">II")
MAX_HEADER_BYTES = 64 * 1024
MAX_CLIPS = 16  # a worker's batches are 8 clips at most
SAMPLE_RATE = 16_000
MAX_CLIP_SAMPLES = 31 * SAMPLE_RATE  # the recogniser reads 30 s of a clip; a little over is allowed, more is not
MAX_PAYLOAD_BYTES = MAX_CLIPS * MAX_CLIP_SAMPLES * 4
MAX_PROMPT_CHARS = 2_000


class WireError(ValueError):
    """A frame that breaks the protocol or its limits."""


@dataclass(frozen=True)
class Request:
    clips: list[np.ndarray]
    language: str | None
    prompt: str | None
    beam_size: int
    priority: int


def frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    if len(head) > MAX_HEADER_BYTES:
        raise WireError(f"a header of {len(head)} bytes is over {MAX_HEADER_BYTES}")
    return FRAME.pack(len(head), len(payload)) + head + payload


def encode_request(clips: Sequence[np.ndarray], language: str | None, prompt: str | None, beam_size: int, priority: int) -> bytes:
    if not 1 <= len(clips) <= MAX_CLIPS:
        raise WireError(f"a request holds 1 to {MAX_CLIPS} clips, not {len(clips)}")
    samples = [np.ascontiguousarray(clip, dtype=np.float32).reshape(-1) for clip in clips]
    if any(len(s) > MAX_CLIP_SAMPLES for s in samples):
        raise WireError(f"a clip is longer than {MAX_CLIP_SAMPLES} samples")
    header = {"language": language, "prompt": prompt, "beam_size": beam_size, "priority": priority, "clips": [len(s) for s in samples]}
    return frame(header, b"".join(s.tobytes() for s in samples))


def parse_header(head: bytes) -> dict[str, Any]:
    try:
        header = json.loads(head)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError("the header is not JSON") from exc
    if not isinstance(header, dict):
        raise WireError("the header is not a JSON object")
    return header


def check_lengths(head_bytes: int, payload_bytes: int) -> None:
    if head_bytes > MAX_HEADER_BYTES:
        raise WireError(f"a header of {head_bytes} bytes is over {MAX_HEADER_BYTES}")
    if payload_bytes > MAX_PAYLOAD_BYTES:
        raise WireError(f"a payload of {payload_bytes} bytes is over {MAX_PAYLOAD_BYTES}")


def decode_request(header: dict[str, Any], payload: bytes) -> Request:
    """The request a header and payload hold, every field checked."""
    counts = header.get("clips")
    if not isinstance(counts, list) or not 1 <= len(counts) <= MAX_CLIPS:
        raise WireError(f"clips must list 1 to {MAX_CLIPS} sample counts")
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_CLIP_SAMPLES for n in counts):
        raise WireError(f"each clip holds 1 to {MAX_CLIP_SAMPLES} samples")
    if sum(counts) * 4 != len(payload):
        raise WireError("the payload's length does not match the clips'")
    language, prompt = header.get("language"), header.get("prompt")
    if language is not None and (not isinstance(language, str) or len(language) > 8):
        raise WireError("language must be a language code or null")
    if prompt is not None and (not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS):
        raise WireError(f"prompt must be text of at most {MAX_PROMPT_CHARS} characters or null")
    beam_size, priority = header.get("beam_size"), header.get("priority")
    if not isinstance(beam_size, int) or isinstance(beam_size, bool) or not 1 <= beam_size <= 8:
        raise WireError("beam_size must be 1 to 8")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9:
        raise WireError("priority must be 0 to 9")
    samples = np.frombuffer(payload, dtype=np.float32)
    if not np.isfinite(samples).all():
        raise WireError("the samples must be finite")
    clips, at = [], 0
    for n in counts:
        clips.append(samples[at : at + n])
        at += n
    return Request(clips, language, prompt, beam_size, priority)


def encode_results(results: Sequence[Transcript]) -> bytes:
    return frame(
        {
            "results": [
                {
                    "text": r.text,
                    "language": r.language,
                    "segments": [[float(s[0]), float(s[1]), str(s[2])] for s in r.segments],
                    "avg_logprob": float(r.avg_logprob),
                    "no_speech_prob": float(r.no_speech_prob),
                }
                for r in results
            ]
        }
    )


def decode_results(header: dict[str, Any], expected: int) -> list[Transcript]:
    results = header.get("results")
    if not isinstance(results, list) or len(results) != expected:
        raise WireError(f"expected {expected} results")
    try:
        return [
            Transcript(
                str(r["text"]),
                str(r["language"]),
                [Segment(float(s[0]), float(s[1]), str(s[2])) for s in r["segments"]],
                [],
                float(r["avg_logprob"]),
                float(r["no_speech_prob"]),
            )
            for r in results
        ]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise WireError("a result is malformed") from exc


def read_frame_blocking(sock: socket.socket) -> tuple[dict[str, Any], bytes]:
    """One frame from a blocking socket (the client's side)."""
    head_bytes, payload_bytes = FRAME.unpack(_recv_exactly(sock, FRAME.size))
    check_lengths(head_bytes, payload_bytes)
    header = parse_header(_recv_exactly(sock, head_bytes))
    return header, _recv_exactly(sock, payload_bytes)


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    buffer = bytearray(count)
    view, got = memoryview(buffer), 0
    while got < count:
        n = sock.recv_into(view[got:], count - got)
        if n == 0:
            raise ConnectionError("the recogniser closed the connection")
        got += n
    return bytes(buffer)
