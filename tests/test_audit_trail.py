"""The audit trail: who viewed, fetched, shared or decided what, per interview, exportable as JSON or CSV, naming the
candidate by interview id only and kept after the interview is erased; the same on SQLite and Redis."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.processes import complete_text_interview

HR = {"X-API-Key": API_KEY}


@pytest.fixture
async def server(tmp_path: Path, store_settings: dict[str, object]) -> AsyncIterator[LiveServer]:
    async with serving(make_settings(tmp_path / "data", **store_settings)) as live:
        yield live


async def test_every_look_share_and_decision_is_kept_and_outlives_erasure(server: LiveServer) -> None:
    interview_id = await complete_text_interview(server.http, server.url)
    base = f"{server.url}/api/v1/interviews/{interview_id}"
    li_na = {**HR, "X-Reviewer": quote("李娜")}
    await server.http.get(f"{base}/review", headers=li_na)
    await server.http.get(base, headers=HR)  # an HR system's read: named by its key
    share = (
        await server.http.post(
            f"{server.url}/api/v1/shares",
            json={"interview_ids": [interview_id], "owner_name": "=cmd|' /C calc'!A0", "owner_email": "o@example.test"},
            headers=li_na,
        )
    ).json()
    token = share["link"].rsplit("/r/", 1)[1]
    await server.http.get(f"{server.url}/api/v1/reviews/{token}")
    await server.http.post(
        f"{server.url}/api/v1/reviews/{token}/interviews/{interview_id}/recommendation",
        json={"recommendation": "recommend", "comment": "yes"},
    )
    await server.http.post(f"{base}/decisions", json={"decision": "advance", "note": "good", "decided_by": "李娜"}, headers=li_na)

    trail = (await server.http.get(f"{base}/audit", headers=HR)).json()["entries"]
    actions = [(e["actor"].split(":")[0], e["action"]) for e in trail]
    assert actions == [
        ("hr", "review_viewed"),
        ("hr-api", "interview_viewed"),
        ("hr", "shared"),
        ("owner", "review_viewed"),
        ("owner", "owner_recommended"),
        ("hr", "decided"),
    ]
    assert trail[0]["actor"] == "hr:李娜" and trail[-1]["detail"] == {"decision": "advance"}
    assert all(e["interview_id"] == interview_id for e in trail)
    assert "Kill Test" not in str(trail)  # the candidate is named by id only

    # Erased: the interview goes, its trail stays as the tombstone, with the erasure in it.
    assert (await server.http.delete(base, headers=li_na)).status_code == 204
    assert (await server.http.get(base, headers=HR)).status_code == 404
    exported = await server.http.get(f"{base}/audit", params={"format": "csv"}, headers=HR)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["at_utc", "actor", "action", "interview_id", "detail"]
    assert [r[2] for r in rows[1:]][-3:] == ["decided", "audit_exported", "erased"]
    assert all(not r[1].startswith(("=", "+", "-", "@")) and not r[4].startswith(("=", "+", "-", "@")) for r in rows[1:])
    assert (await server.http.get(f"{server.url}/api/v1/interviews/nothing/audit", headers=HR)).status_code == 404
    assert (await server.http.get(f"{base}/audit")).status_code == 401
