"""Recognition accuracy per language: the live pipeline, replay, and the same model at its best on the same clips.

    python -m loadtests.bench_recognition [--zh DIR] [--en DIR] [--noise-db 10] [--photos DIR] [--model-dir DIR] [--out FILE]

A set is a folder of clips: NN.wav (16 kHz mono) with NN.txt, what was said. Mandarin defaults to the synthetic
answers of tests/tools/make_mandarin_speech.py ($INTERVIEW_ZH_SPEECH_DIR, those of 12 characters or more: the
turn-taking fragments are left out), each once clean and once with white noise at --noise-db SNR (seeded, the same
every run); English to data/test-speech/en when it exists (tests/tools/prepare_english_speech.py puts there 7.5
minutes of real speech from registry packages: LibriVox, LibriSpeech and Common Voice readers, and people talking
freely with fillers, cut-off words and pauses). Point --en at any other folder of real recordings (held-out sets
included) to measure on them.

Three ways through the same model, for each set:
- live: the clips one after another in one interview's audio (GAP_S of silence between them, longer than the pauses an
  utterance joins, so each clip is its own utterance), fed in real time 32 ms at a time through one session set up as
  the server sets up a live one (`Settings.transcription_config()`: partials, early finals, whole utterances; the
  server's encoder and beam for finals). Scored: the whole-utterance transcripts, which reports hold; the captions
  (segment finals) are scored too, and their lag after the end of each clip's speech is measured.
- replay: the same audio written as a WAV and run through `interview-server replay`'s analysis (server/live/replay.py).
- whole: each clip decoded alone and whole with beam 5: the same weights at their best.

Faces: how many people are on camera, counted as an interview counts them (the decoder's thumbnail, the detector,
each second's agreed count): each photograph of a group in --photos (tests/tools/prepare_group_photos.py: six from a
registry package, with counts.json giving the people in each), counted exactly or not; each photograph filmed by a
moving hand-held camera for FACE_VIDEO_S, with the share of seconds read right; two single portraits (skimage's
astronaut and cameraman) filmed a minute each, with the share of seconds read as one; and the detector's time a frame.

Error rates: Mandarin CER over Chinese characters, digits and letters; English WER over words. Each raw, and after the
same normalisation of both sides: full-width forms folded (NFKC), Chinese numerals read as numbers (cn2an, as the
key-point matcher reads them: 三年 and 3年 alike), case and punctuation dropped, and in English the fillers (uh, um,
hm) that real speakers say and Whisper leaves out. Prints a table; writes
loadtests/results/bench_recognition-<device>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import re
import tempfile
import time
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path

import cn2an
import numpy as np

from loadtests.bench_pipeline import RATE, SessionLog, run_session
from realtime_scoring.engine import EngineConfig, create_session
from realtime_scoring.events import FacePresence, FinalTranscript, ScoringEvent, UtteranceTranscript
from realtime_scoring.models.manifest import load_manifest, verified_files
from realtime_scoring.pipeline import ScoringEngine, SessionConfig
from realtime_scoring.text_match import RANGE_MARKS
from realtime_scoring.vision.faces import FaceDetector
from server.live.replay import analyse
from server.settings import Settings
from tests.helpers.face_counts import COUNTS_FILE, face_seconds, group_photo_counts, sampled_thumbnail
from tests.helpers.media_files import astronaut_png, make_handheld_video, read_wav_mono
from tests.helpers.speech import edit_distance, hanzi, words

RESULTS_DIR = Path(__file__).resolve().parent / "results"
GAP_S = 3.0  # silence between clips: longer than the pauses an utterance joins (join_pauses_below_s, 2 s)
WHOLE_BEAM = 5
MIN_ZH_CHARS = 12
FACE_VIDEO_S = 30
PORTRAIT_VIDEO_S = 60


@dataclass(frozen=True)
class Clip:
    name: str
    text: str
    samples: np.ndarray  # float32, 16 kHz, silence trimmed at both ends


@dataclass
class Placed:
    clip: Clip
    start_s: float
    end_s: float

    def holds(self, start_s: float, end_s: float) -> bool:
        """Whether a transcript of that span belongs to this clip: its middle within it, or half a gap either side."""
        return self.start_s - GAP_S / 2 <= (start_s + end_s) / 2 < self.end_s + GAP_S / 2


def _read_wav(path: Path) -> np.ndarray:
    samples, rate = read_wav_mono(path)
    if rate != RATE:
        raise SystemExit(f"{path}: needs 16 kHz audio")
    return samples


def _trimmed(samples: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[max(0, loud[0] - 800) : loud[-1] + 800] if len(loud) else samples


def load_set(folder: Path, language: str, limit: int = 0) -> list[Clip]:
    clips = []
    for wav in sorted(folder.glob("*.wav")):
        said = wav.with_suffix(".txt")
        if not said.exists():
            continue
        text = said.read_text("utf-8").strip()
        if language == "zh" and len(hanzi(text)) < MIN_ZH_CHARS:
            continue
        clips.append(Clip(wav.stem, text, _trimmed(_read_wav(wav))))
    return clips[:limit] if limit else clips


def with_noise(clips: list[Clip], snr_db: float, seed: int = 7) -> list[Clip]:
    """Each clip with white noise at `snr_db` below its own speech power."""
    rng = np.random.default_rng(seed)
    noisy = []
    for clip in clips:
        power = float(np.mean(clip.samples**2))
        noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(clip.samples)).astype(np.float32)
        noisy.append(Clip(f"{clip.name}+noise{snr_db:g}dB", clip.text, np.clip(clip.samples + noise, -1, 1)))
    return noisy


def track(clips: list[Clip]) -> tuple[np.ndarray, list[Placed]]:
    """The clips in one interview's audio, GAP_S apart, and where each one is."""
    parts, placed, at = [np.zeros(RATE, np.float32)], [], 1.0
    for clip in clips:
        placed.append(Placed(clip, at, at + len(clip.samples) / RATE))
        parts += [clip.samples, np.zeros(int(GAP_S * RATE), np.float32)]
        at += len(clip.samples) / RATE + GAP_S
    # As 16-bit samples, which is what the replay's WAV holds (and what a microphone gives): live and replay then hear
    # the very same audio, and any difference between them is the pipeline's.
    pcm = (np.clip(np.concatenate(parts), -1, 1) * 32767).astype(np.int16)
    return pcm.astype(np.float32) / 32768.0, placed


# ---- scoring ---------------------------------------------------------------------------------------------------------


FILLERS = {"uh", "um", "hm", "hmm", "mm", "mhm", "er", "ah"}
# A number written half in digits ("2000万"): cn2an reads "两千万" as 20000000 but leaves this one alone.
MIXED_NUMBER = re.compile(r"(\d+(?:\.\d+)?)([万亿])")
MULTIPLIERS = {"万": 10_000, "亿": 100_000_000}
# A range as the recogniser writes it (3-5年, 3~5年) and as cn2an writes 三到五年 (3到5年) read alike.
RANGE_MARK = re.compile(f"(?<=\\d)\\s*[{re.escape(RANGE_MARKS)}]\\s*(?=\\d)")


def _mixed_to_digits(match: re.Match[str]) -> str:
    value = float(match.group(1)) * MULTIPLIERS[match.group(2)]
    return str(int(value)) if value == int(value) else str(value)


def normalised(text: str, language: str) -> str:
    """Both sides alike: full-width forms folded, Chinese numerals as numbers (as the key-point matcher reads them,
    2000万 and 两千万 alike, 3-5年 and 三到五年 alike), English fillers dropped."""
    text = unicodedata.normalize("NFKC", text)
    if language == "zh":
        with contextlib.suppress(ValueError, KeyError):  # a run cn2an cannot read stays as it is
            text = cn2an.transform(text, "cn2an")
        text = MIXED_NUMBER.sub(_mixed_to_digits, text)
        text = RANGE_MARK.sub("到", text)
    else:
        text = " ".join(word for word in words(text) if word not in FILLERS)
    return text


def _units(text: str, language: str) -> list[str]:
    return hanzi(text) if language == "zh" else words(text)


def error_rate(pairs: list[tuple[str, str]], language: str, normalise: bool) -> float:
    """Errors over the whole set divided by its reference length (CER for Mandarin, WER for English), in %."""
    errors = length = 0
    for said, heard in pairs:
        reference, hypothesis = (normalised(said, language), normalised(heard, language)) if normalise else (said, heard)
        ref, hyp = _units(reference, language), _units(hypothesis, language)
        errors += edit_distance(ref, hyp)
        length += len(ref)
    return round(100 * errors / max(1, length), 2)


def _assigned(placed: list[Placed], spans: list[tuple[float, float, str]]) -> list[str]:
    """Each clip's text: the transcripts whose middle falls within it (plus half a gap either side), in order."""
    texts = []
    for p in placed:
        inside = [text for start, end, text in spans if p.holds(start, end)]
        texts.append(" ".join(inside) if inside else "")
    return texts


# ---- the three ways through the model ---------------------------------------------------------------------------------


async def live(engine: ScoringEngine, settings: Settings, audio: np.ndarray, language: str) -> SessionLog:
    config = SessionConfig(transcription=dataclasses.replace(settings.transcription_config(), language=language))
    log = SessionLog()
    await run_session(engine, audio, log, 0.0, config)
    return log


async def replay(engine: ScoringEngine, settings: Settings, audio: np.ndarray, language: str, workdir: Path) -> list[ScoringEvent]:
    path = workdir / f"replay-{language}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.round(audio * 32768.0).astype(np.int16).tobytes())  # the track's own 16-bit samples
    events: list[ScoringEvent] = []

    async def nothing(*_: object) -> None:
        return None

    await analyse(engine, language, settings, path, None, events.append, nothing)
    return events


def whole(engine: ScoringEngine, clips: list[Clip], language: str) -> list[str]:
    transcriber = engine.transcription.transcriber if engine.transcription is not None else None
    assert transcriber is not None, "the benchmark needs the recogniser"
    return [transcriber.transcribe_batch([c.samples], language, None, WHOLE_BEAM)[0].text for c in clips]


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


async def measure_set(
    engine: ScoringEngine, settings: Settings, name: str, clips: list[Clip], language: str, workdir: Path
) -> dict[str, object]:
    audio, placed = track(clips)
    print(f"{name}: {len(clips)} clips, {sum(len(c.samples) for c in clips) / RATE:.0f} s of speech; live takes {len(audio) / RATE:.0f} s")
    service = engine.transcription
    assert service is not None
    before = dataclasses.replace(service.stats)
    log = await live(engine, settings, audio, language)
    after = service.stats
    decodes = {  # live: which decodes ran, and how many of those that may become a transcript kept a beam
        "finals": after.finals - before.finals,
        "early_finals": after.early - before.early,
        "speculative": after.speculative - before.speculative,
        "partials": after.partials - before.partials,
        "beam_searched": after.beam_searched - before.beam_searched,
    }
    finals = [(t, e) for t, e in log.events if isinstance(e, FinalTranscript)]
    utterances = [e for _, e in log.events if isinstance(e, UtteranceTranscript)]
    live_scored = _assigned(placed, [(e.start_s, e.end_s, e.text) for e in utterances])
    live_captions = _assigned(placed, [(e.start_s, e.end_s, e.text) for _, e in finals])
    lags = []
    for p in placed:
        last = [t for t, e in finals if p.holds(e.start_s, e.end_s)]
        if last:
            lags.append(max(last) - (log.started_wall + p.end_s))
    replayed = await replay(engine, settings, audio, language, workdir)
    replay_scored = _assigned(placed, [(e.start_s, e.end_s, e.text) for e in replayed if isinstance(e, UtteranceTranscript)])
    best = await asyncio.to_thread(whole, engine, clips, language)
    references = [p.clip.text for p in placed]
    modes = {"live": live_scored, "live_captions": live_captions, "replay": replay_scored, "whole_clip_beam5": best}
    unit = "cer" if language == "zh" else "wer"
    rates = {}  # mode -> (normalised, raw) error rate, %
    for mode, hypotheses in modes.items():
        pairs = list(zip(references, hypotheses, strict=True))
        rates[mode] = (error_rate(pairs, language, normalise=True), error_rate(pairs, language, normalise=False))
    best_rate, live_rate = rates["whole_clip_beam5"][0], rates["live"][0]
    differ = sum(1 for a, b in zip(live_scored, replay_scored, strict=True) if a != b)
    lag = {"p50": _pct(lags, 50), "p95": _pct(lags, 95), "max": _pct(lags, 100)}
    row: dict[str, object] = {
        "clips": len(clips),
        "speech_s": round(sum(len(c.samples) for c in clips) / RATE, 1),
        **{
            mode: {f"{unit}_pct": rates[mode][0], f"{unit}_raw_pct": rates[mode][1], "missing": sum(1 for h in hypotheses if not h)}
            for mode, hypotheses in modes.items()
        },
        "live_over_whole_clip": round(live_rate / best_rate, 2) if best_rate else None,
        "live_and_replay_differ_in": differ,
        "live_decodes": decodes,
        "caption_lag_after_speech_s": lag,
        "heard": [  # every clip: what was said and what each way heard
            {"clip": p.clip.name, "said": p.clip.text, "live": a, "live_captions": d, "replay": b, "whole_clip": c}
            for p, a, b, c, d in zip(placed, live_scored, replay_scored, best, live_captions, strict=True)
        ],
    }
    print(
        f"  {unit.upper()} % (normalised / raw): live {live_rate} / {rates['live'][1]}, captions {rates['live_captions'][0]}, "
        f"replay {rates['replay'][0]}, whole clip beam {WHOLE_BEAM} {best_rate}; live/whole {row['live_over_whole_clip']}; "
        f"live and replay differ in {differ} of {len(clips)}; live decodes {decodes}; caption lag p95 {lag['p95']} s"
    )
    return row


@dataclass(frozen=True)
class SecondsRead:
    """A filmed video's seconds, and how many of them an interview read with the right count of people."""

    people: int
    seconds: int
    read_right: int

    @property
    def share(self) -> float:
        return round(self.read_right / max(1, self.seconds), 4)

    def row(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "share": self.share}


def _read(seconds: list[FacePresence], people: int) -> SecondsRead:
    return SecondsRead(people, len(seconds), sum(second.faces == people for second in seconds))


async def measure_faces(model_dir: Path, photos: Path, workdir: Path) -> dict[str, object]:
    """People counted on the group photographs, on them filmed, and on single portraits filmed; the detector's cost."""
    engine = await asyncio.to_thread(ScoringEngine.load, model_dir, transcribe=False, embeddings=False, emotion=False)
    try:
        files = verified_files(load_manifest(model_dir)["face-detector"], model_dir)
        detector = FaceDetector(create_session(files["face_detector.onnx"], EngineConfig(device="cpu", intra_op_threads=1)))
        found: dict[str, tuple[int, int]] = {}  # photo -> (people, faces found)
        filmed: dict[str, SecondsRead] = {}
        frame_ms: list[float] = []
        for name, people in group_photo_counts(photos).items():
            thumbnail = sampled_thumbnail(photos / name)
            started = time.perf_counter()
            found[name] = (people, len(detector.detect(thumbnail)))
            frame_ms.append((time.perf_counter() - started) * 1000)
            video = make_handheld_video(workdir / f"{name}.webm", photos / name, seconds=FACE_VIDEO_S)
            filmed[name] = _read(await face_seconds(engine, video), people)
        portraits: dict[str, SecondsRead] = {}
        for photo in (astronaut_png(), astronaut_png().with_name("camera.png")):
            video = make_handheld_video(workdir / f"{photo.stem}.webm", photo, seconds=PORTRAIT_VIDEO_S, zoom=1.3)
            portraits[photo.name] = _read(await face_seconds(engine, video), 1)
    finally:
        await engine.close()
    exact = sum(people == faces for people, faces in found.values())
    one_right, one_seconds = sum(p.read_right for p in portraits.values()), sum(p.seconds for p in portraits.values())
    print(
        f"Faces: photos of groups counted exactly {exact} of {len(found)}; filmed, seconds read right "
        + ", ".join(f"{name} ({read.people}) {read.share:.0%}" for name, read in filmed.items())
        + f"; one face filmed {PORTRAIT_VIDEO_S * 2} s, read as one in {one_right} of {one_seconds} s; "
        f"detector {np.median(frame_ms):.1f} ms a frame (median, batch 1)"
    )
    return {
        "photos": {name: {"people": people, "found": faces} for name, (people, faces) in found.items()},
        "photos_exact": f"{exact} of {len(found)}",
        "filmed": {name: read.row() for name, read in filmed.items()},
        "filmed_min_share": min((read.share for read in filmed.values() if read.people > 1), default=None),
        "one_face": {name: read.row() for name, read in portraits.items()},
        "detector_ms_per_frame_median": round(float(np.median(frame_ms)), 2),
    }


async def bench(args: argparse.Namespace) -> dict[str, object]:
    settings = Settings(device=args.device)
    engine = await asyncio.to_thread(
        ScoringEngine.load,
        args.model_dir,
        EngineConfig(device=settings.device, intra_op_threads=settings.inference_threads),
        faces=False,
        whisper_encoder=settings.whisper_encoder,
        final_beam_size=settings.final_beam_size,
    )
    sets: dict[str, object] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.zh is not None and args.zh.is_dir():
                clean = load_set(args.zh, "zh", args.limit)
                sets["zh_clean"] = await measure_set(engine, settings, "Mandarin, clean", clean, "zh", Path(tmp))
                noisy = with_noise(clean, args.noise_db)
                sets[f"zh_noise_{args.noise_db:g}db"] = await measure_set(
                    engine, settings, f"Mandarin, {args.noise_db:g} dB", noisy, "zh", Path(tmp)
                )
            if args.en is not None and args.en.is_dir():
                sets["en"] = await measure_set(
                    engine, settings, f"English ({args.en.name})", load_set(args.en, "en", args.limit), "en", Path(tmp)
                )
            faces = await measure_faces(args.model_dir, args.photos, Path(tmp)) if (args.photos / COUNTS_FILE).is_file() else None
    finally:
        await engine.close()
    return {
        "sets": sets,
        "faces": faces,
        "final_beam_size": settings.final_beam_size,
        "whisper_encoder": settings.whisper_encoder,
        "early_final_after_s": settings.early_final_after_s,
        "join_pauses_below_s": settings.join_pauses_below_s,
        "machine": f"{os.cpu_count()} CPU cores" if args.device != "cuda" else "cuda",
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def add_speech_set_arguments(parser: argparse.ArgumentParser) -> None:
    """The sets a recognition benchmark reads (as `scripts/test.sh` prepares them) and the models it runs."""
    zh_default = os.environ.get("INTERVIEW_ZH_SPEECH_DIR", "data/test-speech/zh")
    en_default = os.environ.get("INTERVIEW_EN_SPEECH_DIR", "data/test-speech/en")
    parser.add_argument("--zh", type=Path, default=Path(zh_default), help="Mandarin clips (NN.wav + NN.txt)")
    parser.add_argument("--en", type=Path, default=Path(en_default), help="English clips (NN.wav + NN.txt)")
    parser.add_argument("--noise-db", type=float, default=10.0, help="SNR of the noisy Mandarin copy")
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("INTERVIEW_MODEL_DIR", "data/models")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_speech_set_arguments(parser)
    photos_default = os.environ.get("INTERVIEW_GROUP_PHOTOS_DIR", "data/test-photos")
    parser.add_argument("--photos", type=Path, default=Path(photos_default), help="group photos with counts.json")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--limit", type=int, default=0, help="at most this many clips a set (0: all; a quick look)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = asyncio.run(bench(args))
    out = args.out or RESULTS_DIR / f"bench_recognition-{args.device}-{os.cpu_count()}core.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
