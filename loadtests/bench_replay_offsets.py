"""How much a recognition figure moves when the same answers start a few milliseconds later.

    python -m loadtests.bench_replay_offsets [--zh DIR] [--en DIR] [--noise-db 10] [--offsets-ms 0,10,20,30] [--out FILE]

`bench_recognition` measures each set once. Whisper base is fragile: the same clip from a start 32 ms apart (one
voice-activity window) can read a homophone, or lose half a sentence, so one run cannot tell a change of a point or two
from chance. This replays each of `bench_recognition`'s sets (the clips one after another in one interview's audio,
through `interview-server replay`'s analysis, which is the live pipeline: live and replay agree clip for clip) with
the whole track delayed by each offset, and prints the scored transcripts' error rate at each offset, their mean and
their range. The English set is split by the kind of speech its SOURCE.txt names (read, spontaneous, takes), since its
52 short takes of one name Whisper base does not know move by more than the rest together.

Run it on two trees to compare a change; writes loadtests/results/bench_replay_offsets-<cores>core.json (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from loadtests.bench_pipeline import RATE
from loadtests.bench_recognition import (
    RESULTS_DIR,
    Clip,
    _assigned,
    add_speech_set_arguments,
    error_rate,
    load_set,
    replay,
    track,
    with_noise,
)
from realtime_scoring.engine import EngineConfig
from realtime_scoring.events import UtteranceTranscript
from realtime_scoring.pipeline import ScoringEngine
from server.settings import Settings


def speech_kinds(folder: Path) -> dict[str, str]:
    """Clip name -> read, spontaneous or takes, from the set's SOURCE.txt ("NN: where: who, kind")."""
    source = folder / "SOURCE.txt"
    kinds: dict[str, str] = {}
    for line in source.read_text("utf-8").splitlines() if source.is_file() else []:
        if match := re.match(r"(\w+): .*, ([\w ]+)$", line):
            last = match.group(2).split()[-1]
            kinds[match.group(1)] = last if last in ("read", "spontaneous") else "takes"
    return kinds


async def measure(
    engine: ScoringEngine, settings: Settings, clips: list[Clip], language: str, offsets_ms: list[int], kinds: dict[str, str], workdir: Path
) -> dict[str, object]:
    audio, placed = track(clips)
    groups = {"all": [p.clip.name for p in placed]}
    for name, kind in kinds.items():
        groups.setdefault(kind, []).append(name)
    rates: dict[str, list[float]] = {group: [] for group in groups}
    for offset in offsets_ms:
        delayed = np.concatenate((np.zeros(offset * RATE // 1000, np.float32), audio))
        events = await replay(engine, settings, delayed, language, workdir)
        heard = _assigned(placed, [(e.start_s, e.end_s, e.text) for e in events if isinstance(e, UtteranceTranscript)])
        pairs = {p.clip.name: (p.clip.text, text) for p, text in zip(placed, heard, strict=True)}
        for group, names in groups.items():
            rates[group].append(round(error_rate([pairs[n] for n in names if n in pairs], language, True), 2))
        print(f"  offset {offset:3d} ms: " + ", ".join(f"{g} {r[-1]:.2f} %" for g, r in rates.items()), flush=True)
    return {
        group: {"clips": len(groups[group]), "per_offset_pct": r, "mean_pct": round(float(np.mean(r)), 2), "range_pct": [min(r), max(r)]}
        for group, r in rates.items()
    }


async def bench(args: argparse.Namespace) -> dict[str, object]:
    settings = Settings()
    engine = await asyncio.to_thread(
        ScoringEngine.load,
        args.model_dir,
        EngineConfig(device=settings.device, intra_op_threads=settings.inference_threads),
        faces=False,
        emotion=False,
        whisper_encoder=settings.whisper_encoder,
        final_beam_size=settings.final_beam_size,
    )
    offsets = [int(o) for o in args.offsets_ms.split(",")]
    sets: dict[str, object] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.zh is not None and args.zh.is_dir():
                clean = load_set(args.zh, "zh")
                for name, clips in (("zh_clean", clean), (f"zh_noise_{args.noise_db:g}db", with_noise(clean, args.noise_db))):
                    print(f"{name} (CER, normalised):")
                    sets[name] = await measure(engine, settings, clips, "zh", offsets, {}, Path(tmp))
            if args.en is not None and args.en.is_dir():
                print("en (WER, normalised):")
                sets["en"] = await measure(engine, settings, load_set(args.en, "en"), "en", offsets, speech_kinds(args.en), Path(tmp))
    finally:
        await engine.close()
    return {
        "sets": sets,
        "offsets_ms": offsets,
        "final_beam_size": settings.final_beam_size,
        "whisper_encoder": settings.whisper_encoder,
        "machine": f"{os.cpu_count()} CPU cores",
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_speech_set_arguments(parser)
    parser.add_argument("--offsets-ms", default="0,10,20,30", help="delays of the whole track, comma-separated")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = asyncio.run(bench(args))
    out = args.out or RESULTS_DIR / f"bench_replay_offsets-{os.cpu_count()}core.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
