"""Who may do what: invite tokens for candidates, API keys for HR systems."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from starlette.datastructures import Headers

from server.domain.invites import InvalidInvite, InviteClaims, InviteSigner
from server.web.problems import Problem


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_invite(signer: InviteSigner, token: str | None, interview_id: str) -> InviteClaims:
    """Check that `token` is a valid invite for exactly this interview (401 if invalid, 403 if for another)."""
    if not token:
        raise Problem(401, "missing_token", "an invite token is required", headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = signer.verify(token)
    except InvalidInvite as exc:
        raise Problem(401, "invalid_token", exc.reason, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc
    if claims.interview_id != interview_id:
        raise Problem(403, "wrong_interview", "this invite is for another interview")
    return claims


def presented_api_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request presents, `X-API-Key: KEY` or `Authorization: Bearer KEY`: the one parser that
    authentication and the rate limit share, so both always see the same key. Keys that disagree (a header repeated,
    or both kinds with different values) are refused rather than one of them picked: 401."""
    values = headers.getlist if isinstance(headers, Headers) else lambda name: [headers[name]] if name in headers else []
    presented = [v.strip() for v in values("x-api-key")]
    for value in values("authorization"):
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer":
            presented.append(token.strip())
    distinct = {key for key in presented if key}
    if len(distinct) > 1:
        raise Problem(401, "ambiguous_api_key", "present one API key, once", headers={"WWW-Authenticate": "Bearer"})
    return distinct.pop() if distinct else None


def key_digest(api_key: str) -> str:
    """Names a key (in an HR session token, in the audit trail) without revealing it."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


def tenant_of_key(presented: str, keys: Mapping[str, str]) -> str | None:
    """The tenant `presented` is a key of, if any."""
    tenant = None
    for key, key_tenant in keys.items():
        # Compare against every key, so timing does not tell which ones exist.
        if hmac.compare_digest(presented.encode(), key.encode()):
            tenant = key_tenant
    return tenant


def require_api_key(headers: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """The tenant whose key was presented (`Authorization: Bearer KEY` or `X-API-Key: KEY`); 401 otherwise."""
    presented = presented_api_key(headers)
    if not presented:
        raise Problem(401, "missing_api_key", "an API key is required", headers={"WWW-Authenticate": "Bearer"})
    tenant = tenant_of_key(presented, keys)
    if tenant is None:
        raise Problem(401, "invalid_api_key", "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    return tenant


def require_operator_key(headers: Mapping[str, str], operator_keys: list[str], keys: Mapping[str, str]) -> None:
    """Cluster operations: an operator key passes; a tenant's API key is 403 (tenants must not drain nodes); else 401."""
    presented = presented_api_key(headers)
    if presented and any(hmac.compare_digest(presented.encode(), key.encode()) for key in operator_keys):
        return
    require_api_key(headers, keys)  # 401 for a missing or unknown key
    raise Problem(403, "operator_only", "listing and draining nodes needs an operator key (INTERVIEW_OPERATOR_KEYS)")
