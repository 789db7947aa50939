"""How the embedded store writes under load: observations go together, transactions asked for at once commit together, a
lone statement needs no transaction."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from server.domain.interview import Interview, InterviewSpec
from server.domain.invites import InviteSigner, make_invite
from server.storage.outbox import EventType
from server.storage.rows import ObservationRow
from server.storage.sqlite_store import InterviewStore
from tests.helpers.rows import observation

SPEC = InterviewSpec.model_validate(
    {"job": {"title": "Backend engineer", "role": "backend_engineer", "language": "en"}, "candidate": {"name": "A"}}
)


async def open_with_interviews(path: Path, *ids: str) -> InterviewStore:
    store = await InterviewStore.open(path)
    signer = InviteSigner("s" * 32)
    for interview_id in ids:
        await store.create_interview(SPEC, make_invite(signer, "http://test", interview_id, int(time.time()) + 3600), interview_id)
    return store


async def test_observations_of_many_interviews_are_stored_together_in_order(tmp_path: Path) -> None:
    store = await open_with_interviews(tmp_path / "db.sqlite3", "a", "b")
    statements: list[str] = []
    await store._db.set_trace_callback(statements.append)
    try:
        writes = [
            store.record_observation(interview, "face", observation(float(i), {"present": True, "n": i}))
            for i in range(200)
            for interview in ("a", "b")
        ]
        await asyncio.gather(*writes)
        for interview in ("a", "b"):
            rows = await store.observations(interview, "face")
            assert [row.data["n"] for row in rows] == list(range(200))
            assert rows[5] == ObservationRow(question_id="q1", start_s=5.0, end_s=6.0, data={"present": True, "n": 5})
        # 400 rows in a few statements: those that queued while one was written went with the next.
        inserts = [s for s in statements if s.startswith("INSERT INTO observations")]
        assert 1 <= len(inserts) <= 5, len(inserts)
        assert not any(s.startswith("BEGIN") for s in statements)
    finally:
        await store.close()


async def test_an_observation_of_a_deleted_interview_fails_alone_and_the_others_are_stored(tmp_path: Path) -> None:
    store = await open_with_interviews(tmp_path / "db.sqlite3", "kept", "erased")
    try:
        await store.delete_interview("erased")
        results = await asyncio.gather(
            store.record_observation("kept", "face", observation(0.0, {"present": True})),
            store.record_observation("erased", "face", observation(0.0, {"present": True})),
            store.record_observation("kept", "face", observation(1.0, {"present": False})),
            return_exceptions=True,
        )
        assert results[0] is None and isinstance(results[1], LookupError) and results[2] is None, results
        assert [row.data["present"] for row in await store.observations("kept", "face")] == [True, False]
        assert await store.observations("erased", "face") == []
    finally:
        await store.close()


async def test_observations_still_queued_are_stored_before_the_store_closes(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = await open_with_interviews(path, "a")
    pending = [asyncio.ensure_future(store.record_observation("a", "emotion", observation(float(i), {"i": i}))) for i in range(50)]
    await asyncio.sleep(0)  # queued, not yet written
    await store.close()
    await asyncio.gather(*pending)
    reopened = await InterviewStore.open(path)
    try:
        assert len(await reopened.observations("a", "emotion")) == 50
    finally:
        await reopened.close()


async def test_transactions_asked_for_at_once_commit_together_each_with_its_event(tmp_path: Path) -> None:
    store = await InterviewStore.open(tmp_path / "db.sqlite3")
    statements: list[str] = []
    await store._db.set_trace_callback(statements.append)
    try:
        await asyncio.gather(*(store.record_tenant_event("t", EventType.CANDIDATE_APPLIED, {"n": n}) for n in range(100)))
        await store._db.set_trace_callback(None)
        rows = await store._read("SELECT payload FROM outbox_events ORDER BY seq")
        assert [json.loads(row["payload"])["data"]["n"] for row in rows] == list(range(100))
        # One commit (one sync of the WAL) for those that queued while one was written, not one each.
        assert 1 <= statements.count("COMMIT") <= 5, statements.count("COMMIT")
    finally:
        await store.close()


async def test_a_transaction_that_fails_among_others_fails_alone_and_leaves_none_of_its_writes(tmp_path: Path) -> None:
    store = await InterviewStore.open(tmp_path / "db.sqlite3")
    signer = InviteSigner("s" * 32)
    invites = {interview_id: make_invite(signer, "http://test", interview_id, int(time.time()) + 3600) for interview_id in "abcde"}
    # The interview row goes in first; its short link then clashes with another's (the same code), so its
    # transaction fails after a write that must not stay.
    invites["c"] = invites["a"]
    try:
        results = await asyncio.gather(
            *(store.create_interview(SPEC, invite, interview_id) for interview_id, invite in invites.items()), return_exceptions=True
        )
        assert isinstance(results[2], sqlite3.IntegrityError), results[2]
        assert [result.id for result in results if isinstance(result, Interview)] == ["a", "b", "d", "e"]
        assert [interview_id for interview_id in "abcde" if await store.get_interview(interview_id)] == ["a", "b", "d", "e"]
        events = await store._read("SELECT subject FROM outbox_events WHERE type = ?", (EventType.INTERVIEW_SCHEDULED.value,))
        assert sorted(row["subject"] for row in events) == ["a", "b", "d", "e"]
    finally:
        await store.close()
