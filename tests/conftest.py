"""Shared fixtures: a real server on loopback, invites, and generated test media."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from loadtests.whip_client import give_consent
from server.composition import create_app
from server.domain.interview import Interview
from server.ops.connection_limits import uvicorn_config
from server.rtc.media_consumers import MediaConsumer, level_meter_consumer
from server.settings import Settings
from server.web.context import Services
from tests.helpers.media_files import make_face_video, make_speech_wav
from tests.helpers.redis_server import RedisServer, redis_client, redis_server  # noqa: F401 - the fixtures of tests that need a real Redis
from tests.helpers.webrtc import CapturingConsumer

API_KEY = "test-api-key-0123456789"
# Browser libraries (Chart.js), prepared from the npm registry by scripts/test.sh before the suite loses the network.
ASSET_DIR = Path(os.environ.get("INTERVIEW_ASSET_DIR", Path(__file__).resolve().parent.parent / "data" / "assets"))


def loopback_only() -> bool:
    """True inside a network namespace whose only interface is lo (how WebRTC tests must run)."""
    return sorted(p.name for p in Path("/sys/class/net").iterdir()) == ["lo"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if loopback_only():
        return
    skip = pytest.mark.skip(reason="WebRTC tests run only in a loopback-only network namespace: use scripts/test.sh")
    for item in items:
        if "webrtc" in item.keywords or "browser" in item.keywords:
            item.add_marker(skip)


_ports_given: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, and never one given before in this run: a test may hold a port unbound for a
    while (a webhook receiver that is down until the end) and start a server meanwhile, which must not get the same
    one (it did once: the receiver then could not bind, and the node took its webhooks)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "secret_key": "test-secret-key-0123456789abcdef",
        "api_keys": [API_KEY],
        "ice_host_addresses": ["127.0.0.1"],
        "ice_allowed_networks": ["127.0.0.0/8"],
        "ice_connect_timeout_s": 10.0,
        "port": free_port(),
        "asset_dir": ASSET_DIR,
        # A test's server must not refuse an interview because the machine running the suite is busy (or because the
        # shared recogniser was busy in the test before): admission is tested where a test turns it on.
        "admission_control": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


STORE_BACKENDS = ["sqlite", "redis"]


@pytest.fixture(params=STORE_BACKENDS)
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, object]]:
    """Settings overrides for each interview store: SQLite in the data dir, or a real redis-server of the test's own."""
    if request.param == "sqlite":
        yield {}
        return
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield {"redis_url": server.url, "store": "redis", "node_id": "node-test"}
    finally:
        server.stop()


@dataclass
class LiveServer:
    app: Starlette
    settings: Settings
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        return self.settings.base_url

    @property
    def services(self) -> Services:
        return self.app.state.services

    async def schedule(
        self, questions: int = 3, language: str = "en", job_title: str = "Backend engineer", *, consent: bool = True, **spec: object
    ) -> tuple[Interview, str]:
        """Create an interview through the HR API (`questions` plain ones, asked in order); return it and its invite
        token. With `consent` the candidate has agreed to recording and AI scoring, as the page's consent step does."""
        body = {
            "job": {"title": job_title, "language": language, "required_skills": [{"name": "Python"}], "competencies": {"skills": 1}},
            "candidate": {"name": "Alex Chen", "skills": ["Python"], "years_experience": 3},
            "question_bank": [
                {"id": f"q{i + 1}", "competency": "skills", "difficulty": "standard", "text": {language: f"Question number {i + 1}?"}}
                for i in range(questions)
            ],
            "max_questions": questions,
            **spec,
        }
        response = await self.http.post(f"{self.url}/api/v1/interviews", json=body, headers={"Authorization": f"Bearer {API_KEY}"})
        assert response.status_code == 201, response.text
        data = response.json()
        if consent:
            await give_consent(self.http, f"{self.url}/api/v1/interviews/{data['interview']['id']}", data["invite_token"])
        return Interview.model_validate(data["interview"]), data["invite_token"]

    async def interview_state(self, interview_id: str) -> dict:
        response = await self.http.get(f"{self.url}/api/v1/interviews/{interview_id}", headers={"X-API-Key": API_KEY})
        assert response.status_code == 200, response.text
        return response.json()


async def start_server(
    settings: Settings, consumer: MediaConsumer | None = level_meter_consumer, engine: object = None
) -> tuple[uvicorn.Server, asyncio.Task[None], Starlette]:
    app = create_app(settings, media_consumer=consumer, engine=engine)  # type: ignore[arg-type]
    config = uvicorn_config(app, settings.model_copy(update={"host": "127.0.0.1"}), log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        await asyncio.sleep(0.02)
    return server, task, app


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, consumer: MediaConsumer | None = level_meter_consumer, engine: object = None
) -> AsyncIterator[LiveServer]:
    """Run a real uvicorn server with `settings` (and a shared scoring `engine`) for the block."""
    server, task, app = await start_server(settings, consumer, engine)
    try:
        async with httpx.AsyncClient(timeout=20) as http:
            yield LiveServer(app=app, settings=settings, http=http)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def live_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    """A real uvicorn server on a free loopback port, media-only (level meter)."""
    async with serving(make_settings(tmp_path / "data")) as server:
        yield server


@pytest.fixture
def capture() -> CapturingConsumer:
    """A media consumer that keeps what the server decoded, for tests to inspect."""
    return CapturingConsumer()


@pytest.fixture
async def capturing_server(tmp_path: Path, capture: CapturingConsumer) -> AsyncIterator[LiveServer]:
    async with serving(make_settings(tmp_path / "data"), capture) as server:
        yield server


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def speech_wav(media_dir: Path) -> Path:
    return make_speech_wav(media_dir / "speech.wav")


@pytest.fixture(scope="session")
def face_y4m(media_dir: Path) -> Path:
    return make_face_video(media_dir / "face.y4m")


MODEL_DIR = Path(os.environ.get("INTERVIEW_MODEL_DIR", Path(__file__).resolve().parent.parent / "data" / "models"))


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """Where prepared models live; scripts/test.sh prepares them before the suite (which has no network)."""
    return MODEL_DIR


def prepared_model_files(*names: str) -> dict[str, dict[str, Path]]:
    """Prepare (if needed) and hash-check the named models; return their files by model and file name."""
    from realtime_scoring.models.manifest import load_manifest, verified_files
    from realtime_scoring.models.prepare import prepare_all

    prepare_all(MODEL_DIR, names=list(names))
    manifest = load_manifest(MODEL_DIR)
    return {name: verified_files(manifest[name], MODEL_DIR) for name in names}


@pytest.fixture(scope="session")
def sentence_embedder() -> object:
    """The real multilingual sentence-embedding model, loaded once for the session."""
    from realtime_scoring.embeddings import MODEL_FILE, SentenceEmbedder, create_embedding_session

    files = prepared_model_files("sentence-embedding")["sentence-embedding"]
    return SentenceEmbedder(create_embedding_session(files[MODEL_FILE]))


@pytest.fixture(scope="session")
async def scoring_engine() -> AsyncIterator[object]:
    """Every model loaded once for the whole test session, on the CPU, as a node would at start-up."""
    from realtime_scoring.engine import EngineConfig
    from realtime_scoring.pipeline import ScoringEngine

    prepared_model_files("silero-vad", "face-detector", "face-emotion", "whisper-base", "sentence-embedding")
    engine = await asyncio.to_thread(ScoringEngine.load, MODEL_DIR, EngineConfig(device="cpu"))
    yield engine
    await engine.close()


# A test still running after this long prints what each asyncio task awaits (pytest-timeout's dump shows only threads,
# and an idle event loop says nothing about which await never returns).
STUCK_AFTER_S = float(os.environ.get("INTERVIEW_TEST_STUCK_AFTER_S", "120"))


def _print_tasks(test: str) -> None:
    print(f"\n--- {test} still running after {STUCK_AFTER_S:g} s; asyncio tasks:", file=sys.stderr)
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=sys.stderr)


@pytest.fixture(autouse=True)
async def report_stuck_tasks(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    handle = asyncio.get_running_loop().call_later(STUCK_AFTER_S, _print_tasks, request.node.nodeid)
    try:
        yield
    finally:
        handle.cancel()
