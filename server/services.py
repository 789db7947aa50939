"""The objects a running app shares between its handlers, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from hrms_bridge.deliveries import DeliveryStore
from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.dispatcher import WebhookDispatcher
from realtime_scoring.pipeline import ScoringEngine
from server.invites import InviteSigner
from server.sessions import SessionRegistry
from server.settings import Settings
from server.store import InterviewStore


@dataclass
class Services:
    settings: Settings
    store: InterviewStore
    registry: SessionRegistry
    signer: InviteSigner
    api_keys: list[str]
    deliveries: DeliveryStore
    dispatcher: WebhookDispatcher
    destinations: DestinationPolicy
    engine: ScoringEngine | None = None

    def invite_url(self, token: str) -> str:
        return f"{self.settings.base_url}/i/{token}"


def services_of(connection: HTTPConnection) -> Services:
    return connection.app.state.services
