"""How many interviews one node carries: synthetic candidates over real WebRTC, ramped until the node falls behind.

    interview-load [--sessions 1 2 4 8] [--step-seconds 40] [--fps 15] [--no-baseline] [--phase-locked] [--admission]
                   [--soak SECONDS] [--out DIR]

Each candidate is an aiortc client that schedules an interview through the HR API, joins by its invite,
and publishes a pre-encoded WebM (Opus speech answers with pauses, VP8 640x480 of a face at 15 fps as the
candidate page sends, or `--fps`) without re-encoding (`MediaPlayer(decode=False)`), so the clients stay
cheap. The server runs as its own process (`interview-server serve`), measured with psutil. Per step (N
candidates, their starts spread over one answer's period as independent interviews' would be;
`--phase-locked` starts them together) it records join time, time to the first question, first-partial lag after speech start, final-transcript lag after end of speech
(the VAD's 0.4 s closing silence included, as `loadtests/bench_pipeline.py` counts it), video and audio
frames the server decoded per second per session, drops, errors, server CPU and memory, the server's CPU by
thread role (event loop, media decoders, each model; from its /metrics) and how many decodes Whisper ran.

Capacity is the largest N at which every session kept ≥ 90 % of the source frame rate, no audio was dropped
for analysis falling behind, and the final lag p95 stayed ≤ 1.5 s. The same invocation runs a baseline with scoring and recording off (receive and decode only), so the
result is also a ratio that holds on a noisy machine: the two servers run side by side and their steps take turns
(each after both servers have gone quiet), so a machine that slows down during the run weighs on both. With INTERVIEW_REDIS_URL set the server keeps its interviews in
that Redis, and the run also reports the Redis memory they take per minute of interview. Writes
interview_load.json and interview_load.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import onnxruntime
import psutil
import redis
from aiortc.contrib.media import MediaPlayer
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from loadtests.whip_client import WhipPublisher, WhipRejected, give_consent
from server.rtc.ice import advertise_host_addresses
from server.settings import Settings
from server.storage.redis_client import Keys
from server.workers.recogniser import shares_recogniser

API_KEY = "load-test-key-0123456789abcdef"
SOURCE_FPS = 15  # what the candidate page sends (frontend/candidate/device-check.js, VIDEO_FPS)
FULL_RATE = 0.9
QUIET_CPU_PERCENT = 15.0  # an idle server with the models loaded uses a few percent (timers, probes)
MEASURE_MARGIN_S = 2.0  # a step's server figures are read this long before its candidates hang up
LAG_TARGET_S = 1.5
VAD_CLOSING_SILENCE_S = 0.4
ANSWERS = [
    "I have worked as a backend engineer for six years, mostly on payment systems. I'm done.",
    "I would put a load balancer in front of the servers, and add more servers when traffic grows. I'm done.",
    "First I would look at the metrics and the logs, and then roll back the last release. I'm done.",
]
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """CPU cores, and the GPU that onnxruntime would use, in words."""
    words = f"{os.cpu_count()} CPU cores"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        gpus = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"], check=True, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if gpus:
            words += f"; GPU {gpus}"
    return words


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def astronaut_png() -> Path | None:
    """scikit-image's public-domain portrait, when installed (the tests install it); else a test pattern is used."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "data" / "astronaut.png"
    return path if path.exists() else None


@dataclass(frozen=True)
class Recording:
    """What every synthetic candidate publishes."""

    path: Path
    answer_period_s: float  # mean time from one answer's start to the next's
    fps: int


MEDIA_TOOLS = ("espeak-ng", "sox", "soxi", "ffmpeg")


def make_recording(workdir: Path, face: Path | None, min_seconds: float, fps: int = SOURCE_FPS) -> Recording:
    """Answers that end with a closing phrase ("I'm done") and 3 s pauses, with a moving face, encoded once and long
    enough for a whole step: aiortc's player paces a looped file badly (it bursts after the first pass)."""
    parts = []
    for i, text in enumerate(ANSWERS):
        raw, padded = workdir / f"a{i}.raw.wav", workdir / f"a{i}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), text], check=True, capture_output=True)
        subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", str(padded), "pad", "0.5", "3.0"], check=True)
        parts.append(str(padded))
    one_pass = sum(float(subprocess.run(["soxi", "-D", p], check=True, capture_output=True, text=True).stdout) for p in parts)
    speech = workdir / "speech.wav"
    subprocess.run(["sox", *(parts * max(1, int(min_seconds / one_pass) + 1)), str(speech)], check=True)
    seconds = float(subprocess.run(["soxi", "-D", str(speech)], check=True, capture_output=True, text=True).stdout)
    if face is None:
        video_input = ["-f", "lavfi", "-i", f"testsrc2=size=640x480:rate={fps}"]
    else:
        crop = "crop=w=384:h=288:x='64+24*sin(2*t)':y='20+8*cos(3*t)',scale=640:480,format=yuv420p"
        video_input = ["-loop", "1", "-framerate", str(fps), "-i", str(face), "-vf", crop]
    out = workdir / "candidate.webm"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(speech),
            *video_input,
            "-t",
            f"{seconds:.2f}",
            "-r",
            str(fps),
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
            "-c:v",
            "libvpx",
            "-b:v",
            "600k",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-g",
            "60",
            str(out),
        ],
        check=True,
    )
    return Recording(out, one_pass / len(ANSWERS), fps)


def kept_recording(path: Path, face: Path | None, min_seconds: float, fps: int) -> Recording:
    """The recording at `path` (with its answer period in `path`.json), made there first if it is not yet: a machine
    without espeak-ng, sox and ffmpeg (a GPU node) runs on a recording made elsewhere."""
    sidecar = path.with_name(path.name + ".json")
    if path.exists() and sidecar.exists():
        facts = json.loads(sidecar.read_text())
        if facts["fps"] != fps or facts["seconds"] < min_seconds:
            raise SystemExit(
                f"error: {path} is {facts['seconds']:.0f} s at {facts['fps']} fps; this run needs {min_seconds:.0f} s at {fps}"
            )
        return Recording(path, facts["answer_period_s"], fps)
    with tempfile.TemporaryDirectory() as tmp:
        made = make_recording(Path(tmp), face, min_seconds, fps)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made.path, path)
    sidecar.write_text(json.dumps({"answer_period_s": made.answer_period_s, "fps": fps, "seconds": min_seconds}) + "\n")
    return Recording(path, made.answer_period_s, fps)


@dataclass
class SessionLog:
    index: int
    started: float = 0.0
    connected_at: float | None = None
    first_question_at: float | None = None
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fps: float | None = None
    audio_chunks_per_s: float | None = None
    audio_dropped: int = 0  # 32 ms chunks the analysis fell too far behind to take (lost to transcription)
    video_dropped: int = 0  # sampled frames likewise (lost to face and emotion analysis)
    refused: int = 0  # offers the node refused for load (503 node_busy or node_full), each retried after Retry-After

    def lags(self) -> tuple[list[float], list[float]]:
        """(first-partial lags after speech start, final lags after end of speech), from the page's view."""
        partials, finals = [], []
        started_at: float | None = None
        partial_seen = False
        for at, message in self.events:
            if message["type"] == "speech" and message["state"] == "started":
                started_at, partial_seen = at, False
            elif message["type"] == "caption" and not message["final"] and started_at is not None and not partial_seen:
                partials.append(at - started_at)
                partial_seen = True
            elif message["type"] == "speech" and message["state"] == "ended":
                speech_end = at - VAD_CLOSING_SILENCE_S
                final_at = next((a for a, m in self.events if a >= at and m["type"] == "caption" and m["final"]), None)
                if final_at is not None:
                    finals.append(final_at - speech_end)
        return partials, finals


class ServerProcess:
    def __init__(self, data_dir: Path, scoring: bool, model_dir: Path | None, admission: bool = False, workers: int = 1) -> None:
        self.port = free_port()
        self.workers = workers
        self.admission = admission
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "INTERVIEW_PORT": str(self.port),
            "INTERVIEW_DATA_DIR": str(data_dir),
            "INTERVIEW_API_KEYS": API_KEY,
            "INTERVIEW_SCORING": "true" if scoring else "false",
            "INTERVIEW_ICE_HOST_ADDRESSES": "127.0.0.1",
            "INTERVIEW_ICE_ALLOWED_NETWORKS": "127.0.0.0/8",
            "INTERVIEW_HR_RATE_LIMIT_PER_S": "1000",
            "INTERVIEW_MAX_LIVE_SESSIONS": "256",
            # A capacity ramp measures where the node falls behind, so by default it admits everything offered;
            # with `admission` it refuses what it cannot carry, as in production, and the ramp shows what that keeps.
            "INTERVIEW_ADMISSION_CONTROL": "true" if admission else "false",
            "INTERVIEW_WORKERS": str(workers),
        }
        if not scoring:  # the bare baseline: receive and decode (and the level meter), no scoring and no recording
            env["INTERVIEW_RECORDING"] = "false"
        if model_dir is not None:
            env["INTERVIEW_MODEL_DIR"] = str(model_dir)
        # The dashboard's browser libraries, if prepared here; the load test needs none of them.
        env.setdefault("INTERVIEW_ASSET_DIR", str(Path("data/assets").resolve()))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL
        )
        self.ps = psutil.Process(self.process.pid)
        self._tree: dict[int, psutil.Process] = {}

    def processes(self) -> list[psutil.Process]:
        """The server and, on a node of several workers, each worker; the same objects each time (CPU is measured
        between two calls on one object)."""
        found = [self.ps, *self.ps.children(recursive=True)]
        self._tree = {p.pid: self._tree.get(p.pid, p) for p in found}
        return list(self._tree.values())

    def cpu_percent(self) -> float:
        """Percent of one core since the last call, the node's processes together."""
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                total += process.cpu_percent()
        return total

    def recogniser_cpu_s(self) -> float:
        """CPU seconds of the node's shared recogniser process (none without one): it serves no metrics of its own."""
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                if "recogniser" in process.cmdline():
                    times = process.cpu_times()
                    total += times.user + times.system
        return total

    def rss(self) -> int:
        total = 0
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    async def ready(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError("the server exited")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError("the server did not become ready")

    async def quiet(self, below_percent: float = QUIET_CPU_PERCENT, timeout: float = 30.0) -> None:
        """Wait (up to `timeout`) until the server's CPU falls below `below_percent`: interviews of the last step
        finishing (final transcripts, reports) must not count against the next step, on this server or another."""
        await asyncio.sleep(2.0)  # the last step's sessions close
        deadline = time.monotonic() + timeout
        with contextlib.suppress(psutil.Error):
            self.cpu_percent()
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                if self.cpu_percent() < below_percent * self.workers:
                    return

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def run_candidate(
    server_url: str,
    http: httpx.AsyncClient,
    log: SessionLog,
    recording: Path,
    stop: asyncio.Event,
    delay_s: float = 0.0,
    captions: bool = True,
) -> None:
    await asyncio.sleep(delay_s)
    body = {
        "job": {"title": "Backend engineer", "role": "backend_engineer", "language": "en"},
        "candidate": {"name": f"Load candidate {log.index}"},
        "mode": "video",
        "max_questions": 50,
        "time_budget_minutes": 60,
    }
    created = (await http.post(f"{server_url}/api/v1/interviews", json=body, headers={"X-API-Key": API_KEY})).json()
    interview_id, token = created["interview"]["id"], created["invite_token"]
    await give_consent(http, f"{server_url}/api/v1/interviews/{interview_id}", token)
    ws_url = server_url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}"
    publisher = WhipPublisher(server_url, interview_id, token, http)
    log.started = time.monotonic()
    async with connect(ws_url, max_size=1 << 20) as ws:

        async def receive() -> None:
            async for raw in ws:
                message = json.loads(raw)
                now = time.monotonic()
                log.events.append((now, message))
                if message["type"] == "media" and message["state"] == "connected" and log.connected_at is None:
                    log.connected_at = now
                if message["type"] == "question" and log.first_question_at is None:
                    log.first_question_at = now

        receiver = asyncio.create_task(receive())
        # The server decodes partial captions only while someone reads them: this candidate's page shows them or not.
        await ws.send(json.dumps({"v": 1, "type": "captions", "on": captions}))
        stage = "publishing"
        try:
            while True:
                player = MediaPlayer(str(recording), decode=False)
                try:
                    await publisher.publish([player.audio, player.video], video_codec="video/VP8")
                    break
                except WhipRejected as exc:
                    for track in (player.audio, player.video):  # the player's thread ends with its last track
                        if track is not None:
                            track.stop()
                    if not exc.node_busy:
                        raise
                    retry_after_s = exc.retry_after_s or 5.0
                # No room on the node: wait what it asked, jittered as the candidate page does, and offer again.
                log.refused += 1
                await publisher.close()
                publisher = WhipPublisher(server_url, interview_id, token, http)
                wait_s = retry_after_s * random.uniform(0.75, 1.25)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait_s)
                if stop.is_set():
                    return  # never admitted in this step
            stage = "live"
            await stop.wait()
            stage = "reading the interview's media stats"
            asked = time.monotonic()
            state = (await http.get(f"{server_url}/api/v1/interviews/{interview_id}", headers={"X-API-Key": API_KEY})).json()
            # The server read its counters some time during the request: take the middle, so a slow answer under
            # load does not count as frames missing.
            elapsed = (asked + time.monotonic()) / 2 - (log.connected_at or log.started)
            stats = (state.get("media") or {}).get("stats") or {}
            log.fps = stats.get("video_frames", 0) / elapsed if elapsed > 0 else None
            log.audio_chunks_per_s = stats.get("audio_chunks", 0) / elapsed if elapsed > 0 else None
            log.audio_dropped = stats.get("audio_chunks_dropped", 0)
            log.video_dropped = stats.get("video_frames_dropped", 0)
        except Exception as exc:  # noqa: BLE001 - a failing candidate is a result, not a crash
            log.errors.append(f"{stage}: {type(exc).__name__}: {exc}")
        finally:
            receiver.cancel()
            await publisher.close()


def with_captions(index: int, share: float) -> bool:
    """Whether candidate `index` reads live captions, so that `share` of every run of candidates does (evenly spread)."""
    return int((index + 1) * share) > int(index * share)


def candidate_worker(
    server_url: str, indices: list[int], delays: list[float], recording: Path, deadline: float, captions_share: float = 1.0
) -> list[SessionLog]:
    """One client process: its candidates, each starting after its delay, until `deadline` (time.monotonic is one
    clock for all processes); `captions_share` of them read live captions."""

    async def run() -> list[SessionLog]:
        # The candidates offer the loopback address the server listens on (aioice never offers loopback itself).
        advertise_host_addresses(["127.0.0.1"])
        logs = [SessionLog(i) for i in indices]
        stop = asyncio.Event()
        async with httpx.AsyncClient(timeout=30) as http:
            tasks = [
                asyncio.create_task(run_candidate(server_url, http, log, recording, stop, delay, with_captions(log.index, captions_share)))
                for log, delay in zip(logs, delays, strict=True)
            ]
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        return logs

    return asyncio.run(run())


# With admission on, candidates arrive over two answer periods (see start_delays).
ADMISSION_ROUNDS = 2


def start_delays(n: int, answer_period_s: float, phase_locked: bool, rounds: int = 1) -> list[float]:
    """When each of N candidates starts its recording. Interviews on one node are independent, so by default
    their answers are spread evenly over one answer's period, as independent arrivals would be on average;
    `phase_locked` starts them together, so every answer ends at the same instant on every session (the
    worst case for the recogniser's queue).

    With `rounds` > 1 they arrive over that many periods, each round's phases falling between the last's: a node
    that admits only the first arrivals then still has their answers spread over the period (with one round, the
    first K of N answer within K/N of it, bunched as independent interviews are not)."""
    if phase_locked:
        return [0.0] * n
    per_round = -(-n // rounds)
    return [
        (i // per_round) * answer_period_s + (i % per_round + (i // per_round) / rounds) * answer_period_s / per_round for i in range(n)
    ]


async def run_step(
    server: ServerProcess,
    n: int,
    seconds: float,
    recording: Recording,
    per_process: int,
    phase_locked: bool = True,
    captions_share: float = 1.0,
) -> dict[str, Any]:
    """N candidates, spread over client processes: one Python process cannot drive many WebRTC streams at full
    rate (it tops out at one core), and the server is what is being measured. CPU and memory are sampled once
    every candidate has started."""
    cpu, rss, loads = [], [], []
    delays = start_delays(n, recording.answer_period_s, phase_locked, rounds=ADMISSION_ROUNDS if server.admission else 1)
    indices = list(range(n))
    groups = [indices[i : i + per_process] for i in range(0, n, per_process)]
    all_started = time.monotonic() + 3.0 + max(delays)  # client processes take a moment to import aiortc
    deadline = all_started + seconds
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            loop.run_in_executor(
                pool, candidate_worker, server.url, group, [delays[i] for i in group], recording.path, deadline, captions_share
            )
            for group in groups
        ]
        await asyncio.sleep(max(0.0, all_started - time.monotonic()))
        server.cpu_percent()
        before, measured_from = await scrape(server.url, server.workers), time.monotonic()
        before["cpu:recogniser"] = server.recogniser_cpu_s()
        # The step's figures close a moment before the candidates hang up: a session's decoder threads end with it,
        # and the server's per-thread CPU can only count threads that are still there when it is read.
        async with httpx.AsyncClient(timeout=5) as readings:  # the node's own load, read once a second
            while time.monotonic() < deadline - MEASURE_MARGIN_S:
                await asyncio.sleep(1.0)
                cpu.append(server.cpu_percent())
                rss.append(server.rss())
                if (load := await node_load(readings, server.url)) is not None:
                    loads.append(load)
        after, measured_s = await scrape(server.url, server.workers), time.monotonic() - measured_from
        after["cpu:recogniser"] = server.recogniser_cpu_s()
        if not after["cpu:recogniser"]:
            del before["cpu:recogniser"], after["cpu:recogniser"]
        logs = [log for group in await asyncio.gather(*futures) for log in group]
    partials = [lag for log in logs for lag in log.lags()[0]]
    finals = [lag for log in logs for lag in log.lags()[1]]
    fps = [log.fps for log in logs if log.fps is not None]

    def pct(values: list[float], q: float) -> float | None:
        return (
            round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)
            if len(values) >= 2
            else (round(values[0], 3) if values else None)
        )

    never_admitted = sum(1 for log in logs if log.refused and log.connected_at is None)
    joins = [log.connected_at - log.started for log in logs if log.connected_at is not None]
    firsts = [log.first_question_at - log.started for log in logs if log.first_question_at is not None]
    return {
        "sessions": n,
        # With admission control: offers the node refused for load (each retried after its Retry-After), and the
        # candidates never admitted in the step; every other figure is of the admitted sessions.
        "offers_refused": sum(log.refused for log in logs),
        "never_admitted": never_admitted,
        "join_s_p50": pct(joins, 50),
        "first_question_s_p50": pct(firsts, 50),
        "first_partial_lag_s_p50": pct(partials, 50),
        "final_lag_s_p50": pct(finals, 50),
        "final_lag_s_p95": pct(finals, 95),
        "finals": len(finals),
        "video_fps_min": round(min(fps), 1) if fps else None,
        "video_fps_mean": round(statistics.fmean(fps), 1) if fps else None,
        "audio_chunks_per_s_mean": round(statistics.fmean([log.audio_chunks_per_s for log in logs if log.audio_chunks_per_s]), 1)
        if any(log.audio_chunks_per_s for log in logs)
        else None,
        "audio_chunks_dropped": sum(log.audio_dropped for log in logs),
        "sampled_frames_dropped": sum(log.video_dropped for log in logs),
        "errors": [e for log in logs for e in log.errors],
        "server_cpu_percent_mean": round(statistics.fmean(cpu), 1) if cpu else None,
        "server_rss_mb_max": round(max(rss) / 2**20, 1) if rss else None,
        "node_load": load_summary(loads),
        **loop_lag_during(before, after),
        "model_busy_percent_of_core": model_busy_during(before, after, measured_s),
        "server_cpu_percent_of_core_by_thread": (by_thread := per_second_during(before, after, measured_s, "cpu:")),
        "server_cpu_percent_of_core_per_session": per_session_cpu(by_thread, n - never_admitted),
        "whisper_decodes": {key[8:]: int(after[key] - before.get(key, 0)) for key in sorted(after) if key.startswith("decodes:")},
    }


async def node_load(http: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    """The node's own view of its load (level, limit, and the signals behind them), from /api/v1/nodes."""
    try:
        nodes = (await http.get(f"{url}/api/v1/nodes", headers={"X-API-Key": API_KEY})).json()["nodes"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    node: dict[str, Any] = nodes[0]
    return node


def load_summary(loads: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds at each load level over a step, the highest each signal read, and the session limit at its end."""
    if not loads or "load_level" not in loads[0]:
        return {}
    levels = [load["load_level"] for load in loads]
    return {
        "seconds_by_level": {level: levels.count(level) for level in ("ok", "strained", "behind") if level in levels},
        "loop_lag_s_max": max(load["loop_lag_s"] for load in loads),
        "final_wait_s_max": max(load["final_wait_s"] for load in loads),
        "recogniser_busy_max": max(load["recogniser_busy"] for load in loads),
        "recogniser_busy_mean": round(statistics.fmean(load["recogniser_busy"] for load in loads), 3),
        "session_limit_at_end": loads[-1]["session_limit"],
        **(
            {
                "cpu_session_capacity_min": min(load["cpu_session_capacity"] for load in loads),
                "cpu_busy_cores_max": max(load["cpu_busy_cores"] for load in loads),
                "cpu_cores_per_session_at_end": loads[-1]["cpu_cores_per_session"],
                "cpu_cost_measured_at_end": loads[-1]["cpu_cost_measured"],
            }
            if "cpu_session_capacity" in loads[-1]
            else {}
        ),
    }


DECODE_COUNTERS = {
    f"interview_transcription_{kind}"
    for kind in ("finals", "early", "scored", "partials", "partials_superseded", "partials_shed", "batches")
}


async def scrape(url: str, workers: int = 1) -> dict[str, float]:
    """The server's counters this step compares: the event-loop lag histogram (cumulative bucket counts by
    upper bound, plus sum and count) and each model's busy seconds; none when an overloaded server does not
    answer in time (the step's other figures say why). On a node of several workers, each worker's figures
    (`/metrics?worker=N`) added up."""
    values: dict[str, float] = {}
    for index in range(workers):
        for key, value in (await scrape_one(url + (f"/metrics?worker={index}" if workers > 1 else "/metrics"))).items():
            values[key] = values.get(key, 0.0) + value
    return values


async def scrape_one(metrics_url: str) -> dict[str, float]:
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            text = (await http.get(metrics_url)).text
    except httpx.HTTPError:
        return {}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if family.name == "interview_event_loop_lag_seconds":
                key = sample.labels["le"] if sample.name.endswith("_bucket") else sample.name.rsplit("_", 1)[-1]
                values[f"loop:{key}"] = sample.value
            elif family.name == "interview_model_run_seconds":
                values[f"busy:{sample.labels['model']}"] = sample.value
            elif family.name == "interview_transcription_busy_seconds":
                values["busy:whisper"] = sample.value
            elif family.name in DECODE_COUNTERS:
                values[f"decodes:{family.name.removeprefix('interview_transcription_')}"] = sample.value
            elif family.name == "interview_thread_cpu_seconds":
                values[f"cpu:{sample.labels['role']}"] = sample.value
    return values


def loop_lag_during(before: dict[str, float], after: dict[str, float]) -> dict[str, float | None]:
    """Mean and p95 (the bucket bound it falls under) of the loop lag between two readings."""
    count = after.get("loop:count", 0) - before.get("loop:count", 0)
    if count <= 0 or "loop:sum" not in after:
        return {"event_loop_lag_s_mean": None, "event_loop_lag_s_p95_bucket": None}
    bounds = sorted(
        (float(key[5:]), after[key] - before.get(key, 0))
        for key in after
        if key.startswith("loop:") and key not in ("loop:sum", "loop:count")
    )
    p95 = next((bound for bound, n in bounds if n >= 0.95 * count), None)
    return {
        "event_loop_lag_s_mean": round((after["loop:sum"] - before.get("loop:sum", 0)) / count, 4),
        "event_loop_lag_s_p95_bucket": p95,
    }


def model_busy_during(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Each model's busy time (wall clock, waits for a core included) between two readings, as a percentage of
    one core over `seconds` (a decode on several workers at once counts each)."""
    return per_second_during(before, after, seconds, "busy:")


# The models' threads (and the node's shared recogniser, a process of its own); the rest is receiving, decoding,
# recording, events.
MODEL_THREADS = ("infer-", "transcribe", "recogniser")


def per_session_cpu(by_thread: dict[str, float], sessions: int) -> dict[str, float]:
    """Server CPU per live session (percent of a core), split into the models' threads and everything else:
    what an interview costs beyond the bare baseline, and what it shares with it."""
    if not by_thread or sessions <= 0:
        return {}
    models = sum(v for role, v in by_thread.items() if role.startswith(MODEL_THREADS))
    return {"models": round(models / sessions, 2), "media_and_rest": round((sum(by_thread.values()) - models) / sessions, 2)}


def per_second_during(before: dict[str, float], after: dict[str, float], seconds: float, prefix: str) -> dict[str, float]:
    """How much each counter named `prefix`... grew between two readings, as a percentage of `seconds`."""
    return {
        key[len(prefix) :]: round(100 * (after[key] - before.get(key, 0.0)) / seconds, 1)
        for key in sorted(after)
        if key.startswith(prefix) and seconds > 0
    }


def keeps_up(step: dict[str, Any], scoring: bool, fps: float = SOURCE_FPS) -> bool:
    full_rate = (
        step["video_fps_min"] is not None
        and step["video_fps_min"] >= FULL_RATE * fps
        and not step["errors"]
        and step["audio_chunks_dropped"] == 0  # audio the recogniser never heard is an answer lost, whatever the lag
    )
    if not scoring:
        return full_rate
    return full_rate and step["final_lag_s_p95"] is not None and step["final_lag_s_p95"] <= LAG_TARGET_S


@dataclass
class Ramp:
    """One server's steps, smallest N first, until two steps in a row fall behind (larger ones would too)."""

    scoring: bool
    sessions: list[int]
    server: ServerProcess
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        behind = [not step["keeps_up"] for step in self.steps[-2:]]
        return len(self.steps) == len(self.sessions) or (len(behind) == 2 and all(behind))

    async def run_next(self, seconds: float, recording: Recording, per_process: int, phase_locked: bool, captions_share: float) -> None:
        n = self.sessions[len(self.steps)]
        try:
            step = await run_step(self.server, n, seconds, recording, per_process, phase_locked, captions_share)
        except Exception as exc:  # noqa: BLE001 - a step the harness could not even measure did not keep up
            step = {"sessions": n, "errors": [f"step failed: {type(exc).__name__}: {exc}"]}
        step["keeps_up"] = "video_fps_min" in step and keeps_up(step, self.scoring, recording.fps)
        print(json.dumps({"scoring": self.scoring, **step}), flush=True)
        self.steps.append(step)


async def ramps(
    plans: list[tuple[bool, list[int]]],
    seconds: float,
    recording: Recording,
    workdir: Path,
    model_dir: Path | None,
    per_process: int,
    phase_locked: bool = True,
    admission: bool = False,
    captions_share: float = 1.0,
    workers: int = 1,
) -> list[list[dict[str, Any]]]:
    """Each plan's (scoring on or off, its steps) ramp on a server of its own, their steps taking turns: a machine
    that slows down or speeds up over the run (other tenants of a VM) then weighs on both alike, so their ratio holds.
    `admission`: the scoring server refuses what it cannot carry (the baseline never does)."""
    servers = [
        ServerProcess(
            workdir / ("data-scoring" if scoring else "data-baseline"),
            scoring,
            model_dir if scoring else None,
            admission and scoring,
            workers,
        )
        for scoring, _ in plans
    ]
    try:
        await asyncio.gather(*(server.ready() for server in servers))
        running = [Ramp(scoring, sessions, server) for (scoring, sessions), server in zip(plans, servers)]
        while pending := [r for r in running if not r.done]:
            for ramp in pending:
                await asyncio.gather(*(server.quiet() for server in servers))
                await ramp.run_next(seconds, recording, per_process, phase_locked, captions_share)
        return [r.steps for r in running]
    finally:
        for server in servers:
            server.stop()


async def soak(seconds: float, recording: Recording, workdir: Path, model_dir: Path | None) -> dict[str, Any]:
    """One candidate joining and leaving over and over; server memory sampled after each cycle."""
    server = ServerProcess(workdir / "data-soak", True, model_dir)
    try:
        await server.ready()
        rss, cycles, deadline = [], 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            await run_step(server, 1, 4.0, recording, 1)
            cycles += 1
            rss.append(server.rss() / 2**20)
        return {
            "cycles": cycles,
            "rss_mb_first": round(rss[0], 1),
            "rss_mb_last": round(rss[-1], 1),
            "rss_mb_growth_after_first": round(rss[-1] - rss[0], 1),
            "rss_mb_by_cycle": [round(r, 1) for r in rss],
        }
    finally:
        server.stop()


def redis_store_footprint(url: str, keys: Keys) -> dict[str, Any] | None:
    """With the interview store in Redis (INTERVIEW_REDIS_URL set for the run): how much Redis memory the interviews
    of the run take per second of video interview (MEMORY USAGE of every key under each interview, over the seconds
    of face observations it recorded), for sizing a cluster's Redis."""
    client = redis.Redis.from_url(url)
    try:
        bytes_by_interview: dict[str, int] = {}
        for key in client.scan_iter(match=keys.interview("*"), count=1000):
            interview_id = key.decode().removeprefix(keys.interview("")).split(":")[0]
            bytes_by_interview[interview_id] = bytes_by_interview.get(interview_id, 0) + (client.memory_usage(key) or 0)
        seconds = {i: client.llen(keys.interview_part(i, "observations:face")) for i in bytes_by_interview}
        measured = [i for i, s in seconds.items() if s]
        if not measured:
            return None
        total_bytes, total_s = sum(bytes_by_interview[i] for i in measured), sum(seconds[i] for i in measured)
        return {
            "interviews": len(measured),
            "interview_seconds": total_s,
            "bytes": total_bytes,
            "kib_per_interview_minute": round(total_bytes / total_s * 60 / 1024, 1),
        }
    finally:
        client.close()


def capacity(steps: list[dict[str, Any]]) -> int:
    """The largest N that kept up; 0 when none did (the capacity lies below the smallest step)."""
    return max((s["sessions"] for s in steps if s["keeps_up"]), default=0)


def capacity_bound(steps: list[dict[str, Any]]) -> str:
    """Whether the ramp found where the node falls behind, or the capacity lies outside the steps measured."""
    if not any(s["keeps_up"] for s in steps):
        return f"below {min(s['sessions'] for s in steps)}" if steps else "not measured"
    if not any(not s["keeps_up"] and s["sessions"] > capacity(steps) for s in steps):
        return "at least (the largest step kept up)"
    return "found"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (lag, cpu) = plt.subplots(1, 2, figsize=(10, 4))

    def series(steps: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
        measured = [s for s in steps if s.get(key) is not None]  # a step that failed outright has no figures
        return [s["sessions"] for s in measured], [s[key] for s in measured]

    scoring = results["scoring"]
    lag.plot(*series(scoring, "final_lag_s_p95"), marker="o", label="final lag p95")
    lag.plot(*series(scoring, "first_partial_lag_s_p50"), marker="o", label="first partial p50")
    lag.axhline(LAG_TARGET_S, color="grey", linestyle="--", label="target")
    lag.set(xlabel="live interviews", ylabel="seconds", title="Transcript lag")
    lag.legend()
    cpu.plot(*series(scoring, "server_cpu_percent_mean"), marker="o", label="scoring")
    if results.get("baseline"):
        cpu.plot(*series(results["baseline"], "server_cpu_percent_mean"), marker="o", label="receive + decode only")
    cpu.set(xlabel="live interviews", ylabel="server CPU %", title="Server CPU")
    cpu.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        face = astronaut_png()
        min_seconds = args.step_seconds + 30
        if args.recording is None:
            recording = make_recording(workdir, face, min_seconds, args.fps)
        else:
            recording = kept_recording(args.recording, face, min_seconds, args.fps)
        results: dict[str, Any] = {
            "machine": machine(),
            "onnxruntime": f"{onnxruntime.__version__} ({', '.join(onnxruntime.get_available_providers())})",
            "interview_device": os.environ.get("INTERVIEW_DEVICE", "auto"),
            "date": time.strftime("%Y-%m-%d"),
            "step_seconds": args.step_seconds,
            "source_fps": args.fps,
            "starts": "together"
            if args.phase_locked
            else f"spread over one answer period ({recording.answer_period_s:.1f} s)"
            + (f", arriving over {ADMISSION_ROUNDS} (each round's between the last's)" if args.admission else ""),
        }
        results["candidates_per_client_process"] = args.per_process
        plans = [(True, args.sessions)] + ([] if args.no_baseline else [(False, args.baseline_sessions or args.sessions)])
        results["admission_control"] = args.admission
        results["captions_share"] = args.captions_share
        results["workers"] = args.workers
        # Whether the node's workers share one recogniser process, as the supervisor decides it from the same settings.
        results["shared_recogniser"] = shares_recogniser(Settings(scoring=True), args.workers)
        measured = await ramps(
            plans,
            args.step_seconds,
            recording,
            workdir,
            args.model_dir,
            args.per_process,
            args.phase_locked,
            args.admission,
            args.captions_share,
            args.workers,
        )
        results["scoring"] = measured[0]
        results["capacity"] = capacity(results["scoring"])
        results["capacity_bound"] = capacity_bound(results["scoring"])
        if redis_url := os.environ.get("INTERVIEW_REDIS_URL"):
            prefix = os.environ.get("INTERVIEW_REDIS_PREFIX", Settings.model_fields["redis_prefix"].default)
            footprint = redis_store_footprint(redis_url, Keys(prefix))
            if footprint is not None:
                results["redis_store"] = footprint
                print(json.dumps({"redis_store": footprint}), flush=True)
        if not args.no_baseline:
            results["baseline"] = measured[1]
            results["baseline_capacity"] = capacity(results["baseline"])
            results["baseline_capacity_bound"] = capacity_bound(results["baseline"])
            results["capacity_ratio"] = (
                round(results["capacity"] / results["baseline_capacity"], 2) if results["baseline_capacity"] else None
            )
        if args.soak:
            results["soak"] = await soak(args.soak, recording, workdir, args.model_dir)
        return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="interview-load", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--baseline-sessions", type=int, nargs="+", help="steps of the receive-only baseline (default: --sessions)")
    parser.add_argument("--step-seconds", type=float, default=40.0)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes per node (INTERVIEW_WORKERS), for the scoring and baseline servers alike"
    )
    parser.add_argument("--per-process", type=int, default=4, help="candidates per client process")
    parser.add_argument("--fps", type=int, default=SOURCE_FPS, help="video frame rate of the recording (the page sends 15)")
    parser.add_argument(
        "--phase-locked",
        action="store_true",
        help="start every candidate at once, so all answers end together (the recogniser's worst case)",
    )
    parser.add_argument(
        "--admission",
        action="store_true",
        help="the scoring server refuses what it cannot carry, as in production (503 node_busy; refused candidates retry "
        "after Retry-After): a ramp past capacity then shows what admission keeps for the admitted interviews",
    )
    parser.add_argument(
        "--captions-share",
        type=float,
        default=0.25,
        help="share of candidates whose page shows live captions (partial captions are decoded only for those, or while "
        "HR watches; the page's default is off): 1 for every session, as runs before 2026-12-05 measured",
    )
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of connect/disconnect cycles after the ramp")
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=Path(os.environ.get("INTERVIEW_MODEL_DIR", "data/models")),
        help="prepared models (INTERVIEW_MODEL_DIR; default data/models)",
    )
    parser.add_argument(
        "--recording",
        type=Path,
        help="the candidates' WebM: made there on first use (with PATH.json), reused after (for a node without the media tools)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    reusable = args.recording is not None and args.recording.exists() and args.recording.with_name(args.recording.name + ".json").exists()
    if not reusable and (missing := [tool for tool in MEDIA_TOOLS if shutil.which(tool) is None]):
        raise SystemExit(
            f"error: interview-load makes its candidates' speech and video with {', '.join(missing)}: apt-get install espeak-ng sox ffmpeg"
        )
    results = asyncio.run(main_async(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "interview_load.json").write_text(json.dumps(results, indent=2) + "\n")
    try:
        plot(results, args.out / "interview_load.png")
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[load]')")
    print(json.dumps({k: v for k, v in results.items() if k not in ("scoring", "baseline")}, indent=2))


if __name__ == "__main__":
    main()
