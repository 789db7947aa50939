"""What network the test process sits in: attack tests that send to a public address run only where that cannot leave."""

from __future__ import annotations

from pathlib import Path


def routes_beyond_loopback() -> list[str]:
    """Interfaces with a route in the main IPv4 or IPv6 table other than loopback (none in the test namespace)."""
    interfaces: set[str] = set()
    ipv4 = Path("/proc/net/route")
    if ipv4.exists():
        interfaces |= {line.split()[0] for line in ipv4.read_text().splitlines()[1:] if line.strip()}
    ipv6 = Path("/proc/net/ipv6_route")
    if ipv6.exists():
        interfaces |= {line.split()[-1] for line in ipv6.read_text().splitlines() if line.strip()}
    return sorted(interfaces - {"lo"})
