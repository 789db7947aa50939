"""Candidate-to-job match score: ranking, evidence, synonyms and each scoring rule."""

from __future__ import annotations

import json

import pytest

from realtime_scoring.matching import MatchContribution, MatchResult, SkillSynonyms, match_score
from realtime_scoring.profiles import CandidateProfile, JobProfile

BACKEND_JOB = JobProfile.model_validate(
    {
        "title": "Backend Engineer",
        "required_skills": [
            {"name": "Python", "weight": 3},
            {"name": "PostgreSQL", "weight": 2},
            {"name": "Kubernetes", "weight": 2, "min_years": 2},
            {"name": "Redis", "weight": 1},
        ],
        "preferred_skills": [{"name": "Kafka"}, {"name": "AWS"}],
        "min_years_experience": 3,
        "education": "bachelor",
        "education_fields": ["Computer Science"],
    }
)

STRONG = CandidateProfile.model_validate(
    {
        "name": "Strong",
        "years_experience": 5,
        "skills": [
            {"name": "Python", "years": 6},
            {"name": "postgres", "years": 4},
            {"name": "k8s", "years": 3},
            "Redis",
            "AWS",
        ],
        "education": [{"level": "bachelor", "field": "Computer Science"}],
    }
)

MIDDLING = CandidateProfile.model_validate(
    {
        "name": "Middling",
        "years_experience": 2,
        "skills": [{"name": "Python", "years": 2}, "Docker"],
        "projects": [
            {"name": "Order service", "skills": ["PostgreSQL", "Docker"], "description": "A REST API for orders."},
            {"name": "Checkout rewrite", "description": "Deployed on Kubernetes; cached hot reads in Redis."},
        ],
        "education": [{"level": "associate", "field": "Software Engineering"}],
    }
)

WEAK = CandidateProfile.model_validate(
    {
        "name": "Weak",
        "years_experience": 0,
        "skills": ["Excel", "Salesforce", "Negotiation"],
        "summary": "Retail sales associate who enjoys talking to customers.",
        "education": [{"level": "high_school"}],
    }
)


def job(**fields: object) -> JobProfile:
    return JobProfile.model_validate({"title": "Job", **fields})


def candidate(**fields: object) -> CandidateProfile:
    return CandidateProfile.model_validate({"name": "Candidate", **fields})


def contribution(result: MatchResult, item: str) -> MatchContribution:
    return next(c for c in result.contributions if c.item == item)


def test_strong_middling_weak_candidates_rank_in_that_order_with_reasons() -> None:
    strong, middling, weak = (match_score(BACKEND_JOB, c) for c in (STRONG, MIDDLING, WEAK))

    # Required: 50 split 3:2:2:1; preferred: 7.5 each; experience 25; education 10.
    assert strong.score == 92.5  # everything but Kafka
    assert middling.score == 57.9  # Python 18.75 + three mentions at 0.6 (18.75) + 2/3 of 25 + associate, other field 3.75
    assert weak.score == 0.0
    assert strong.score >= 80 and weak.score <= 30
    assert strong.score - middling.score > 20 and middling.score - weak.score > 20

    kubernetes = contribution(strong, "Kubernetes")
    assert (kubernetes.factor, kubernetes.points, kubernetes.max_points) == ("required_skill", 12.5, 12.5)
    assert kubernetes.detail == "Kubernetes: candidate lists 'k8s' (3 years; job asks 2 years)"
    assert "'postgres'" in contribution(strong, "PostgreSQL").detail
    assert contribution(strong, "Kafka").detail == "Kafka: not found"
    assert contribution(strong, "Kafka").points == 0.0
    education = contribution(strong, "bachelor").detail
    assert education == "bachelor in 'Computer Science': meets bachelor; field matches Computer Science"

    assert contribution(middling, "PostgreSQL").detail == "PostgreSQL: in the skills of project 'Order service' as 'PostgreSQL'"
    assert contribution(middling, "Kubernetes").detail == "Kubernetes: mentioned in project 'Checkout rewrite' ('kubernetes')"
    assert contribution(middling, "Kubernetes").points == 7.5
    assert contribution(middling, "years").points == 16.67
    assert contribution(middling, "years").detail == "candidate has 2 years; job asks 3 years"

    assert all(c.detail.endswith("not found") for c in weak.contributions if c.factor.endswith("skill"))
    assert contribution(weak, "bachelor").detail == "high school: below bachelor"


def test_contributions_come_in_job_order_and_serialise_to_json() -> None:
    result = match_score(BACKEND_JOB, STRONG)

    items = [c.item for c in result.contributions]
    assert items == ["Python", "PostgreSQL", "Kubernetes", "Redis", "Kafka", "AWS", "years", "bachelor"]
    data = json.loads(json.dumps(result.as_dict()))
    assert data["score"] == 92.5
    assert data["contributions"][0] == {
        "factor": "required_skill",
        "item": "Python",
        "points": 18.75,
        "max_points": 18.75,
        "detail": "Python: candidate lists 'Python' (6 years)",
    }


def test_shipped_synonyms_fold_aliases_chinese_names_and_punctuation_variants() -> None:
    synonyms = SkillSynonyms.shipped()

    assert synonyms.canonical("K8s") == "kubernetes"
    assert synonyms.canonical(" Postgres ") == synonyms.canonical("pg") == "postgresql"
    assert synonyms.canonical("机器学习") == synonyms.canonical("ML") == "machine learning"
    assert synonyms.canonical("A/B实验") == synonyms.canonical("AB testing") == "a/b testing"
    assert {synonyms.canonical(n) for n in ("Node.js", "nodejs", "node", "NODE JS", "Node-JS")} == {"node.js"}
    assert {synonyms.canonical(n) for n in ("C", "C++", "C#")} == {"c", "c++", "c#"}
    assert synonyms.canonical("ＰＹＴＨＯＮ") == "python"  # full-width, as Chinese resumes often type it
    # Unknown skills still compare equal across spelling variants.
    assert synonyms.canonical("Foo-Bar") == synonyms.canonical("foo bar") == "foobar"
    assert SkillSynonyms.shipped() is synonyms


def test_shipped_synonyms_cover_backend_data_and_sales_skills() -> None:
    synonyms = SkillSynonyms.shipped()

    for alias, name in {
        "golang": "go",
        "js": "javascript",
        "powerbi": "power bi",
        "统计学": "statistics",
        "商务谈判": "negotiation",
        "大客户销售": "b2b sales",
        "大客户管理": "account management",
        "沟通": "communication",
    }.items():
        assert synonyms.canonical(alias) == name


def test_candidate_listing_a_node_variant_meets_a_nodejs_requirement() -> None:
    result = match_score(job(required_skills=[{"name": "Node.js"}]), candidate(skills=["NodeJS"]))

    assert contribution(result, "Node.js").points == 65.0
    assert result.score == 100.0


def test_chinese_alias_in_summary_earns_mention_credit() -> None:
    result = match_score(job(required_skills=[{"name": "Machine Learning"}]), candidate(summary="三年机器学习项目经验，熟悉Python。"))

    ml = contribution(result, "Machine Learning")
    assert ml.points == 39.0  # 0.6 of 65
    assert ml.detail == "Machine Learning: mentioned in the summary ('机器学习')"


def test_english_name_inside_chinese_text_counts_as_a_word() -> None:
    result = match_score(job(required_skills=[{"name": "Redis"}]), candidate(summary="熟悉Python和Redis缓存"))

    assert contribution(result, "Redis").points == 39.0


def test_mentions_match_whole_words_only() -> None:
    result = match_score(job(required_skills=[{"name": "SQL"}]), candidate(summary="PostgreSQL and MySQL tuning"))

    assert contribution(result, "SQL").points == 0.0
    assert contribution(result, "SQL").detail == "SQL: not found"


def test_everyday_word_names_count_from_skill_lists_but_not_prose() -> None:
    go_job = job(required_skills=[{"name": "Go"}])

    prose = match_score(go_job, candidate(summary="Ready to go live in any team; I excel at ownership."))
    listed = match_score(go_job, candidate(projects=[{"name": "Billing", "skills": ["Go"]}]))
    alias = match_score(go_job, candidate(summary="Wrote the billing service in Golang."))

    assert contribution(prose, "Go").points == 0.0
    assert contribution(listed, "Go").points == 39.0
    assert contribution(alias, "Go").detail == "Go: mentioned in the summary ('golang')"


def test_alias_clash_raises_value_error_naming_both_skills() -> None:
    with pytest.raises(ValueError, match=r"'pg' maps to both 'postgresql' and 'pagerduty'"):
        SkillSynonyms({"postgresql": ["postgres", "pg"], "pagerduty": ["PG"]})
    # Punctuation variants clash too: they fold to one name.
    with pytest.raises(ValueError, match=r"'node-js' maps to both 'node.js' and 'nodejs runtime'"):
        SkillSynonyms.from_toml('[synonyms]\n"node.js" = []\n"nodejs runtime" = ["node-js"]\n')


def test_skill_found_only_in_a_project_earns_sixty_percent_of_its_share() -> None:
    kafka_job = job(required_skills=[{"name": "Kafka", "weight": 3}, {"name": "Python", "weight": 1}])
    in_project_skills = candidate(skills=["Python"], projects=[{"name": "Events", "skills": ["Apache Kafka"]}])
    in_description = candidate(skills=["Python"], projects=[{"name": "Events", "description": "Streamed orders through kafka topics."}])

    for person in (in_project_skills, in_description):
        result = match_score(kafka_job, person)
        kafka = contribution(result, "Kafka")
        assert (kafka.points, kafka.max_points) == (29.25, 48.75)  # 0.6 of 3/4 of 65
        assert result.score == 80.5  # 29.25 + Python 16.25 + 25 + 10
    assert "as 'Apache Kafka'" in contribution(match_score(kafka_job, in_project_skills), "Kafka").detail


def test_listed_skill_with_fewer_years_than_required_earns_in_proportion_never_under_half() -> None:
    k8s_job = job(required_skills=[{"name": "Kubernetes", "min_years": 4}])

    def points(years: float | None) -> float:
        return contribution(match_score(k8s_job, candidate(skills=[{"name": "k8s", "years": years}])), "Kubernetes").points

    assert points(5) == 65.0
    assert points(4) == 65.0
    assert points(3) == 48.75  # 3/4
    assert points(1) == 32.5  # half, the floor
    assert points(None) == 32.5  # unknown years: half
    detail = contribution(match_score(k8s_job, candidate(skills=[{"name": "k8s", "years": 3}])), "Kubernetes").detail
    assert detail == "Kubernetes: candidate lists 'k8s' (3 years; job asks 4 years)"


def test_unknown_years_meet_a_skill_without_minimum() -> None:
    result = match_score(job(required_skills=[{"name": "Redis"}]), candidate(skills=["redis"]))

    assert contribution(result, "Redis").points == 65.0
    assert contribution(result, "Redis").detail == "Redis: candidate lists 'redis' (years not given)"


def test_experience_is_linear_below_the_minimum_and_full_when_none_is_asked() -> None:
    four_years = job(required_skills=[{"name": "SQL"}], min_years_experience=4)

    assert contribution(match_score(four_years, candidate(years_experience=1)), "years").points == 6.25
    assert contribution(match_score(four_years, candidate(years_experience=10)), "years").points == 25.0
    assert contribution(match_score(job(), candidate(years_experience=0)), "years").points == 71.43


def test_education_one_level_below_earns_half_and_another_field_three_quarters() -> None:
    cs_bachelor = job(education="bachelor", education_fields=["computer science"])

    def points(level: str, field: str | None = None) -> float:
        result = match_score(cs_bachelor, candidate(education=[{"level": level, "field": field}]))
        return contribution(result, "bachelor").points

    assert points("master", "Computer Science") == 28.57  # no skills: education scales to 28.57
    assert points("bachelor", "计算机科学与技术") == 28.57  # Chinese field name, via synonyms
    assert points("bachelor", "Computer Science and Engineering") == 28.57
    assert points("bachelor", "BSc CS") == 28.57
    assert points("associate", "Computer Science") == 14.29  # half
    assert points("bachelor", "History") == 21.43  # 0.75
    assert points("associate", "Physics") == 10.71  # half of 0.75; "cs" is not a word in "physics"
    assert points("high_school") == 0.0

    result = match_score(cs_bachelor, candidate(education=[{"level": "associate", "field": "CS"}]))
    assert contribution(result, "bachelor").detail == "associate in 'CS': one level below bachelor (half); field matches computer science"


def test_best_degree_counts() -> None:
    result = match_score(
        job(required_skills=[{"name": "SQL"}], education="master"),
        candidate(skills=["SQL"], education=[{"level": "bachelor"}, {"level": "master", "field": "History"}]),
    )

    assert contribution(result, "master").points == 10.0
    assert result.score == 100.0


def test_job_without_preferred_skills_scores_a_perfect_candidate_100() -> None:
    no_preferred = BACKEND_JOB.model_copy(update={"preferred_skills": []})

    result = match_score(no_preferred, STRONG)

    assert result.score == 100.0
    assert sum(c.max_points for c in result.contributions if c.factor == "required_skill") == 65.0
    strong = STRONG.model_dump()
    with_kafka = CandidateProfile.model_validate({**strong, "skills": [*strong["skills"], "Kafka"]})
    assert match_score(BACKEND_JOB, with_kafka).score == 100.0


def test_job_with_only_preferred_skills_gives_them_all_skill_points() -> None:
    result = match_score(job(preferred_skills=[{"name": "Tableau"}]), candidate(skills=["tableau"]))

    assert contribution(result, "Tableau").max_points == 65.0
    assert result.score == 100.0


def test_job_without_skills_scales_experience_and_education_to_100() -> None:
    result = match_score(
        job(min_years_experience=2, education="bachelor"), candidate(years_experience=1, education=[{"level": "bachelor"}])
    )

    scored = [(c.item, c.points, c.max_points) for c in result.contributions]
    assert scored == [("years", 35.71, 71.43), ("bachelor", 28.57, 28.57)]
    assert result.score == 64.3


def test_same_inputs_give_the_same_result() -> None:
    assert match_score(BACKEND_JOB, MIDDLING) == match_score(BACKEND_JOB, MIDDLING)
