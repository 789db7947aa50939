"""A worker's recogniser when its node shares one: each decode goes to the recogniser process over its Unix socket.

It is a `Transcriber` like Whisper itself, called the same way from the worker's decode threads (blocking); each of
those threads keeps one connection and has one request on it at a time. If the recogniser is gone (restarting),
a call fails at once with `RecogniserUnavailable` and the next one connects again.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from realtime_scoring.shared_recogniser.wire import MAX_CLIPS, WireError, decode_results, encode_request, frame, read_frame_blocking
from realtime_scoring.transcription_service import FINAL
from realtime_scoring.whisper.transcriber import Transcript

REPLY_TIMEOUT_S = 120.0  # a batch of beam searches on a strained CPU takes seconds; a recogniser this slow is stuck


class RecogniserUnavailable(RuntimeError):
    """The shared recogniser could not be reached or did not answer."""


class RemoteTranscriber:
    def __init__(self, path: Path, *, timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self.path = path
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()

    def transcribe_batch(
        self, clips: Sequence[np.ndarray], language: str | None = None, prompt: str | None = None, beam_size: int = 1
    ) -> list[Transcript]:
        """Transcripts of `clips`, as Whisper gives them in this process (served as finals are)."""
        return self.transcribe_batch_ordered(clips, language, prompt, beam_size, FINAL)

    def transcribe_batch_ordered(
        self, clips: Sequence[np.ndarray], language: str | None, prompt: str | None, beam_size: int, priority: int
    ) -> list[Transcript]:
        """`transcribe_batch` at `priority` (the transcription service's: finals first, partials last), which is the
        order the recogniser serves its workers' requests in."""
        results: list[Transcript] = []
        for start in range(0, len(clips), MAX_CLIPS):
            part = clips[start : start + MAX_CLIPS]
            try:
                message = encode_request(part, language, prompt, beam_size, priority)
            except WireError as exc:
                raise ValueError(str(exc)) from exc
            header = self._exchange(message)
            if "error" in header:
                if header.get("invalid"):
                    raise ValueError(str(header["error"]))
                raise RecogniserUnavailable(str(header["error"]))
            try:
                results += decode_results(header, len(part))
            except WireError as exc:
                raise RecogniserUnavailable(f"the shared recogniser answered nonsense: {exc}") from exc
        return results

    def server_stats(self) -> dict[str, Any]:
        """The recogniser's own counters (requests, merged batches, the worker processes it has served)."""
        header = self._exchange(frame({"stats": True}))
        stats = header.get("stats")
        if not isinstance(stats, dict):
            raise RecogniserUnavailable("the shared recogniser sent no stats")
        return stats

    def close(self) -> None:
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def _exchange(self, message: bytes) -> dict[str, Any]:
        sock = self._socket()
        try:
            sock.sendall(message)
            header, _ = read_frame_blocking(sock)
        except (OSError, WireError) as exc:
            self._drop(sock)
            raise RecogniserUnavailable(f"the shared recogniser at {self.path} did not answer: {exc}") from exc
        return header

    def _socket(self) -> socket.socket:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is not None:
            return sock
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout_s)
        try:
            sock.connect(str(self.path))
        except OSError as exc:
            sock.close()
            raise RecogniserUnavailable(f"the shared recogniser at {self.path} is not there: {exc}") from exc
        self._local.sock = sock
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _drop(self, sock: socket.socket) -> None:
        self._local.sock = None
        with self._lock:
            self._sockets.discard(sock)
        sock.close()
