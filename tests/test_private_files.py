"""What a node writes to disk (personal data, webhook secrets, API keys) is readable by the service user alone."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.conftest import make_settings, serving


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_node_creates_its_data_directory_database_and_generated_key_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # No API key configured: the node generates one into its data directory.
    async with serving(make_settings(data, api_keys=[])) as server:
        key = (data / "api_key").read_text().strip()
        created = await server.http.post(
            f"{server.url}/api/v1/interviews",
            json={
                "job": {"title": "Backend engineer", "language": "en", "role": "backend_engineer"},
                "candidate": {"name": "李雷", "email": "li@example.com"},
            },
            headers={"X-API-Key": key},
        )
        assert created.status_code == 201, created.text
        database = server.settings.database_path
        files = [database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm"), data / "api_key"]
        assert {path.name: oct(mode(path)) for path in files} == {path.name: oct(0o600) for path in files}
        assert oct(mode(data)) == oct(0o700)


async def test_a_data_directory_left_readable_by_an_earlier_version_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    settings = make_settings(data)
    settings.database_path.touch(mode=0o644)
    data.chmod(0o755)
    settings.database_path.chmod(0o644)
    async with serving(settings):
        assert (oct(mode(data)), oct(mode(settings.database_path))) == (oct(0o700), oct(0o600))
