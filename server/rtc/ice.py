"""ICE policy: which local addresses we advertise, which remote candidates we accept, which servers we use."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

from server.settings import IceServer, IPNetwork

_default_get_host_addresses = aioice.ice.get_host_addresses


def advertise_host_addresses(addresses: Sequence[str]) -> None:
    """Make ICE offer exactly these local addresses as host candidates (all interfaces when empty).

    aioice reads interface addresses itself and never offers loopback; aiortc has
    no option for either, so the module function it calls is replaced. This is
    process-wide, which matches one server process per node.
    """
    chosen = [str(ipaddress.ip_address(a)) for a in addresses]
    if not chosen:
        aioice.ice.get_host_addresses = _default_get_host_addresses
        return

    def configured_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (use_ipv4 and ":" not in a) or (use_ipv6 and ":" in a)]

    aioice.ice.get_host_addresses = configured_host_addresses


def rtc_configuration(servers: Sequence[IceServer]) -> RTCConfiguration:
    """An explicit configuration: with iceServers=None aiortc would fall back to a public STUN server."""
    return RTCConfiguration(iceServers=[RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in servers])


@dataclass(frozen=True)
class RemoteCandidatePolicy:
    """Decides which remote candidates we send connectivity checks to.

    A server that checks any address a client names can be used to probe the
    networks behind it, so by default only public addresses are accepted;
    operators (and tests, with 127.0.0.0/8) list the networks they trust.
    mDNS (.local) names are never resolved: the browser's own checks still reach
    us and become peer-reflexive candidates.
    """

    allowed_networks: Sequence[IPNetwork] = field(default_factory=tuple)

    def allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if self.allowed_networks:
            return any(ip.version == net.version and ip in net for net in self.allowed_networks)
        return ip.is_global

    def allows_candidate_line(self, line: str) -> bool:
        """`line` is an SDP candidate attribute, with or without the leading 'a='."""
        body = line.removeprefix("a=").removeprefix("candidate:")
        parts = body.split()
        if len(parts) < 8 or parts[2].lower() != "udp":
            return False
        return self.allows(parts[4])

    def filter_sdp(self, sdp: str) -> tuple[str, int]:
        """Remove candidate lines the policy refuses; return the SDP and how many were removed."""
        kept: list[str] = []
        removed = 0
        for line in sdp.splitlines():
            if line.startswith("a=candidate:") and not self.allows_candidate_line(line):
                removed += 1
                continue
            kept.append(line)
        return "\r\n".join(kept) + "\r\n", removed


@dataclass
class TrickleFragment:
    """The parts of an application/trickle-ice-sdpfrag body (RFC 8840) that we act on."""

    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    candidates: list[tuple[str | None, int, str]] = field(default_factory=list)  # (mid, m-line index, candidate)
    end_of_candidates: bool = False


def parse_trickle_fragment(body: str) -> TrickleFragment:
    """Parse a trickle-ICE SDP fragment; raise ValueError when it is not one."""
    fragment = TrickleFragment()
    mline_index = -1
    mid: str | None = None
    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise ValueError(f"not an SDP line: {line[:40]!r}")
        if line.startswith("m="):
            mline_index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :]
        elif line.startswith("a=ice-ufrag:"):
            fragment.ice_ufrag = line[len("a=ice-ufrag:") :]
        elif line.startswith("a=ice-pwd:"):
            fragment.ice_pwd = line[len("a=ice-pwd:") :]
        elif line.startswith("a=candidate:"):
            fragment.candidates.append((mid, max(mline_index, 0), line[len("a=") :]))
        elif line == "a=end-of-candidates":
            fragment.end_of_candidates = True
    return fragment
