"""uvicorn, except that SIGTERM drains the node first: no new interviews, live ones finish, then the usual shutdown."""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import uvicorn
from starlette.applications import Starlette

logger = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM the node drains (readyz 503, new interviews 503) and keeps serving until its live interviews
    end or `drain_timeout_s` passes; then it shuts down as uvicorn does. SIGINT, or a second SIGTERM, stops it at once."""

    def __init__(self, config: uvicorn.Config, app: Starlette, drain_timeout_s: float) -> None:
        super().__init__(config)
        self._app = app
        self._drain_timeout_s = drain_timeout_s
        self._drain_deadline: float | None = None
        self._announced = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        services = getattr(self._app.state, "services", None)
        if sig == signal.SIGTERM and self._drain_deadline is None and services is not None:
            # A signal handler: only set state here; on_tick does the rest on the event loop.
            self._drain_deadline = time.monotonic() + self._drain_timeout_s
            services.node.drain()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_deadline is not None and not self.should_exit:
            services = self._app.state.services
            live = services.registry.live_interviews
            if not self._announced:
                self._announced = True
                services.node.beat_soon()
                logger.warning("SIGTERM: draining, %d live interview(s) to finish (at most %.0f s)", live, self._drain_timeout_s)
            if live == 0:
                self.should_exit = True
            elif time.monotonic() > self._drain_deadline:
                logger.warning("drain timeout: shutting down with %d live interview(s)", live)
                self.should_exit = True
        return await super().on_tick(counter)
