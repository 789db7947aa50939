"""Voluntary self-identification and the adverse-impact report (NYC Local Law 144's selection and scoring rates with
impact ratios): the arithmetic on known figures, and the way in from the candidate's page to HR's report, where no
reviewer ever sees what one candidate said."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.domain.adverse_impact import Outcome, adverse_impact
from tests.conftest import API_KEY, make_settings, serving
from tests.helpers.accessibility import check_state
from tests.helpers.browser import chromium
from tests.helpers.candidate_page import pass_welcome

HR = {"X-API-Key": API_KEY}


def test_rates_and_impact_ratios_follow_the_rules_on_known_figures() -> None:
    # 10 women: 6 decided, 3 advanced (rate 0.5); 10 men: 8 decided, 6 advanced (0.75) -> women's ratio 0.6667.
    outcomes = (
        [Outcome("female", "asian", "advance", 80.0)] * 3
        + [Outcome("female", "white", "reject", 40.0)] * 3
        + [Outcome("female", "white", None, None)] * 4
        + [Outcome("male", "white", "advance", 90.0)] * 6
        + [Outcome("male", "asian", "reject", 30.0)] * 2
        + [Outcome("male", "asian", None, 60.0)] * 2
        + [Outcome("undisclosed", "undisclosed", "advance", 70.0)]
    )
    report = adverse_impact(outcomes)
    sex = {r["category"]: r for r in report["sex"]}
    assert (sex["female"]["selection_rate"], sex["male"]["selection_rate"]) == (0.5, 0.75)
    assert (sex["female"]["selection_impact_ratio"], sex["male"]["selection_impact_ratio"]) == (0.6667, 1.0)
    # Scoring rate: above the median of everyone scored, the undisclosed too (17 scores: the 9th, 80).
    assert report["median_score"] == 80.0
    assert sex["female"]["scoring_rate"] == 0.0 and sex["male"]["scoring_rate"] == 0.6  # 0 of 6 above 80; 6 of 10
    assert sex["female"]["scoring_impact_ratio"] == 0.0 and sex["male"]["scoring_impact_ratio"] == 1.0
    assert report["unknown"] == {"sex": 1, "race": 1, "any": 1}
    inter = {r["category"]: r for r in report["intersectional"]}
    assert inter["female|asian"]["selection_rate"] == 1.0 and inter["female|white"]["selection_rate"] == 0.0
    assert inter["male|black_or_african_american"]["candidates"] == 0 and inter["male|black_or_african_american"]["selection_rate"] is None
    # A category under 2 % of the candidates is marked and kept out of the ratios.
    many = [Outcome("male", "white", "advance", 50.0)] * 60 + [Outcome("female", "asian", "reject", 50.0)]
    small = {r["category"]: r for r in adverse_impact(many)["sex"]}
    assert small["female"]["small"] and small["female"]["selection_impact_ratio"] is None


@pytest.mark.browser
async def test_a_candidate_may_say_who_they_are_and_hr_sees_only_the_counts(tmp_path: Path, speech_wav: Path, face_y4m: Path) -> None:
    async with serving(make_settings(tmp_path / "data", ask_self_identification=True)) as server:
        await server.http.put(f"{server.url}/api/v1/jobs/data-eng", json={"title": "Data engineer"}, headers=HR)
        ids = []
        for name in ("Ana", "Ben"):
            await server.http.put(f"{server.url}/api/v1/candidates/{name}", json={"name": name}, headers=HR)
            body = {
                "job_id": "data-eng",
                "candidate_id": name,
                "mode": "text",
                "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
            }
            created = (await server.http.post(f"{server.url}/api/v1/interviews", json=body, headers=HR)).json()
            ids.append((created["interview"]["id"], created["invite_token"]))

        # Ana says, on the invitation page; Ben does not. Then HR reads the job's fairness report.
        async with chromium(speech_wav, face_y4m) as browser:
            page = await (await browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")).new_page()
            await page.goto(f"{server.url}/i/{ids[0][1]}")
            await page.wait_for_selector("#welcome-step", state="visible")
            await page.click("#self-id summary")
            await page.select_option("#self-id-sex", "female")
            await page.select_option("#self-id-race", "asian")
            await check_state(page, "candidate-self-identification-en")
            await pass_welcome(page)
            await page.wait_for_function("window.interview.selfIdentified === true")
            hr = await (await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")).new_page()
            await hr.goto(f"{server.url}/hr#/fairness/data-eng")
            await hr.fill("#reviewer", "Li Na")
            await hr.fill("#api-key", API_KEY)
            await hr.press("#api-key", "Enter")
            await hr.wait_for_selector("table.fairness")
            assert await hr.locator("table.fairness").count() == 3
            assert "女" in (await hr.text_content("table.fairness") or "")
            await check_state(hr, "hr-fairness-zh")
            await hr.click("#lang-switch")
            await hr.wait_for_function("document.documentElement.lang === 'en'")
            await check_state(hr, "hr-fairness-en")
        said = await server.services.store.self_identifications([ids[0][0], ids[1][0]])
        assert {k: v.model_dump() for k, v in said.items()} == {ids[0][0]: {"sex": "female", "race": "asian"}}

        # Nothing a reviewer reads carries it.
        review = (await server.http.get(f"{server.url}/api/v1/interviews/{ids[0][0]}/review", headers=HR)).text
        state = (await server.http.get(f"{server.url}/api/v1/interviews/{ids[0][0]}", headers=HR)).text
        assert "asian" not in review and "female" not in review and "asian" not in state

        report = (await server.http.get(f"{server.url}/api/v1/jobs/data-eng/adverse-impact", headers=HR)).json()
        assert report["candidates"] == 2 and report["unknown"]["any"] == 1
        assert {r["category"]: r["candidates"] for r in report["sex"]} == {"female": 1, "male": 0}
        assert (await server.http.get(f"{server.url}/api/v1/jobs/none/adverse-impact", headers=HR)).status_code == 404

        # Closed to companies that do not ask, and to anyone without the invite.
        bad = await server.http.post(
            f"{server.url}/api/v1/interviews/{ids[1][0]}/self-identification",
            json={"sex": "other"},
            headers={"Authorization": f"Bearer {ids[1][1]}"},
        )
        assert bad.status_code == 422
        assert (
            await server.http.post(f"{server.url}/api/v1/interviews/{ids[1][0]}/self-identification", json={"sex": "male"})
        ).status_code == 401

    async with serving(make_settings(tmp_path / "other")) as server:
        created = (
            await server.http.post(
                f"{server.url}/api/v1/interviews",
                json={
                    "job": {"title": "X"},
                    "candidate": {"name": "Y"},
                    "mode": "text",
                    "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
                },
                headers=HR,
            )
        ).json()
        refused = await server.http.post(
            f"{server.url}/api/v1/interviews/{created['interview']['id']}/self-identification",
            json={"sex": "male"},
            headers={"Authorization": f"Bearer {created['invite_token']}"},
        )
        assert refused.status_code == 404 and refused.json()["code"] == "not_asked"
