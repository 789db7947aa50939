"""A node's SQLite store copied into Redis (`interview-server store migrate`) reads back the same through the Redis store,
and a node that would start on Redis with interviews left behind in SQLite refuses to."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from server.cli import demo_invite_url, main
from server.domain.adverse_impact import SelfIdentification
from server.domain.interview import InterviewSpec, InterviewStatus
from server.domain.invites import InviteSigner
from server.domain.shares import OwnerReview, Share, ShareRequest
from server.storage.ats_writebacks import PAPERS, RESULT, WriteBackStore
from server.storage.ats_writebacks_redis import RedisWriteBackStore
from server.storage.contract import Store, open_store
from server.storage.migration import migrate_sqlite_to_redis
from server.storage.redis_client import Keys
from server.storage.redis_store import RedisInterviewStore
from server.storage.redis_webhook_deliveries import RedisDeliveryStore
from server.storage.rows import AuditEntry, TranscriptRow, TranscriptSegment
from server.storage.sealed import Sealer
from server.storage.sqlite_store import InterviewStore
from server.storage.webhook_deliveries import DEAD, DELIVERED, PENDING, Deliveries, DeliveryStore
from tests.conftest import make_settings
from tests.helpers.interviews import invite
from tests.helpers.redis_server import RedisServer
from tests.helpers.rows import observation, scored_answer

SEALER = Sealer.generate()  # the secrets at rest, as a node seals them
KEYS = Keys("migration-test:")
SPEC = InterviewSpec.model_validate(
    {
        "job": {"title": "数据工程师", "language": "zh"},
        "candidate": {"name": "李雷"},
        "mode": "video",
        "max_questions": 2,
        "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"zh": "为什么?"}}],
    }
)


async def fill_sqlite(database: Path) -> dict[str, str]:
    """A store as a node leaves it after some weeks: interviews with all they record, profiles, an endpoint and deliveries
    in every state; returns the ids the test looks up."""
    store, deliveries = await InterviewStore.open(database), await DeliveryStore.open(database, SEALER)
    callbacks = await WriteBackStore.open(database, SEALER)
    try:
        await deliveries.add_endpoint("acme", "https://hr.example/hooks", [], "ATS", None)
        linked = invite("iv-1")
        first = await store.create_interview(SPEC, linked, "iv-1", tenant="acme", job_id="job-1", candidate_id="cand-1")
        await store.put_profile("candidates", "acme", "cand-1", json.dumps({"name": "李雷"}))
        await store.put_profile("jobs", "acme", "job-1", json.dumps({"title": "数据工程师"}))
        await store.update_progress("iv-1", InterviewStatus.IN_PROGRESS, 1, question_asked_at=time.time())
        await store.record_answer("iv-1", "q1", "text", "因为索引。")
        segment = TranscriptSegment(start_s=0.5, end_s=1.5, text="因为")
        await store.record_transcript(
            "iv-1", TranscriptRow(question_id="q1", start_s=0.5, end_s=1.5, language="zh", text="因为", segments=[segment])
        )
        await store.record_observation("iv-1", "face", observation(0, {"faces": 1}))
        await store.record_observation("iv-1", "emotion", observation(0, {"happy": 0.4}))
        await store.record_scored_answer("iv-1", scored_answer(0, "q1", score=3))
        await store.add_recording("iv-1", "100-aaaaaaaa.ogg", 0.0, 12.5)
        await store.save_wechat_profile("iv-1", "openid-1", "小李", "https://wx.example/a.png")
        await store.save_report(first, "1.0", json.dumps({"overall": 71}), {"interview_id": "iv-1"})
        await store.record_decision(first, "advance", "strong", "hr@acme")
        await store.record_answer("iv-1", "q1", "chat", "可以用白板吗？")
        await store.record_answer("iv-1", "q1", "chat.system", "已转给 HR")
        share = Share.new(ShareRequest(interview_ids=["iv-1"], owner_name="王强", owner_email="w@example.test"), "acme")
        await store.save_share(share)
        await store.record_owner_review(
            first,
            OwnerReview(
                interview_id="iv-1", share_id=share.id, owner_name="王强", recommendation="recommend", comment="好", created_at=1.0
            ),
        )
        await store.save_self_identification("iv-1", SelfIdentification(sex="female", race="asian"))
        await store.record_audit("acme", AuditEntry(at=1.0, actor="hr:李娜", action="review_viewed", interview_id="iv-1"))
        await store.record_audit("acme", AuditEntry(at=2.0, actor="hr:李娜", action="erased", interview_id="gone-1"))
        await callbacks.add("iv-1", RESULT, "greenhouse", {"url": "https://greenhouse.example/cb", "api_key": "gh-key"})
        await callbacks.add("cli_a:6995", PAPERS, "feishu_hire", {"app_id": "cli_a", "account_id": "6995", "papers": "[]"})
        await store.remember_response("acme", "key-1", "fp", 201, b'{"id": "iv-1"}', "application/json", "{}")
        await store.create_interview(SPEC, invite("iv-2"), "iv-2", tenant="globex")
        await store.create_interview(SPEC, invite("demo"), "demo")
        await deliveries.fan_out()
        due = {d.event_type: d for d in await deliveries.due(time.time() + 1)}
        await deliveries.record_attempt(due["interview.scheduled"], 200, None, 12.0, outcome=DELIVERED, next_attempt_at=None)
        await deliveries.record_attempt(due["report.ready"], 500, "HTTP 500", 30.0, outcome=DEAD, next_attempt_at=None)
        await deliveries.record_attempt(
            due["decision.recorded"], None, "timed out", 15000.0, outcome=PENDING, next_attempt_at=time.time() + 300
        )
        await store.cancel_interview(first)  # an event not fanned out yet
        return {
            "delivered": due["interview.scheduled"].id,
            "dead": due["report.ready"].id,
            "retrying": due["decision.recorded"].id,
            "short_code": linked.code,
            "short_token": linked.token,
        }
    finally:
        await callbacks.close()
        await deliveries.close()
        await store.close()


async def everything(store: Store, deliveries: Deliveries, greenhouse: Any) -> dict[str, Any]:
    """What the API reads of the filled store, through either backend."""
    interview = await store.get_interview("iv-1")
    assert interview is not None
    return {
        "interview": interview.model_dump(),
        "other": (await store.get_interview("iv-2", tenant="globex")).model_dump(),  # type: ignore[union-attr]
        "answers": await store.answers("iv-1"),
        "transcripts": await store.transcripts("iv-1"),
        "faces": await store.observations("iv-1", "face"),
        "emotions": await store.observations("iv-1", "emotion"),
        "scored": await store.scored_answers("iv-1"),
        "recordings": await store.recordings("iv-1"),
        "report": await store.report("iv-1"),
        "decisions": await store.decisions("iv-1"),
        "wechat": await store.wechat_profile("iv-1"),
        "by_candidate": await store.interview_ids("acme", candidate_id="cand-1"),
        "by_job": await store.interview_ids("acme", job_id="job-1"),
        "recent": [i.id for i in await store.recent_interviews("acme")],
        "candidate": await store.profile("candidates", "acme", "cand-1"),
        "job": await store.profile("jobs", "acme", "job-1"),
        "response": await store.idempotent_response("acme", "key-1"),
        "endpoints": [e.public() for e in await deliveries.endpoints("acme")],
        "deliveries": sorted(await deliveries.deliveries("acme"), key=lambda d: d.id),
        "callback": await greenhouse.get("iv-1", RESULT),
        "papers": await greenhouse.get("cli_a:6995", PAPERS),
        "writebacks_due": sorted(w.key for w in await greenhouse.due(time.time() + 1)),
        "owner_reviews": await store.owner_reviews("iv-1"),
        "shares": [(x.owner_name, x.interview_ids, x.tenant) for x in await store.shares_of("iv-1")],
        "self_identification": await store.self_identifications(["iv-1", "iv-2"]),
        "audit": await store.audit_trail("acme", "iv-1"),
        "tombstone": await store.audit_trail("acme", "gone-1"),
        "index": [r.model_dump() for r in await store.interview_index("acme")],
    }


async def test_a_migrated_store_reads_back_the_same_through_redis_and_its_unsent_webhooks_go_out_from_there(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    database = tmp_path / "interviews.sqlite3"
    ids = await fill_sqlite(database)
    store, deliveries, callbacks = (
        await InterviewStore.open(database),
        await DeliveryStore.open(database, SEALER),
        await WriteBackStore.open(database, SEALER),
    )
    try:
        before = await everything(store, deliveries, callbacks)
    finally:
        await callbacks.close()
        await deliveries.close()
        await store.close()

    counts = await migrate_sqlite_to_redis(database, redis_client, KEYS, skip={"demo"})
    assert (counts.interviews, counts.endpoints, counts.idempotent_responses, counts.profiles) == (2, 1, 1, 2)
    assert (counts.events, counts.deliveries) == (6, 4), "the demo's event stays behind with it"
    redis_store, redis_deliveries = RedisInterviewStore(redis_client, KEYS), RedisDeliveryStore(redis_client, KEYS, SEALER)
    after = await everything(redis_store, redis_deliveries, RedisWriteBackStore(redis_client, KEYS, SEALER))
    for part, value in before.items():
        assert after[part] == value, part
    assert await redis_store.get_interview("demo") is None, "the demo interview stays behind: each start makes a fresh one"
    assert await redis_store.short_link(ids["short_code"]) == ids["short_token"]

    # Events never fanned out are in the stream; a retrying delivery is in the due index instead, a finished one in neither.
    queued = {f[b"event_id"].decode() for _, f in await redis_client.xrange(KEYS.webhook_stream())}
    by_id = {d.id: d for d in after["deliveries"]}
    assert by_id[ids["retrying"]].event_id not in queued and by_id[ids["delivered"]].event_id not in queued
    assert await redis_client.zscore(KEYS.deliveries_due(), ids["retrying"]) is not None, "its retry is due from the index"
    assert await redis_client.zscore(KEYS.deliveries_due(), ids["delivered"]) is None
    assert counts.events_queued_for_delivery == len(queued) == 1  # the cancellation, never fanned out
    await redis_deliveries.fan_out(queued)
    fanned = await redis_deliveries.deliveries("acme")
    assert sorted(d.event_type for d in fanned if d.status == PENDING) == [
        "decision.recorded",
        "interview.cancelled",
        "owner_review.recorded",
    ]
    assert await redis_deliveries.replay("acme", ids["dead"]), "a dead letter can be replayed from the cluster"
    assert await redis_client.zscore(KEYS.deliveries_due(), ids["dead"]) is not None, "the replay is due at once"

    again = await migrate_sqlite_to_redis(database, redis_client, KEYS, skip={"demo"})
    assert (again.interviews, again.interviews_already_in_redis, again.events, again.events_already_in_redis) == (0, 2, 0, 6)
    assert await redis_client.xlen(KEYS.webhook_stream()) == len(queued), "a second run queues nothing again"


async def test_a_node_with_interviews_left_in_sqlite_refuses_to_start_on_redis_until_they_are_migrated(
    tmp_path: Path,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = tmp_path / "interviews.sqlite3"
    await fill_sqlite(database)
    settings = make_settings(tmp_path, redis_url=redis_server.url, demo_interview=True)
    with pytest.raises(SystemExit, match=r"holds 2 interview\(s\) that are not in Redis.*interview-server store migrate"):
        await demo_invite_url(settings)

    with caplog.at_level(logging.WARNING, logger="server.cli"):
        explicit = make_settings(tmp_path, redis_url=redis_server.url, store="redis", demo_interview=True)
        assert "/i/" in (await demo_invite_url(explicit) or ""), "chosen explicitly"
    assert "holds 2 interview(s)" in caplog.text and "no append-only file" in caplog.text  # the tests' Redis keeps nothing

    monkeypatch.setenv("INTERVIEW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("INTERVIEW_REDIS_URL", redis_server.url)
    await asyncio.to_thread(main, ["store", "migrate"])  # it runs an event loop of its own
    assert "interviews: 2," in capsys.readouterr().out
    (moved,) = tmp_path.glob("interviews.sqlite3.migrated-*[0-9]")
    assert not database.exists(), "set aside, so no node checks or opens it again"
    db = sqlite3.connect(moved)
    assert db.execute("SELECT COUNT(*) FROM interviews").fetchone() == (3,), "with its WAL, nothing of it lost"
    db.close()
    assert "/i/" in (await demo_invite_url(settings) or "")


async def test_each_start_makes_a_new_demo_interview_and_the_links_printed_before_stop_working(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", demo_interview=True)
    first, second = await demo_invite_url(settings), await demo_invite_url(settings)
    assert first is not None and second is not None and first != second
    signer = InviteSigner(settings.signing_key())
    first_id, second_id = (signer.verify(url.rsplit("/i/", 1)[1]).interview_id for url in (first, second))
    assert first_id != second_id and first_id.startswith("demo-")
    store = await open_store(settings, None)
    try:
        assert await store.get_interview(first_id) is None, "the earlier demo, and its link with it, is gone"
        assert await store.get_interview(second_id) is not None
    finally:
        await store.close()


async def test_a_start_without_demo_makes_no_interview_and_sends_no_webhook_and_an_earlier_demo_goes(tmp_path: Path) -> None:
    with_demo = make_settings(tmp_path / "data", demo_interview=True)
    url = await demo_invite_url(with_demo)
    assert url is not None
    earlier_id = InviteSigner(with_demo.signing_key()).verify(url.rsplit("/i/", 1)[1]).interview_id
    database = tmp_path / "data" / "interviews.sqlite3"
    events_before = sqlite3.connect(database).execute("SELECT COUNT(*) FROM outbox_events").fetchone()[0]

    assert await demo_invite_url(make_settings(tmp_path / "data")) is None  # the default: no demo
    db = sqlite3.connect(database)
    assert db.execute("SELECT COUNT(*) FROM interviews").fetchone() == (0,), "the earlier demo is gone, no new one"
    assert db.execute("SELECT COUNT(*) FROM outbox_events WHERE type = 'interview.scheduled'").fetchone()[0] <= events_before
    assert db.execute("SELECT COUNT(*) FROM outbox_events").fetchone()[0] <= events_before, "nothing new for the webhooks"
    db.close()
    store = await open_store(make_settings(tmp_path / "data"), None)
    try:
        assert await store.get_interview(earlier_id) is None
    finally:
        await store.close()
