"""What hostile senders do to the honest interviews beside them on one node.

    python -m loadtests.bench_attackers [--honest 4] [--seconds 40] [--recording PATH] [--out DIR]

One server process (`interview-server serve`, scoring on) runs two steps of `--honest` synthetic candidates (real
WebRTC, the same recording as interview-load): first alone, then beside four attackers that each hold an invite
and, as soon as the node ends their session, schedule another and send again: a flood of VP8 key frames claiming
4096x4096, key frames claiming 16383x16383 (a decoder would allocate about a gigabyte for one), RTP garbage (random
payloads), and 300 frames a second. Before the attack the server's data segment is capped (RLIMIT_DATA, set on
the running process with prlimit) at what it holds then plus `--headroom-mb`: a node that decoded what it should
refuse fails the run with an out-of-memory error instead of taking the machine down.

Printed and written to bench_attackers.json: the honest sessions' final-caption lag p95, video frame rate and the
server's peak RSS, alone and under attack, the attackers' sessions and the frames the node refused, and the
verdict against the targets: lag p95 <= 1.5 s, frame rate >= 90 % of the run alone, peak RSS <= 1.5x.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack

from loadtests.attackers import ForgedVideo, vp8_claiming
from loadtests.interview_load import (
    API_KEY,
    LAG_TARGET_S,
    RESULTS_DIR,
    ServerProcess,
    astronaut_png,
    kept_recording,
    machine,
    make_recording,
    run_step,
)
from loadtests.whip_client import WhipPublisher, WhipRejected, give_consent
from server.rtc.ice import advertise_host_addresses

ATTACKS: dict[str, Callable[[], MediaStreamTrack]] = {
    "4096x4096 key-frame flood": lambda: ForgedVideo(vp8_claiming(4096, 4096), fps=30),
    "16383x16383 header": lambda: ForgedVideo(vp8_claiming(16383, 16383), fps=15),
    "RTP garbage": lambda: ForgedVideo(b"", fps=60, garbage_bytes=1200),
    "300 frames a second": lambda: ForgedVideo(vp8_claiming(64, 64), fps=300),
}
FPS_SHARE = 0.9
RSS_RATIO = 1.5
SESSION_MAX_S = 15.0  # an attacker's session the node has not ended by then is dropped by the attacker


def attacker_worker(server_url: str, deadline: float) -> dict[str, dict[str, Any]]:
    """One client process running every attack until `deadline`, each starting over whenever its session ends."""

    async def attack(name: str, http: httpx.AsyncClient) -> dict[str, Any]:
        sessions, ended_by_node, errors = 0, 0, []
        while time.monotonic() < deadline:
            body = {
                "job": {"title": "Backend engineer", "role": "backend_engineer", "language": "en"},
                "candidate": {"name": f"Attacker {sessions}"},
                "mode": "video",
            }
            response = await http.post(f"{server_url}/api/v1/interviews", json=body, headers={"X-API-Key": API_KEY})
            if response.status_code != 201:
                errors.append(f"scheduling: HTTP {response.status_code}: {response.text[:200]}")
                await asyncio.sleep(1.0)
                continue
            created = response.json()
            publisher = WhipPublisher(server_url, created["interview"]["id"], created["invite_token"], http)
            await give_consent(http, f"{server_url}/api/v1/interviews/{created['interview']['id']}", created["invite_token"])
            ended = asyncio.Event()

            @publisher.pc.on("connectionstatechange")
            def changed(pc: RTCPeerConnection = publisher.pc, ended: asyncio.Event = ended) -> None:
                if pc.connectionState in ("failed", "closed"):
                    ended.set()

            try:
                await publisher.publish([AudioStreamTrack(), ATTACKS[name]()], video_codec="video/VP8")
                sessions += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), max(0.0, min(deadline, time.monotonic() + SESSION_MAX_S) - time.monotonic()))
                ended_by_node += ended.is_set()
            except (WhipRejected, httpx.HTTPError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)
            finally:
                await publisher.close()
        return {"sessions": sessions, "ended_by_the_node": ended_by_node, "errors": errors[:5]}

    async def run() -> dict[str, dict[str, Any]]:
        advertise_host_addresses(["127.0.0.1"])
        async with httpx.AsyncClient(timeout=30) as http:
            results = await asyncio.gather(*(attack(name, http) for name in ATTACKS))
        return dict(zip(ATTACKS, results, strict=True))

    return asyncio.run(run())


def data_segment_bytes(pid: int) -> int:
    """The process's VmData (private writable memory, what RLIMIT_DATA counts)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmData for process {pid}")


def summary(step: dict[str, Any]) -> dict[str, Any]:
    keys = ("sessions", "final_lag_s_p95", "finals", "video_fps_min", "video_fps_mean", "server_rss_mb_max", "errors")
    return {key: step.get(key) for key in keys}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        min_seconds = args.seconds + 30
        face = astronaut_png()
        recording = kept_recording(args.recording, face, min_seconds, 15) if args.recording else make_recording(workdir, face, min_seconds)
        server = ServerProcess(workdir / "data", scoring=True, model_dir=args.model_dir)
        try:
            await server.ready()
            alone = await run_step(server, args.honest, args.seconds, recording, args.per_process, phase_locked=False)
            await server.quiet()
            cap = data_segment_bytes(server.process.pid) + args.headroom_mb * 2**20
            resource.prlimit(server.process.pid, resource.RLIMIT_DATA, (cap, cap))
            before = await scrape_refused(server.url)
            loop = asyncio.get_running_loop()
            deadline = time.monotonic() + 3.0 + args.seconds + 2.0
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                attackers = loop.run_in_executor(pool, attacker_worker, server.url, deadline)
                attacked = await run_step(server, args.honest, args.seconds, recording, args.per_process, phase_locked=False)
                attacks = await attackers
            refused = await scrape_refused(server.url) - before
            alive = server.process.poll() is None
        finally:
            server.stop()
    checks = {
        "honest_final_lag_p95_within_target": (attacked.get("final_lag_s_p95") or 99.0) <= LAG_TARGET_S,
        "honest_fps_at_least_90_percent": (attacked.get("video_fps_mean") or 0.0) >= FPS_SHARE * (alone.get("video_fps_mean") or 0.0),
        "peak_rss_at_most_1_5x": (attacked.get("server_rss_mb_max") or 1e9) <= RSS_RATIO * (alone.get("server_rss_mb_max") or 0.0),
        "server_alive": alive,
        "honest_sessions_without_errors": not attacked.get("errors"),
    }
    return {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "honest_sessions": args.honest,
        "step_seconds": args.seconds,
        "memory_cap": f"RLIMIT_DATA at the server's data segment after the run alone + {args.headroom_mb} MiB",
        "alone": summary(alone),
        "under_attack": summary(attacked),
        "attackers": attacks,
        "frames_refused_before_decoding": refused,
        "checks": checks,
        "passed": all(checks.values()),
    }


async def scrape_refused(url: str) -> float:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{url}/metrics")).text
    for line in text.splitlines():
        if line.startswith("interview_media_encoded_frames_refused_total "):
            return float(line.split()[1])
    return 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_attackers", description=__doc__.splitlines()[0])
    parser.add_argument("--honest", type=int, default=8, help="honest interviews beside the four attackers")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--per-process", type=int, default=4)
    parser.add_argument("--headroom-mb", type=int, default=3072, help="memory the server may take on beyond the run alone")
    parser.add_argument("--recording", type=Path, help="the candidates' WebM, as interview-load --recording")
    parser.add_argument("--model-dir", type=Path, default=Path("data/models"))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_attackers.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if not results["passed"]:
        raise SystemExit("the attacked node missed a target: see checks")


if __name__ == "__main__":
    main()
