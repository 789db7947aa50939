"""The node's shared recogniser process, and the supervisor's part in keeping it.

    supervisor ─starts─▶ recogniser (Whisper, once for the node) ◀─Unix socket─ worker 1 … worker N

`serve --workers N` starts it before the workers (they wait for it instead of each loading Whisper) and restarts it
if it dies; meanwhile the workers' decodes fail at once and their interviews go on without those transcripts. It
lives until the supervisor closes its lifeline (after the last worker has drained), or the supervisor dies: signals
sent to the whole process group do not stop it while the workers it serves are still finishing their interviews.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from realtime_scoring.engine import CUDA, EngineConfig, available_providers, limit_blas_threads
from realtime_scoring.pipeline import load_whisper
from realtime_scoring.shared_recogniser.server import RecogniserServer
from server.settings import Settings

logger = logging.getLogger(__name__)

LIFELINE_ENV = "INTERVIEW_RECOGNISER_LIFELINE_FD"
READY_TIMEOUT_S = 300.0  # hash-checking and loading the model on a slow disk
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)


def shares_recogniser(settings: Settings, workers: int) -> bool:
    """Whether a node of `workers` runs one recogniser for them: asked for, or (auto) when Whisper runs on a GPU,
    which one process feeds best. On a CPU node each worker's own scales with the cores, where one process's Python
    holds it to about six (`loadtests/capacity_model.py`)."""
    if not settings.scoring or workers < 2 or settings.shared_recogniser == "off":
        return False
    return settings.shared_recogniser == "on" or (settings.device != "cpu" and CUDA in available_providers())


async def serve_recogniser(settings: Settings, socket_path: Path, lifeline_fd: int) -> None:
    """Load Whisper, serve the workers on `socket_path` until the lifeline closes."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)  # the supervisor decides, through the lifeline
    limit_blas_threads()
    config = EngineConfig(device=settings.device, intra_op_threads=settings.inference_threads)
    # It decodes for every worker: a decode a core (a worker stops at 4). Its Python between the model's calls holds the
    # GIL for 10-22 % of a decode (greedy to beam 5, measured 2026-12-06), which bounds it near 5-6 cores of decoding on
    # a CPU node; on a GPU node it feeds one device, and batching, not threads, is what counts.
    cores = len(os.sched_getaffinity(0))
    transcriber, threads = await asyncio.to_thread(load_whisper, settings.models_path, config, settings.whisper_encoder, cores)
    server = RecogniserServer(transcriber, threads=threads)
    await server.start(socket_path)
    logger.info("shared recogniser: %d decode threads on %s", threads, socket_path)
    try:
        await _until_closed(lifeline_fd)
    finally:
        await server.close()


async def _until_closed(fd: int) -> None:
    loop = asyncio.get_running_loop()
    closed = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            data = b""
        if not data and not closed.done():
            closed.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await closed
    finally:
        loop.remove_reader(fd)


@dataclass
class SharedRecogniser:
    """The supervisor's handle: where the socket is, and the process behind it (started again after a failure)."""

    settings: Settings
    socket_path: Path
    private_dir: Path | None  # made here, removed at the end
    args: tuple[str, ...] = ()  # the command line's, as the workers get them (log levels)
    process: asyncio.subprocess.Process | None = None
    lifeline: int | None = None
    failures: int = 0

    @classmethod
    def for_node(cls, settings: Settings, args: list[str]) -> SharedRecogniser:
        if settings.recogniser_socket is not None:
            return cls(settings, settings.recogniser_socket, None, tuple(args))
        private = Path(tempfile.mkdtemp(prefix="interview-recogniser-"))  # 0700: only the service user enters
        return cls(settings, private / "recogniser.sock", private, tuple(args))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["INTERVIEW_RECOGNISER_SOCKET"] = str(self.socket_path)
        if self.settings.inference_threads == 0:
            env["INTERVIEW_INFERENCE_THREADS"] = "1"  # single-threaded decodes side by side, one a core
        return env

    async def start(self) -> None:
        read_end, write_end = os.pipe()
        os.set_inheritable(write_end, False)
        env = self.env()
        env[LIFELINE_ENV] = str(read_end)
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "server.cli", "recogniser", *self.args, env=env, pass_fds=(read_end,)
            )
        finally:
            os.close(read_end)
        self.lifeline = write_end
        logger.info("shared recogniser started (pid %d)", self.process.pid)

    async def ready(self, timeout_s: float = READY_TIMEOUT_S) -> bool:
        """True once the socket takes connections; False if the process exits or `timeout_s` passes first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.returncode is not None:
                return False
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_unix_connection(str(self.socket_path))
                writer.close()
                return True
            await asyncio.sleep(0.1)
        return False

    async def keep(self, stop: asyncio.Event) -> None:
        """Start it, and start it again whenever it dies, until `stop`."""
        while True:
            await self.start()
            assert self.process is not None
            started = time.monotonic()
            code = await self.process.wait()
            self._close_lifeline()
            if stop.is_set():
                return
            self.failures = 0 if time.monotonic() - started > 60 else self.failures + 1
            delay = RESTART_BACKOFF_S[min(self.failures, len(RESTART_BACKOFF_S) - 1)]
            logger.error("shared recogniser exited with %s; starting it again in %.0f s", code, delay)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Close the lifeline (the recogniser exits), wait a little, then make sure; remove the private directory."""
        self._close_lifeline()
        if self.process is not None and self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self.private_dir is not None:
            self.socket_path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.private_dir.rmdir()

    def _close_lifeline(self) -> None:
        if self.lifeline is not None:
            os.close(self.lifeline)
            self.lifeline = None
