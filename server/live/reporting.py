"""An interview's match, question policy and report, built the same way live and in a replay of its recording."""

from __future__ import annotations

from collections.abc import Sequence

from realtime_scoring.matching import MatchResult, match_score
from realtime_scoring.policy import PolicyConfig, QuestionPolicy
from realtime_scoring.report import InterviewReport, ObservedSecond, QuestionReport, build_report
from server.domain.interview import Interview, InterviewSpec
from server.live.fan_out import LiveFanOut
from server.live.hr_messages import ReportReady
from server.settings import Settings
from server.storage.contract import Store
from server.storage.outbox import report_ready_data


def interview_match(interview: InterviewSpec) -> MatchResult:
    return match_score(interview.job, interview.candidate)


def interview_policy(interview: InterviewSpec, match: MatchResult) -> QuestionPolicy:
    """The question policy an interview runs, from its spec."""
    job = interview.job
    return QuestionPolicy(
        interview.questions(),
        interview.language,
        match.score,
        job.competencies,
        job_skills=[s.name for s in job.required_skills + job.preferred_skills],
        config=PolicyConfig(max_questions=interview.max_questions, time_budget_s=60 * interview.time_budget_minutes),
    )


def interview_report(
    interview_id: str,
    spec: InterviewSpec,
    match: MatchResult,
    questions: Sequence[QuestionReport],
    faces: Sequence[ObservedSecond],
    emotions: Sequence[ObservedSecond] | None,
) -> InterviewReport:
    """The report of an interview from its closed answers and observations."""
    return build_report(
        interview_id=interview_id,
        job_title=spec.job.title,
        candidate_name=spec.candidate.name,
        language=spec.language,
        mode=spec.mode,
        match=match,
        competency_weights=spec.job.competencies,
        questions=questions,
        faces=faces,
        emotions=emotions,
    )


async def write_report(interview: Interview, match: MatchResult, store: Store, settings: Settings, fan_out: LiveFanOut) -> None:
    """Build the report from what the store holds, save it with its `interview.report_ready` event, tell HR."""
    report = interview_report(
        interview.id,
        interview,
        match,
        await store.scored_answers(interview.id),
        await store.observations(interview.id, "face"),
        await store.observations(interview.id, "emotion") if settings.emotion_analysis else None,
    )
    report_json = report.model_dump_json()
    event = report_ready_data(interview.id, report_json, settings.base_url, settings.webhook_max_inline_bytes)
    await store.save_report(interview, report.schema_version, report_json, event)
    fan_out.to_hr(ReportReady(interview_id=interview.id, report=report.model_dump(mode="json")))
