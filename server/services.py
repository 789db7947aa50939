"""The objects a running app shares between its handlers, built once in the lifespan."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from hrms_bridge.deliveries import DeliveryStore
from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.dispatcher import WebhookDispatcher
from realtime_scoring.pipeline import ScoringEngine
from server.invites import InviteSigner
from server.schemas import Interview
from server.sessions import SessionRegistry
from server.settings import Settings
from server.store import InterviewStore


@dataclass
class Services:
    settings: Settings
    store: InterviewStore
    registry: SessionRegistry
    signer: InviteSigner
    api_keys: dict[str, str]  # key -> tenant
    deliveries: DeliveryStore
    dispatcher: WebhookDispatcher
    destinations: DestinationPolicy
    engine: ScoringEngine | None = None

    def invite_url(self, token: str) -> str:
        return f"{self.settings.base_url}/i/{token}"

    async def invite(self, interview: Interview) -> dict[str, object]:
        """A signed invite for the interview, with a short link (long JWT links get cut or mangled in chat apps)."""
        token = self.signer.issue(interview.id, interview.invite_expires_at)
        code = secrets.token_urlsafe(6)
        await self.store.add_short_link(code, interview.id, token, interview.invite_expires_at)
        return {
            "invite_url": self.invite_url(token),
            "invite_token": token,
            "invite_expires_at": interview.invite_expires_at,
            "short_url": f"{self.settings.base_url}/s/{code}",
        }


def services_of(connection: HTTPConnection) -> Services:
    return connection.app.state.services
