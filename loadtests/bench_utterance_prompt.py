"""Does the previous utterance of an answer, given to Whisper as its prompt, make the next one read better?

    python -m loadtests.bench_utterance_prompt [--zh DIR] [--en DIR] [--model-dir DIR] [--out FILE]

Whisper's own long-form decoding conditions each 30 s window on the text before it; an interview's transcript is
decoded utterance by utterance (`realtime_scoring/utterances.py`), and each could be conditioned on the one before
it in the same answer. This measures what that would change before the pipeline is built for it: each set is
replayed through the live pipeline (`interview-server replay`'s analysis, which equals live), and every scored
utterance's audio is then decoded twice with beam 5, the same weights and the same span, once alone and once with the
previous utterance of the same clip (its prompted transcript, as a live prompt would be) as the prompt. The sets and
scoring are `bench_recognition`'s; a clip that is one utterance is decoded the same both ways.

Writes loadtests/results/bench_utterance_prompt-<cores>core.json: error rates both ways, and every utterance whose
transcript the prompt changed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from loadtests.bench_pipeline import RATE
from loadtests.bench_recognition import RESULTS_DIR, WHOLE_BEAM, _assigned, error_rate, load_set, replay, track
from realtime_scoring.engine import EngineConfig
from realtime_scoring.events import UtteranceTranscript
from realtime_scoring.pipeline import ScoringEngine
from server.settings import Settings

TAIL_S = 0.2  # what the pipeline decodes after an utterance's last speech (UtteranceConfig.tail_s)


async def measure(engine: ScoringEngine, settings: Settings, folder: Path, language: str) -> dict[str, object]:
    clips = load_set(folder, language)
    audio, placed = track(clips)
    with tempfile.TemporaryDirectory() as tmp:
        events = await replay(engine, settings, audio, language, Path(tmp))
    utterances = [e for e in events if isinstance(e, UtteranceTranscript)]
    assert engine.transcription is not None
    transcriber = engine.transcription.transcriber
    alone, prompted, changed = [], [], []
    previous: dict[int, str] = {}  # clip -> its last utterance's prompted transcript
    with_prompt = 0
    for utterance in utterances:
        samples = audio[int(utterance.start_s * RATE) : int((utterance.end_s + TAIL_S) * RATE)]
        clip = next((i for i, p in enumerate(placed) if p.holds(utterance.start_s, utterance.end_s)), -1)
        plain = (await asyncio.to_thread(transcriber.transcribe_batch, [samples], language, None, WHOLE_BEAM))[0].text
        prompt = previous.get(clip)
        text = plain
        if prompt:
            with_prompt += 1
            text = (await asyncio.to_thread(transcriber.transcribe_batch, [samples], language, prompt, WHOLE_BEAM))[0].text
        previous[clip] = text
        span = (utterance.start_s, utterance.end_s)
        alone.append((*span, plain))
        prompted.append((*span, text))
        if text != plain:
            changed.append({"clip": placed[clip].clip.name, "prompt": prompt, "alone": plain, "prompted": text})
    references = [p.clip.text for p in placed]
    unit = "cer" if language == "zh" else "wer"
    rates = {}
    for mode, spans in (("alone", alone), ("prompted", prompted)):
        pairs = list(zip(references, _assigned(placed, spans), strict=True))
        rates[mode] = {
            f"{unit}_pct": error_rate(pairs, language, normalise=True),
            f"{unit}_raw_pct": error_rate(pairs, language, normalise=False),
        }
    print(
        f"{folder} ({language}): {len(clips)} clips, {len(utterances)} utterances, {with_prompt} with a prompt; {rates}; changed {len(changed)}"
    )
    return {"clips": len(clips), "utterances": len(utterances), "decoded_with_a_prompt": with_prompt, **rates, "changed": changed}


async def bench(args: argparse.Namespace) -> dict[str, object]:
    settings = Settings(device="cpu")
    engine = await asyncio.to_thread(
        ScoringEngine.load,
        args.model_dir,
        EngineConfig(device="cpu", intra_op_threads=settings.inference_threads),
        faces=False,
        whisper_encoder=settings.whisper_encoder,
        final_beam_size=settings.final_beam_size,
    )
    sets: dict[str, object] = {}
    try:
        for language, folder in (("zh", args.zh), ("en", args.en)):
            if folder is not None and folder.is_dir():
                sets[language] = await measure(engine, settings, folder, language)
    finally:
        await engine.close()
    return {
        "sets": sets,
        "beam": WHOLE_BEAM,
        "machine": f"{os.cpu_count()} CPU cores",
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zh", type=Path, default=Path(os.environ.get("INTERVIEW_ZH_SPEECH_DIR", "data/test-speech/zh")))
    parser.add_argument("--en", type=Path, default=Path("data/test-speech/en"))
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("INTERVIEW_MODEL_DIR", "data/models")))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = asyncio.run(bench(args))
    out = args.out or RESULTS_DIR / f"bench_utterance_prompt-{os.cpu_count()}core.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
