"""The candidate's own result (`GET /api/v1/interviews/{id}/result`): scores and suggestions, nothing meant for HR."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from realtime_scoring.report import InterviewReport
from server.web.auth import bearer_token, require_invite
from server.web.context import services_of
from server.web.problems import Problem

# The page polls while the report is written (it follows the last answer by a moment).
RETRY_AFTER_S = 2


class CandidateQuestionResult(BaseModel):
    index: int
    text: str
    competency: str
    score: float = Field(description="0–100")
    answered: bool


# An answer scoring this much is named among the candidate's strengths.
STRENGTH_SCORE = 70.0


class CandidateResult(BaseModel):
    """What a candidate sees of their report, in plain terms: scores, strengths and suggestions. Never the
    recommendation, reasons, evidence, flags or emotion, nor the questions' key points or model answers (a
    candidate could pass them on)."""

    interview_id: str
    job_title: str
    language: str
    overall: float | None = Field(description="0–100; None when no answer bears on a weighted competency")
    competencies: dict[str, float] = Field(description="0–100 for each competency the job weighs and an answer bore on")
    questions: list[CandidateQuestionResult]
    strengths: list[int] = Field(description="indexes of the questions answered well")
    suggestions: list[str] = Field(description="in the interview's language")

    @classmethod
    def from_report(cls, report: InterviewReport) -> CandidateResult:
        return cls(
            interview_id=report.interview_id,
            job_title=report.job_title,
            language=report.language,
            overall=report.recommendation.overall,
            competencies={c.value: s.score for c, s in report.competencies.items() if s.score is not None and s.weight > 0},
            questions=[
                CandidateQuestionResult(index=q.index, text=q.text, competency=q.competency.value, score=q.score, answered=q.answered)
                for q in report.questions
            ],
            strengths=[q.index for q in report.questions if q.answered and q.score >= STRENGTH_SCORE],
            suggestions=report.suggestions,
        )


async def candidate_result(request: Request) -> JSONResponse:
    """The result, for the invite's holder, once the report exists and only if the company shares it."""
    services = services_of(request)
    interview_id = request.path_params["interview_id"]
    # `?token=` too: a result link can be opened outside the page that holds the token.
    token = bearer_token(request.headers) or request.query_params.get("token")
    require_invite(services.signer, token, interview_id)
    interview = await services.store.get_interview(interview_id)
    if interview is None:
        raise Problem(404, "interview_not_found", f"no interview {interview_id!r}")
    if not interview.candidate_sees_result:
        raise Problem(403, "result_not_shared", "the company does not share interview results with candidates")
    stored = await services.store.report(interview_id)
    if stored is None:
        raise Problem(
            409,
            "result_not_ready",
            f"the interview is {interview.status.value}; the result comes when it completes",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    result = CandidateResult.from_report(InterviewReport.model_validate(stored.report))
    return JSONResponse(result.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
