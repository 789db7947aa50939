"""The OpenAPI document: valid, covering every API route, and a schema-driven fuzzer finds no server errors."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sys
from pathlib import Path

from openapi_spec_validator import validate
from starlette.routing import Route

from server.composition import ROUTES
from server.storage.outbox import EventType
from tests.conftest import API_KEY, make_settings, serving


async def test_the_openapi_document_validates_and_documents_every_api_route(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path / "data")) as server:
        document = (await server.http.get(f"{server.url}/api/v1/openapi.json")).json()
    validate(document)
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    served = {
        (route.path, method)
        for route in ROUTES
        if isinstance(route, Route) and route.path.startswith(("/api/", "/healthz"))
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert served - documented == set(), "routes missing from the document"
    assert documented - served == set(), "documented routes the app does not serve"
    schedule = document["components"]["schemas"]["ScheduleInterview"]
    assert {"job", "job_id", "candidate", "candidate_id"} <= set(schedule["properties"])
    # What a client generator needs: a unique operationId everywhere, each event's payload, typed error locations.
    operations = [op for item in document["paths"].values() for op in item.values()]
    ids = [op.get("operationId") for op in operations]
    assert None not in ids and len(set(ids)) == len(ids)
    assert set(document["webhooks"]) == {e.value for e in EventType}
    reference = document["webhooks"]["interview.scheduled"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert reference == {"$ref": "#/components/schemas/InterviewScheduledEvent"}
    scheduled = document["components"]["schemas"]["InterviewScheduledEvent"]
    assert (
        scheduled["properties"]["type"] == {"const": "interview.scheduled"}
        and "invite_url" in scheduled["properties"]["data"]["properties"]
    )
    loc = document["components"]["schemas"]["Problem"]["properties"]["errors"]["items"]["properties"]["loc"]
    assert "items" in loc


async def test_a_stateful_schema_driven_run_finds_no_failure_of_any_check(tmp_path: Path) -> None:
    """Every schemathesis phase (coverage, fuzzing, and stateful: create an interview, an endpoint, a job, a share, then
    follow the document's links to what takes them) with every check but one: server errors, status codes, content
    types, response schemas and headers, links, resources gone after DELETE, auth that is ignored, and schema-valid
    requests refused (tests/schemathesis.toml names the few refusals JSON Schema cannot state). Not checked: that the
    server refuses a JSON scalar of another type ("5" for 5), which its models take, as pydantic's lax mode does."""
    settings = make_settings(
        tmp_path / "data",
        hr_rate_limit_per_s=10_000,
        hr_rate_limit_burst=10_000,
        failed_key_burst=100_000,  # the fuzzer's requests without a key would otherwise be limited (429) for brute force
        failed_key_rate_per_s=10_000,
    )
    async with serving(settings) as server:
        await server.schedule()
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(Path(__file__).parent / "schemathesis.toml"),
            "run",
            f"{server.url}/api/v1/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            "negative_data_rejection",
            "--header",
            f"X-API-Key: {API_KEY}",
            "--max-examples",
            "10",
            "--seed",
            "7",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            # WHIP bodies are SDP, which the fuzzer cannot generate; tests/test_ice_and_sdp.py covers malformed offers.
            "--exclude-path-regex",
            "/whip",
        ]
        # Run from this interpreter's environment, not whatever `schemathesis` the PATH happens to find.
        if importlib.util.find_spec("schemathesis") is None:
            raise AssertionError("schemathesis is not installed (pip install -e .[test])")
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=400)
    text = output.decode(errors="replace")
    print(text[-3000:])
    assert process.returncode == 0, text[-6000:]
    assert "✅ Stateful" in text, "the stateful phase ran and passed"
    covered = re.search(r"API Links:\s+(\d+) covered", text)
    assert covered is not None and int(covered.group(1)) >= 20, "the stateful phase followed the document's links"
