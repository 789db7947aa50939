"""The shipped reverse-proxy configuration (deploy/nginx.conf), run by a real nginx in front of a running node:
it passes `nginx -t`, terminates TLS, proxies the API and upgrades the candidate's websocket."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import free_port, make_settings, serving
from tests.helpers.tls import self_signed

SHIPPED = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"


def rendered(directory: Path, node_port: int, https_port: int, http_port: int) -> Path:
    """The shipped file as an operator would install it, pointed at this test's ports and certificate (IPv4 only)."""
    cert, key = self_signed(directory, "interview.example.com")
    text = SHIPPED.read_text()
    replacements = [
        (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{node_port};"),
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"\n\s*listen \[::\]:\d+[^;]*;", ""),
        (r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};"),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        assert count, f"the shipped config no longer has {pattern!r}"
    site = directory / "interview.conf"
    site.write_text(text)
    main = directory / "nginx.conf"
    temp = "\n".join(f"    {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main.write_text(
        f"daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'} warn;\n"
        + ("user root;\n" if Path("/proc/self").stat().st_uid == 0 else "")
        + f"events {{ worker_connections 256; }}\nhttp {{\n    access_log off;\n{temp}\n    include {site};\n}}\n"
    )
    return main


@pytest.fixture
def nginx() -> str:
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    assert binary, "nginx is installed by scripts/test.sh (Debian package nginx-light)"
    return binary


async def test_the_shipped_nginx_config_terminates_tls_and_carries_the_api_and_the_websocket(tmp_path: Path, nginx: str) -> None:
    proxy_dir = tmp_path / "nginx"
    proxy_dir.mkdir()
    settings = make_settings(tmp_path / "data")
    https_port, http_port = free_port(), free_port()
    main = rendered(proxy_dir, settings.port, https_port, http_port)
    checked = subprocess.run([nginx, "-t", "-c", str(main), "-p", str(proxy_dir)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    async with serving(settings) as server:
        process = await asyncio.create_subprocess_exec(nginx, "-c", str(main), "-p", str(proxy_dir))
        try:
            base = f"https://127.0.0.1:{https_port}"
            async with httpx.AsyncClient(verify=False, timeout=5) as client:  # the test's own certificate
                for _ in range(100):
                    try:
                        health = await client.get(f"{base}/healthz")
                        break
                    except httpx.ConnectError:
                        await asyncio.sleep(0.05)
                else:
                    raise AssertionError((proxy_dir / "error.log").read_text())
                assert health.status_code == 200
                assert health.headers["strict-transport-security"].startswith("max-age=")
                plain = await client.get(f"http://127.0.0.1:{http_port}/healthz", follow_redirects=False)
                assert plain.status_code == 301 and plain.headers["location"].startswith("https://")
            interview, token = await server.schedule()
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            async with connect(f"wss://127.0.0.1:{https_port}/ws/interviews/{interview.id}?token={token}", ssl=context) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert hello["type"] == "hello" and hello["interview"]["id"] == interview.id
        finally:
            process.terminate()
            await process.wait()
