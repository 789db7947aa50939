"""What an HRMS team does first with the contract: generate a client from /api/v1/openapi.json (openapi-python-client,
from the package registry) and drive an interview with it: register a webhook endpoint, schedule, receive the signed
events as the document's event types, read the report as its typed model."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import API_KEY, LiveServer, free_port, make_settings, serving
from tests.helpers.interviews import answer_every_question
from tests.helpers.webhook_receiver import Receiver, receiving

PACKAGE = "interview_api_client"


async def generate_client(server: LiveServer, into: Path) -> None:
    """openapi-python-client run on the served document, as an HRMS developer would run it."""
    spec = into / "openapi.json"
    spec.write_text(json.dumps((await server.http.get(f"{server.url}/api/v1/openapi.json")).json()))
    config = into / "generator.yaml"
    config.write_text("post_hooks: []\n")  # no formatter on the PATH is assumed
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "openapi_python_client",
        "generate",
        "--path",
        str(spec),
        "--config",
        str(config),
        "--output-path",
        str(into / PACKAGE),
        "--meta",
        "none",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-4000:]
    # Only the operations whose bodies are not JSON (SDP, CSV, media and posters) are left out, and say so.
    skipped = [line for line in text.splitlines() if line.startswith("WARNING")]
    assert all(any(kind in w for kind in ("whip", "imports/candidates", "poster", "recordings")) for w in skipped), skipped


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_a_client_generated_from_the_document_schedules_an_interview_hears_its_events_and_reads_its_report(
    importable: Path,
) -> None:
    receiver = Receiver(free_port())
    settings = make_settings(importable / "data", webhook_allow_http=True, webhook_allow_private_addresses=True)
    async with receiving(receiver), serving(settings) as server:
        await generate_client(server, importable)
        client_module, models = module("client"), module("models")
        client = client_module.AuthenticatedClient(base_url=server.url, token=API_KEY, prefix="", auth_header_name="X-API-Key")

        registered: Any = await module("api.webhooks.post_webhooks_endpoints").asyncio(
            client=client, body=models.EndpointSpec.from_dict({"url": receiver.url, "description": "generated client"})
        )
        assert isinstance(registered, models.NewWebhookEndpoint), registered
        secret = registered.secret

        spec = {
            "job": {"title": "Backend engineer", "role": "backend_engineer", "language": "en"},
            "candidate": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "mode": "text",
            "max_questions": 2,
        }
        scheduled: Any = await module("api.hr.post_interviews").asyncio(client=client, body=models.ScheduleInterview.from_dict(spec))
        assert isinstance(scheduled, models.ScheduledInterview), scheduled
        interview_id = scheduled.interview.id
        assert scheduled.interview.status == models.InterviewStatus.SCHEDULED and 0 <= scheduled.match.score <= 100

        state: Any = await module("api.hr.get_interviews_by_interview_id").asyncio(interview_id=interview_id, client=client)
        assert isinstance(state, models.InterviewState) and state.interview.candidate.name == "Ada Lovelace"
        missing: Any = await module("api.hr.get_interviews_by_interview_id_report").asyncio(interview_id=interview_id, client=client)
        assert isinstance(missing, models.Problem) and missing.status == 409, "no report before the interview ends"

        assert await answer_every_question(server.http, server.url, interview_id, scheduled.invite_token)
        expected = {"interview.scheduled", "interview.started", "interview.completed", "report.ready"}
        # Webhooks carry no delivery order (README): report.ready may come before interview.completed.
        await receiver.wait_for(lambda got: expected <= {r.event["type"] for r in got})

        verifier = Webhook(secret)
        events = {}
        for received in receiver.requests:
            verifier.verify(received.body, received.headers)  # signed with the secret the client was given
            event_type = received.event["type"]
            model = getattr(models, "".join(p.capitalize() for p in event_type.replace(".", "_").split("_")) + "Event")
            events[event_type] = model.from_dict(received.event)
        assert expected <= set(events)
        assert events["interview.scheduled"].data.interview_id == interview_id
        assert events["report.ready"].data.report_url.endswith(f"/api/v1/interviews/{interview_id}/report")

        stored: Any = await module("api.hr.get_interviews_by_interview_id_report").asyncio(interview_id=interview_id, client=client)
        assert isinstance(stored, models.StoredReport), stored
        report = stored.report
        assert isinstance(report, models.InterviewReport) and report.interview_id == interview_id
        assert report.candidate_name == "Ada Lovelace" and len(report.questions) == 2
        assert report.recommendation.decision in set(models.RecommendationDecision)
