"""The recogniser a node's workers share: their decodes merged, most urgent first, transcripts as decoded alone;
a client that breaks the protocol is cut off alone; a recogniser that is gone fails a call at once."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from realtime_scoring.engine import EngineConfig
from realtime_scoring.pipeline import load_whisper
from realtime_scoring.shared_recogniser.client import RecogniserUnavailable, RemoteTranscriber
from realtime_scoring.shared_recogniser.server import RecogniserServer
from realtime_scoring.shared_recogniser.wire import FRAME, MAX_HEADER_BYTES, frame, read_frame_blocking
from realtime_scoring.transcription_service import FINAL, PARTIAL, SCORED, TranscriptionService
from realtime_scoring.whisper.transcriber import Transcript, WhisperTranscriber
from tests.conftest import MODEL_DIR
from tests.helpers.media_files import make_speech_wav, read_wav_mono
from tests.helpers.waiting import wait_until

RATE = 16_000
SENTENCES = {
    "team": "I led a small team that built the mobile app.",
    "release": "We released a new version every two weeks.",
    "cache": "I would cache the hot keys in memory.",
    "review": "Every change was reviewed by two people.",
}


@pytest.fixture(scope="module")
def whisper() -> WhisperTranscriber:
    transcriber, _ = load_whisper(MODEL_DIR, EngineConfig(device="cpu", intra_op_threads=1), "int8")
    return transcriber


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    directory = tmp_path_factory.mktemp("sentences")
    out = {}
    for name, text in SENTENCES.items():
        samples, rate = read_wav_mono(make_speech_wav(directory / f"{name}.wav", text, rate=RATE))
        assert rate == RATE
        out[name] = samples
    return out


class Gate:
    """The real recogniser, holding its first batch until the test opens the gate: requests sent meanwhile queue."""

    def __init__(self, transcriber: WhisperTranscriber) -> None:
        self.transcriber = transcriber
        self.opened = threading.Event()
        self.batches: list[int] = []  # clips per batch, in the order they ran

    def transcribe_batch(
        self, clips: Sequence[np.ndarray], language: str | None = None, prompt: str | None = None, beam_size: int = 1
    ) -> list[Transcript]:
        self.opened.wait(60)
        self.batches.append(len(clips))
        return self.transcriber.transcribe_batch(clips, language, prompt, beam_size)


async def serving(transcriber: WhisperTranscriber | Gate, path: Path, threads: int = 1) -> RecogniserServer:
    server = RecogniserServer(transcriber, threads=threads)
    await server.start(path)
    return server


@pytest.fixture
def socket_path(tmp_path: Path) -> Path:
    return tmp_path / "recogniser.sock"


@pytest.fixture
async def clients(socket_path: Path) -> AsyncIterator[list[RemoteTranscriber]]:
    made = [RemoteTranscriber(socket_path) for _ in range(4)]  # as four workers' decode threads
    yield made
    for client in made:
        client.close()


async def test_decodes_from_several_workers_run_as_one_batch_most_urgent_first_and_read_as_alone(
    whisper: WhisperTranscriber, clips: dict[str, np.ndarray], socket_path: Path, clients: list[RemoteTranscriber]
) -> None:
    gate = Gate(whisper)
    server = await serving(gate, socket_path)
    try:
        finished: list[str] = []

        async def decode(client: RemoteTranscriber, name: str, priority: int, beam: int = 5) -> Transcript:
            [result] = await asyncio.to_thread(client.transcribe_batch_ordered, [clips[name]], "en", None, beam, priority)
            finished.append(name)
            return result

        first = asyncio.create_task(decode(clients[0], "team", FINAL))
        await wait_until(lambda: server.stats.requests == 1, what="the first decode under way")
        # While it runs: a partial caption (greedy), then two finals from two other workers, then a scored decode.
        partial = asyncio.create_task(decode(clients[1], "cache", PARTIAL, beam=1))
        await wait_until(lambda: server.stats.requests == 2, what="the partial queued")
        finals = [asyncio.create_task(decode(clients[i], name, FINAL)) for i, name in ((2, "release"), (3, "review"))]
        await wait_until(lambda: server.stats.requests == 4, what="the finals queued")
        gate.opened.set()
        results = await asyncio.gather(first, *finals, partial)

        assert gate.batches == [1, 2, 1], "the two finals waiting ran as one batch"
        assert finished.index("cache") == 3, "the partial, queued first, ran after the finals"
        assert server.stats.merged == 2 and server.stats.batches == 3
        for (name, beam), result in zip((("team", 5), ("release", 5), ("review", 5), ("cache", 1)), results, strict=True):
            alone = whisper.transcribe_batch([clips[name]], "en", None, beam)[0]
            assert (result.text, result.segments, result.language) == (alone.text, alone.segments, alone.language)
            assert result.avg_logprob == pytest.approx(alone.avg_logprob)
        assert "mobile app" in results[0].text.lower()
    finally:
        gate.opened.set()
        await server.close()


def raw_exchange(path: Path, message: bytes) -> tuple[dict[str, object], bool]:
    """Send `message` on a new connection: the reply's header, and whether the recogniser then closed the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(message)
        header, _ = read_frame_blocking(sock)
        return header, sock.recv(1) == b""


async def test_a_client_that_breaks_the_protocol_is_cut_off_and_the_others_are_served(
    whisper: WhisperTranscriber, clips: dict[str, np.ndarray], socket_path: Path, clients: list[RemoteTranscriber]
) -> None:
    server = await serving(whisper, socket_path)
    try:
        samples = clips["cache"].astype(np.float32)
        request = {"language": "en", "prompt": None, "beam_size": 1, "priority": FINAL, "clips": [len(samples)]}
        broken = {
            "a header longer than allowed": FRAME.pack(MAX_HEADER_BYTES + 1, 0),
            "a payload longer than allowed": FRAME.pack(10, 1 << 31),
            "a header that is not JSON": FRAME.pack(5, 0) + b"{nope",
            "samples that do not match their count": frame(request, samples[:-1].tobytes()),
            "samples that are not numbers": frame(request, np.full(len(samples), np.nan, np.float32).tobytes()),
            "a beam too wide": frame({**request, "beam_size": 64}, samples.tobytes()),
            "too many clips": frame({**request, "clips": [1] * 17}, np.zeros(17, np.float32).tobytes()),
        }
        for what, message in broken.items():
            header, closed = await asyncio.to_thread(raw_exchange, socket_path, message)
            assert header.get("invalid") is True and header.get("error"), what
            assert closed, f"{what}: the connection is closed"
        assert server.stats.refused == len(broken)

        # A language the recogniser does not know is refused for that request alone; the connection goes on.
        with pytest.raises(ValueError, match="language"):
            await asyncio.to_thread(clients[0].transcribe_batch, [samples], "xx")
        [heard] = await asyncio.to_thread(clients[0].transcribe_batch, [samples], "en")
        assert "cache" in heard.text.lower()
        stats = await asyncio.to_thread(clients[1].server_stats)
        assert stats["requests"] == 2 and stats["refused"] == len(broken) and stats["client_processes"] == 1
    finally:
        await server.close()


async def test_a_recogniser_that_is_gone_fails_a_call_at_once_and_the_next_call_reaches_its_successor(
    whisper: WhisperTranscriber, clips: dict[str, np.ndarray], socket_path: Path, clients: list[RemoteTranscriber]
) -> None:
    client = clients[0]
    with pytest.raises(RecogniserUnavailable):
        await asyncio.to_thread(client.transcribe_batch, [clips["cache"]], "en")
    server = await serving(whisper, socket_path)
    [before] = await asyncio.to_thread(client.transcribe_batch, [clips["cache"]], "en")
    await server.close()
    with pytest.raises(RecogniserUnavailable):
        await asyncio.to_thread(client.transcribe_batch, [clips["cache"]], "en")
    successor = await serving(whisper, socket_path)
    try:
        [after] = await asyncio.to_thread(client.transcribe_batch, [clips["cache"]], "en")
        assert after.text == before.text and "cache" in after.text.lower()
    finally:
        await successor.close()


async def test_only_the_service_user_may_open_the_socket(whisper: WhisperTranscriber, socket_path: Path) -> None:
    server = await serving(whisper, socket_path)
    try:
        assert socket_path.stat().st_mode & 0o777 == 0o600
    finally:
        await server.close()


def test_a_header_over_the_limit_is_refused_before_it_is_sent() -> None:
    with pytest.raises(ValueError, match="over"):
        frame({"text": "x" * (MAX_HEADER_BYTES + 1)})


async def test_a_workers_transcription_service_tells_the_recogniser_what_is_urgent(
    whisper: WhisperTranscriber, clips: dict[str, np.ndarray], socket_path: Path, clients: list[RemoteTranscriber]
) -> None:
    gate = Gate(whisper)
    server = await serving(gate, socket_path)
    partials = TranscriptionService(clients[0], beam_size=5)  # one worker, captions on
    finals = TranscriptionService(clients[1], beam_size=5)  # another worker, an utterance ending
    try:
        held = asyncio.create_task(asyncio.to_thread(clients[2].transcribe_batch, [clips["team"]], "en"))
        await wait_until(lambda: server.stats.requests == 1, what="a decode holding the recogniser")
        order: list[str] = []

        async def caption() -> None:
            await partials.transcribe(clips["cache"], "en", final=False, key="candidate-1")
            order.append("partial")

        async def scored() -> None:
            await finals.transcribe(clips["review"], "en", final=True, key="candidate-2", beam=True, priority=SCORED)
            order.append("scored")

        waiting = [asyncio.create_task(caption())]
        await wait_until(lambda: server.stats.requests == 2, what="the partial queued")
        waiting.append(asyncio.create_task(scored()))
        await wait_until(lambda: server.stats.requests == 3, what="the scored decode queued")
        gate.opened.set()
        await asyncio.gather(held, *waiting)
        assert order == ["scored", "partial"]
    finally:
        gate.opened.set()
        await partials.close()
        await finals.close()
        await server.close()


class HeldPartials:
    """The real recogniser; a partial (a greedy decode) waits until the test lets it go, and a final (a beam search)
    waits until another final is decoding beside it: finals can only finish if two run at once."""

    def __init__(self, transcriber: WhisperTranscriber) -> None:
        self.transcriber = transcriber
        self.partials_go = threading.Event()
        self.finals_together = threading.Barrier(2, timeout=30)
        self.partial_started = threading.Event()

    def transcribe_batch(
        self, clips: Sequence[np.ndarray], language: str | None = None, prompt: str | None = None, beam_size: int = 1
    ) -> list[Transcript]:
        if beam_size == 1:
            self.partial_started.set()
            self.partials_go.wait(60)
        else:
            self.finals_together.wait()
        return self.transcriber.transcribe_batch(clips, language, prompt, beam_size)


async def test_a_partial_under_way_never_holds_a_thread_that_finals_need(
    whisper: WhisperTranscriber, clips: dict[str, np.ndarray], socket_path: Path, clients: list[RemoteTranscriber]
) -> None:
    held = HeldPartials(whisper)
    server = RecogniserServer(held, threads=2)
    await server.start(socket_path)
    try:
        partial = asyncio.create_task(asyncio.to_thread(clients[0].transcribe_batch_ordered, [clips["cache"]], "en", None, 1, PARTIAL))
        await wait_until(held.partial_started.is_set, what="a partial decoding")
        # Two finals that cannot share a batch (two languages): both of the recogniser's threads are theirs.
        english = asyncio.to_thread(clients[1].transcribe_batch_ordered, [clips["team"]], "en", None, 5, FINAL)
        mandarin = asyncio.to_thread(clients[2].transcribe_batch_ordered, [clips["release"]], "zh", None, 5, FINAL)
        [heard], _ = await asyncio.gather(english, mandarin)
        assert "mobile app" in heard.text.lower()
        assert not partial.done(), "the partial was still held while both finals ran"
        held.partials_go.set()
        [caption] = await partial
        assert "cache" in caption.text.lower()
    finally:
        held.partials_go.set()
        await server.close()
