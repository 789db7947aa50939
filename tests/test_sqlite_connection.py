"""The SQLite store's connection: commits synced to disk as the settings say."""

from __future__ import annotations

from pathlib import Path

from server.storage.contract import open_store
from server.storage.sqlite_store import InterviewStore
from tests.conftest import make_settings

FULL, NORMAL = 2, 1  # what PRAGMA synchronous reads back


async def _synchronous(store: InterviewStore) -> int:
    rows = await store._db.execute_fetchall("PRAGMA synchronous")
    return int(next(iter(rows))[0])


async def test_commits_are_synced_to_disk_each_time_unless_the_operator_chooses_checkpoints(tmp_path: Path) -> None:
    default = await open_store(make_settings(tmp_path / "a", store="sqlite"), None)
    chosen = await open_store(make_settings(tmp_path / "b", store="sqlite", sqlite_synchronous="normal"), None)
    try:
        assert isinstance(default, InterviewStore) and isinstance(chosen, InterviewStore)
        assert await _synchronous(default) == FULL
        assert await _synchronous(chosen) == NORMAL
    finally:
        await default.close()
        await chosen.close()
