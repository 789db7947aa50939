"""Time-limited TURN credentials, the TURN REST convention that coturn (`use-auth-secret`) and most TURN services
implement: the username is "<expiry unix time>:<user>", the password the base64 HMAC-SHA1 of the username under a
secret the TURN server shares. A leaked credential stops working at its expiry; nothing is stored per candidate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

from server.settings import IceServer


def turn_rest_credential(secret: bytes, user: str, ttl_s: float, now: float | None = None) -> tuple[str, str]:
    """(username, password) valid for `ttl_s` from `now`."""
    expires = int((time.time() if now is None else now) + ttl_s)
    username = f"{expires}:{user}"
    password = base64.b64encode(hmac.new(secret, username.encode(), hashlib.sha1).digest()).decode("ascii")
    return username, password


def ice_servers_for(
    static: Sequence[IceServer], turn_urls: Sequence[str], secret: bytes | None, user: str, ttl_s: float, now: float | None = None
) -> list[IceServer]:
    """What a candidate's browser is given: the configured servers, and the TURN servers with a fresh credential."""
    servers = list(static)
    if turn_urls and secret:
        username, password = turn_rest_credential(secret, user, ttl_s, now)
        servers.append(IceServer(urls=list(turn_urls), username=username, credential=password))
    return servers
