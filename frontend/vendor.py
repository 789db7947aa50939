"""Browser libraries the pages use, taken from the npm registry at install time and checked against their integrity.

Nothing is copied into the repository: `interview-server assets prepare` (and `serve` on first start) downloads
each pinned tarball, checks npm's Subresource-Integrity hash (sha512) of it, and extracts the named files into
the asset directory, which the server serves under /vendor/.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

NPM_REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class VendorPackage:
    name: str
    version: str
    integrity: str  # npm's dist.integrity: "sha512-<base64>"
    files: dict[str, str]  # path inside the tarball -> file name served under /vendor/
    licence: str

    def tarball_url(self, registry: str = NPM_REGISTRY) -> str:
        return f"{registry.rstrip('/')}/{self.name}/-/{self.name.split('/')[-1]}-{self.version}.tgz"


PACKAGES = [
    VendorPackage(
        name="chart.js",
        version="4.6.1",
        integrity="sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==",
        files={"package/dist/chart.umd.min.js": "chart.umd.min.js", "package/LICENSE.md": "chart.js-LICENSE.md"},
        licence="MIT",
    ),
]


class VendorError(Exception):
    pass


def missing_assets(directory: Path, packages: list[VendorPackage] = PACKAGES) -> list[VendorPackage]:
    return [p for p in packages if not all((directory / name).is_file() for name in p.files.values())]


def check_integrity(data: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise VendorError(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise VendorError(f"integrity mismatch: expected sha512-{expected}, got sha512-{actual}")


def prepare_assets(
    directory: Path, registry: str = NPM_REGISTRY, timeout_s: float = 60.0, packages: list[VendorPackage] = PACKAGES
) -> list[str]:
    """Download, check and extract every package whose files are missing; returns the names prepared."""
    prepared = []
    for package in missing_assets(directory, packages):
        url = package.tarball_url(registry)
        logger.info("fetching %s@%s from %s", package.name, package.version, url)
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - a pinned https registry URL
            data = response.read()
        try:
            check_integrity(data, package.integrity)
        except VendorError as exc:
            raise VendorError(f"{package.name}@{package.version} from {url}: {exc}") from exc
        directory.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member, name in package.files.items():
                extracted = archive.extractfile(member)
                if extracted is None:
                    raise VendorError(f"{package.name}@{package.version} has no file {member}")
                target = directory / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.with_suffix(target.suffix + ".part").write_bytes(extracted.read())
                target.with_suffix(target.suffix + ".part").replace(target)
        prepared.append(f"{package.name}@{package.version}")
    return prepared
