"""HR upload candidates in bulk: a CSV as Excel on a Chinese system writes it (GB18030, Chinese column names) or JSON;
a bad upload names each bad row and why, and imports nothing; a good one is screened by the job's rules, the
candidates who pass are invited, and uploading the same file again invites nobody twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import API_KEY, LiveServer, make_settings, serving

HR = {"X-API-Key": API_KEY}
JOB = {
    "title": "Backend engineer",
    "role": "backend_engineer",
    "language": "zh",
    "screening": {"min_education": "bachelor", "min_years_experience": 3, "required_skills": ["Python"], "on_pass": "invite"},
}
GOOD_CSV = """编号,姓名,邮箱,手机,城市,工作年限,学历,专业,技能,语言
c-001,陈亚历,alex@example.test,+86 138 0013 8000,上海,5年,本科,计算机科学,Python、Go；Redis,中文;英语
c-002,王芳,wang@example.test,,北京,1,硕士,数学,Python,中文
c-003,李雷,li@example.test,,深圳,6,大专,,Python;Java,中文
"""
BAD_CSV = """id,name,email,phone,years_experience,education,skills
c-101,Good Person,good@example.test,,4,bachelor,Python
c-102,,nobody@example.test,,4,bachelor,Python
c-103,Bad Phone,bad@example.test,12345,4,bachelor,Python
c-104,Bad Years,years@example.test,,many,bachelor,Python
c-105,Bad Degree,degree@example.test,,4,wizard,Python
c-101,Twice,twice@example.test,,4,bachelor,Python
c-106,Short Row
"""


@pytest.fixture
async def server(tmp_path: Path, store_settings: dict[str, object]) -> AsyncIterator[LiveServer]:
    async with serving(make_settings(tmp_path / "data", **store_settings)) as server:
        yield server


async def upload(server: LiveServer, body: bytes, media_type: str, job_id: str | None = "backend") -> tuple[int, dict[str, object]]:
    params = {"job_id": job_id} if job_id else {}
    response = await server.http.post(
        f"{server.url}/api/v1/imports/candidates", content=body, params=params, headers={**HR, "Content-Type": media_type}
    )
    return response.status_code, response.json()


async def test_a_csv_from_chinese_excel_is_imported_screened_and_the_passing_candidates_invited_once(server: LiveServer) -> None:
    assert (await server.http.put(f"{server.url}/api/v1/jobs/backend", json=JOB, headers=HR)).status_code == 201
    status, result = await upload(server, GOOD_CSV.encode("gb18030"), "text/csv")
    assert status == 200, result
    assert (result["imported"], result["created"], result["updated"]) == (3, 3, 0)
    screening = {r["candidate_id"]: r for r in result["screening"]}  # type: ignore[attr-defined]
    assert screening["c-001"]["outcome"] == "invited" and screening["c-001"]["invite_url"].startswith(server.url)
    assert screening["c-002"]["outcome"] == "not_selected"
    assert [r["rule"] for r in screening["c-002"]["rules"] if r["outcome"] == "failed"] == ["min_years_experience"]
    assert screening["c-003"]["outcome"] == "not_selected"
    assert [(r["rule"], r["found"]) for r in screening["c-003"]["rules"] if r["outcome"] == "failed"] == [("min_education", "associate")]

    stored = (await server.http.get(f"{server.url}/api/v1/candidates/c-001", headers=HR)).json()
    assert stored["phone"] == "+8613800138000" and stored["years_experience"] == 5
    assert [s["name"] for s in stored["skills"]] == ["Python", "Go", "Redis"] and stored["languages"] == ["中文", "英语"]
    assert stored["education"] == [{"level": "bachelor", "field": "计算机科学", "institution": None}]
    assert [ref["id"] for ref in stored["interviews"]] == [screening["c-001"]["interview_id"]]

    # The same file again (UTF-8 with Excel's BOM this time): updated, and nobody invited twice.
    status, again = await upload(server, "\ufeff".encode() + GOOD_CSV.encode(), "text/csv; charset=utf-8")
    assert status == 200 and (again["created"], again["updated"]) == (0, 3)
    repeated = {r["candidate_id"]: r for r in again["screening"]}  # type: ignore[attr-defined]
    assert repeated["c-001"]["outcome"] == "already_invited"
    assert repeated["c-001"]["interview_id"] == screening["c-001"]["interview_id"]
    assert len((await server.http.get(f"{server.url}/api/v1/candidates/c-001", headers=HR)).json()["interviews"]) == 1


async def test_a_bad_upload_names_each_bad_row_and_imports_nothing(server: LiveServer) -> None:
    status, problem = await upload(server, BAD_CSV.encode(), "text/csv", job_id=None)
    assert status == 422 and problem["code"] == "invalid_import"
    found = {(e["row"], e["column"]) for e in problem["errors"]}  # type: ignore[attr-defined]
    assert found == {(3, "name"), (4, "phone"), (5, "years_experience"), (6, "education"), (7, "id"), (8, None)}, problem
    assert problem["error_count"] == 6
    assert (await server.http.get(f"{server.url}/api/v1/candidates/c-101", headers=HR)).status_code == 404  # not half-way

    status, problem = await upload(server, b"id,name,salary\nc-1,A,100\n", "text/csv", job_id=None)
    assert status == 422 and [(e["row"], e["column"]) for e in problem["errors"]] == [(1, "salary")]  # type: ignore[attr-defined]

    bad_json = b'{"candidates": [{"id": "j-1", "name": "Good"}, {"id": "j 2", "name": "Bad id"}, {"id": "j-3", "name": "A", "years_experience": -1}]}'
    status, problem = await upload(server, bad_json, "application/json", job_id=None)
    assert status == 422 and {(e["row"], e["column"]) for e in problem["errors"]} == {(2, "id"), (3, "years_experience")}  # type: ignore[attr-defined]
    assert (await server.http.get(f"{server.url}/api/v1/candidates/j-1", headers=HR)).status_code == 404

    status, imported = await upload(
        server, b'{"candidates": [{"id": "j-1", "name": "Good", "skills": ["Python"]}]}', "application/json", None
    )
    assert status == 200 and imported == {"imported": 1, "created": 1, "updated": 0}

    assert (await upload(server, b"<xml/>", "application/xml", job_id=None))[0] == 415
    assert (await upload(server, b"id,name\n", "text/csv", job_id=None))[0] == 422  # a header and nobody
    assert (await upload(server, b"\xff\xfe\x00garbage\x81", "text/csv", job_id=None))[0] == 422
    many = "id,name\n" + "".join(f"m-{n},Person {n}\n" for n in range(1001))
    status, problem = await upload(server, many.encode(), "text/csv", job_id=None)
    assert status == 422 and "at most 1000" in problem["errors"][0]["reason"]  # type: ignore[index]
    assert (await upload(server, b"id,name\nc-1,A\n", "text/csv", job_id="no-such-job"))[0] == 404
