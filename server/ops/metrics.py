"""Prometheus metrics of one node: sessions, media frames, model batching, transcript lag, webhook outcomes.

Read at scrape time from the objects that already count (the registry, the engine's batchers, the
dispatcher), so the hot paths pay nothing; only the transcript-lag histogram is observed as finals arrive, and
a probe times the event loop ten times a second.
No label carries an interview id or anything about a person.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.ops.thread_cpu import ThreadCpu

if TYPE_CHECKING:
    from realtime_scoring.pipeline import ScoringEngine

# Seconds from the end of speech to the final transcript, as seen by the interview (VAD silence included).
LAG_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
MEDIA_COUNTERS = (
    "encoded_frames_refused",  # over the session's limits (size, frame rate, bitrate): never decoded
    "encoded_frames_dropped",  # a decoder's queue was full
    "audio_chunks",
    "audio_chunks_dropped",
    "audio_ahead_dropped_s",
    "video_frames",
    "video_frames_sampled",
    "video_frames_dropped",
)


LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class SessionCounts(Protocol):
    @property
    def live_interviews(self) -> int: ...

    @property
    def media_sessions(self) -> int: ...

    def media_totals(self) -> dict[str, float]: ...


class WebhookOutcomes(Protocol):
    @property
    def outcomes(self) -> Mapping[str, int]: ...

    @property
    def passes(self) -> int: ...

    @property
    def in_flight(self) -> int: ...


@runtime_checkable
class WebhookStreamCounts(Protocol):
    """A dispatcher that relays through the cluster's webhook stream also counts what it did with its entries."""

    @property
    def counts(self) -> Mapping[str, int]: ...

    @property
    def held(self) -> int: ...


class RateLimitFallbacks(Protocol):
    @property
    def fallbacks(self) -> int: ...


class NodeSources(Protocol):
    """What a scrape reads from the running node (the app's `Services`), handed in rather than imported."""

    @property
    def registry(self) -> SessionCounts: ...

    @property
    def engine(self) -> ScoringEngine | None: ...

    @property
    def dispatcher(self) -> WebhookOutcomes: ...

    @property
    def shared_rate_limit(self) -> RateLimitFallbacks | None: ...

    @property
    def bus(self) -> object: ...

    @property
    def node_load(self) -> LoadFigures: ...


class LoadFigures(Protocol):
    """The node's load as its admission sees it (server/ops/node_load.py)."""

    @property
    def level(self) -> int: ...

    @property
    def limit(self) -> int: ...

    @property
    def refused(self) -> int: ...

    @property
    def strains(self) -> int: ...

    @property
    def cpu_capacity(self) -> int | None: ...


class NodeMetrics:
    """The app's own registry (not the process-global one, so several apps in one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._thread_cpu: _ThreadCpuCollector | None = None  # set by watch() where /proc exists
        self.final_transcript_lag = Histogram(
            "interview_final_transcript_lag_seconds",
            "End of speech to final transcript, on the media clock",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )

        self.event_loop_lag = Histogram(
            "interview_event_loop_lag_seconds",
            "How late a timer fires on the event loop that carries every session's RTP, events and sockets",
            buckets=LOOP_LAG_BUCKETS,
            registry=self.registry,
        )

    def watch(self, services: Callable[[], NodeSources | None]) -> None:
        self.registry.register(_NodeCollector(services))
        if ThreadCpu.available():
            self._thread_cpu = _ThreadCpuCollector()
            self.registry.register(self._thread_cpu)

    async def refresh(self) -> None:
        """Before a scrape: read what the collectors cannot read on the event loop (per-thread CPU from /proc, about
        a millisecond for a busy node's threads)."""
        if self._thread_cpu is not None:
            await asyncio.to_thread(self._thread_cpu.refresh)


class _ThreadCpuCollector(Collector):
    """Yields the figures of the last `refresh()`, which runs on a worker thread."""

    def __init__(self) -> None:
        self._cpu = ThreadCpu()
        self._lock = threading.Lock()  # two scrapes at once refresh on two worker threads
        self._latest: dict[str, float] = {}

    def refresh(self) -> None:
        with self._lock:
            self._latest = self._cpu.read()

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "interview_thread_cpu_seconds",
            "CPU time of this process by thread role (event loop, media decoders, each model)",
            labels=["role"],
        )
        for role, value in sorted(self._latest.items()):
            family.add_metric([role], value)
        yield family


class _NodeCollector(Collector):
    def __init__(self, services: Callable[[], NodeSources | None]) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        services = self._services()
        if services is None:
            return
        registry = services.registry
        yield GaugeMetricFamily("interview_live_interviews", "Interviews live on this node", value=registry.live_interviews)
        yield GaugeMetricFamily("interview_media_sessions", "WebRTC media sessions on this node", value=registry.media_sessions)
        load = services.node_load
        yield GaugeMetricFamily(
            "interview_node_load_level", "0 keeping up, 1 strained (admits none, sheds partials), 2 behind", value=load.level
        )
        yield GaugeMetricFamily(
            "interview_node_session_limit", "Media sessions this node admits now (learned at its last strain)", value=load.limit
        )
        if (cpu_capacity := load.cpu_capacity) is not None:
            yield GaugeMetricFamily(
                "interview_node_cpu_session_capacity",
                "Media sessions this node's usable cores carry at what one of its sessions costs",
                value=cpu_capacity,
            )
        yield CounterMetricFamily(
            "interview_sessions_refused_for_load", "New interviews refused because the node was strained", value=load.refused
        )
        yield CounterMetricFamily(
            "interview_node_strains", "Times this node went from keeping up to strained or behind", value=load.strains
        )
        totals = registry.media_totals()
        for name in MEDIA_COUNTERS:
            yield CounterMetricFamily(f"interview_media_{name}", f"Media {name.replace('_', ' ')} since start", value=totals.get(name, 0))
        if services.engine is not None:
            yield from _model_metrics(services.engine)
        outcomes = CounterMetricFamily("interview_webhook_attempts", "Webhook delivery attempts by outcome", labels=["outcome"])
        for outcome, count in sorted(services.dispatcher.outcomes.items()):
            outcomes.add_metric([outcome], count)
        yield outcomes
        # A sender whose passes stop growing is stuck; tests also wait on them to know it has looked again.
        yield CounterMetricFamily(
            "interview_webhook_sender_passes", "Passes of the webhook sender over due deliveries", value=services.dispatcher.passes
        )
        yield GaugeMetricFamily("interview_webhook_attempts_in_flight", "Webhook attempts under way", value=services.dispatcher.in_flight)
        if isinstance(services.dispatcher, WebhookStreamCounts):
            stream = CounterMetricFamily(
                "interview_webhook_stream_entries", "Webhook stream entries by what this node did", labels=["action"]
            )
            for action, count in sorted(services.dispatcher.counts.items()):
                stream.add_metric([action], count)
            yield stream
            yield GaugeMetricFamily("interview_webhook_stream_held", "Webhook events this node holds", value=services.dispatcher.held)
        if services.shared_rate_limit is not None:
            yield CounterMetricFamily(
                "interview_rate_limit_fallbacks",
                "HR API requests limited by this node's own bucket because Redis could not answer",
                value=services.shared_rate_limit.fallbacks,
            )
        for name in ("published", "dropped", "received"):
            # Every bus counts what it published; the Redis bus also what it dropped and received.
            if (bus_count := getattr(services.bus, name, None)) is not None:
                yield CounterMetricFamily(f"interview_bus_events_{name}", f"Live events {name} by this node's event bus", value=bus_count)


def _model_metrics(engine: ScoringEngine) -> Iterator[Metric]:
    requests = CounterMetricFamily("interview_model_requests", "Inference requests per model", labels=["model"])
    batches = CounterMetricFamily("interview_model_batches", "Batches run per model", labels=["model"])
    wait = CounterMetricFamily("interview_model_queue_wait_seconds", "Time requests waited to be batched", labels=["model"])
    run = CounterMetricFamily("interview_model_run_seconds", "Time spent running batches", labels=["model"])
    sizes = CounterMetricFamily("interview_model_batch_size", "Batches run, by size", labels=["model", "size"])
    for model, batcher in engine.batcher_stats().items():
        requests.add_metric([model], batcher.requests)
        batches.add_metric([model], batcher.batches)
        wait.add_metric([model], batcher.queue_wait_s)
        run.add_metric([model], batcher.run_s)
        for size, count in sorted(batcher.batch_sizes.items()):
            sizes.add_metric([model, str(size)], count)
    yield from (requests, batches, wait, run, sizes)
    if engine.transcription is not None:
        counts = asdict(engine.transcription.stats)
        for key in ("finals", "early", "scored", "partials", "partials_superseded", "partials_shed", "batches", "busy_s"):
            name = "busy_seconds" if key == "busy_s" else key
            yield CounterMetricFamily(f"interview_transcription_{name}", f"Transcription {name.replace('_', ' ')}", value=counts[key])
