"""Greenhouse's "Mark Test as Completed": a PATCH to the callback `url` of Send Test once the interview's report exists.

Greenhouse answers that PATCH by calling our Test Status endpoint (server/web/greenhouse_api.py), so results show up
in Greenhouse without it polling. "No parameters are necessary"; HTTP Basic with the API key Greenhouse sent Send Test
with as the username and an empty password (https://developers.greenhouse.io/assessment.html).

    target: {"url": Send Test's callback URL, "api_key": the key Greenhouse authenticated with}
"""

from __future__ import annotations

import httpx

from hrms_bridge.connectors.base import CallForResponse, InterviewFacts
from hrms_bridge.retrying import Outcome
from server.storage.ats_writebacks import RESULT, WriteBack

NAME = "greenhouse"


class GreenhouseConnector:
    name = NAME

    async def write_back(self, item: WriteBack, facts: InterviewFacts | None, call: CallForResponse) -> Outcome:
        if item.action != RESULT:
            return Outcome(None, f"Greenhouse takes no {item.action!r} write-back", None)
        url, auth = item.target["url"], httpx.BasicAuth(item.target["api_key"], "")
        outcome, _ = await call(url, lambda client: client.patch(url, auth=auth))
        return outcome
