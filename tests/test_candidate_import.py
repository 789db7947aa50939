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


async def test_candidates_the_rules_pass_wait_for_hr_who_invite_or_decline_each_once(server: LiveServer) -> None:
    queued_job = {**JOB, "screening": {**JOB["screening"], "on_pass": "queue_for_hr"}}  # type: ignore[dict-item]
    assert (await server.http.put(f"{server.url}/api/v1/jobs/backend", json=queued_job, headers=HR)).status_code == 201
    more = GOOD_CSV + "c-004,赵敏,zhao@example.test,,杭州,8,硕士,软件工程,Python,中文\n"
    status, result = await upload(server, more.encode(), "text/csv")
    assert status == 200
    assert [r["outcome"] for r in result["screening"]] == ["queued", "not_selected", "not_selected", "queued"]  # type: ignore[index]

    base = f"{server.url}/api/v1/jobs/backend/applications"
    queue = (await server.http.get(base, params={"status": "queued"}, headers=HR)).json()["applications"]
    assert [(a["candidate_id"], a["name"], a["source"]) for a in queue] == [("c-001", "陈亚历", "import"), ("c-004", "赵敏", "import")]
    assert all(r["outcome"] == "passed" for r in queue[0]["rules"])
    everyone = (await server.http.get(base, headers=HR)).json()["applications"]
    assert len(everyone) == 4

    invited = await server.http.post(f"{base}/c-001/invite", headers={**HR, "X-Reviewer": "Li%20Na"})
    assert invited.status_code == 201, invited.text
    interview_id = invited.json()["interview_id"]
    assert invited.json()["invite_url"].startswith(server.url)
    assert (await server.http.post(f"{base}/c-001/invite", headers=HR)).json()["code"] == "already_invited"
    assert (await server.http.post(f"{base}/c-004/decline", headers=HR)).status_code == 200
    assert (await server.http.post(f"{base}/c-004/invite", headers=HR)).status_code == 409
    assert (await server.http.post(f"{base}/nobody/invite", headers=HR)).status_code == 404
    assert (await server.http.get(base, params={"status": "maybe"}, headers=HR)).status_code == 422
    decided = {
        a["candidate_id"]: (a["status"], a["decided_by"], a["interview_id"])
        for a in (await server.http.get(base, headers=HR)).json()["applications"]
    }
    assert decided["c-001"] == ("invited", "hr:Li Na", interview_id)
    assert decided["c-004"][0] == "declined"

    # The same file again changes no decision; erasing a candidate erases their application.
    status, _ = await upload(server, more.encode(), "text/csv")
    assert status == 200
    assert (await server.http.get(base, params={"status": "queued"}, headers=HR)).json()["applications"] == []
    assert (await server.http.delete(f"{server.url}/api/v1/candidates/c-004", headers=HR)).status_code == 204
    assert "c-004" not in {a["candidate_id"] for a in (await server.http.get(base, headers=HR)).json()["applications"]}
