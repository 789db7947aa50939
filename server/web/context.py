"""The objects a running app shares between its handlers, built once in the lifespan."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from hrms_bridge.connectors.moka import MokaAccount
from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.dispatcher import WebhookDispatcher
from hrms_bridge.writeback_sender import WriteBackSender
from realtime_scoring.pipeline import ScoringEngine
from server.cluster.event_bus import EventBus, hr_topic, interview_topic
from server.cluster.node_registry import NodeRegistry
from server.cluster.ratelimit import RedisTokenBuckets
from server.domain.interview import Interview, InterviewSpec
from server.domain.invites import Invite, InviteSigner, make_invite
from server.domain.mail import MailSender
from server.live.hr_messages import InterviewChanged, InterviewSummary
from server.live.sessions import SessionRegistry
from server.ops.metrics import NodeMetrics
from server.ops.node_load import NodeLoad
from server.rtc.turn_credentials import ice_servers_for
from server.settings import IceServer, Settings
from server.storage.bookings import Bookings
from server.storage.contract import Store
from server.storage.webhook_deliveries import Deliveries
from server.storage.wechat_subscriptions import SubscriptionConsents
from server.web.problems import Problem

DRAINING_RETRY_AFTER_S = 5  # a load balancer moves traffic off a draining node within a few health checks
LIVE_ELSEWHERE_RETRY_AFTER_S = 2

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    registry: SessionRegistry
    signer: InviteSigner
    api_keys: dict[str, str]  # key -> tenant
    deliveries: Deliveries
    dispatcher: WebhookDispatcher
    writebacks: WriteBackSender  # what ATSs are owed (entry links, results), through their connectors
    moka_accounts: dict[str, MokaAccount]  # by the account name in their webhook URL; empty: Moka is not set up
    destinations: DestinationPolicy
    metrics: NodeMetrics
    bus: EventBus
    node: NodeRegistry
    node_load: NodeLoad  # this node's load: admission of new interviews, and what it sheds
    shared_rate_limit: RedisTokenBuckets | None  # None: each node limits with its own buckets
    bookings: Bookings  # jobs' availability, candidates' booked slots and their reminders
    engine: ScoringEngine | None = None
    turn_secret: bytes | None = None  # signs candidates' TURN credentials (settings.turn_secret_file)
    mailer: MailSender | None = None  # None: no SMTP server configured, no e-mail is sent
    reminder_channels: list[str] = field(default_factory=list)  # what a new booking's reminders go out on
    sends_invitations: bool = False  # a mail server is set up: bookings send calendar invitations
    wechat_reminder_link: Callable[[str], str | None] | None = None  # interview id -> WeChat's page allowing a reminder
    wechat_consents: SubscriptionConsents | None = None  # candidates' one-time consents (subscription messages)

    def ice_servers(self, interview_id: str) -> list[IceServer]:
        """The STUN/TURN servers a candidate's browser uses, TURN with a credential valid for this interview's length."""
        s = self.settings
        return ice_servers_for(s.ice_servers, s.turn_urls, self.turn_secret, interview_id, s.turn_credential_ttl_s)

    def new_invite(self, interview_id: str, ttl_hours: float | None = None) -> Invite:
        """A signed invite with a short link, valid `ttl_hours` (default: the setting); nothing stored yet."""
        expires_at = int(time.time() + (self.settings.invite_ttl_hours if ttl_hours is None else ttl_hours) * 3600)
        return make_invite(self.signer, self.settings.base_url, interview_id, expires_at)

    async def schedule(
        self, spec: InterviewSpec, tenant: str, job_id: str | None = None, candidate_id: str | None = None
    ) -> tuple[Interview, Invite]:
        """Store a new interview with its invite; the interview.scheduled event carries the links to the HRMS."""
        interview_id = uuid.uuid4().hex
        invite = self.new_invite(interview_id)
        interview = await self.store.create_interview(
            spec, invite, interview_id=interview_id, tenant=tenant, job_id=job_id, candidate_id=candidate_id
        )
        self.announce(interview)
        return interview, invite

    async def end_everywhere(self, interview_id: str) -> None:
        """Stop an interview being cancelled or erased on this node, and on whichever node holds its media and sockets."""
        await self.registry.end_interview(interview_id)
        self.bus.publish(interview_topic(interview_id), {"type": "end"})

    def announce(self, interview: Interview) -> None:
        """Tell the tenant's dashboards (on every node) that an interview changed."""
        summary = InterviewSummary.of(interview, self.settings.emotion_analysis)
        self.bus.publish(hr_topic(interview.tenant), InterviewChanged(interview=summary).model_dump(mode="json"))

    def refuse_if_draining(self, interview_id: str) -> None:
        """A draining node takes no interview that is not already live on it: 503, so the client retries elsewhere."""
        if self.node.draining and self.registry.find_live(interview_id) is None:
            raise Problem(
                503,
                "node_draining",
                f"node {self.node.node_id} is shutting down and takes no new interviews; retry (on another node)",
                headers={"Retry-After": str(DRAINING_RETRY_AFTER_S)},
            )

    async def refuse_if_live_elsewhere(self, interview_id: str) -> None:
        """An interview another live node runs is not started here too: two nodes would each ask its questions
        and write its progress. 409 naming the node, so a load balancer without affinity shows up at once; the
        page retries, and this node takes the interview over once that node's hold lapses (it died)."""
        if self.registry.find_live(interview_id) is not None:
            return
        try:
            holder = await self.node.holder(interview_id)
        except (RedisError, OSError) as exc:
            logger.warning("could not ask Redis which node runs %s (%s); taking it here", interview_id, exc)
            return
        if holder is not None and holder != self.node.node_id:
            raise Problem(
                409,
                "interview_live_on_another_node",
                f"interview {interview_id} is live on node {holder}: route its page, WHIP and websocket to that node "
                "(session affinity on the interview id), or retry once it ends there",
                headers={"Retry-After": str(LIVE_ELSEWHERE_RETRY_AFTER_S)},
            )


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services
