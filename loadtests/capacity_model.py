"""What a node carries, predicted from what one interview costs, and which resource runs out first.

    python -m loadtests.capacity_model [--check FILE ...] [--costs FILE] [--gpu-costs FILE --gpu-bench FILE] [--out DIR]

An interview's cost comes from an `interview-load` results file: over the steps that kept up, the least-squares
slope of each reading against the number of interviews (what one more interview adds, without the idle node's own
floor). The resources, each with the share of it a node can use before interviews fall behind:

- **cores**: the server's CPU, every thread (`server_cpu_percent_of_core_by_thread`), against the node's cores;
- **event loop** (one per worker process): its thread's CPU against one core; past about half of it, the
  loop's lag bursts (RTP, sockets and timers wait);
- **recogniser** (one per worker, or one for the node when its workers share it): Whisper's busy time (wall clock)
  per interview at the largest step that kept up, against the share at which a node reads as strained
  (`INTERVIEW_OVERLOAD_RECOGNISER_BUSY`, 0.7). A shared recogniser on a CPU runs a decode a core, but its Python
  between the model's calls holds the GIL for about a sixth of a beam decode, so it decodes on at most
  SHARED_RECOGNISER_CORES cores however many the node has;
- **GPU** (with `--gpu-bench`, a `bench_models` results file of the GPU): Whisper's decodes per interview-second
  (from the load test's counters) times the GPU's time for one (encoder window at its best batch, decoder at the
  per-utterance time given), against the share of the GPU a node may keep busy.

The prediction is the smallest of these, named. `--check` compares it with the capacity each results file
measured (on the machine it ran on, with its worker count), so the model's error is printed next to its claims.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"  # as every benchmark here (importing interview_load would load aiortc)

USABLE = {"cores": 0.7, "event loop": 0.5, "recogniser": 0.7, "gpu": 0.7}
# Issue 24's measurement on an H200: 64 utterances decoded in 208 ms with device-resident caches (IOBinding).
DECODER_MS_PER_UTTERANCE_IOBINDING = 208 / 64
WHISPER_WINDOW_S = 30.0
RECOGNISER_THREADS = 2  # final-decoding threads per worker (`TranscriptionService(workers=2)` on a CPU node)
# A shared recogniser's decodes run side by side only outside its Python: 17 % of a beam-5 decode holds the GIL
# (measured 2026-12-06 on the 2-core machine: 1,066 ms a decode, 884 ms of it in onnxruntime), so 1 / 0.17 cores at most.
SHARED_RECOGNISER_CORES = 1 / 0.17


@dataclass(frozen=True)
class Costs:
    """What one more interview adds: CPU and event loop in percent of one core, the recogniser as a share of its
    threads' time, Whisper's decodes per second."""

    cpu: float
    event_loop: float
    recogniser: float
    decodes_per_s: float
    source: str
    steps: list[int]


@dataclass(frozen=True)
class Node:
    cores: int
    workers: int
    gpu_ms_per_decode: float | None = None  # None: models on the CPU
    shared_recogniser: bool = False  # the workers decode on one recogniser process

    @property
    def recogniser_lanes(self) -> float:
        """How many workers' worth of final-decoding threads the node has (a worker has RECOGNISER_THREADS)."""
        if not self.shared_recogniser:
            return float(self.workers)
        return min(float(self.cores), SHARED_RECOGNISER_CORES) / RECOGNISER_THREADS


def slope(points: list[tuple[float, float]]) -> float:
    """What one more interview adds: the least-squares slope; the mean per interview where the steps cannot give one
    (a single size, or noise that makes more interviews look cheaper)."""
    mean = statistics.fmean(y / x for x, y in points)
    if len({x for x, _ in points}) == 1:
        return mean
    fitted = statistics.linear_regression([x for x, _ in points], [y for _, y in points])
    return fitted.slope if fitted.slope > 0 else mean


def costs_from(path: Path) -> Costs:
    results = json.loads(path.read_text())
    kept = [s for s in results["scoring"] if s.get("keeps_up") and s.get("server_cpu_percent_of_core_by_thread")]
    if not kept:
        raise SystemExit(f"error: {path.name} has no step that kept up with per-thread figures")
    step_s = float(results.get("step_seconds", 40.0)) - 1.0

    def points(read: Any) -> list[tuple[float, float]]:
        return [(float(s["sessions"]), float(read(s))) for s in kept]

    return Costs(
        cpu=slope(points(lambda s: sum(s["server_cpu_percent_of_core_by_thread"].values()))),
        event_loop=slope(points(lambda s: s["server_cpu_percent_of_core_by_thread"].get("event-loop", 0.0))),
        # Busy time is wall clock, waits for a core and for the batch included: it grows faster than the work, so
        # its slope over a few steps overstates the next interview. Its share per interview where the node still kept
        # up is what the limit is calibrated on.
        recogniser=per_interview_at_largest(kept, recogniser_share),
        decodes_per_s=slope(points(lambda s: sum(v for k, v in s.get("whisper_decodes", {}).items() if k != "batches") / step_s)),
        source=path.name,
        steps=[int(s["sessions"]) for s in kept],
    )


def recogniser_share(step: dict[str, Any]) -> float:
    """The share of the recogniser's final-decoding threads busy: the node's own reading where the run has it, else
    Whisper's busy time over the threads it had (partials' lane included, so a little high)."""
    load = step.get("node_load") or {}
    if isinstance(load.get("recogniser_busy_mean"), int | float):
        return float(load["recogniser_busy_mean"])
    return float(step.get("model_busy_percent_of_core", {}).get("whisper", 0.0)) / (100 * RECOGNISER_THREADS)


def per_interview_at_largest(kept: list[dict[str, Any]], read: Any) -> float:
    largest = max(kept, key=lambda s: int(s["sessions"]))
    return float(read(largest)) / int(largest["sessions"])


def gpu_ms_per_decode(bench: Path, decoder_ms: float) -> float:
    """GPU time of one Whisper decode: its 30-s encoder window at the encoder's best batch, plus the decoder."""
    windows = json.loads(bench.read_text())["models"]["whisper-base"]["encoder_10s_window"]
    best_audio_s_per_s = max(float(w["audio_s_per_s"]) for w in windows)
    return WHISPER_WINDOW_S / best_audio_s_per_s * 1000 + decoder_ms


def predict(costs: Costs, node: Node) -> dict[str, Any]:
    """Interviews per resource, the smallest first: the node carries the first, and that resource binds."""
    limits: dict[str, float] = {"cores": node.cores * 100 * USABLE["cores"] / costs.cpu} if costs.cpu > 0 else {}
    if costs.event_loop > 0:
        limits["event loop"] = node.workers * 100 * USABLE["event loop"] / costs.event_loop
    if costs.recogniser > 0 and node.gpu_ms_per_decode is None:  # the lanes of final decodes on the CPU
        limits["recogniser"] = node.recogniser_lanes * USABLE["recogniser"] / costs.recogniser
    elif costs.recogniser > 0 and not node.shared_recogniser:  # each worker's own lane feeding the GPU
        limits["recogniser"] = node.workers * USABLE["recogniser"] / costs.recogniser
    if node.gpu_ms_per_decode is not None and costs.decodes_per_s > 0:
        limits["gpu"] = 1000 * USABLE["gpu"] / (costs.decodes_per_s * node.gpu_ms_per_decode)
    ordered = dict(sorted(((k, round(v, 1)) for k, v in limits.items()), key=lambda item: item[1]))
    binding = next(iter(ordered))
    return {"interviews": int(ordered[binding]), "binds_first": binding, "by_resource": ordered}


def cores_of(machine: str) -> int:
    """`2 CPU cores`, `16 CPU cores; GPU ...` -> the count."""
    words = machine.replace(";", " ").split()
    return int(words[words.index("CPU") - 1]) if "CPU" in words else 1


def check(path: Path) -> dict[str, Any]:
    """The model, fed one run's own low steps, against the capacity that run measured."""
    results = json.loads(path.read_text())
    costs = costs_from(path)
    node = Node(
        cores=cores_of(results["machine"]),
        workers=int(results.get("workers", 1)),
        shared_recogniser=bool(results.get("shared_recogniser", False)),
    )
    predicted = predict(costs, node)
    measured = int(results["capacity"])
    bound = str(results.get("capacity_bound", "found"))
    return {
        "results": path.name,
        "machine": results["machine"],
        "date": results.get("date"),
        "workers": node.workers,
        "shared_recogniser": node.shared_recogniser,
        "measured": measured,
        "measured_bound": bound,
        "predicted": predicted["interviews"],
        "binds_first": predicted["binds_first"],
        "by_resource": predicted["by_resource"],
        "error": round(predicted["interviews"] / measured - 1, 2) if measured and bound == "found" else None,
        "cost_per_interview": {
            "cpu_percent_of_core": round(costs.cpu, 1),
            "event_loop_percent_of_core": round(costs.event_loop, 2),
            "recogniser_busy_share": round(costs.recogniser, 4),
            "whisper_decodes_per_s": round(costs.decodes_per_s, 3),
            "from_steps": costs.steps,
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="capacity_model", description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=Path, nargs="*", default=[], help="interview-load results to check the model against")
    parser.add_argument("--costs", type=Path, help="interview-load results whose costs size the nodes below (CPU models)")
    parser.add_argument("--gpu-costs", type=Path, help="interview-load results measured with the models on a GPU")
    parser.add_argument("--gpu-bench", type=Path, help="bench_models results of that GPU")
    parser.add_argument(
        "--decoder-ms", type=float, default=DECODER_MS_PER_UTTERANCE_IOBINDING, help="GPU decoder time per utterance, batched"
    )
    parser.add_argument("--cores", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "usable_share": USABLE, "checks": [check(p) for p in args.check]}
    for row in report["checks"]:
        print(
            f"check {row['results']}: {row['workers']} worker(s) on {row['machine']}: measured {row['measured']} "
            f"({row['measured_bound']}), predicted {row['predicted']} ({row['binds_first']} binds first), by resource {row['by_resource']}"
        )
    nodes: list[dict[str, Any]] = []
    if args.costs is not None:
        costs = costs_from(args.costs)
        nodes.extend(
            {
                "node": f"{args.cores} cores, {workers} worker(s){', one shared recogniser' if shared else ''}, models on the CPU",
                "costs": costs.source,
                **predict(costs, Node(args.cores, workers, shared_recogniser=shared)),
            }
            for workers, shared in ((1, False), (args.cores, False), (args.cores, True))
        )
    if args.gpu_costs is not None and args.gpu_bench is not None:
        costs = costs_from(args.gpu_costs)
        per_decode = gpu_ms_per_decode(args.gpu_bench, args.decoder_ms)
        nodes.extend(
            {
                "node": f"{args.cores} cores, {workers} worker(s){', one shared recogniser' if shared else ''}, Whisper on the "
                f"GPU ({per_decode:.1f} ms a decode)",
                "costs": costs.source,
                **predict(costs, Node(args.cores, workers, per_decode, shared_recogniser=shared)),
            }
            for workers, shared in ((1, False), (args.cores, False), (args.cores, True))
        )
    report["nodes"] = nodes
    for row in nodes:
        print(f"{row['node']}: {row['interviews']} interviews ({row['binds_first']} binds first), by resource {row['by_resource']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "capacity_model.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {args.out / 'capacity_model.json'}")


if __name__ == "__main__":
    main()
