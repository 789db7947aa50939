"""Screening rules per job: each rule's outcome with what it found (skills under synonyms, education, years, location,
languages, match score, knock-out answers), through the HR API for stored and inline candidates."""

from __future__ import annotations

from pathlib import Path

from realtime_scoring.profiles import CandidateProfile, JobProfile, ScreeningRules
from realtime_scoring.screening import screen
from tests.conftest import API_KEY, make_settings, serving

HR = {"X-API-Key": API_KEY}
JOB = JobProfile.model_validate({"title": "Backend engineer", "required_skills": [{"name": "Python"}, {"name": "PostgreSQL"}]})


def test_every_rule_says_what_it_expected_and_what_it_found() -> None:
    rules = ScreeningRules.model_validate(
        {
            "min_education": "bachelor",
            "min_years_experience": 3,
            "required_skills": ["Python", "Postgres"],
            "any_skills": ["Go", "Rust"],
            "locations": ["Shanghai", "Hangzhou"],
            "languages": ["zh", "en"],
            "min_match_score": 60,
            "knockout_questions": [{"id": "onsite", "text": {"en": "Can you work on site?"}}],
        }
    )
    strong = CandidateProfile.model_validate(
        {
            "name": "Lin",
            "education": [{"level": "master", "field": "computer science"}],
            "years_experience": 5,
            "skills": ["python", "PostgreSQL", "Go"],  # "PostgreSQL" meets "Postgres": the synonym table
            "location": "shanghai",
            "languages": ["ZH", "en"],
        }
    )
    waiting = screen(rules, JOB, strong)
    assert waiting.outcome == "waiting" and waiting.rules[-1].rule == "knockout:onsite"
    passed = screen(rules, JOB, strong, {"onsite": True})
    assert passed.outcome == "passed" and all(r.outcome == "passed" for r in passed.rules)

    weak = strong.model_copy(update={"years_experience": 1, "skills": strong.skills[:1], "location": "Beijing", "education": []})
    failed = screen(rules, JOB, weak, {"onsite": False})
    outcomes = {r.rule: (r.outcome, r.found) for r in failed.rules}
    assert failed.outcome == "failed"
    assert outcomes["min_education"] == ("failed", "none")
    assert outcomes["min_years_experience"] == ("failed", 1)
    assert outcomes["required_skills"] == ("failed", {"missing": ["Postgres"]})
    assert outcomes["any_skills"] == ("failed", {"having": []})
    assert outcomes["locations"] == ("failed", "Beijing")
    assert outcomes["languages"][0] == "passed"
    assert outcomes["knockout:onsite"] == ("failed", False)


async def test_hr_screens_stored_and_inline_candidates_against_a_jobs_rules(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data")) as server:
        base = server.url + "/api/v1"
        plain = JOB.model_dump(mode="json", exclude={"screening"})
        await server.http.put(f"{base}/jobs/be-1", json=plain, headers=HR)
        refused = await server.http.post(f"{base}/jobs/be-1/screen", json={"candidate_ids": ["c1"]}, headers=HR)
        assert refused.status_code == 409 and refused.json()["code"] == "no_screening_rules"
        job = {**plain, "screening": {"min_years_experience": 3, "required_skills": ["Python"], "on_pass": "invite"}}
        assert (await server.http.put(f"{base}/jobs/be-1", json=job, headers=HR)).status_code == 200
        await server.http.put(f"{base}/candidates/c1", json={"name": "A", "years_experience": 4, "skills": ["Python"]}, headers=HR)
        body = {"candidate_ids": ["c1", "nobody"], "candidates": [{"name": "B", "years_experience": 1}]}
        result = (await server.http.post(f"{base}/jobs/be-1/screen", json=body, headers=HR)).json()
        assert result["on_pass"] == "invite"
        assert [(r["candidate"], r["outcome"]) for r in result["results"]] == [("c1", "passed"), ("nobody", "not_found"), ("0", "failed")]
        assert [r["rule"] for r in result["results"][2]["rules"]] == ["min_years_experience", "required_skills"]
        for bad in ({}, {"candidate_ids": ["../x"]}, {"candidate_ids": ["c"] * 501}, {"candidates": [{"name": ""}]}):
            response = await server.http.post(f"{base}/jobs/be-1/screen", json=bad, headers=HR)
            assert response.status_code == 422, (bad, response.text)
        assert (await server.http.post(f"{base}/jobs/none/screen", json={"candidate_ids": ["c1"]}, headers=HR)).status_code == 404


async def test_the_hrms_screens_pushed_candidates_and_the_job_invites_or_queues_them_once(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data")) as server:
        base = server.url + "/api/v1"
        job = {"title": "Backend engineer", "role": "backend_engineer", "screening": {"min_years_experience": 3, "on_pass": "invite"}}
        assert (await server.http.put(f"{base}/jobs/be-2", json=job, headers=HR)).status_code == 201
        await server.http.put(f"{base}/candidates/c1", json={"name": "A", "years_experience": 4}, headers=HR)
        await server.http.put(f"{base}/candidates/c2", json={"name": "B", "years_experience": 1}, headers=HR)
        body = {"candidate_ids": ["c1", "c2", "c1", "nobody"], "admit": True}
        first = (await server.http.post(f"{base}/jobs/be-2/screen", json=body, headers=HR)).json()["results"]
        assert [(r["candidate"], r["outcome"], r.get("admitted")) for r in first] == [
            ("c1", "passed", "invited"),
            ("c2", "failed", "not_selected"),
            ("c1", "passed", "invited"),  # named twice, invited once
            ("nobody", "not_found", None),
        ]
        assert len((await server.http.get(f"{base}/candidates/c1", headers=HR)).json()["interviews"]) == 1
        again = (await server.http.post(f"{base}/jobs/be-2/screen", json=body, headers=HR)).json()["results"]
        assert again[0]["admitted"] == "already_invited" and again[0]["interview_id"] == first[0]["interview_id"]
        applications = (await server.http.get(f"{base}/jobs/be-2/applications", headers=HR)).json()["applications"]
        assert sorted((a["candidate_id"], a["source"], a["status"]) for a in applications) == [
            ("c1", "hrms", "invited"),
            ("c2", "hrms", "not_selected"),
        ]
        inline = {"candidates": [{"name": "C", "years_experience": 9}], "admit": True}
        assert (await server.http.post(f"{base}/jobs/be-2/screen", json=inline, headers=HR)).status_code == 422
