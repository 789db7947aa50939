"""The ASGI application, assembled from plain route lists."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from collections.abc import AsyncIterator

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from frontend import FRONTEND_DIR
from hrms_bridge.connectors.base import Connector
from hrms_bridge.connectors.feishu_hire import FeishuHireConnector, load_apps
from hrms_bridge.connectors.greenhouse import GreenhouseConnector
from hrms_bridge.connectors.moka import load_accounts
from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.dispatcher import WebhookDispatcher
from hrms_bridge.retention import prune_webhook_history_forever
from hrms_bridge.stream import StreamWebhookDispatcher, WebhookStream
from hrms_bridge.writeback_sender import WriteBackSender, facts_from
from realtime_scoring.answer_scoring import AnswerScorer
from realtime_scoring.engine import EngineConfig
from realtime_scoring.pipeline import ScoringEngine
from server.cluster.event_bus import EventBus, LocalEventBus
from server.cluster.node_registry import NodeRegistry, node_topic
from server.cluster.ratelimit import RedisTokenBuckets
from server.cluster.redis_bus import RedisEventBus
from server.cluster.worker_hub import REPORT_EVERY_S, REPORTED_CLIENTS, REPORTED_FROM_SHARE, WorkerHub
from server.domain.invites import InviteSigner
from server.domain.reminders import ReminderChannel
from server.integrations import feishu_hire_api, moka_api, wechat_oauth, wechat_registration, wechat_reminder_consent
from server.integrations.calendar_mail import CalendarMail
from server.integrations.reminder_channels import EmailReminders, WebhookReminders
from server.integrations.reminder_scheduler import ReminderScheduler
from server.integrations.sms import SmsReminderChannel
from server.integrations.smtp_mail import SmtpSender
from server.integrations.tencent_sms import TencentSms, TencentSmsConfig
from server.integrations.wechat_messages import WeChatSubscriptionChannel, WeChatTemplateChannel, wechat_channel
from server.integrations.wechat_reminder_consent import confirm_links, reminder_config
from server.live.abandonment import sweep_abandoned_forever
from server.live.faq import Faq
from server.live.sessions import SessionRegistry, remove_erased_recordings
from server.ops.connection_limits import ConnectionGuard
from server.ops.cpu_headroom import SiblingCpu, machine_headroom
from server.ops.logs import InterviewContextMiddleware
from server.ops.metrics import NodeMetrics
from server.ops.node_load import LoadLevel, LoadThresholds, NodeLoad
from server.rtc.ice import advertise_host_addresses
from server.rtc.media_consumers import MediaConsumer, level_meter_consumer, scoring_consumer
from server.settings import Settings
from server.storage.ats_writebacks import WriteBacks, WriteBackStore
from server.storage.ats_writebacks_redis import RedisWriteBackStore
from server.storage.bookings import Bookings, BookingStore
from server.storage.contract import Store, open_store
from server.storage.redis_bookings import RedisBookingStore
from server.storage.redis_client import Keys, open_redis
from server.storage.redis_webhook_deliveries import RedisDeliveryStore
from server.storage.sealed import Sealer
from server.storage.webhook_deliveries import Deliveries, DeliveryStore
from server.storage.wechat_subscriptions import RedisSubscriptionConsentStore, SubscriptionConsents, SubscriptionConsentStore
from server.web import (
    api,
    applications_api,
    audit,
    booking_api,
    calendar_feeds,
    candidate_result,
    consent_api,
    hr_pages,
    hrms_api,
    imports_api,
    interview_search,
    nodes_api,
    pages,
    recordings_api,
    registration_api,
    review_api,
    screening_api,
    self_identification_api,
    shares_api,
    webhooks_api,
    whip,
)
from server.web import greenhouse_api as greenhouse
from server.web.body_limit import BodyLimit
from server.web.context import Services
from server.web.idempotency import idempotent
from server.web.no_shows import check_attendance
from server.web.problems import EXCEPTION_HANDLERS
from server.web.rate_limit import TenantRateLimit
from server.web.retention import erase_expired_forever
from server.ws import candidate_ws, hr_sessions, hr_ws

logger = logging.getLogger(__name__)

WHIP_SESSION = "/api/v1/interviews/{interview_id}/whip/{session_id}"

ROUTES = [
    Route("/healthz", api.health, methods=["GET"]),
    Route("/favicon.ico", pages.favicon, methods=["GET"]),
    Route("/readyz", api.ready, methods=["GET"]),
    Route("/metrics", api.metrics, methods=["GET"]),
    Route("/api/v1/stats", api.stats, methods=["GET"]),
    Route("/api/v1/openapi.json", api.openapi, methods=["GET"]),
    Route("/api/v1/nodes", nodes_api.list_nodes, methods=["GET"]),
    Route("/api/v1/nodes/{node_id}/drain", nodes_api.drain_node, methods=["POST"]),
    Route("/api/v1/interviews", idempotent(api.create_interview), methods=["POST"]),
    Route("/api/v1/interviews", interview_search.search_interviews, methods=["GET"]),
    Route("/api/v1/board", interview_search.board, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}", api.get_interview, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}", hrms_api.delete_interview, methods=["DELETE"]),
    Route("/api/v1/interviews/{interview_id}/report", api.get_report, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}/recordings", recordings_api.list_recordings, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}/recordings/{name}", recordings_api.get_recording, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}/result", candidate_result.candidate_result, methods=["GET"]),
    Route("/api/v1/schemas/report", api.report_schema, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}/cancel", hrms_api.cancel_interview, methods=["POST"]),
    Route("/api/v1/interviews/{interview_id}/reschedule", hrms_api.reschedule_interview, methods=["POST"]),
    Route("/api/v1/interviews/{interview_id}/decisions", idempotent(hrms_api.record_decision), methods=["POST"]),
    Route("/api/v1/interviews/{interview_id}/shares", shares_api.interview_shares, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}/review", review_api.hr_review, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}/audit", audit.export_audit, methods=["GET"]),
    Route("/api/v1/shares", idempotent(shares_api.create_share), methods=["POST"]),
    Route("/api/v1/shares/{share_id}", shares_api.revoke_share, methods=["DELETE"]),
    Route("/api/v1/shares/{share_id}/reminders", shares_api.remind_owner, methods=["POST"]),
    Route("/api/v1/reviews/{token}", shares_api.owner_review_data, methods=["GET"]),
    Route("/api/v1/reviews/{token}/interviews/{interview_id}/recommendation", shares_api.record_recommendation, methods=["POST"]),
    Route("/r/{token}", shares_api.review_page, methods=["GET"]),
    Route("/api/v1/jobs/{profile_id}", hrms_api.put_profile, methods=["PUT"]),
    Route("/api/v1/jobs/{profile_id}", hrms_api.get_profile, methods=["GET"]),
    Route("/api/v1/candidates/{profile_id}", hrms_api.put_profile, methods=["PUT"]),
    Route("/api/v1/candidates/{profile_id}", hrms_api.get_profile, methods=["GET"]),
    Route("/api/v1/candidates/{profile_id}", hrms_api.delete_candidate, methods=["DELETE"]),
    Route("/api/v1/webhooks/endpoints", idempotent(webhooks_api.create_endpoint), methods=["POST"]),
    Route("/api/v1/webhooks/endpoints", webhooks_api.list_endpoints, methods=["GET"]),
    Route("/api/v1/webhooks/endpoints/{endpoint_id}", webhooks_api.delete_endpoint, methods=["DELETE"]),
    Route("/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret", webhooks_api.rotate_secret, methods=["POST"]),
    Route("/api/v1/webhooks/endpoints/{endpoint_id}/previous-secrets", webhooks_api.retire_previous_secrets, methods=["DELETE"]),
    Route("/api/v1/webhooks/endpoints/{endpoint_id}/enable", webhooks_api.enable_endpoint, methods=["POST"]),
    Route("/api/v1/webhooks/deliveries", webhooks_api.list_deliveries, methods=["GET"]),
    Route("/api/v1/webhooks/deliveries/{delivery_id}/replay", webhooks_api.replay_delivery, methods=["POST"]),
    Route("/api/v1/interviews/{interview_id}/whip", whip.publish, methods=["POST"]),
    Route("/api/v1/interviews/{interview_id}/ice-servers", whip.ice_servers, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}/consent", consent_api.give_consent, methods=["POST"]),
    Route("/api/v1/interviews/{interview_id}/self-identification", self_identification_api.give_self_identification, methods=["POST"]),
    Route("/api/v1/jobs/{job_id}/screen", screening_api.screen_candidates, methods=["POST"]),
    Route("/api/v1/jobs/{job_id}/screening", screening_api.put_screening_rules, methods=["PUT"]),
    Route("/api/v1/imports/candidates", imports_api.import_candidates, methods=["POST"]),
    Route("/api/v1/calendar-feeds", calendar_feeds.create_feed, methods=["POST"]),
    Route("/api/v1/calendar-feeds/{email}", calendar_feeds.delete_feed, methods=["DELETE"]),
    Route("/api/v1/jobs/{job_id}/poster", registration_api.poster, methods=["GET"]),
    Route("/api/v1/applications/{token}", registration_api.job_for_applicants, methods=["GET"]),
    Route("/api/v1/applications/{token}", registration_api.submit_application, methods=["POST"]),
    Route("/apply/{token}", registration_api.apply_page, methods=["GET"]),
    Route("/calendar/{secret}.ics", calendar_feeds.calendar_feed, methods=["GET"]),
    Route("/api/v1/jobs/{job_id}/availability", booking_api.put_availability, methods=["PUT"]),
    Route("/api/v1/jobs/{job_id}/availability", booking_api.get_availability, methods=["GET"]),
    Route("/api/v1/jobs/{job_id}/bookings", booking_api.job_bookings, methods=["GET"]),
    Route("/api/v1/jobs/{job_id}/applications", applications_api.list_applications, methods=["GET"]),
    Route("/api/v1/jobs/{job_id}/applications/{candidate_id}/invite", applications_api.invite_applicant, methods=["POST"]),
    Route("/api/v1/jobs/{job_id}/applications/{candidate_id}/decline", applications_api.decline_applicant, methods=["POST"]),
    Route("/api/v1/interviews/{interview_id}/slots", booking_api.candidate_slots, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}/booking", booking_api.book_slot, methods=["PUT"]),
    Route("/api/v1/interviews/{interview_id}/booking", booking_api.cancel_booking, methods=["DELETE"]),
    Route("/api/v1/interviews/{interview_id}/booking", booking_api.hr_booking, methods=["GET"]),
    Route("/api/v1/interviews/{interview_id}/booking.ics", booking_api.booking_calendar_file, methods=["GET"]),
    Route("/api/v1/jobs/{job_id}/adverse-impact", self_identification_api.job_adverse_impact, methods=["GET"]),
    Route(WHIP_SESSION, whip.trickle, methods=["PATCH"]),
    Route(WHIP_SESSION, whip.hang_up, methods=["DELETE"]),
    WebSocketRoute("/ws/interviews/{interview_id}", candidate_ws.candidate_socket),
    Route("/api/v1/hr/sessions", hr_sessions.create_hr_session, methods=["POST"]),
    WebSocketRoute("/ws/hr", hr_ws.hr_socket),
    Route("/hr", hr_pages.dashboard_page, methods=["GET"]),
    Route("/i/{token}", pages.candidate_page, methods=["GET"]),
    Route("/s/{code}", pages.short_link, methods=["GET"]),
    Route("/wechat/oauth/start", wechat_oauth.start, methods=["GET"]),
    Route("/wechat/oauth/callback", wechat_oauth.callback, methods=["GET"]),
    Route("/wechat/reminder-allowed", wechat_reminder_consent.reminder_allowed, methods=["GET"]),
    Route("/wechat/apply/start", wechat_registration.start, methods=["GET"]),
    Route("/wechat/apply/callback", wechat_registration.callback, methods=["GET"]),
    *greenhouse.ROUTES,
    *feishu_hire_api.ROUTES,
    *moka_api.ROUTES,
    Mount("/static", app=StaticFiles(directory=FRONTEND_DIR), name="static"),
]


RECORDINGS_SWEEP_S = 60.0


def tencent_sms(settings: Settings) -> TencentSms | None:
    """Tencent Cloud SMS when its id and key file are set."""
    if settings.tencent_sms_secret_id is None or settings.tencent_sms_secret_key_file is None:
        return None
    config = TencentSmsConfig.load(
        secret_id=settings.tencent_sms_secret_id,
        secret_key_file=settings.tencent_sms_secret_key_file,
        sdk_app_id=settings.tencent_sms_sdk_app_id,
        sign_name=settings.tencent_sms_sign_name,
        template_ids=settings.tencent_sms_template_ids,
        region=settings.tencent_sms_region,
        base_url=settings.tencent_sms_base_url,
        timeout_s=settings.tencent_sms_timeout_s,
    )
    return TencentSms(config)


async def sweep_erased_recordings(settings: Settings, store: Store) -> None:
    """In a cluster: remove, every minute, the audio this node kept of interviews erased (or deleted) through another."""
    task = asyncio.current_task()
    while True:
        try:
            if gone := await remove_erased_recordings(settings, store):
                logger.info("removed the recordings of %d interview(s) erased elsewhere", len(gone))
        except Exception:  # Redis away: the next sweep tries again
            logger.warning("recordings sweep failed", exc_info=True)
        if task is not None and task.cancelling():  # a Redis call swallowed the cancellation (redis-py's pipelines do)
            return
        await asyncio.sleep(RECORDINGS_SWEEP_S)


async def report_to_supervisor(hub: WorkerHub, node: NodeRegistry, app: Starlette) -> None:
    """Twice a second: this worker's load and live interviews, which the supervisor places new interviews by, and its
    busiest client addresses, which it caps across the workers (the connection guard is set when uvicorn's
    configuration is made: none in a test that serves the app otherwise)."""
    while True:
        guard: ConnectionGuard | None = getattr(app.state, "connection_guard", None)
        if guard is None:
            hub.report(node.process_info(), node.held)
        else:
            busiest = guard.busy_clients(max(1, guard.max_per_client // REPORTED_FROM_SHARE), REPORTED_CLIENTS)
            hub.report(node.process_info(), node.held, busiest, guard.opened)
        await asyncio.sleep(REPORT_EVERY_S)


def siblings_cpu(hub: WorkerHub) -> list[SiblingCpu]:
    """The other workers' CPU from their last reports, for this worker's count of what the node's cores carry."""
    return [
        SiblingCpu(float(info["cpu_own_cores"]), float(info["cpu_demand_cores"]))
        for info in hub.siblings()
        if isinstance(info.get("cpu_own_cores"), int | float) and isinstance(info.get("cpu_demand_cores"), int | float)
    ]


def create_app(
    settings: Settings,
    *,
    media_consumer: MediaConsumer | None = None,
    engine: ScoringEngine | None = None,
    worker_hub: WorkerHub | None = None,
) -> Starlette:
    """Build the app; models load, the store opens and live sessions close in its lifespan.

    Sessions run the scoring pipeline on `engine` (loaded here when not given),
    or `media_consumer` when one is given, or only the level meter when
    INTERVIEW_SCORING=false. An engine given by the caller is the caller's to close.
    A worker of a node of several processes gets its line to the supervisor (`worker_hub`): the node's bus when
    there is no Redis, and where it reports its load and hears the other workers'.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        advertise_host_addresses(settings.ice_host_addresses)
        owned: ScoringEngine | None = None
        scoring = engine
        consumer = media_consumer
        if consumer is None and scoring is None and settings.scoring:
            config = EngineConfig(device=settings.device, intra_op_threads=settings.inference_threads)
            scoring = owned = await asyncio.to_thread(
                ScoringEngine.load,
                settings.models_path,
                config,
                emotion=settings.emotion_analysis,
                whisper_encoder=settings.whisper_encoder,
                final_beam_size=settings.final_beam_size,
                recogniser_socket=settings.recogniser_socket,
            )
        if consumer is None and scoring is not None:
            consumer = scoring_consumer(scoring, settings.transcription_config())
        destinations = DestinationPolicy(settings.webhook_allow_http, settings.webhook_allow_private_addresses)
        # With Redis the nodes form a cluster; without, everything stays in this process, as before.
        redis_client = open_redis(settings) if settings.redis_url else None
        keys = Keys(settings.redis_prefix)
        store = await open_store(settings, redis_client)
        sealer = await asyncio.to_thread(Sealer.from_file, settings.secrets_key_path)
        deliveries: Deliveries
        dispatcher: WebhookDispatcher
        retries = (settings.webhook_retry_schedule_s, settings.webhook_timeout_s)
        if redis_client is not None:
            # The stream's consumer is this process: a node's workers each read and renew their own share.
            consumer_name = settings.node_id if worker_hub is None else f"{settings.node_id}.w{worker_hub.index}"
            stream = WebhookStream(redis_client, keys.webhook_stream(), consumer_name, settings.webhook_stream_lease_s)
        if settings.store_backend == "redis":
            assert redis_client is not None
            deliveries = RedisDeliveryStore(redis_client, keys, sealer)
            # The stream is the Redis store's outbox: nothing to relay.
            dispatcher = StreamWebhookDispatcher(deliveries, destinations, *retries, stream, settings.webhook_stream_lease_s, relay=None)
            redis_writebacks = RedisWriteBackStore(redis_client, keys, sealer)
            if adopted := await redis_writebacks.adopt_greenhouse_callbacks():
                logger.info("adopted %d Greenhouse callback(s) of an earlier version as write-backs", adopted)
            writeback_store: WriteBacks = redis_writebacks
        else:
            sqlite_deliveries = await DeliveryStore.open(settings.database_path, sealer, settings.sqlite_synchronous)
            deliveries = sqlite_deliveries
            if redis_client is not None:
                dispatcher = StreamWebhookDispatcher(
                    sqlite_deliveries, destinations, *retries, stream, settings.webhook_stream_lease_s, relay=sqlite_deliveries
                )
            else:
                dispatcher = WebhookDispatcher(sqlite_deliveries, destinations, *retries)
            writeback_store = await WriteBackStore.open(settings.database_path, sealer, settings.sqlite_synchronous)
        connectors: list[Connector] = [GreenhouseConnector()]
        if settings.feishu_hire_apps_file is not None:
            connectors.append(FeishuHireConnector(await asyncio.to_thread(load_apps, settings.feishu_hire_apps_file)))
        writebacks = WriteBackSender(
            writeback_store, {c.name: c for c in connectors}, facts_from(store, settings.base_url), destinations, *retries
        )
        dispatcher.start()
        writebacks.start()

        def on_event() -> None:  # a commit with outbox events (report.ready among them): no need to wait for a poll
            dispatcher.events_written()
            writebacks.wake()

        store.on_event = on_event
        bookings: Bookings
        if settings.store_backend == "redis":
            assert redis_client is not None
            bookings = RedisBookingStore(redis_client, keys)
        else:
            bookings = await BookingStore.open(settings.database_path, settings.sqlite_synchronous)
        mailer = SmtpSender(settings) if settings.smtp_host is not None else None
        reminder_channels: dict[str, ReminderChannel] = {"webhook": WebhookReminders(store)}
        if mailer is not None:
            reminder_channels["email"] = EmailReminders(mailer)
        sms = tencent_sms(settings)
        if sms is not None:
            reminder_channels["sms"] = SmsReminderChannel(sms, settings.tencent_sms_template_ids, link_prefix=f"{settings.base_url}/s/")
        wechat_config = reminder_config(settings)
        wechat_consents: SubscriptionConsents | None = None
        wechat: WeChatTemplateChannel | WeChatSubscriptionChannel | None = None
        if wechat_config is not None:
            if wechat_config.kind == "subscription":
                if redis_client is not None and settings.store_backend == "redis":
                    wechat_consents = RedisSubscriptionConsentStore(redis_client, keys)
                else:
                    wechat_consents = await SubscriptionConsentStore.open(settings.database_path, settings.sqlite_synchronous)
            wechat = wechat_channel(wechat_config, wechat_consents)
            reminder_channels["wechat"] = wechat
        reminders = ReminderScheduler(
            bookings,
            store,
            reminder_channels,
            calendar=CalendarMail(mailer, settings) if mailer is not None else None,
            claim_s=settings.reminder_claim_s,
            concurrency=settings.reminder_concurrency,
        )

        def on_booking_event() -> None:
            on_event()
            reminders.wake()

        bookings.on_event = on_booking_event
        scorer = AnswerScorer(scoring.embedder if scoring is not None else None)
        metrics = NodeMetrics()
        metrics.watch(lambda: getattr(app.state, "services", None))
        transcription = scoring.transcription if scoring is not None else None

        def shed(level: LoadLevel) -> None:
            if transcription is not None:
                transcription.shedding = level >= LoadLevel.STRAINED

        node_load = NodeLoad(
            settings.max_live_sessions,
            LoadThresholds(
                loop_lag_s=settings.overload_loop_lag_s,
                final_wait_s=settings.overload_final_wait_s,
                recogniser_busy=settings.overload_recogniser_busy,
                window_s=settings.overload_window_s,
                recover_s=settings.overload_recover_s,
            ),
            final_wait_s=transcription.oldest_wait_s if transcription is not None else lambda: 0.0,
            recogniser_busy=(lambda: transcription.busy_share(workers_only=True)) if transcription is not None else lambda: 0.0,
            audio_dropped_total=lambda: registry.analysis_audio_dropped(),  # noqa: PLW0108 - registry is made below
            sessions=lambda: registry.media_sessions,
            on_level=shed,
            observe_loop_lag=metrics.event_loop_lag.observe,
            cpu=(
                machine_headroom(
                    settings.admission_cpu_share,
                    settings.session_cpu_cores,
                    functools.partial(siblings_cpu, worker_hub) if worker_hub is not None else list,
                )
                if settings.admission_cpu_share is not None
                else None
            ),
            enforce=settings.admission_control,
        )
        loop_probe = asyncio.create_task(node_load.run(), name="node-load-probe")
        bus: EventBus
        if redis_client is not None:
            bus = RedisEventBus(redis_client, keys, settings.event_bus_queue)
            await bus.start()
        elif worker_hub is not None:
            bus = worker_hub
        else:
            bus = LocalEventBus()
        if worker_hub is not None:
            await worker_hub.start()
            worker_hub.on_lost = lambda: os.kill(os.getpid(), signal.SIGTERM)  # nothing new reaches this worker: drain
        node = NodeRegistry(
            settings.node_id,
            settings.base_url,
            redis_client,
            keys,
            settings.node_heartbeat_s,
            load=lambda: {"live_interviews": registry.live_interviews, "media_sessions": registry.media_sessions, **node_load.info()},
            siblings=worker_hub.siblings if worker_hub is not None else None,
            sibling_holding=worker_hub.sibling_holding if worker_hub is not None else lambda interview_id: False,
        )
        faq = await asyncio.to_thread(Faq.load, embedder=scoring.embedder if scoring is not None else None)
        registry = SessionRegistry(
            settings,
            store,
            consumer or level_meter_consumer,
            scorer,
            bus,
            faq,
            observe_final_lag=metrics.final_transcript_lag.observe,
            placement=node,
            admission=node_load,
        )
        await node.start()
        reporter = asyncio.create_task(report_to_supervisor(worker_hub, node, app), name="worker-report") if worker_hub else None
        sweeper = asyncio.create_task(sweep_erased_recordings(settings, store), name="recordings-sweep") if redis_client else None
        pruner = asyncio.create_task(
            prune_webhook_history_forever(deliveries, settings.webhook_retention_days * 86400), name="webhook-history-pruning"
        )

        def on_node_request(message: dict[str, object]) -> None:
            if message.get("type") == "drain":
                logger.warning("node %s: draining, asked by node %s", settings.node_id, message.get("requested_by"))
                node.drain()
                node.beat_soon()

        bus.subscribe(node_topic(settings.node_id), on_node_request)
        app.state.services = Services(
            settings=settings,
            store=store,
            registry=registry,
            signer=InviteSigner(settings.signing_key()),
            api_keys=settings.hr_api_keys(),
            deliveries=deliveries,
            dispatcher=dispatcher,
            writebacks=writebacks,
            moka_accounts=await asyncio.to_thread(load_accounts, settings.moka_accounts_file) if settings.moka_accounts_file else {},
            destinations=destinations,
            metrics=metrics,
            bus=bus,
            node=node,
            node_load=node_load,
            shared_rate_limit=(
                RedisTokenBuckets(redis_client, keys, settings.hr_rate_limit_per_s, settings.hr_rate_limit_burst) if redis_client else None
            ),
            engine=scoring,
            turn_secret=settings.turn_secret(),
            mailer=mailer,
            bookings=bookings,
            reminder_channels=reminders.channels,
            sends_invitations=reminders.sends_invitations,
            wechat_reminder_link=confirm_links(settings),
            wechat_consents=wechat_consents,
        )

        async def is_live(interview_id: str) -> bool:
            if registry.find_live(interview_id) is not None:
                return True
            try:
                return await node.holder(interview_id) is not None
            except (RedisError, OSError):
                return True  # cannot tell: leave it for the next round

        abandoner = asyncio.create_task(
            sweep_abandoned_forever(store, settings.abandon_after_s, is_live, app.state.services.announce),
            name="abandoned-interviews",
        )
        retention = asyncio.create_task(erase_expired_forever(app.state.services), name="retention")
        reminders.attendance = functools.partial(check_attendance, app.state.services)
        reminders.start()
        try:
            yield
        finally:
            loop_probe.cancel()
            if reporter is not None:
                reporter.cancel()
            shed(LoadLevel.OK)  # an engine the caller shares outlives this app: it must not stay shedding
            abandoner.cancel()
            retention.cancel()
            await reminders.close()
            if sms is not None:
                await sms.aclose()
            if wechat is not None:
                await wechat.aclose()
            if wechat_consents is not None:
                await wechat_consents.close()
            pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruner  # not mid-transaction when the stores close
            if sweeper is not None:
                sweeper.cancel()
            await registry.close_all()
            await node.close()
            await bus.close()
            if worker_hub is not None and worker_hub is not bus:
                await worker_hub.close()
            # Whatever is still queued stays in the outbox for the next start.
            await dispatcher.close()
            await writebacks.close()
            await deliveries.close()
            await bookings.close()
            await store.close()
            if redis_client is not None:  # last: with the Redis store, everything above wrote through it
                await redis_client.aclose()
            if owned is not None:
                await owned.close()

    middleware = [
        Middleware(BodyLimit, max_bytes=settings.max_request_body_bytes),
        Middleware(InterviewContextMiddleware),
        Middleware(
            TenantRateLimit,
            rate_per_s=settings.hr_rate_limit_per_s,
            burst=settings.hr_rate_limit_burst,
            failed_keys_per_s=settings.failed_key_rate_per_s,
            failed_keys_burst=settings.failed_key_burst,
        ),
    ]
    # Browser libraries fetched at install time (frontend/vendor.py); absent ones are simply 404.
    settings.assets_path.mkdir(parents=True, exist_ok=True)
    vendor = Mount("/vendor", app=StaticFiles(directory=settings.assets_path, check_dir=False), name="vendor")
    return Starlette(
        routes=[*ROUTES, vendor],
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
