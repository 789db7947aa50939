"""A real coturn (`turnserver`) for tests: TURN REST authentication with a shared secret, on loopback. It allows
loopback peers unless started with a configuration file (the shipped deploy/turnserver.conf denies them)."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TurnServer:
    def __init__(self, workdir: Path, secret: str, config: Path | None = None) -> None:
        binary = shutil.which("turnserver")
        if binary is None:
            pytest.fail("coturn is not installed: the TURN test needs it (apt-get install coturn; scripts/test.sh does)")
        self.binary = binary
        self.workdir = workdir
        self.secret = secret
        self.config = config
        self.port = _free_udp_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    @property
    def log(self) -> str:
        path = self.workdir / "turn.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                *(["-c", str(self._local_config())] if self.config else ["-n", "--allow-loopback-peers"]),
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                f"--listening-port={self.port}",
                "--min-port=49200",
                "--max-port=49400",
                "--use-auth-secret",
                f"--static-auth-secret={self.secret}",
                "--realm=interview.test",
                "--no-tls",
                "--no-dtls",
                "--no-tcp-relay",
                "--no-cli",
                "--fingerprint",
                "--pidfile=" + str(self.workdir / "turn.pid"),
                "--db=" + str(self.workdir / "turndb"),
                "--log-file=" + str(self.workdir / "turn.log"),
                "--simple-log",
                "--verbose",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers_binding_request():
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited with {self.process.returncode}: {self.log[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"turnserver did not start: {self.log[-2000:]}")

    def _answers_binding_request(self) -> bool:
        """A STUN Binding request (RFC 8489) gets a success response: the server listens."""
        transaction = os.urandom(12)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            s.sendto(struct.pack("!HHI", 0x0001, 0, 0x2112A442) + transaction, ("127.0.0.1", self.port))
            try:
                reply = s.recv(2048)
            except OSError:
                return False
        return len(reply) >= 20 and reply[:2] == b"\x01\x01" and reply[8:20] == transaction

    # What the test sets itself: where the server listens and logs, its secret and relay ports, no TLS files.
    OVERRIDDEN = ("listening-port", "tls-listening-port", "static-auth-secret", "log-file", "cert", "pkey", "min-port", "max-port")

    def _local_config(self) -> Path:
        """The given configuration, every other line as it is, without what the command line sets for the test (in a
        file, coturn's own settings win over the command line's)."""
        assert self.config is not None
        lines = [line for line in self.config.read_text().splitlines() if line.strip().split("=", 1)[0].strip() not in self.OVERRIDDEN]
        local = self.workdir / "turnserver.conf"
        local.write_text("\n".join(lines) + "\n")
        return local

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
