"""A hostile-input campaign against one node, next to one honest interview: generated HTTP requests from the
OpenAPI document (schemathesis), generated candidate-socket messages and mutated WHIP offers (hypothesis-style
random generation here), with the count of server errors and the honest session's caption lag.

    python -m loadtests.fuzz_campaign [--http-examples 250] [--socket-cases 3000] [--sdp-cases 1500] [--out DIR]

A server error is a 5xx answer, or a candidate socket closed with 1011 (internal error). The honest candidate
(the interview-load recording over WebRTC) runs for the whole campaign; its final-caption lag p95 must stay within
1.5 s and it must see no error. Writes fuzz_campaign.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from loadtests.interview_load import (
    API_KEY,
    LAG_TARGET_S,
    RESULTS_DIR,
    ServerProcess,
    astronaut_png,
    candidate_worker,
    kept_recording,
    machine,
    make_recording,
)

HR = {"X-API-Key": API_KEY}
CLOSE_INTERNAL_ERROR = 1011
MESSAGE_TYPES = ["ready", "answer.text", "answer.done", "chat", "ping", "mode", "nope", "", None]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of any shape: the socket must answer every one with an error or by ignoring it, never a crash."""
    kind = rng.randrange(9 if depth < 6 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**63, 1e308, -0.0, rng.randint(-(10**6), 10**6)])
    if kind == 3:
        return "".join(rng.choice('aZ09 _-\u4e2d\u6587\U0001f600\x00\n"\\') for _ in range(rng.randrange(0, 40)))
    if kind == 4:
        return rng.choice(["ready", "q1", "video", "text", "x" * rng.randrange(0, 3000)])
    if kind in (5, 6):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    return {rng.choice(["v", "type", "text", "question_id", "mode", "x"]): random_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def socket_message(rng: random.Random) -> str:
    """Mostly well-framed messages with fuzzed fields (they reach the handlers), some arbitrary JSON or bytes."""
    roll = rng.random()
    if roll < 0.7:
        message = {"v": rng.choice([1, 1, 1, 2, "1", None]), "type": rng.choice(MESSAGE_TYPES)}
        for field in rng.sample(["text", "question_id", "mode"], rng.randrange(0, 4)):
            message[field] = random_json(rng)
        return json.dumps(message)
    if roll < 0.9:
        return json.dumps(random_json(rng))
    return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(1, 200)))


async def fuzz_socket(base: str, http: httpx.AsyncClient, cases: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    counts = {"cases": 0, "server_errors": 0, "closed_by_server": 0}
    url = None
    ws = None
    while counts["cases"] < cases:
        if ws is None:
            if url is None or rng.random() < 0.05:
                created = (await http.post(f"{base}/api/v1/interviews", json=interview_body("text"), headers=HR)).json()
                url = base.replace("http://", "ws://") + f"/ws/interviews/{created['interview']['id']}?token={created['invite_token']}"
            try:
                ws = await connect(url, max_size=1 << 20)
            except InvalidStatus as refused:
                counts["server_errors"] += refused.response.status_code >= 500
                await asyncio.sleep(0.2)
                url = None
                continue
        counts["cases"] += 1
        try:
            await ws.send(socket_message(rng))
            await asyncio.wait_for(ws.recv(), 0.02)
        except TimeoutError:
            pass
        except ConnectionClosed as closed:
            counts["closed_by_server"] += 1
            counts["server_errors"] += closed.rcvd is not None and closed.rcvd.code == CLOSE_INTERNAL_ERROR
            ws = None
    if ws is not None:
        await ws.close()
    return counts


def mutated_offer(offer: str, rng: random.Random) -> str:
    lines = offer.splitlines()
    for _ in range(rng.randrange(1, 6)):
        action = rng.randrange(5)
        i = rng.randrange(len(lines))
        if action == 0:
            del lines[i]
        elif action == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif action == 2:
            chars = list(lines[i])
            for _ in range(rng.randrange(1, 5)):
                if chars:
                    chars[rng.randrange(len(chars))] = chr(rng.randrange(32, 127))
            lines[i] = "".join(chars)
        elif action == 3:
            lines[i] = lines[i] + "x" * rng.randrange(1, 300)
        else:
            lines[i] = re.sub(r"\d+", lambda m: str(rng.choice([0, -1, 65536, 2**32, int(m.group()) + 1])), lines[i])
    return "\r\n".join(lines) + "\r\n"


async def fuzz_offers(base: str, http: httpx.AsyncClient, cases: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    pc = RTCPeerConnection()
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    pc.addTransceiver("video", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    await pc.close()
    counts: dict[str, int] = {"cases": 0, "server_errors": 0, "accepted": 0}
    created = None
    for n in range(cases):
        if created is None or n % 50 == 0:
            created = (await http.post(f"{base}/api/v1/interviews", json=interview_body("video"), headers=HR)).json()
        endpoint = f"{base}/api/v1/interviews/{created['interview']['id']}/whip"
        headers = {"Authorization": f"Bearer {created['invite_token']}", "Content-Type": "application/sdp"}
        counts["cases"] += 1
        try:
            response = await http.post(endpoint, content=mutated_offer(offer, rng).encode(errors="replace"), headers=headers)
        except httpx.TransportError:  # the node dropped the connection instead of answering: as bad as a 500
            counts["server_errors"] += 1
            continue
        counts["server_errors"] += response.status_code >= 500
        if response.status_code == 201:
            counts["accepted"] += 1
            await http.delete(str(httpx.URL(endpoint).join(response.headers["location"])), headers=headers)
            created = None
    return counts


def interview_body(mode: str) -> dict[str, Any]:
    return {"job": {"title": "Backend engineer", "role": "backend_engineer", "language": "en"}, "candidate": {"name": "Fuzz"}, "mode": mode}


def fuzz_http(base: str, examples: int, workdir: Path) -> dict[str, Any]:
    """schemathesis over every documented operation but WHIP (SDP bodies: fuzz_offers); its own count of cases."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/api/v1/openapi.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"X-API-Key: {API_KEY}",
        "--max-examples",
        str(examples),
        "--seed",
        "11",
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--exclude-path-regex",
        "/whip",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=3600, check=False)
    output = done.stdout + done.stderr
    cases = sum(int(n) for n in re.findall(r"(\d+) (?:test cases|generated)", output)) or None
    return {"cases": cases, "server_errors_found": done.returncode != 0, "summary": output[-1500:]}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        face = astronaut_png()
        recording = kept_recording(args.recording, face, 70, 15) if args.recording else make_recording(workdir, face, 70)
        server = ServerProcess(workdir / "data", scoring=True, model_dir=args.model_dir)
        try:
            await server.ready()
            loop = asyncio.get_running_loop()
            deadline = time.monotonic() + args.max_seconds
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                honest = loop.run_in_executor(pool, candidate_worker, server.url, [0], [0.0], recording.path, deadline)
                async with httpx.AsyncClient(timeout=30) as http:
                    started = time.monotonic()
                    http_results = await asyncio.to_thread(fuzz_http, server.url, args.http_examples, workdir)
                    socket_results = await fuzz_socket(server.url, http, args.socket_cases, seed=5)
                    offer_results = await fuzz_offers(server.url, http, args.sdp_cases, seed=6)
                    fuzz_s = time.monotonic() - started
                (log,) = await honest
            alive = server.process.poll() is None
        finally:
            server.stop()
    finals = log.lags()[1]
    lag_p95 = round(statistics.quantiles(finals, n=20)[-1], 3) if len(finals) >= 2 else None
    cases = (http_results["cases"] or 0) + socket_results["cases"] + offer_results["cases"]
    server_errors = socket_results["server_errors"] + offer_results["server_errors"] + int(http_results["server_errors_found"])
    checks = {
        "at_least_10000_cases": cases >= 10_000,
        "no_server_errors": server_errors == 0,
        "honest_lag_p95_within_target": lag_p95 is not None and lag_p95 <= LAG_TARGET_S,
        "honest_session_without_errors": not log.errors,
        "server_alive": alive,
    }
    return {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "fuzz_seconds": round(fuzz_s, 1),
        "cases": cases,
        "http": {k: v for k, v in http_results.items() if k != "summary"},
        "http_summary_tail": http_results["summary"],
        "socket_messages": socket_results,
        "whip_offers": offer_results,
        "honest": {"finals": len(finals), "final_lag_s_p95": lag_p95, "errors": log.errors},
        "checks": checks,
        "passed": all(checks.values()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fuzz_campaign", description=__doc__.splitlines()[0])
    parser.add_argument("--http-examples", type=int, default=250, help="schemathesis examples per operation")
    parser.add_argument("--socket-cases", type=int, default=3000)
    parser.add_argument("--sdp-cases", type=int, default=1500)
    parser.add_argument("--max-seconds", type=float, default=300.0, help="how long the honest candidate stays (the campaign waits for it)")
    parser.add_argument("--recording", type=Path)
    parser.add_argument("--model-dir", type=Path, default=Path("data/models"))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fuzz_campaign.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "http_summary_tail"}, indent=2, ensure_ascii=False))
    if not results["passed"]:
        raise SystemExit("the campaign missed a target: see checks")


if __name__ == "__main__":
    main()
