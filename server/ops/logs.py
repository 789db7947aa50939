"""Logging for a node: plain text or JSON lines, each record tagged with the interview it concerns, and no secrets.

The interview id comes from a context variable that InterviewContextMiddleware sets for every request on an
interview's URL; tasks spawned while handling it (media sessions, scoring) inherit it. Personal data never goes
into log messages (the code logs ids, not names or transcripts), and invite tokens are cut out of access-log paths.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Literal, TextIO

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Receive, Scope, Send

interview_id_var: ContextVar[str | None] = ContextVar("interview_id", default=None)

INTERVIEW_PATH = re.compile(r"^/(?:api/v1/interviews|ws/interviews)/([0-9A-Za-z_-]{1,64})")
# Invite and session tokens in paths and query strings (JWTs: three base64url parts), and short invite codes.
TOKEN = re.compile(r"(/i/|[?&]token=)[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+|(/s/)[A-Za-z0-9_-]+")


class InterviewContext(logging.Filter):
    """Adds `interview_id` (or None) and `node` to every record."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "interview_id"):
            record.interview_id = interview_id_var.get()
        record.node = self.node
        return True


def _redacted(text: str) -> str:
    """Invite tokens and short codes (each opens an interview) replaced by `<token>`."""
    return TOKEN.sub(lambda m: f"{m.group(1) or m.group(2)}<token>", text)


class RedactTokens(logging.Filter):
    """Cuts invite and HR-session tokens out of records (uvicorn's access log prints full paths)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_redacted(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _redacted(record.msg)
        return True


class RepeatsHeldBack(logging.Filter):
    """Passes each message template of a library logger once per `interval_s`, per interview.

    What a remote peer sends decides how often aiortc logs ("failed to decode VP8 frame", one line per bad frame):
    an attacker's garbage stream must not flood the log or fill the disk. The project's own loggers are not held back.
    """

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic, max_keys: int = 4096) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._max_keys = max_keys
        self._last: dict[tuple[str, str, object], float] = {}
        self.held_back = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".", 1)[0] in OWN_LOGGERS:
            return True
        now = self._clock()
        key = (record.name, str(record.msg), getattr(record, "interview_id", None))
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self.held_back += 1
            return False
        if len(self._last) >= self._max_keys:  # bounded, whatever a peer makes the libraries log
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval_s}
            if len(self._last) >= self._max_keys:
                self._last.clear()
        self._last[key] = now
        return True


# The project's own loggers (and uvicorn's, which speak for the server) log at the chosen level; every other library
# at WARNING unless asked, so onnxruntime's quantiser or aiortc's ICE chatter never buries what an operator needs.
OWN_LOGGERS = ("server", "media", "realtime_scoring", "hrms_bridge", "frontend", "loadtests", "uvicorn")


def set_levels(level: str, library_level: str = "warning") -> None:
    """The project's loggers at `level`; the root (every other library) at `library_level`, never lower than `level`."""
    own = logging.getLevelName(level.upper())
    logging.getLogger().setLevel(max(own, logging.getLevelName(library_level.upper())))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)


def configure_logging(
    level: str = "info",
    fmt: Literal["text", "json"] = "text",
    node: str | None = None,
    stream: TextIO | None = None,
    library_level: str = "warning",
) -> None:
    """One handler (on stderr) for the root logger and uvicorn's, in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(InterviewContext(node or socket.gethostname()))
    handler.addFilter(RedactTokens())
    handler.addFilter(RepeatsHeldBack())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(interview_id)s %(node)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(interview_id)s]: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_levels(level, library_level)
    # httpx logs every request at INFO: webhook deliveries have their own history and metrics.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
        uvicorn_logger.disabled = False
        uvicorn_logger.setLevel(logging.NOTSET)  # uvicorn's level (uvicorn.run may set its own after this)
    uvicorn_root = logging.getLogger("uvicorn")
    uvicorn_root.handlers[:] = []
    uvicorn_root.propagate = True


class InterviewContextMiddleware:
    """Sets the interview id for everything a request on `/api/v1/interviews/{id}...` or `/ws/interviews/{id}` does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = INTERVIEW_PATH.match(scope.get("path", "")) if scope["type"] in ("http", "websocket") else None
        if match is None:
            await self.app(scope, receive, send)
            return
        token = interview_id_var.set(match.group(1))
        try:
            await self.app(scope, receive, send)
        finally:
            interview_id_var.reset(token)
