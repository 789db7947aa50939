"""Real English speech for the recognition benchmark, from a registry package: the LibriVox recordings in pocketsphinx's
sdist (test/data/librivox: Sense and Sensibility, chapter 1, one reader, five clips, 25 s; LibriVox recordings are in the
public domain; the sdist is BSD-licensed), written as NN.wav (16 kHz mono) + NN.txt.

    python -m tests.tools.prepare_english_speech OUT_DIR

Downloads the sdist with pip (the package registry is the only network it needs), checks its sha256 and extracts the
clips; nothing is committed. Far short of the recognition issue's 5 minutes from 5 speakers: no registry package found
so far ships more real English speech with transcripts (faster-whisper, openai-whisper, SpeechRecognition and speechbrain
sdists carry none); point the benchmark's --en at any folder of real recordings in the same layout.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "pocketsphinx==5.1.1"
SHA256 = "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355"
MEMBERS = "pocketsphinx-5.1.1/test/data/librivox/"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", PACKAGE, "-d", tmp], check=True)
        sdist = next(Path(tmp).glob("pocketsphinx-*.tar.gz"))
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SHA256:
            raise SystemExit(f"{sdist.name}: sha256 {digest}, expected {SHA256}")
        with tarfile.open(sdist) as archive:
            ids = archive.extractfile(MEMBERS + "fileids")
            assert ids is not None
            for n, name in enumerate(ids.read().decode().split()):
                for suffix in (".wav", ".txt"):
                    member = archive.extractfile(MEMBERS + name + suffix)
                    assert member is not None
                    data = member.read()
                    (out / f"{n:02d}{suffix}").write_bytes(data.strip() + b"\n" if suffix == ".txt" else data)
    (out / "SOURCE.txt").write_text(
        f"{PACKAGE} sdist (sha256 {SHA256}), {MEMBERS}: LibriVox recordings (public domain) of Sense and Sensibility, "
        "chapter 1, one reader.\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
