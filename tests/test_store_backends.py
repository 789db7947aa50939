"""Both interview stores, SQLite and Redis (a real redis-server), behave the same, and the Redis one keeps each change with its event."""

from __future__ import annotations

import asyncio
import inspect
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from redis.exceptions import OutOfMemoryError

from hrms_bridge import retention
from server.domain.interview import InterviewSpec, InterviewStatus
from server.live.sessions import recordings_dir, remove_erased_recordings
from server.storage import redis_webhook_deliveries
from server.storage.contract import Store
from server.storage.outbox import EventType
from server.storage.redis_client import Keys, store_durability_warnings
from server.storage.redis_store import RedisInterviewStore
from server.storage.redis_webhook_deliveries import RedisDeliveryStore
from server.storage.rows import InterviewRef, ObservationRow, RecordingRow, StoredResponse, TranscriptRow, TranscriptSegment
from server.storage.sealed import Sealer
from server.storage.sqlite_store import InterviewStore
from server.storage.webhook_deliveries import DEAD, DELIVERED, PENDING, Deliveries, Delivery, DeliveryStore
from tests.conftest import API_KEY, STORE_BACKENDS, make_settings, serving
from tests.helpers.interviews import invite
from tests.helpers.redis_server import RedisServer
from tests.helpers.rows import observation, scored_answer

SEALER = Sealer.generate()  # the secrets at rest, as a node seals them
KEYS = Keys("store-test:")
SPEC = InterviewSpec.model_validate(
    {
        "job": {"title": "Backend engineer", "language": "en"},
        "candidate": {"name": "Li Lei"},
        "mode": "text",
        "max_questions": 1,
        "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
    }
)


@pytest.fixture(params=STORE_BACKENDS)
async def store_and_deliveries(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, Deliveries, redis.Redis | None]]:
    """An interview store with the delivery store beside it (and the Redis client, for the Redis pair)."""
    if request.param == "sqlite":
        store: Store = await InterviewStore.open(tmp_path / "interviews.sqlite3")
        deliveries: Deliveries = await DeliveryStore.open(tmp_path / "interviews.sqlite3", SEALER)
        try:
            yield store, deliveries, None
        finally:
            await deliveries.close()
            await store.close()
        return
    server = RedisServer(tmp_path / "redis")
    server.start()
    client = redis.Redis.from_url(server.url)
    try:
        yield RedisInterviewStore(client, KEYS), RedisDeliveryStore(client, KEYS, SEALER), client
    finally:
        await client.aclose()
        server.stop()


@pytest.fixture
def store(store_and_deliveries: tuple[Store, Deliveries, redis.Redis | None]) -> Store:
    return store_and_deliveries[0]


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(f) for name, f in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


@pytest.mark.parametrize(
    ("protocol", "implementations"),
    [
        (Store, (InterviewStore, RedisInterviewStore)),
        (Deliveries, (DeliveryStore, RedisDeliveryStore)),
    ],
)
def test_both_backends_offer_every_method_of_the_interface_with_the_same_parameters(
    protocol: type, implementations: tuple[type, ...]
) -> None:
    wanted = public_methods(protocol)
    for implementation in implementations:
        offered = public_methods(implementation)
        for name, signature in wanted.items():
            assert name in offered, f"{implementation.__name__} lacks {name}"
            assert list(offered[name].parameters) == list(signature.parameters), f"{implementation.__name__}.{name}"


async def test_an_interview_and_all_it_records_read_back_the_same_from_either_store(store: Store) -> None:
    first = await store.create_interview(SPEC, invite("iv-1"), "iv-1", tenant="acme", job_id="job-1", candidate_id="cand-1")
    await asyncio.sleep(0.01)
    linked = invite("iv-2")
    await store.create_interview(SPEC, linked, "iv-2", tenant="acme", candidate_id="cand-1")
    await store.create_interview(SPEC, invite("iv-3"), "iv-3", tenant="globex")
    assert await store.get_interview("iv-1", tenant="globex") is None and await store.get_interview("nope") is None
    assert (await store.get_interview("iv-1", tenant="acme")) == first
    assert [i.id for i in await store.recent_interviews("acme")] == ["iv-2", "iv-1"]
    assert await store.interview_ids("acme", candidate_id="cand-1") == [
        InterviewRef(id="iv-1", status="scheduled"),
        InterviewRef(id="iv-2", status="scheduled"),
    ]
    assert await store.interview_ids("acme", candidate_id="cand-1", job_id="job-1") == [InterviewRef(id="iv-1", status="scheduled")]
    assert await store.short_link(linked.code) == linked.token and await store.short_link("nope") is None

    # A renewed invite: the new short link works, the expiry moves, interview.scheduled carries the new links.
    renewal = invite("iv-2", ttl_s=7200)
    renewed = await store.renew_invite(await store.get_interview("iv-2") or first, renewal)
    assert renewed.invite_expires_at == renewal.expires_at == (await store.get_interview("iv-2")).invite_expires_at  # type: ignore[union-attr]
    assert await store.short_link(renewal.code) == renewal.token

    asked_at = time.time()
    await store.update_progress("iv-1", InterviewStatus.IN_PROGRESS, 1, question_asked_at=asked_at)
    await store.update_progress("iv-1", InterviewStatus.IN_PROGRESS, 2)  # no new question: the asked time stays
    moved = await store.get_interview("iv-1")
    assert moved is not None and (moved.status, moved.current_question, moved.question_asked_at) == (
        InterviewStatus.IN_PROGRESS,
        2,
        asked_at,
    )
    assert (await store.set_mode(moved, "voice")).mode == "voice" and (await store.get_interview("iv-1")).mode == "voice"  # type: ignore[union-attr]

    await store.record_answer("iv-1", "q1", "text", "Because 索引.")
    await store.record_answer("iv-1", "", "chat.hr", "Hello")
    assert [(a.question_id, a.kind, a.text) for a in await store.answers("iv-1")] == [
        ("q1", "text", "Because 索引."),
        ("", "chat.hr", "Hello"),
    ]
    transcript = TranscriptRow(
        question_id="q1",
        start_s=0.5,
        end_s=1.0,
        language="zh",
        text="因为索引",
        segments=[TranscriptSegment(start_s=0.5, end_s=1.0, text="因为索引")],
    )
    await store.record_transcript("iv-1", transcript)
    assert await store.transcripts("iv-1") == [transcript]
    for second in range(3):
        await store.record_observation("iv-1", "face", observation(second, {"faces": second}))
    await store.record_observation("iv-1", "emotion", observation(0, {"happy": 0.5}))
    assert [o.data for o in await store.observations("iv-1", "face")] == [{"faces": 0}, {"faces": 1}, {"faces": 2}]
    assert await store.observations("iv-1", "emotion") == [ObservationRow(question_id="q1", start_s=0, end_s=1, data={"happy": 0.5})]
    for index in (10, 2, 0):  # read back by index, not in the order written; a rewrite replaces
        await store.record_scored_answer("iv-1", scored_answer(index, f"q{index}"))
    await store.record_scored_answer("iv-1", scored_answer(2, "q2", score=80.0))
    assert await store.scored_answers("iv-1") == [scored_answer(0, "q0"), scored_answer(2, "q2", score=80.0), scored_answer(10, "q10")]
    await store.add_recording("iv-1", "200-bbbbbbbb.flac", 30.0, 5.0)
    await store.add_recording("iv-1", "100-aaaaaaaa.flac", 0.0, 29.5)
    assert await store.recordings("iv-1") == [
        RecordingRow(name="100-aaaaaaaa.flac", starts_s=0.0, seconds=29.5, media_type="audio/flac"),
        RecordingRow(name="200-bbbbbbbb.flac", starts_s=30.0, seconds=5.0, media_type="audio/flac"),
    ]
    decided = await store.record_decision(first, "advance", "strong", "hr@acme")
    assert [(d.decision, d.note, d.decided_by) for d in await store.decisions("iv-1")] == [("advance", "strong", "hr@acme")]
    assert decided["candidate_id"] == "cand-1"
    assert await store.report("iv-1") is None
    await store.save_report(first, "1.0", json.dumps({"overall": 71}), {"interview_id": "iv-1"})
    report = await store.report("iv-1")
    assert report is not None and report.report == {"overall": 71} and report.created_at <= time.time()
    assert await store.wechat_profile("iv-1") is None
    await store.save_wechat_profile("iv-1", "openid-1", "小李", "https://wx.example/a.png")
    await store.save_wechat_profile("iv-1", "openid-1", "小李子", "https://wx.example/b.png")  # shared again: replaced
    wechat = await store.wechat_profile("iv-1")
    assert wechat is not None and (wechat.openid, wechat.nickname, wechat.avatar_url) == ("openid-1", "小李子", "https://wx.example/b.png")

    assert await store.put_profile("candidates", "acme", "cand-1", json.dumps({"name": "Li Lei"}))
    assert not await store.put_profile("candidates", "acme", "cand-1", json.dumps({"name": "Li Lei", "tags": ["x"]}))
    assert await store.profile("candidates", "acme", "cand-1") == {"name": "Li Lei", "tags": ["x"]}
    assert await store.profile("candidates", "globex", "cand-1") is None
    with pytest.raises(ValueError):
        await store.put_profile("secrets", "acme", "x", "{}")

    await store.erase("acme", ["iv-1", "iv-2"], "cand-1")
    for interview_id in ("iv-1", "iv-2"):
        assert await store.get_interview(interview_id) is None
        assert await store.answers(interview_id) == [] and await store.observations(interview_id, "face") == []
        assert await store.report(interview_id) is None and await store.recordings(interview_id) == []
    assert await store.profile("candidates", "acme", "cand-1") is None and await store.short_link(linked.code) is None
    assert await store.interview_ids("acme") == [] and [i.id for i in await store.recent_interviews("globex")] == ["iv-3"]


async def test_nothing_is_recorded_for_an_interview_that_was_deleted(store: Store) -> None:
    created = await store.create_interview(SPEC, invite("gone"), "gone")
    await store.delete_interview("gone")
    for write in (
        store.record_answer("gone", "q1", "text", "late"),
        store.record_observation("gone", "face", observation(0, {})),
        store.save_report(created, "1.0", "{}", {"interview_id": "gone"}),
    ):
        with pytest.raises((LookupError, sqlite3.IntegrityError)):
            await write
    await store.update_progress("gone", InterviewStatus.COMPLETED, 1)  # an update of nothing is nothing
    assert await store.get_interview("gone") is None and await store.answers("gone") == []
    assert await store.observations("gone", "face") == [] and await store.report("gone") is None


async def test_a_stored_response_is_replayed_byte_for_byte_until_it_is_too_old(store: Store) -> None:
    body = b'{"id": "\xe4\xb8\xad"}\x00'
    await store.remember_response("acme", "key-1", "fp", 201, body, "application/json", '{"location": "/x"}')
    stored = await store.idempotent_response("acme", "key-1")
    assert stored == StoredResponse(fingerprint="fp", status=201, body=body, media_type="application/json", headers='{"location": "/x"}')
    assert await store.idempotent_response("globex", "key-1") is None
    await asyncio.sleep(0.05)
    assert await store.idempotent_response("acme", "key-1", max_age_s=0.01) is None


async def test_each_change_and_its_event_are_written_together_and_the_event_enters_the_webhook_stream(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    store = RedisInterviewStore(redis_client, KEYS)
    woken: list[int] = []
    store.on_event = lambda: woken.append(1)
    created = await store.create_interview(SPEC, invite("iv-1"), "iv-1", tenant="acme")
    await store.update_progress(
        "iv-1", InterviewStatus.IN_PROGRESS, 0, announce=created.model_copy(update={"status": InterviewStatus.IN_PROGRESS})
    )
    await store.record_answer("iv-1", "q1", "text", "no event for this")
    entries = await redis_client.xrange(KEYS.webhook_stream())
    events = [await redis_client.hgetall(KEYS.event(fields[b"event_id"].decode())) for _, fields in entries]
    assert [e[b"type"] for e in events] == [b"interview.scheduled", b"interview.started"] and len(woken) == 2
    assert {e[b"tenant"] for e in events} == {b"acme"} and {e[b"subject"] for e in events} == {b"iv-1"}
    assert json.loads(events[1][b"payload"])["data"]["status"] == "in_progress"

    # Redis refuses the transaction (here: out of memory): neither the change nor its event is written.
    await redis_client.config_set("maxmemory", 1)
    try:
        with pytest.raises(OutOfMemoryError):
            await store.cancel_interview(created)
    finally:
        await redis_client.config_set("maxmemory", 0)
    assert (await store.get_interview("iv-1")).status == InterviewStatus.IN_PROGRESS  # type: ignore[union-attr]
    assert await redis_client.xlen(KEYS.webhook_stream()) == 2


async def _stream_event_ids(client: redis.Redis) -> list[str]:
    """The events in the webhook stream, oldest first (what a node that reads it holds)."""
    return [f[b"event_id"].decode() for _, f in await client.xrange(KEYS.webhook_stream())]


async def _fanned_out(deliveries: Deliveries, client: redis.Redis | None) -> None:
    """Fan every new event out (the Redis store: those in the stream, as the node that reads them does)."""
    if client is None:
        await deliveries.fan_out()
    else:
        await deliveries.fan_out(await _stream_event_ids(client))


async def test_a_tenants_deliveries_in_every_status_come_a_page_at_a_time_newest_first_without_gaps_or_repeats(
    store_and_deliveries: tuple[Store, Deliveries, redis.Redis | None],
) -> None:
    """Pending, delivered and dead deliveries listed together (on Redis: merged from one index per status), one event's
    deliveries made at the same instant: a page boundary among them neither repeats nor skips one."""
    store, deliveries, client = store_and_deliveries
    for n in range(3):
        await deliveries.add_endpoint("acme", f"https://hr.example/hooks/{n}", [], "", None)
    for n in range(3):
        await store.create_interview(SPEC, invite(f"iv-{n}"), f"iv-{n}", tenant="acme")
    await _fanned_out(deliveries, client)
    claimed = await deliveries.claim_due(time.time() + 1, 30.0, 100)
    assert len(claimed) == 9
    outcomes = [DELIVERED, DEAD, PENDING]
    for n, delivery in enumerate(claimed):
        outcome = outcomes[n % 3]
        await deliveries.record_attempt(
            delivery,
            200 if outcome == DELIVERED else 500,
            None,
            5.0,
            outcome=outcome,
            next_attempt_at=time.time() + 60 if outcome == PENDING else None,
        )
    everything = await deliveries.deliveries("acme")
    assert len(everything) == 9 and {d.status for d in everything} == {DELIVERED, DEAD, PENDING}
    assert [(d.created_at, d.id) for d in everything] == sorted(((d.created_at, d.id) for d in everything), reverse=True)
    for size in (1, 2, 4):
        walked, before = [], None
        while page := await deliveries.deliveries("acme", limit=size, before=before):
            walked += page
            before = (page[-1].created_at, page[-1].id)
        assert [d.id for d in walked] == [d.id for d in everything], f"pages of {size}"
    for status in (DELIVERED, DEAD, PENDING):
        assert [d.id for d in await deliveries.deliveries("acme", status=status)] == [d.id for d in everything if d.status == status]
    assert await deliveries.deliveries("another-tenant") == []


async def test_a_disabled_endpoints_pending_deliveries_wait_and_are_claimed_again_once_it_is_enabled(
    store_and_deliveries: tuple[Store, Deliveries, redis.Redis | None],
) -> None:
    store, deliveries, client = store_and_deliveries
    endpoint, _ = await deliveries.add_endpoint("acme", "https://hr.example/hooks", [], "", None)
    await store.create_interview(SPEC, invite("iv-1"), "iv-1", tenant="acme")
    await _fanned_out(deliveries, client)
    now = time.time()
    (claimed,) = await deliveries.claim_due(now, 30.0, 10)
    assert await deliveries.claim_due(now, 30.0, 10) == [], "a claimed delivery is nobody else's until its lease ends"
    await deliveries.record_attempt(claimed, 503, "HTTP 503", 5.0, outcome=PENDING, next_attempt_at=now + 1)
    assert await deliveries.next_due_at() == pytest.approx(now + 1)

    await deliveries.set_enabled(endpoint.id, False, "the receiver answered 410 Gone")
    assert await deliveries.claim_due(now + 60, 30.0, 10) == [], "nothing goes to a disabled endpoint"
    await deliveries.set_enabled(endpoint.id, True)
    (again,) = await deliveries.claim_due(now + 60, 30.0, 10)
    assert (again.id, again.attempts, again.event_type) == (claimed.id, 1, "interview.scheduled")


async def test_events_fanned_out_together_are_claimed_an_event_at_a_time_in_the_order_they_were_written(
    store_and_deliveries: tuple[Store, Deliveries, redis.Redis | None],
) -> None:
    """A claim takes each event's deliveries together (one read of its payload, not one per delivery), first written
    first sent."""
    store, deliveries, client = store_and_deliveries
    for n in range(4):
        await deliveries.add_endpoint("acme", f"https://hr.example/hooks/{n}", [], "", None)
    for n in range(6):
        await store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"n": n})
    await _fanned_out(deliveries, client)
    claimed = await deliveries.claim_due(time.time() + 1, 30.0, 100)
    order = [json.loads(d.payload)["data"]["n"] for d in claimed]
    assert order == [n for n in range(6) for _ in range(4)]


async def test_a_fan_out_larger_than_one_script_holds_is_made_by_several_in_order(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script holds Redis while it runs: a node that takes over thousands of events fans them out a few hundred
    deliveries at a time, and still makes every one, first written first due."""
    monkeypatch.setattr(redis_webhook_deliveries, "FAN_OUT_SCRIPT_DELIVERIES", 6)  # an event of four deliveries a script
    store, deliveries = RedisInterviewStore(redis_client, KEYS), RedisDeliveryStore(redis_client, KEYS, SEALER)
    for n in range(4):
        await deliveries.add_endpoint("acme", f"https://hr.example/hooks/{n}", [], "", None)
    for n in range(5):
        await store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"n": n})
    event_ids = await _stream_event_ids(redis_client)
    assert await deliveries.fan_out(event_ids) == 20
    assert await deliveries.fan_out(event_ids) == 0, "made once"
    claimed = await deliveries.claim_due(time.time() + 1, 30.0, 100)
    assert [json.loads(d.payload)["data"]["n"] for d in claimed] == [n for n in range(5) for _ in range(4)]


async def test_each_attempt_reads_back_as_recorded_whatever_its_error_says(
    store_and_deliveries: tuple[Store, Deliveries, redis.Redis | None],
) -> None:
    store, deliveries, client = store_and_deliveries
    await deliveries.add_endpoint("acme", "https://hr.example/hooks", [], "", None)
    await store.create_interview(SPEC, invite("iv-1"), "iv-1", tenant="acme")
    await _fanned_out(deliveries, client)
    now = time.time()
    error = 'ReadError: "连接被重置" at https://hr.example/hooks\n\tretry?'
    (claimed,) = await deliveries.claim_due(now, 30.0, 10)
    await deliveries.record_attempt(claimed, None, error, 12.25, outcome=PENDING, next_attempt_at=now)
    (claimed,) = await deliveries.claim_due(now + 1, 30.0, 10)
    await deliveries.record_attempt(claimed, 200, None, 3.0, outcome=DELIVERED, next_attempt_at=None)
    (row,) = await deliveries.deliveries("acme")
    assert (row.status, row.attempts) == (DELIVERED, 2)
    first, second = row.history
    assert (first.attempt, first.status_code, first.error, first.duration_ms) == (1, None, error, pytest.approx(12.2))
    assert (second.attempt, second.status_code, second.error, second.duration_ms) == (2, 200, None, 3.0)
    assert now - 5 < first.at <= second.at < now + 5


async def test_pending_deliveries_written_before_the_due_index_existed_are_found_and_sent(redis_client: redis.Redis) -> None:
    """A cluster upgraded from a version that found due deliveries by reading each held event: the first claim after the
    upgrade adds what is pending to the index, once."""
    client = redis_client
    store, deliveries = RedisInterviewStore(client, KEYS), RedisDeliveryStore(client, KEYS, SEALER)
    await deliveries.add_endpoint("acme", "https://hr.example/hooks", [], "", None)
    for n in range(3):
        await store.create_interview(SPEC, invite(f"iv-{n}"), f"iv-{n}", tenant="acme")
    await _fanned_out(deliveries, client)
    (delivered,) = await deliveries.claim_due(time.time(), 30.0, 1)
    await deliveries.record_attempt(delivered, 200, None, 5.0, outcome=DELIVERED, next_attempt_at=None)
    await client.delete(KEYS.deliveries_due(), KEYS.deliveries_due_complete())  # as the earlier version left Redis

    upgraded = RedisDeliveryStore(client, KEYS, SEALER)
    claimed = await upgraded.claim_due(time.time(), 30.0, 10)
    assert len(claimed) == 2 and delivered.id not in {d.id for d in claimed}
    assert await client.exists(KEYS.deliveries_due_complete()), "the scan runs once for the cluster"


async def test_an_event_taken_over_from_a_node_of_the_version_before_the_due_index_gets_its_deliveries_sent(
    redis_client: redis.Redis,
) -> None:
    """A rolling upgrade: a node of the earlier version fanned an event out without indexing its deliveries, then
    stopped; the upgraded node that takes its stream entry over indexes them, so they are claimed and sent."""
    client = redis_client
    store, old_node = RedisInterviewStore(client, KEYS), RedisDeliveryStore(client, KEYS, SEALER)
    await old_node.add_endpoint("acme", "https://hr.example/hooks", [], "", None)
    await store.create_interview(SPEC, invite("iv-1"), "iv-1", tenant="acme")
    event_ids = await _stream_event_ids(client)
    assert await old_node.fan_out(event_ids) == 1
    await client.delete(KEYS.deliveries_due())  # as the earlier version left it: fanned out, nothing indexed
    await client.set(KEYS.deliveries_due_complete(), 1)  # and the cluster's one-time scan already ran

    upgraded = RedisDeliveryStore(client, KEYS, SEALER)
    assert await upgraded.claim_due(time.time(), 30.0, 10) == []
    assert await upgraded.fan_out(event_ids) == 0  # the entry, taken over: nothing new to create
    (claimed,) = await upgraded.claim_due(time.time(), 30.0, 10)
    assert claimed.event_type == "interview.scheduled"


async def test_old_finished_webhook_events_are_pruned_with_their_deliveries_and_pending_ones_stay(
    store_and_deliveries: tuple[Store, Deliveries, redis.Redis | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, deliveries, client = store_and_deliveries
    await deliveries.add_endpoint("acme", "https://hr.example/hooks", [], "", None)
    seen: list[str] = []

    async def fan_out() -> dict[str, Delivery]:
        """Fan every event out (the Redis store: those in the stream) and return the due deliveries by event type."""
        if isinstance(deliveries, DeliveryStore):
            await deliveries.fan_out()
            due = await deliveries.due(time.time() + 3600)
        else:
            assert client is not None
            seen[:] = await _stream_event_ids(client)
            await deliveries.fan_out(seen)
            due = await deliveries.due(time.time() + 3600, event_ids=seen)
        return {d.event_type: d for d in due}

    async def attempt(delivery: Delivery, outcome: str) -> None:
        retry_at = time.time() + 60 if outcome == PENDING else None
        await deliveries.record_attempt(
            delivery, 200 if outcome == DELIVERED else 500, None, 5.0, outcome=outcome, next_attempt_at=retry_at
        )

    created = await store.create_interview(SPEC, invite("iv-1"), "iv-1", tenant="acme")
    await store.update_progress(
        "iv-1", InterviewStatus.IN_PROGRESS, 0, announce=created.model_copy(update={"status": InterviewStatus.IN_PROGRESS})
    )
    await store.save_report(created, "1.0", "{}", {"interview_id": "iv-1"})
    first = await fan_out()
    scheduled, started, report = first["interview.scheduled"], first["interview.started"], first["report.ready"]
    await attempt(scheduled, PENDING)  # failed, retried in a minute
    await attempt(started, DELIVERED)
    await attempt(report, DEAD)
    assert await deliveries.replay("acme", report.id)  # a dead letter sent again is pending again

    # One at a time, the oldest first: the pending one is passed over, not counted.
    assert await deliveries.prune(time.time() + 1, limit=1) == 1
    assert {d.id for d in await deliveries.deliveries("acme")} == {scheduled.id, report.id}

    cut = time.time()
    await asyncio.sleep(0.01)
    await store.cancel_interview(created)  # an event not fanned out yet stays too
    assert await deliveries.prune(time.time() + 1) == 0
    second = await fan_out()
    await attempt(second["interview.scheduled"], DELIVERED)
    await attempt(second["report.ready"], DELIVERED)
    await attempt(second["interview.cancelled"], DELIVERED)
    monkeypatch.setattr(retention, "PRUNE_BATCH", 1)  # the periodic pruning goes on batch after batch
    assert await retention.prune_webhook_history(deliveries, 30 * 86400, now=cut + 30 * 86400) == 2, "the cancellation is newer"
    assert [d.event_type for d in await deliveries.deliveries("acme")] == ["interview.cancelled"]
    assert await deliveries.prune(cut) == 0
    if client is not None:
        gone = {scheduled.event_id, started.event_id, report.event_id, scheduled.id, started.id, report.id}
        left = {k.decode() for k in await client.keys(KEYS.prefix + "*")}
        assert not [k for k in left if any(g in k for g in gone)], left
        assert len(await client.zrange(KEYS.events_by_time(), 0, -1)) == 1
        assert len(await client.smembers(KEYS.subject_events("acme", "iv-1"))) == 1


async def test_events_written_before_the_time_index_existed_are_pruned_too(redis_client: redis.Redis) -> None:
    store, deliveries = RedisInterviewStore(redis_client, KEYS), RedisDeliveryStore(redis_client, KEYS, SEALER)
    await store.create_interview(SPEC, invite("iv-old"), "iv-old")  # no endpoint: finished once fanned out
    (event_id,) = await _stream_event_ids(redis_client)
    await deliveries.fan_out([event_id])
    await redis_client.delete(KEYS.events_by_time())  # as an earlier version left it
    assert await deliveries.prune(time.time() + 1) == 1
    assert not await redis_client.exists(KEYS.event(event_id)) and await redis_client.exists(KEYS.events_by_time_complete())


async def test_a_redis_that_may_evict_or_forget_the_store_is_named(redis_client: redis.Redis) -> None:
    (warning,) = await store_durability_warnings(redis_client)  # the tests' server: no append-only file, no snapshots
    assert "keeps nothing" in warning
    await redis_client.config_set("maxmemory-policy", "allkeys-lru")
    await redis_client.config_set("save", "3600 1")
    evicts, snapshots = await store_durability_warnings(redis_client)
    assert "allkeys-lru" in evicts and "only periodic snapshots" in snapshots
    await redis_client.config_set("maxmemory-policy", "noeviction")
    await redis_client.config_set("appendonly", "yes")
    assert await store_durability_warnings(redis_client) == []


async def test_writes_racing_a_deletion_leave_nothing_behind(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    store = RedisInterviewStore(redis_client, KEYS)
    for round_ in range(5):
        interview_id = f"race-{round_}"
        await store.create_interview(SPEC, invite(interview_id), interview_id)
        writes = [store.record_observation(interview_id, kind, observation(i, {"i": i})) for i in range(20) for kind in ("face", "emotion")]
        outcomes = await asyncio.gather(store.delete_interview(interview_id), *writes, return_exceptions=True)
        assert all(o is None or isinstance(o, LookupError) for o in outcomes), outcomes
        assert await redis_client.keys(KEYS.interview(interview_id) + "*") == []


async def test_endpoint_changes_made_on_one_node_reach_another_nodes_next_fan_out_and_claim(redis_client: redis.Redis) -> None:
    """A node keeps the endpoints it read between passes; any change on any node (added, secret rotated, disabled,
    deleted) is seen by every node's next pass."""
    store = RedisInterviewStore(redis_client, KEYS)
    sender, api = RedisDeliveryStore(redis_client, KEYS, SEALER), RedisDeliveryStore(redis_client, KEYS, SEALER)
    first, first_secret = await api.add_endpoint("acme", "https://hr.example/one", [], "", None)
    taken: set[str] = set()

    async def next_event() -> list[Delivery]:
        """One event written and fanned out by the sending node; the deliveries that its claim then gets."""
        await store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"n": len(taken)})
        event_ids = await _stream_event_ids(redis_client)
        new = [e for e in event_ids if e not in taken]
        taken.update(new)
        await sender.fan_out(new)
        return await sender.claim_due(time.time(), 30.0, 10)

    (claimed,) = await next_event()
    assert claimed.endpoint.secrets == (first_secret,)
    rotated = await api.rotate_secret(first)
    (claimed,) = await next_event()
    assert claimed.endpoint.secrets == (rotated, first_secret), "a secret rotated on another node signs the next event"
    second, _ = await api.add_endpoint("acme", "https://hr.example/two", [], "", None)
    assert {d.endpoint.id for d in await next_event()} == {first.id, second.id}, "an endpoint added there gets it"
    await api.set_enabled(second.id, False, "test")
    assert [d.endpoint.id for d in await next_event()] == [first.id]
    (dead,) = await api.deliveries("acme", status=DEAD)
    assert dead.endpoint_id == second.id, "a disabled endpoint's delivery is dead at once, as if read afresh"
    await api.delete_endpoint(first.id)
    assert await next_event() == []


async def test_a_node_reads_the_endpoints_afresh_after_redis_comes_back_empty(redis_client: redis.Redis) -> None:
    """Redis without persistence restarted: the endpoints made again get versions of their own, never one the node
    already kept (a counter would start again at the same number and the node would keep sending to the old ones)."""
    store = RedisInterviewStore(redis_client, KEYS)
    sender, api = RedisDeliveryStore(redis_client, KEYS, SEALER), RedisDeliveryStore(redis_client, KEYS, SEALER)

    async def fanned_out_to() -> set[str]:
        await store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {})
        event_ids = await _stream_event_ids(redis_client)
        await sender.fan_out(event_ids)
        return {d.endpoint.id for d in await sender.claim_due(time.time(), 30.0, 10)}

    before, _ = await api.add_endpoint("acme", "https://hr.example/one", [], "", None)
    assert await fanned_out_to() == {before.id}
    await redis_client.flushall()
    after, _ = await api.add_endpoint("acme", "https://hr.example/one", [], "", None)
    assert await fanned_out_to() == {after.id}


async def test_erasure_leaves_no_key_that_names_the_candidate_or_their_interviews(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    store, deliveries = RedisInterviewStore(redis_client, KEYS), RedisDeliveryStore(redis_client, KEYS, SEALER)
    await deliveries.add_endpoint("acme", "https://hr.example/hooks", [], "", None)
    await store.put_profile("candidates", "acme", "cand-9", "{}")
    created = await store.create_interview(SPEC, invite("iv-9"), "iv-9", tenant="acme", candidate_id="cand-9")
    await store.record_observation("iv-9", "face", observation(0, {}))
    await store.save_report(created, "1.0", "{}", {"interview_id": "iv-9"})
    event_ids = await _stream_event_ids(redis_client)
    assert await deliveries.fan_out(event_ids) == 2  # interview.scheduled and report.ready, one endpoint
    await store.erase("acme", ["iv-9"], "cand-9")
    left = {k.decode() for k in await redis_client.keys(KEYS.prefix + "*")}
    # Only the candidate.deleted event names them (by id), as it must to tell the HRMS.
    assert [k for k in left if "iv-9" in k or "cand-9" in k] == [KEYS.subject_events("acme", "cand-9")], left
    (notice,) = await redis_client.smembers(KEYS.subject_events("acme", "cand-9"))
    assert await redis_client.hget(KEYS.event(notice.decode()), "type") == b"candidate.deleted"
    assert not [k for k in left if k.startswith(KEYS.delivery(""))], "the deliveries of the erased events went with them"
    remaining = [await redis_client.hget(KEYS.event(e), "type") for e in event_ids]
    assert remaining == [None, None]
    assert await deliveries.unfinished(event_ids) == set(), "their stream entries are acknowledged on the next pass"


async def test_with_redis_down_the_api_answers_503_and_works_again_when_it_is_back(tmp_path: Path, redis_server: RedisServer) -> None:
    settings = make_settings(tmp_path / "data", redis_url=redis_server.url, store="redis", node_id="node-a", redis_timeout_s=0.5)
    body = {"job": {"title": "Backend engineer", "role": "backend_engineer"}, "candidate": {"name": "Li Lei"}}
    headers = {"X-API-Key": API_KEY}
    async with serving(settings) as server:
        interview, _ = await server.schedule()
        redis_server.stop()
        for method, path in (("GET", f"/api/v1/interviews/{interview.id}"), ("POST", "/api/v1/interviews")):
            response = await server.http.request(method, f"{server.url}{path}", headers=headers, json=body if method == "POST" else None)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "store_unavailable" and response.headers["retry-after"] == "5"
        redis_server.start()  # empty: this test's Redis keeps nothing on disk
        created = await server.http.post(f"{server.url}/api/v1/interviews", headers=headers, json=body)
        assert created.status_code == 201, created.text
        assert (await server.interview_state(created.json()["interview"]["id"]))["interview"]["status"] == "scheduled"


def test_the_redis_store_without_a_redis_url_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="INTERVIEW_STORE=redis needs INTERVIEW_REDIS_URL"):
        make_settings(tmp_path, store="redis")


async def test_a_recording_made_on_another_node_is_listed_but_its_audio_is_a_clear_404_here(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    settings = make_settings(tmp_path / "node-b", redis_url=redis_server.url, store="redis", node_id="node-b")
    async with serving(settings) as node:
        interview, _ = await node.schedule()
        await node.services.store.add_recording(interview.id, "100-aaaaaaaa.ogg", 0.0, 12.5)  # as node A would have
        base = f"{node.url}/api/v1/interviews/{interview.id}/recordings"
        listed = (await node.http.get(base, headers={"X-API-Key": API_KEY})).json()["recordings"]
        assert [r["name"] for r in listed] == ["100-aaaaaaaa.ogg"]
        audio = await node.http.get(f"{base}/100-aaaaaaaa.ogg", headers={"X-API-Key": API_KEY})
        assert audio.status_code == 404 and audio.json()["code"] == "recording_not_on_this_node", audio.text
        unknown = await node.http.get(f"{base}/999-bbbbbbbb.ogg", headers={"X-API-Key": API_KEY})
        assert unknown.status_code == 404 and unknown.json()["code"] == "recording_not_found"


async def test_a_node_sweeps_away_its_recordings_of_interviews_erased_through_another(
    tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    settings = make_settings(tmp_path / "node-b", redis_url=redis_server.url, store="redis")
    store = RedisInterviewStore(redis_client, Keys(settings.redis_prefix))
    await store.create_interview(SPEC, invite("kept"), "kept")
    for interview_id in ("kept", "erased"):
        folder = recordings_dir(settings, interview_id)
        folder.mkdir(parents=True)
        (folder / "100-aaaaaaaa.ogg").write_bytes(b"OggS")
    assert await remove_erased_recordings(settings, store) == ["erased"]
    assert recordings_dir(settings, "kept").is_dir() and not recordings_dir(settings, "erased").exists()


async def test_events_written_at_once_on_redis_all_land_in_the_order_asked_with_their_kind_in_the_stream(
    redis_client: redis.Redis,
) -> None:
    """Many requests write events at once: they go to Redis together (one pipeline), each caller returns once its own is
    written, in the order they were asked; each stream entry names the event's tenant and type, so fan-out need not
    read the event."""
    store = RedisInterviewStore(redis_client, KEYS)
    woken: list[int] = []
    store.on_event = lambda: woken.append(1)
    await asyncio.gather(*(store.record_tenant_event(f"t{n % 3}", EventType.CANDIDATE_APPLIED, {"n": n}) for n in range(40)))
    entries = [fields for _, fields in await redis_client.xrange(KEYS.webhook_stream())]
    assert len(entries) == 40 and len(woken) == 40
    payloads = [json.loads((await redis_client.hget(KEYS.event(f[b"event_id"].decode()), "payload")) or b"{}") for f in entries]
    assert [p["data"]["n"] for p in payloads] == list(range(40)), "first asked, first written"
    assert [(f[b"tenant"], f[b"type"]) for f in entries] == [(f"t{n % 3}".encode(), b"candidate.applied") for n in range(40)]
    assert await redis_client.zcard(KEYS.events_by_time()) == 40


async def test_events_are_still_written_after_redis_loses_its_scripts(redis_client: redis.Redis) -> None:
    """Redis restarted (or SCRIPT FLUSH): the next events, alone or together, load the script again and are written."""
    store = RedisInterviewStore(redis_client, KEYS)
    await store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"n": 0})
    await redis_client.script_flush()
    await store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"n": 1})
    await redis_client.script_flush()
    await asyncio.gather(*(store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"n": n}) for n in range(2, 6)))
    assert len(await _stream_event_ids(redis_client)) == 6


async def test_an_event_that_redis_refuses_fails_only_its_own_caller(redis_client: redis.Redis) -> None:
    """Written together, one event that cannot be written (its subject's index is a key of another type) raises for its
    caller and leaves nothing behind; the events asked with it are written."""
    store = RedisInterviewStore(redis_client, KEYS)
    await redis_client.set(KEYS.subject_events("acme", "cand_broken"), "not a set")
    results = await asyncio.gather(
        store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"candidate_id": "cand_ok1"}),
        store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"candidate_id": "cand_broken"}),
        store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"candidate_id": "cand_ok2"}),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], redis.ResponseError) and "WRONGTYPE" in str(results[1])
    assert len(await _stream_event_ids(redis_client)) == 2
    assert await redis_client.zcard(KEYS.events_by_time()) == 2
    assert len([key async for key in redis_client.scan_iter(match=KEYS.event("*"))]) == 2, "nothing left half-written"
